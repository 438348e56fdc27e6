"""The embedded corpus builds from the installed packages, with several modalities, and loads back."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pydicom
import skimage
from pydicom.data import get_testdata_file

from lvmmed_hf.cli import main as cli_main
from lvmmed_hf.data.embedded import EMBEDDED_MODALITIES, load_embedded


def test_embedded_corpus_modalities_and_reports(embedded_corpus):
    out, reports = embedded_corpus
    assert set(reports) == {"embedded_pydicom", "embedded_nilearn", "embedded_skimage"}
    ds = load_embedded(out)
    assert ds.features["label"].names == EMBEDDED_MODALITIES
    labels = Counter(ds.features["label"].int2str(x) for x in ds["label"])
    assert {"CT", "MRI", "X-ray", "ultrasound", "fundus", "histopathology", "microscopy"} <= set(labels)
    assert Counter(ds["modality"]) == labels  # the label is the modality
    py = reports["embedded_pydicom"]
    # RT dose/plan, SR, SEG objects and files without pixels are reported, not decoded
    assert py.skipped["not_an_image"] >= 10
    assert any(d["path"].endswith("liver.dcm") and d["reason"] == "not_an_image" for d in py.details)
    assert reports["embedded_nilearn"].files_read == 3 and reports["embedded_skimage"].examples_written == 4


def test_embedded_series_and_multiframe(embedded_corpus):
    out, _ = embedded_corpus
    ds = datasets.load_dataset(str(out), "embedded_pydicom", split="train")
    vols = Counter(ds["volume_id"])
    # the dicomdirtests MR series folders are read as series: MR700 holds 7 radial 16 x 16 images
    # (7 orientations about one axis), stored as 7 native images, one per instance (not resliced)
    mr700 = [i for i, v in enumerate(ds["volume_id"]) if v.startswith("MR700:")]
    assert len(mr700) == 7 and all(ds[i]["image"].size == (16, 16) for i in mr700)
    # the YBR cine as 30 frames
    assert vols["examples_ybr_color.dcm"] == 30
    # a CR X-ray (MONOCHROME1) is stored 16-bit and inverted: equal to 2^bits-1 - stored values
    row = ds.filter(lambda v: v == "RG1_UNCR.dcm", input_columns="volume_id")[0]
    src = pydicom.dcmread(get_testdata_file("RG1_UNCR.dcm"))
    np.testing.assert_array_equal(np.asarray(row["image"]), (1 << src.BitsStored) - 1 - src.pixel_array)


def test_embedded_skimage_bytes_unchanged(embedded_corpus):
    out, _ = embedded_corpus
    ds = datasets.load_dataset(str(out), "embedded_skimage", split="train").cast_column(
        "image", datasets.Image(decode=False)
    )
    data_dir = Path(skimage.__file__).parent / "data"
    for row in ds:
        assert row["image"]["bytes"] == (data_dir / row["original_path"]).read_bytes()


def test_cli_prepare_embedded_is_idempotent(embedded_corpus, capsys):
    out, reports = embedded_corpus
    before = {p: p.stat().st_mtime_ns for p in out.rglob("train-*.parquet")}
    assert cli_main(["prepare", "--embedded", "--out", str(out), "--num-proc", "2"]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("train-*.parquet")} == before
