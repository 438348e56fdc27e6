"""TCGA-SARC (TCIA) on the NBIA descriptive layout, with real names from 0_SSL_TCGA-SARC_Mixed_Multi.txt.

Fixture: ``manifest-<ms>/TCGA-SARC/<patient>/<study>/<series>/<file>.dcm`` with real patient, study,
series and file names; MR and CT patients, an RT structure set (not_an_image).
"""

from __future__ import annotations

try:
    from ._fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source


def test_tcga_sarc(tmp_path):
    patients = ["TCGA-QQ-A8VH", "TCGA-QQ-A5VC", "TCGA-DX-A1KU", "TCGA-DX-A1KW", "TCGA-DX-A23R"]
    series = [
        SeriesSpec(
            "03-15-2002-MRI THORACIC W-WO CONTRAST-84485",
            "8.000000-Axfspgr +c T-SPINE-72635",
            ["1-09.dcm", "1-19.dcm", "1-29.dcm"],
            modality="MR",
        ),
        SeriesSpec(
            "06-01-2003-CT CHEST ABD PELVIS W- CONTR-21133",
            "5.000000-ROUTINE CHEST-19181",
            ["1-014.dcm", "3-078.dcm"],
        ),
        SeriesSpec("01-01-2003-CT-11111", "2.000000-AXIAL CAP-22222", ["1-1.dcm", "1-2.dcm"]),
        SeriesSpec("01-01-2003-MR-22222", "4.000000-AX T1-33333", ["1-1.dcm", "1-2.dcm"], modality="MR"),
        SeriesSpec("01-01-2003-CT-33333", "2.000000-AXIAL CAP-44444", ["1-1.dcm", "1-2.dcm"]),
    ]
    case = TciaCase(
        "tcga_sarc",
        "TCGA-SARC",
        patients,
        series,
        skipped={
            "not_an_image": [
                (
                    1,
                    SeriesSpec(
                        "06-01-2003-CT CHEST ABD PELVIS W- CONTR-21133",
                        "1.000000-RTSTRUCT-55555",
                        ["1-1.dcm"],
                        image=False,
                    ),
                )
            ],
        },
        expected_modalities={"TCGA-QQ-A8VH": "MRI", "TCGA-DX-A1KW": "MRI"},
    )
    check_tcia_source(tmp_path, case)
