"""Pelvic-Reference-Data (TCIA) on the NBIA descriptive layout, with real names from
0_SSL_Pelvic-Reference-Data_CT_Pelvic.txt.

Fixture: ``manifest-<ms>/Pelvic-Reference-Data/<patient>/<study>/<series>/<file>.dcm`` with real patient,
study,
series and file names (NewSimCT and New_CBCT series), and RT structure sets (not_an_image).
"""

from __future__ import annotations

try:
    from ._fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source


def test_pelvic_reference_data(tmp_path):
    patients = ["Pelvic-Ref-047", "Pelvic-Ref-040", "Pelvic-Ref-001", "Pelvic-Ref-002", "Pelvic-Ref-003"]
    series = [
        SeriesSpec(
            "05-06-2011-PELVIS FULL-10365",
            "65886.000000-NewSimCT-95824",
            ["1-009.dcm", "1-049.dcm", "1-058.dcm"],
        ),
        SeriesSpec("07-05-2013-PELVIS-18319", "61978.000000-NewSimCT-98796", ["1-014.dcm", "1-103.dcm"]),
        SeriesSpec(
            "11-24-2012-NA-Infinity-1 TreatTx Plan-96820",
            "47628.000000-NewCBCT-96129",
            ["1-01.dcm", "1-02.dcm", "1-03.dcm"],
        ),
        SeriesSpec("05-06-2011-PELVIS-22222", "63381.000000-New_CBCT-12345", ["1-01.dcm", "1-02.dcm"]),
        SeriesSpec("05-06-2011-PELVIS-33333", "40663.000000-New_SimCT-54321", ["1-001.dcm", "1-002.dcm"]),
    ]
    case = TciaCase(
        "pelvic_reference_data",
        "Pelvic-Reference-Data",
        patients,
        series,
        skipped={
            "not_an_image": [
                (
                    0,
                    SeriesSpec(
                        "05-06-2011-PELVIS FULL-10365", "1.000000-RTSTRUCT-70000", ["1-1.dcm"], image=False
                    ),
                ),
                (
                    2,
                    SeriesSpec(
                        "11-24-2012-NA-Infinity-1 TreatTx Plan-96820",
                        "2.000000-RTSTRUCT-70001",
                        ["1-1.dcm"],
                        image=False,
                    ),
                ),
            ],
        },
    )
    check_tcia_source(tmp_path, case)
