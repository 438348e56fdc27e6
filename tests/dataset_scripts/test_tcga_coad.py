"""TCGA-COAD (TCIA) on the NBIA descriptive layout, with real names from 0_SSL_TCGA-COAD_CT_Colon.txt.

Fixture: ``manifest-<ms>/TCGA-COAD/<patient>/<study>/<series>/<file>.dcm`` with real patient, study,
series and file names (descriptions with double spaces, kept verbatim) and a topogram (localizer).
"""

from __future__ import annotations

try:
    from ._fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source


def test_tcga_coad(tmp_path):
    patients = ["TCGA-CK-6747", "TCGA-CK-5915", "TCGA-AA-3492", "TCGA-AA-3495", "TCGA-AA-3510"]
    series = [
        SeriesSpec(
            "11-23-1999-CT ABDOMEN W CO-54581",
            "3.000000-ABD-PEL  3.0  coronal-32179",
            ["1-09.dcm", "1-29.dcm", "1-40.dcm"],
        ),
        SeriesSpec(
            "07-15-1999-CT ABDOMEN W CO-88868",
            "3.000000-ABD-PEL  3.0  coronal-02312",
            ["1-21.dcm", "1-45.dcm"],
        ),
        SeriesSpec(
            "01-01-2000-CT ABDOMEN-11111", "2.000000-Abd-Pelvis  5.0  B31f-22222", ["1-1.dcm", "1-2.dcm"]
        ),
        SeriesSpec("01-01-2000-CT ABDOMEN-22222", "2.000000-= NONE =-33333", ["1-1.dcm", "1-2.dcm"]),
        SeriesSpec(
            "01-01-2000-CT ABDOMEN-33333", "2.000000-AbdRoutine 5.0 B30f-44444", ["1-1.dcm", "1-2.dcm"]
        ),
    ]
    case = TciaCase(
        "tcga_coad",
        "TCGA-COAD",
        patients,
        series,
        skipped={
            "localizer": [
                (
                    0,
                    SeriesSpec(
                        "11-23-1999-CT ABDOMEN W CO-54581",
                        "1.000000-Topogram  0.6  T20s-11111",
                        ["1-1.dcm"],
                        description="Topogram  0.6  T20s",
                        image_type=("ORIGINAL", "PRIMARY", "TOPOGRAM"),
                    ),
                )
            ],
        },
    )
    check_tcia_source(tmp_path, case)
