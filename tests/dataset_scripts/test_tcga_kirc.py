"""TCGA-KIRC (TCIA) on the NBIA descriptive layout, with real names from 0_SSL_TCGA-KIRC_Mixed_Multi.txt.

Fixture: ``manifest-<ms>/TCGA-KIRC/<patient>/<study>/<series>/<file>.dcm`` with real patient, study,
series and file names (a series folder with two acquisitions `1-009.dcm`/`2-044.dcm`); CT and MR patients, and
a localizer.
"""

from __future__ import annotations

try:
    from ._fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source


def test_tcga_kirc(tmp_path):
    patients = ["TCGA-B0-5077", "TCGA-B0-5081", "TCGA-B0-4710", "TCGA-B0-4712", "TCGA-B0-4713"]
    series = [
        SeriesSpec(
            "07-08-1987-ABD-PELVIS W-W-O-61951", "3.000000-38659", ["1-009.dcm", "1-058.dcm", "2-044.dcm"]
        ),
        SeriesSpec(
            "11-10-1987-ABD-PELVIS WITH-90991",
            "12.000000-lava post-31655",
            ["1-01.dcm", "1-02.dcm"],
            modality="MR",
        ),
        SeriesSpec("01-01-1990-ABD-11111", "5.000000-12 MIN DELAY-22222", ["1-1.dcm", "1-2.dcm"]),
        SeriesSpec("01-01-1990-ABD-22222", "7.000000-lava post-33333", ["1-1.dcm", "1-2.dcm"], modality="MR"),
        SeriesSpec("01-01-1990-ABD-33333", "2.000000-HELICAL 5s-44444", ["1-1.dcm", "1-2.dcm"]),
    ]
    case = TciaCase(
        "tcga_kirc",
        "TCGA-KIRC",
        patients,
        series,
        skipped={
            "localizer": [
                (
                    0,
                    SeriesSpec(
                        "07-08-1987-ABD-PELVIS W-W-O-61951",
                        "1.000000-22409",
                        ["1-1.dcm", "2-1.dcm"],
                        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
                    ),
                )
            ],
        },
        expected_modalities={"TCGA-B0-5081": "MRI", "TCGA-B0-4712": "MRI"},
    )
    check_tcia_source(tmp_path, case)
