"""OPC-Radiomics (TCIA) on the NBIA descriptive layout, with real names from LVM-Med's list.

Fixture: ``manifest-<ms>/OPC-Radiomics/OPC-<nnnnn>/<study>/<series>/1-<nnn>.dcm`` (names from
0_SSL_OPC-Radiomics_CT_Oropharynx.txt), plus each planning study's RT structure set (skipped as
not_an_image) and a scout series flagged LOCALIZER in ImageType (skipped as localizer).
"""

from __future__ import annotations

try:
    from ._fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source

STUDY = "12-15-2003-Head and Neck RT Planning CT-99125"


def test_opc_radiomics(tmp_path):
    patients = ["OPC-00543", "OPC-00524", "OPC-00001", "OPC-00002", "OPC-00003"]
    series = [
        SeriesSpec(STUDY, "2.000000-Helical Axial-85973", ["1-009.dcm", "1-058.dcm", "1-095.dcm"]),
        SeriesSpec(
            "09-15-2003-Head and Neck RT Planning CT-47935",
            "2.000000-Helical Axial-85973",
            ["1-101.dcm", "1-102.dcm", "1-103.dcm"],
        ),
        SeriesSpec(STUDY, "2.000000-08148", ["1-001.dcm", "1-002.dcm"]),
        SeriesSpec(STUDY, "3.000000-Helical Axial-11111", ["1-01.dcm", "1-02.dcm", "1-03.dcm", "1-04.dcm"]),
        SeriesSpec(STUDY, "2.000000-Helical Axial-22222", ["1-1.dcm", "1-2.dcm"]),
    ]
    case = TciaCase(
        "opc_radiomics",
        "OPC-Radiomics",
        patients,
        series,
        skipped={
            "not_an_image": [(0, SeriesSpec(STUDY, "1.000000-RTSTRUCT-49581", ["1-1.dcm"], image=False))],
            "localizer": [
                (
                    1,
                    SeriesSpec(
                        "09-15-2003-Head and Neck RT Planning CT-47935",
                        "1.000000-62682",
                        ["1-1.dcm"],
                        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
                    ),
                )
            ],
        },
    )
    check_tcia_source(tmp_path, case)
