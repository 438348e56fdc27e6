"""TCGA-THCA (TCIA) on the NBIA descriptive layout, with real names from 0_SSL_TCGA-THCA_CT_Thyroid.txt.

Fixture: ``manifest-<ms>/TCGA-THCA/<patient>/<study>/<series>/<file>.dcm`` with real patient, study,
series and file names, and an RT structure set (not_an_image).
"""

from __future__ import annotations

try:
    from ._fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source


def test_tcga_thca(tmp_path):
    patients = ["TCGA-DE-A4MD", "TCGA-DE-A4MC", "TCGA-DE-A0XZ", "TCGA-DE-A0Y2", "TCGA-DE-A0Y3"]
    series = [
        SeriesSpec(
            "09-26-2004-Outside Read or Comparison NEURO CT-86323",
            "2.000000-Soft Tissue Neck-62578",
            ["1-009.dcm", "1-049.dcm", "1-058.dcm"],
        ),
        SeriesSpec(
            "07-21-2004-CT NECK SOFT TISSUE  W- CONTR-24988",
            "4.000000-Neck  ST Axial-48131",
            ["1-014.dcm", "1-103.dcm"],
        ),
        SeriesSpec("01-01-2004-CT NECK-11111", "2.000000-Neck-22222", ["1-1.dcm", "1-2.dcm"]),
        SeriesSpec("01-01-2004-CT NECK-22222", "2.000000-Neck-33333", ["1-1.dcm", "1-2.dcm"]),
        SeriesSpec("01-01-2004-CT NECK-33333", "2.000000-Neck-44444", ["1-1.dcm", "1-2.dcm"]),
    ]
    case = TciaCase(
        "tcga_thca",
        "TCGA-THCA",
        patients,
        series,
        skipped={
            "not_an_image": [
                (
                    1,
                    SeriesSpec(
                        "07-21-2004-CT NECK SOFT TISSUE  W- CONTR-24988",
                        "1.000000-RTSTRUCT-55555",
                        ["1-1.dcm"],
                        image=False,
                    ),
                )
            ],
        },
    )
    check_tcia_source(tmp_path, case)
