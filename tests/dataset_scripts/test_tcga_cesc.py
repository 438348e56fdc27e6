"""TCGA-CESC (TCIA) on the NBIA descriptive layout, with real names from 0_SSL_TCGA-CESC_MRI_Cervix.txt.

Fixture: ``manifest-<ms>/TCGA-CESC/<patient>/<study>/<series>/<file>.dcm`` with real patient, study,
series and file names (pelvic MRI; the Philips `SURVEY` series skipped as localizer).
"""

from __future__ import annotations

try:
    from ._fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source


def test_tcga_cesc(tmp_path):
    patients = ["TCGA-VS-A954", "TCGA-VS-A8Q8", "TCGA-C5-A1BF", "TCGA-C5-A1M5", "TCGA-C5-A1ME"]
    series = [
        SeriesSpec(
            "04-04-2004-RESSONANCIA MAGNETICA DE PELVE-48916",
            "301.000000-AXI T2 ssSH 5MM-11111",
            ["1-01.dcm", "1-03.dcm", "1-05.dcm"],
            modality="MR",
        ),
        SeriesSpec(
            "10-02-2003-Pio Xll001^Pelve-38689",
            "7.000000-t2_tse_tra-48516",
            ["1-21.dcm", "1-25.dcm"],
            modality="MR",
        ),
        SeriesSpec(
            "01-01-2000-MRI PELVIS-11111", "5.000000-Ax T1-22222", ["1-1.dcm", "1-2.dcm"], modality="MR"
        ),
        SeriesSpec(
            "01-01-2000-MRI PELVIS-22222", "6.000000-C T2 3mm-33333", ["1-1.dcm", "1-2.dcm"], modality="MR"
        ),
        SeriesSpec(
            "01-01-2000-MRI PELVIS-33333", "4.000000-A T2 FSE-44444", ["1-1.dcm", "1-2.dcm"], modality="MR"
        ),
    ]
    case = TciaCase(
        "tcga_cesc",
        "TCGA-CESC",
        patients,
        series,
        skipped={
            "localizer": [
                (
                    0,
                    SeriesSpec(
                        "04-04-2004-RESSONANCIA MAGNETICA DE PELVE-48916",
                        "201.000000-SURVEY-01622",
                        ["1-01.dcm", "1-03.dcm"],
                        modality="MR",
                        description="SURVEY",
                        image_type=("ORIGINAL", "PRIMARY", "M_FFE", "M", "FFE"),
                    ),
                )
            ],
        },
    )
    check_tcia_source(tmp_path, case)
