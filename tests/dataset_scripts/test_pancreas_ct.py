"""Pancreas-CT (TCIA) on the NBIA descriptive layout, with real names from 0_SSL_Pancreas-CT_CT_Pancreas.txt.

Fixture: ``manifest-<ms>/Pancreas-CT/<patient>/<study>/<series>/<file>.dcm`` with real patient, study,
series and file names (series folders without a series number, `Pancreas-22230`), and a stray RT structure set
(not_an_image).
"""

from __future__ import annotations

try:
    from ._fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source


def test_pancreas_ct(tmp_path):
    patients = ["PANCREAS_0015", "PANCREAS_0055", "PANCREAS_0001", "PANCREAS_0002", "PANCREAS_0003"]
    series = [
        SeriesSpec(
            "11-24-2015-PANCREAS_0015-Pancreas-30570",
            "Pancreas-22230",
            ["1-009.dcm", "1-058.dcm", "1-234.dcm"],
        ),
        SeriesSpec("11-24-2015-PANCREAS_0055-Pancreas-89190", "Pancreas-71731", ["1-014.dcm", "1-103.dcm"]),
        SeriesSpec(
            "11-24-2015-PANCREAS0001-Pancreas-18957",
            "Pancreas-99667",
            ["1-001.dcm", "1-002.dcm", "1-003.dcm"],
        ),
        SeriesSpec("11-24-2015-PANCREAS0002-Pancreas-23046", "Pancreas-63502", ["1-001.dcm", "1-002.dcm"]),
        SeriesSpec("11-24-2015-PANCREAS0003-Pancreas-12345", "Pancreas-54321", ["1-001.dcm", "1-002.dcm"]),
    ]
    case = TciaCase(
        "pancreas_ct",
        "Pancreas-CT",
        patients,
        series,
        skipped={
            "not_an_image": [
                (
                    4,
                    SeriesSpec(
                        "11-24-2015-PANCREAS0003-Pancreas-12345", "1-RTSTRUCT-11111", ["1-1.dcm"], image=False
                    ),
                )
            ],
        },
    )
    check_tcia_source(tmp_path, case)
