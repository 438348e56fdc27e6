"""The shared TCIA layout (lvmmed_hf.data.layouts.tcia): classic folders, mixed folders, several collections.

The per-collection tests use the descriptive layout; these cover the other shapes a download takes:
the retriever's "classic" directory type (UID folders), a folder holding two series (regrouped by
the SeriesInstanceUID header), a corrupt file among the slices, and a download folder holding
several TCGA collections whose patient IDs share one pattern.
"""

from __future__ import annotations

import pytest
from pydicom.uid import generate_uid

from lvmmed_hf.data.layouts.tcia import TciaSeries, find_named_dirs, scan_series

try:
    from ._fixtures_tcia import prepare_and_load, write_slice
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import prepare_and_load, write_slice


def _series(folder, patient, n, modality="CT", names=None, study=None, series=None):
    study, series = study or generate_uid(), series or generate_uid()
    names = names or [f"{generate_uid()}.dcm" for _ in range(n)]
    for i, name in enumerate(names):
        write_slice(
            folder / name,
            modality=modality,
            patient_id=patient,
            study_uid=study,
            series_uid=series,
            z=3.0 * i,
            instance=i + 1,
        )
    return study, series


def test_classic_layout_and_collection_folder(tmp_path):
    raw = tmp_path / "raw"
    # classic: <Collection>/<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm
    st, se = generate_uid(), generate_uid()
    _series(raw / "TCGA-KIRC" / "TCGA-B0-5077" / st / se, "TCGA-B0-5077", 3, study=st, series=se)
    st2, se2 = generate_uid(), generate_uid()
    _series(
        raw / "TCGA-KIRC" / "TCGA-B0-5081" / st2 / se2,
        "TCGA-B0-5081",
        2,
        modality="MR",
        study=st2,
        series=se2,
    )
    # another TCGA collection in the same download folder: same patient-ID pattern, must not be read
    _series(raw / "TCGA-KICH" / "TCGA-KM-8438" / generate_uid() / generate_uid(), "TCGA-KM-8438", 4)
    ds, report = prepare_and_load("tcga_kirc", raw, tmp_path / "out", sample_fraction=1.0)
    assert len(ds) == 5
    assert set(ds["patient_id"]) == {"TCGA-B0-5077", "TCGA-B0-5081"}
    assert set(ds["volume_id"]) == {
        f"TCGA-KIRC/TCGA-B0-5077/{st}/{se}",
        f"TCGA-KIRC/TCGA-B0-5081/{st2}/{se2}",
    }
    by_patient = dict(zip(ds["patient_id"], ds["modality"]))
    assert by_patient == {"TCGA-B0-5077": "CT", "TCGA-B0-5081": "MRI"}
    assert report.examples_by_modality == {"CT": 3, "MRI": 2}


def test_folder_with_two_series_is_regrouped_by_header(tmp_path):
    folder = tmp_path / "ProstateX-0000" / "export"
    names_a = ["1-01.dcm", "1-03.dcm", "1-05.dcm"]
    names_b = ["1-02.dcm", "1-04.dcm"]
    _, uid_a = _series(folder, "ProstateX-0000", 3, modality="MR", names=names_a)
    _, uid_b = _series(folder, "ProstateX-0000", 2, modality="MR", names=names_b)
    found = scan_series(tmp_path / "ProstateX-0000")
    assert sorted((s.series_uid, [f.name for f in s.files]) for s in found) == sorted(
        [(uid_a, names_a), (uid_b, names_b)]
    )
    assert all(s.regrouped for s in found)
    ds, _ = prepare_and_load("prostatex", tmp_path, tmp_path / "out", sample_fraction=1.0)
    assert sorted(ds["volume_id"]) == sorted(
        [f"ProstateX-0000/export#{uid_a}"] * 3 + [f"ProstateX-0000/export#{uid_b}"] * 2
    )


def test_corrupt_slice_is_reported_not_fatal(tmp_path):
    folder = tmp_path / "PANCREAS_0001" / "11-24-2015-PANCREAS0001-Pancreas-18957" / "Pancreas-99667"
    _series(folder, "PANCREAS_0001", 3, names=["1-001.dcm", "1-002.dcm", "1-003.dcm"])
    (folder / "1-004.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 10)  # truncated after the magic
    ds, report = prepare_and_load("pancreas_ct", tmp_path, tmp_path / "out", sample_fraction=1.0)
    assert len(ds) == 3
    assert report.skipped["unreadable"] == 1
    assert any(d["path"].endswith("Pancreas-99667") and d["reason"] == "unreadable" for d in report.details)


@pytest.mark.parametrize(
    "description,image_type,expected",
    [
        ("t2_localizer", (), True),
        ("t2_loc sag", (), True),
        ("Topogram  0.6  T20s", (), True),
        ("SURVEY", (), True),
        ("3-plane Scout", (), True),
        ("Axial", ("ORIGINAL", "PRIMARY", "LOCALIZER"), True),
        ("Block localized T2", (), False),
        ("ABD-PEL  3.0  coronal", ("ORIGINAL", "PRIMARY", "AXIAL"), False),
        ("ep2d_diff_tra_DYNDIST_ADC", (), False),
    ],
)
def test_localizer_detection(tmp_path, description, image_type, expected):
    s = TciaSeries("P", tmp_path, [], description=description, image_type=image_type)
    assert s.is_localizer is expected


def test_patient_folders_found_at_the_shallowest_depth(tmp_path):
    for rel in [
        "manifest-1/OPC-Radiomics/OPC-00001",
        "manifest-1/OPC-Radiomics/OPC-00002",
        "x/y/z/w/OPC-00003",
    ]:
        (tmp_path / rel).mkdir(parents=True)
    (tmp_path / "manifest-1/OPC-Radiomics/OPC-0001").mkdir()  # 4 digits: not an OPC patient
    found = find_named_dirs(tmp_path, r"OPC-\d{5}")
    assert [p.name for p in found] == ["OPC-00001", "OPC-00002"]
    assert find_named_dirs(tmp_path / "x", r"OPC-\d{5}") == [tmp_path / "x/y/z/w/OPC-00003"]
    assert find_named_dirs(tmp_path / "x", r"OPC-\d{5}", max_depth=2) == []


def test_file_list_matches_other_retriever_versions_and_classic_folders(tmp_path):
    """LVM-Med's list entry (older descriptive naming) selects the same slice in a newer-naming download
    (description changed, ``NA`` inserted) and in a classic download whose folders are the UIDs."""
    entry = (
        "ProstateX-0115/01-18-2012-MR prostaat kanker detectie WDS_mc MCAPRODETW-46971/"
        "8.000000-ep2d_diff_tra_DYNDIST_MIXCALC_BVAL-29918/1-09.dcm"
    )
    study_uid = "1.3.6.1.4.1.14519.5.2.1.7311.5101.17056119361272309346971"
    series_uid = "1.3.6.1.4.1.14519.5.2.1.7311.5101.20682889127052054429918"
    names = ["1-08.dcm", "1-09.dcm", "1-10.dcm"]
    newer = (
        tmp_path
        / "newer"
        / "PROSTATEx"
        / "ProstateX-0115"
        / "01-18-2012-NA-MR prostaat kanker detectie WDSmc MCAPRODETW-46971"
    )
    _series(
        newer / "8.000000-ep2d_diff_tra_DYNDISTMIXCALCBVAL-29918",
        "ProstateX-0115",
        3,
        modality="MR",
        names=names,
        study=study_uid,
        series=series_uid,
    )
    classic = tmp_path / "classic" / "PROSTATEx" / "ProstateX-0115" / study_uid / series_uid
    _series(classic, "ProstateX-0115", 3, modality="MR", names=names, study=study_uid, series=series_uid)
    # another series of the same patient whose folders end in other digits: never selected
    _series(
        tmp_path / "classic/PROSTATEx/ProstateX-0115" / study_uid / "1.2.3.4.12345",
        "ProstateX-0115",
        2,
        modality="MR",
        names=["1-09.dcm", "1-10.dcm"],
        study=study_uid,
        series="1.2.3.4.12345",
    )
    lst = tmp_path / "0_SSL_PROSTATEx_MRI_Prostate.txt"
    lst.write_text(entry + "\n")
    for name, series_folder in (
        ("newer", "8.000000-ep2d_diff_tra_DYNDISTMIXCALCBVAL-29918"),
        ("classic", series_uid),
    ):
        ds, report = prepare_and_load(
            "prostatex", tmp_path / name, tmp_path / f"out-{name}", file_list=str(lst)
        )
        assert ds["original_path"] == [
            f"PROSTATEx/ProstateX-0115/{ds[0]['original_path'].split('/')[2]}/{series_folder}/1-09.dcm"
        ]
        assert report.list_entries_unmatched == 0 and report.skipped["not_in_list"] == (
            2 if name == "newer" else 4
        )
