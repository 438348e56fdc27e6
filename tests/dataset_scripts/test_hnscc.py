"""HNSCC (TCIA) on the NBIA descriptive layout, with real names from public loaders of the TCIA download
(LVM-Med's list is missing upstream).

Fixture: ``manifest-<ms>/HNSCC/<patient>/<study>/<series>/<file>.dcm`` with real patient, study,
series and file names (HNSCC-01-<nnnn>, `10-21-2002-RT SIMULATION-79781`), an RT structure set (not_an_image)
and a PET series (other_modality).
"""

from __future__ import annotations

try:
    from ._fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import SeriesSpec, TciaCase, check_tcia_source


def test_hnscc(tmp_path):
    patients = ["HNSCC-01-0001", "HNSCC-01-0019", "HNSCC-01-0176", "HNSCC-01-0199", "HNSCC-01-0201"]
    series = [
        SeriesSpec(
            "10-21-2002-RT SIMULATION-79781",
            "2.000000-RT SIMULATION-10208",
            ["1-001.dcm", "1-002.dcm", "1-003.dcm"],
        ),
        SeriesSpec(
            "10-21-2002-RT SIMULATION-79781",
            "2.000000-RT SIMULATION-10208",
            ["1-001.dcm", "1-002.dcm", "1-003.dcm"],
        ),
        SeriesSpec(
            "10-21-2002-RT SIMULATION-79781",
            "2.000000-RT SIMULATION-10208",
            ["1-001.dcm", "1-002.dcm", "1-003.dcm"],
        ),
        SeriesSpec(
            "10-21-2002-RT SIMULATION-79781",
            "2.000000-RT SIMULATION-10208",
            ["1-001.dcm", "1-002.dcm", "1-003.dcm"],
        ),
        SeriesSpec(
            "10-21-2002-RT SIMULATION-79781",
            "2.000000-RT SIMULATION-10208",
            ["1-001.dcm", "1-002.dcm", "1-003.dcm"],
        ),
    ]
    case = TciaCase(
        "hnscc",
        "HNSCC",
        patients,
        series,
        skipped={
            "not_an_image": [
                (
                    0,
                    SeriesSpec(
                        "10-21-2002-RT SIMULATION-79781", "1.000000-RTSTRUCT-55307", ["1-1.dcm"], image=False
                    ),
                )
            ],
            "other_modality": [
                (
                    2,
                    SeriesSpec(
                        "11-02-2002-PET CT-55521",
                        "4.000000-PET AC-30751",
                        ["1-01.dcm", "1-02.dcm"],
                        modality="PT",
                    ),
                )
            ],
        },
    )
    check_tcia_source(tmp_path, case)
