"""PROSTATEx (TCIA) on the NBIA descriptive layout, with real names from 0_SSL_PROSTATEx_MRI_Prostate.txt.

Fixture: ``manifest-<ms>/PROSTATEx/<patient>/<study>/<series>/<file>.dcm`` with real patient, study,
series and file names (MR series; `t2_localizer` skipped as localizer without a file list).
"""

from __future__ import annotations

try:
    from ._fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source


def test_prostatex(tmp_path):
    patients = ["ProstateX-0115", "ProstateX-0091", "ProstateX-0000", "ProstateX-0001", "ProstateX-0002"]
    series = [
        SeriesSpec(
            "01-18-2012-MR prostaat kanker detectie WDS_mc MCAPRODETW-46971",
            "8.000000-ep2d_diff_tra_DYNDIST_MIXCALC_BVAL-29918",
            ["1-01.dcm", "1-03.dcm", "1-09.dcm"],
            modality="MR",
        ),
        SeriesSpec(
            "12-26-2011-MC prostaat kliniek detectie-mc MCPROSKL30-16280",
            "4.000000-t2_tse_tra-33801",
            ["1-01.dcm", "1-02.dcm"],
            modality="MR",
        ),
        SeriesSpec(
            "07-07-2011-MR prostaat kanker detectie WDSmc MCAPRODETW-05711",
            "3.000000-t2_tse_sag-87368",
            ["1-01.dcm", "1-02.dcm", "1-03.dcm"],
            modality="MR",
        ),
        SeriesSpec(
            "07-07-2011-MR prostaat kanker detectie WDSmc MCAPRODETW-05712",
            "7.000000-ep2d_diff_tra_DYNDIST_ADC-11111",
            ["1-1.dcm", "1-2.dcm"],
            modality="MR",
        ),
        SeriesSpec(
            "07-07-2011-MR prostaat kanker detectie WDSmc MCAPRODETW-05713",
            "9.000000-tfl_3d PD ref_tra_1.5x1.5_t3-22222",
            ["1-1.dcm", "1-2.dcm"],
            modality="MR",
        ),
    ]
    case = TciaCase(
        "prostatex",
        "PROSTATEx",
        patients,
        series,
        skipped={
            "localizer": [
                (
                    1,
                    SeriesSpec(
                        "12-26-2011-MC prostaat kliniek detectie-mc MCPROSKL30-16280",
                        "1.000000-t2_localizer-12994",
                        ["1-1.dcm", "1-2.dcm", "1-3.dcm"],
                        modality="MR",
                        description="t2_localizer",
                        image_type=("ORIGINAL", "PRIMARY", "M", "ND"),
                    ),
                )
            ],
        },
    )
    check_tcia_source(tmp_path, case)
