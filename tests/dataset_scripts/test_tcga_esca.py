"""TCGA-ESCA (TCIA) on the NBIA descriptive layout, with real names from 0_SSL_TCGA-ESCA_CT_Esophagus.txt.

Fixture: ``manifest-<ms>/TCGA-ESCA/<patient>/<study>/<series>/<file>.dcm`` with real patient, study,
series and file names (`^` and parentheses in study descriptions) and an MR series (other_modality).
"""

from __future__ import annotations

try:
    from ._fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source


def test_tcga_esca(tmp_path):
    patients = ["TCGA-VR-A8ER", "TCGA-VR-A8ET", "TCGA-VR-A8EQ", "TCGA-VR-AA4D", "TCGA-VR-AA7B"]
    series = [
        SeriesSpec(
            "07-16-2003-Abdomen^DUO_TX_AS_VOL (Adult)-94802",
            "2.000000-AXIAL S-C-05756",
            ["1-09.dcm", "1-29.dcm", "1-40.dcm"],
        ),
        SeriesSpec(
            "10-15-2003-Abdomen^DUO_TX_AS_VOL (Adult)-43077",
            "4.000000-VOLUME PULMAO-99731",
            ["1-014.dcm", "1-103.dcm"],
        ),
        SeriesSpec("01-01-2003-Abdomen-11111", "3.000000-C-C 1.25mm-22222", ["1-1.dcm", "1-2.dcm"]),
        SeriesSpec("01-01-2003-Abdomen-22222", "8.000000-LUNG-33333", ["1-1.dcm", "1-2.dcm"]),
        SeriesSpec("01-01-2003-Abdomen-33333", "604.000000-POR SAGI 250-44444", ["1-1.dcm", "1-2.dcm"]),
    ]
    case = TciaCase(
        "tcga_esca",
        "TCGA-ESCA",
        patients,
        series,
        skipped={
            "other_modality": [
                (
                    3,
                    SeriesSpec(
                        "02-01-2003-MR-55555", "2.000000-AX T2-66666", ["1-1.dcm", "1-2.dcm"], modality="MR"
                    ),
                )
            ],
        },
    )
    check_tcia_source(tmp_path, case)
