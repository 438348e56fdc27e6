"""Shenzhen CXR on the NLM archive layout and the Kaggle double-nested mirror, real names from
LVM-Med's list."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lvmmed_hf.data.builder import FileListError, SourceDataMissingError

try:
    from ._fixtures_tcia import check_missing_layout, prepare_and_load
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import check_missing_layout, prepare_and_load

# real names from Shenzhen_X-ray_Lung.txt (and two more of the set)
NAMES = [
    "CHNCXR_0002_0.png",
    "CHNCXR_0005_0.png",
    "CHNCXR_0006_0.png",
    "CHNCXR_0011_0.png",
    "CHNCXR_0629_1.png",
    "CHNCXR_0634_1.png",
]


def _write(path, seed, mode):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(20, 24) if mode == "L" else (20, 24, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return arr


@pytest.mark.parametrize(
    "image_dir", ["ChinaSet_AllFiles/CXR_png", "ChinaSet_AllFiles/ChinaSet_AllFiles/CXR_png"]
)
def test_shenzhen_cxr(tmp_path, image_dir):
    raw = tmp_path / "raw"
    arrays = {n: _write(raw / image_dir / n, i, "RGB" if i == 3 else "L") for i, n in enumerate(NAMES)}
    for n in NAMES:  # clinical readings sit beside the images and are not images
        (raw / "ChinaSet_AllFiles/ClinicalReadings" / n.replace(".png", ".txt")).parent.mkdir(
            parents=True, exist_ok=True
        )
        (raw / "ChinaSet_AllFiles/ClinicalReadings" / n.replace(".png", ".txt")).write_text(
            "male 35yrs\nnormal\n"
        )
    _write(raw / "mask" / "CHNCXR_0002_0_mask.png", 99, "L")  # the separately published lung masks
    (raw / image_dir / "._CHNCXR_0005_0.png").write_bytes(b"\0\5\26\7")  # macOS fork
    (raw / image_dir / "Thumbs.db").write_bytes(b"x")

    ds, report = prepare_and_load("shenzhen_cxr", raw, tmp_path / "all", sample_fraction=1.0)
    assert len(ds) == 6 and report.skipped == {}
    assert ds.features["label"].names == ["normal", "tuberculosis"]
    got = {
        p.rsplit("/", 1)[-1]: (lab, pid)
        for p, lab, pid in zip(ds["original_path"], ds["label"], ds["patient_id"])
    }
    assert got == {n: (int(n[-5]), n[:11]) for n in NAMES}
    assert (
        set(ds["modality"]) == {"X-ray"} and set(ds["organ"]) == {"chest"} and set(ds["slice_index"]) == {-1}
    )
    for row in ds:
        name = row["original_path"].rsplit("/", 1)[-1]
        assert np.array_equal(np.asarray(row["image"]), arrays[name])  # stored unchanged (original PNG bytes)

    ds20, report20 = prepare_and_load("shenzhen_cxr", raw, tmp_path / "p20")
    assert len(ds20) == round(0.2 * 6) and report20.skipped["not_in_split"] == 6 - len(ds20)

    lst = tmp_path / "Shenzhen_X-ray_Lung.txt"
    lst.write_text(
        "CHNCXR_0002_0.png\nCHNCXR_0629_1.png\nCHNCXR_0001_0.png\n"
    )  # the last is not in the fixture
    dsl, reportl = prepare_and_load("shenzhen_cxr", raw, tmp_path / "list", file_list=str(lst))
    assert sorted(p.rsplit("/", 1)[-1] for p in dsl["original_path"]) == [
        "CHNCXR_0002_0.png",
        "CHNCXR_0629_1.png",
    ]
    assert reportl.list_entries_unmatched == 1 and reportl.skipped["not_in_list"] == 4
    bad = tmp_path / "bad.txt"
    bad.write_text("MCUCXR_0001_0.png\n")
    with pytest.raises(FileListError):
        prepare_and_load("shenzhen_cxr", raw, tmp_path / "bad", file_list=str(bad))


def test_shenzhen_cxr_missing_layout(tmp_path):
    check_missing_layout(tmp_path, "shenzhen_cxr")
    montgomery_only = tmp_path / "mont"
    img = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8))
    (montgomery_only / "MontgomerySet/CXR_png").mkdir(parents=True)
    img.save(montgomery_only / "MontgomerySet/CXR_png/MCUCXR_0001_0.png")
    with pytest.raises(SourceDataMissingError, match="CHNCXR"):
        prepare_and_load("shenzhen_cxr", montgomery_only, tmp_path / "o")
