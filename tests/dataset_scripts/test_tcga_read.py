"""TCGA-READ (TCIA) on the NBIA descriptive layout, with real names from 0_SSL_TCGA-READ_Mixed_Rectum.txt.

Fixture: ``manifest-<ms>/TCGA-READ/<patient>/<study>/<series>/<file>.dcm`` with real patient, study,
series and file names; the `Topogram` series LVM-Med's list names is skipped as localizer without a file list
and kept with one.
"""

from __future__ import annotations

try:
    from ._fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source


def test_tcga_read(tmp_path):
    patients = ["TCGA-CL-4957", "TCGA-CL-5917", "TCGA-AG-3574", "TCGA-AG-3575", "TCGA-AG-3578"]
    series = [
        SeriesSpec(
            "08-24-1997-CT ABDOMEN W CO-74402",
            "2.000000-ABD-PEL  5.0  B30f-85771",
            ["1-09.dcm", "1-29.dcm", "1-40.dcm"],
        ),
        SeriesSpec(
            "04-25-1995-CT008   CT ABDOMEN W CO-39508",
            "5.000000-A-P I+  5.0  B30f-63631",
            ["1-21.dcm", "1-45.dcm"],
        ),
        SeriesSpec(
            "01-01-1995-MR PELVIS-11111", "3.000000-AX T2-22222", ["1-1.dcm", "1-2.dcm"], modality="MR"
        ),
        SeriesSpec("01-01-1995-CT-22222", "3.000000-ABD-PEL  3.0  coronal-33333", ["1-1.dcm", "1-2.dcm"]),
        SeriesSpec("01-01-1995-CT-33333", "2.000000-ABD-PEL  5.0  B30f-44444", ["1-1.dcm", "1-2.dcm"]),
    ]
    case = TciaCase(
        "tcga_read",
        "TCGA-READ",
        patients,
        series,
        skipped={
            "localizer": [
                (
                    0,
                    SeriesSpec(
                        "08-24-1997-CT ABDOMEN W CO-74402",
                        "1.000000-Topogram  0.6  T20s-67960",
                        ["1-1.dcm"],
                        description="Topogram  0.6  T20s",
                        image_type=("ORIGINAL", "PRIMARY", "TOPOGRAM"),
                    ),
                )
            ],
        },
        expected_modalities={"TCGA-AG-3574": "MRI"},
    )
    check_tcia_source(tmp_path, case)
