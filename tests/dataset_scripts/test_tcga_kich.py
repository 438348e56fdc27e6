"""TCGA-KICH (TCIA) on the NBIA descriptive layout, with real names from 0_SSL_TCGA-KICH_Mixed_Kidney.txt.

Fixture: ``manifest-<ms>/TCGA-KICH/<patient>/<study>/<series>/<file>.dcm`` with real patient, study,
series and file names (`02-03.dcm` names); CT and MR patients, modality per series from the header, a PET
series skipped (other_modality).
"""

from __future__ import annotations

try:
    from ._fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source


def test_tcga_kich(tmp_path):
    patients = ["TCGA-KM-8438", "TCGA-KN-8419", "TCGA-KL-8323", "TCGA-KL-8324", "TCGA-KO-8403"]
    series = [
        SeriesSpec(
            "10-31-1991-ABD-18456", "4.000000-POST ABDOMEN-96072", ["02-03.dcm", "03-02.dcm", "03-05.dcm"]
        ),
        SeriesSpec(
            "12-17-1995-CT ABDOMEN W-CONTRAST-60791",
            "3.000000-AbdRoutine 7.0 B70f-05563",
            ["1-02.dcm", "1-04.dcm"],
        ),
        SeriesSpec(
            "01-01-1996-MRI ABD-11111",
            "16.000000-T1 3D AXIAL  BH 70 SEC POST-22222",
            ["1-01.dcm", "1-02.dcm"],
            modality="MR",
        ),
        SeriesSpec(
            "01-01-1996-MRI ABD-22222",
            "13.000000-T1 3D AXIAL  BH PRE-33333",
            ["1-01.dcm", "1-02.dcm"],
            modality="MR",
        ),
        SeriesSpec("01-01-1996-CT ABD-33333", "6.000000-ARTERIAL-44444", ["1-01.dcm", "1-02.dcm"]),
    ]
    case = TciaCase(
        "tcga_kich",
        "TCGA-KICH",
        patients,
        series,
        skipped={
            "other_modality": [
                (
                    4,
                    SeriesSpec(
                        "01-01-1996-PET-55555", "2.000000-PET WB-66666", ["1-1.dcm", "1-2.dcm"], modality="PT"
                    ),
                )
            ],
        },
        expected_modalities={"TCGA-KL-8323": "MRI", "TCGA-KL-8324": "MRI"},
    )
    check_tcia_source(tmp_path, case)
