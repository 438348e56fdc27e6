"""The seven Medical Segmentation Decathlon tasks LVM-Med used, on the official tarball layout.

Fixture: ``TaskXX_Name/{imagesTr,labelsTr,imagesTs}/<case>.nii.gz`` + ``dataset.json`` with real
case names from LVM-Med's ``MSD.txt``, plus the macOS ``._<case>.nii.gz`` forks the official
tarballs contain (garbage bytes here: reading them would count as unreadable).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _fixtures_volumes import decode, expected_axial_slice, label_volume, random_volume, write_nifti

from lvmmed_hf.data.builder import FileListError, SourceDataMissingError
from lvmmed_hf.data.registry import get_source

TASKS = {
    # source: (task folder, modality, real case names from MSD.txt)
    "msd_task02_heart": ("Task02_Heart", "MRI", ["la_003", "la_004", "la_005", "la_007", "la_009"]),
    "msd_task03_liver": ("Task03_Liver", "CT", ["liver_0", "liver_1", "liver_10", "liver_104", "liver_105"]),
    "msd_task06_lung": ("Task06_Lung", "CT", ["lung_001", "lung_003", "lung_004", "lung_005", "lung_006"]),
    "msd_task07_pancreas": (
        "Task07_Pancreas",
        "CT",
        ["pancreas_001", "pancreas_004", "pancreas_005", "pancreas_006", "pancreas_007"],
    ),
    "msd_task08_hepaticvessel": (
        "Task08_HepaticVessel",
        "CT",
        [
            "hepaticvessel_001",
            "hepaticvessel_002",
            "hepaticvessel_004",
            "hepaticvessel_005",
            "hepaticvessel_007",
        ],
    ),
    "msd_task09_spleen": (
        "Task09_Spleen",
        "CT",
        ["spleen_10", "spleen_12", "spleen_13", "spleen_14", "spleen_16"],
    ),
    "msd_task10_colon": (
        "Task10_Colon",
        "CT",
        ["colon_001", "colon_005", "colon_006", "colon_008", "colon_009"],
    ),
}


def make_task(root, task, cases, with_json=True):
    t = root / task
    vols = {}
    for n, case in enumerate(cases):
        vols[case] = random_volume(n)
        write_nifti(t / "imagesTr" / f"{case}.nii.gz", vols[case])
        write_nifti(t / "labelsTr" / f"{case}.nii.gz", label_volume())
        # macOS resource forks shipped in the official tarballs
        (t / "imagesTr" / f"._{case}.nii.gz").write_bytes(b"\x00\x05\x16\x07junk")
        (t / "labelsTr" / f"._{case}.nii.gz").write_bytes(b"\x00\x05\x16\x07junk")
    write_nifti(t / "imagesTs" / f"{cases[0]}_test.nii.gz", random_volume(99))
    if with_json:
        meta = {
            "name": task.split("_", 1)[1],
            "numTraining": len(cases),
            "training": [
                {"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"} for c in cases
            ],
            "test": [f"./imagesTs/{cases[0]}_test.nii.gz"],
        }
        (t / "dataset.json").write_text(json.dumps(meta))
    return vols


@pytest.mark.parametrize("source", sorted(TASKS))
def test_msd_task_sample_and_file_list(source, tmp_path, prepare_load):
    task, modality, cases = TASKS[source]
    raw = tmp_path / "raw"
    make_task(raw, task, cases, with_json=source != "msd_task06_lung")  # Task06: imagesTr fallback
    make_task(raw, "Task99_Other", ["other_001"])  # another task in the same folder is ignored

    ds, report = prepare_load(source, raw, tmp_path / "out")
    assert set(ds["patient_id"]) <= set(cases)
    assert len(set(ds["patient_id"])) == 1  # round(0.2 * 5) cases, all their slices
    assert len(ds) == 3 and sorted(ds["slice_index"]) == [0, 1, 2]
    assert set(ds["modality"]) == {modality} and set(ds["source"]) == {source}
    assert report.skipped.get("unreadable", 0) == 0  # the ._ forks were never read
    assert report.skipped["not_in_split"] == 4  # records (cases) left out

    # LVM-Med's grouped MSD.txt: another task's header and lines, then this task's two cases
    lst = tmp_path / "MSD.txt"
    lines = ["Task99_Other", "Task99_Other/imagesTr/other_001.nii.gz", task]
    lines += [f"{task}/imagesTr/{c}.nii.gz" for c in (cases[1], cases[3])]
    lst.write_text("\n".join(lines))
    ds, report = prepare_load(source, raw, tmp_path / "out_list", file_list=str(lst))
    assert sorted(set(ds["patient_id"])) == sorted([cases[1], cases[3]])
    assert len(ds) == 6 and report.list_entries == 2 and report.list_entries_unmatched == 0
    assert set(ds["original_path"]) == {f"{task}/imagesTr/{c}.nii.gz" for c in (cases[1], cases[3])}


@pytest.mark.parametrize("source", ["msd_task09_spleen", "msd_task02_heart"])
def test_msd_all_cases_masks_and_pixels(source, tmp_path, prepare_load):
    task, modality, cases = TASKS[source]
    raw = tmp_path / "raw"
    vols = make_task(raw, task, cases)
    # data_dir may be the task folder itself
    ds, _ = prepare_load(source, raw / task, tmp_path / "out", sample_fraction=1.0)
    assert len(ds) == 15 and sorted(set(ds["patient_id"])) == sorted(cases)
    assert ds.features["mask"].__class__.__name__ == "Image"
    lab = label_volume()
    for ex in ds:
        k = ex["slice_index"]
        np.testing.assert_array_equal(decode(ex["mask"]), expected_axial_slice(lab, k))
        img = decode(ex["image"])
        assert img.dtype == np.uint16 and img.shape == (16, 16)
        if modality == "CT":  # soft-tissue window (40, 400): HU -160..240 -> 0..65535
            hu = expected_axial_slice(vols[ex["patient_id"]], k).astype(np.float64)
            np.testing.assert_array_equal(img, np.round(np.clip((hu + 160) / 400, 0, 1) * 65535))


def test_msd_list_without_this_task_and_missing_layout(tmp_path, prepare_load):
    raw = tmp_path / "raw"
    make_task(raw, "Task09_Spleen", TASKS["msd_task09_spleen"][2])
    lst = tmp_path / "MSD.txt"
    lst.write_text("Task10_Colon\nTask10_Colon/imagesTr/colon_001.nii.gz\n")
    with pytest.raises(FileListError, match="Task09_Spleen"):
        prepare_load("msd_task09_spleen", raw, tmp_path / "o1", file_list=str(lst))
    with pytest.raises(SourceDataMissingError, match="Task10_Colon/imagesTr"):
        prepare_load("msd_task10_colon", raw, tmp_path / "o2")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceDataMissingError, match="does not exist|is empty"):
        prepare_load("msd_task09_spleen", empty, tmp_path / "o3")


def test_msd_facts():
    for source, (task, modality, _) in TASKS.items():
        cls = get_source(source)
        assert cls.modality == modality and cls.task == task and cls.dimensionality == "3d"
        assert cls.split_rule == "random_20pct_by_volume" and "CC BY-SA" in cls.license
