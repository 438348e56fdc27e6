"""Options of preparation: raw HU end to end through the CLI, validation before any work, resume
fingerprint (options and input records), image sizes stored as columns."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import datasets
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut

from lvmmed_hf.cli import main as cli_main
from lvmmed_hf.data.builder import FileListError
from lvmmed_hf.data.prepare import PrepareError, prepare_source
from lvmmed_hf.data.registry import get_source
from lvmmed_hf.errors import InvalidOptionError, LvmMedUserError


def run_cli(argv: list[str]) -> int:
    """``lvmmed`` exit status; an expected error (``LvmMedUserError``) is status 2, as ``lvmmed``
    prints it (one line on stderr) instead of a traceback."""
    try:
        return cli_main(argv)
    except LvmMedUserError:
        return 2


def _load(out: Path, name: str) -> datasets.Dataset:
    return datasets.load_dataset(str(out), name, split="train", cache_dir=str(out.parent / f"hf_{out.name}"))


@pytest.fixture
def pydicom_ct_dir(tmp_path) -> tuple[Path, Path]:
    """pydicom-data's CT_small.dcm (RescaleIntercept -1024, axial) in the toy_ct layout."""
    src = Path(get_testdata_file("CT_small.dcm"))
    raw = tmp_path / "raw_ct_small"
    dst = raw / "PATIENT_0001" / "1.000000-CT-1" / "1-001.dcm"
    dst.parent.mkdir(parents=True)
    shutil.copy(src, dst)
    return raw, src


def _prepare_args(raw: Path, out: Path, scripts: Path, *extra: str) -> list[str]:
    return [
        "prepare",
        "--source",
        "toy_ct",
        "--data-dir",
        str(raw),
        "--out",
        str(out),
        "--scripts-dir",
        str(scripts),
        "--sample-fraction",
        "1",
        *extra,
    ]


def test_raw_hu_through_the_cli_stores_hu_plus_1024(tmp_path, scripts_dir, pydicom_ct_dir):
    raw, src = pydicom_ct_dir
    out = tmp_path / "out"
    assert run_cli(_prepare_args(raw, out, scripts_dir, "--raw-hu")) == 0
    ds = _load(out, "toy_ct")
    assert len(ds) == 1
    # the oracle: pydicom's own modality LUT (slope/intercept) on the same file
    ref = pydicom.dcmread(src)
    hu = apply_modality_lut(ref.pixel_array, ref).astype(np.float64)
    stored = np.asarray(ds[0]["image"]).astype(np.float64)
    assert ds[0]["image"].mode == "I;16"
    np.testing.assert_array_equal(stored, hu + 1024)
    saved = json.loads((out / "toy_ct" / "lvmmed_report.json").read_text())
    assert saved["options"]["ct_window"] is None and saved["options"]["raw_hu"] is True
    # the default run of the same file is windowed (W400/L40): not the same pixels
    out2 = tmp_path / "windowed"
    assert run_cli(_prepare_args(raw, out2, scripts_dir)) == 0
    windowed = np.asarray(_load(out2, "toy_ct")[0]["image"]).astype(np.float64)
    expected = np.clip((hu - (40 - 200)) / 400, 0, 1) * 65535
    assert np.abs(windowed - expected).max() <= 0.5 + 1e-6 * 65535
    saved2 = json.loads((out2 / "toy_ct" / "lvmmed_report.json").read_text())
    assert saved2["options"]["ct_window"] == [40.0, 400.0] and saved2["options"]["raw_hu"] is False


def test_raw_hu_from_python_and_no_silent_reuse_of_a_windowed_output(tmp_path, scripts_dir, pydicom_ct_dir):
    raw, src = pydicom_ct_dir
    out = tmp_path / "out"
    prepare_source("toy_ct", raw, out, scripts_dirs=[scripts_dir], sample_fraction=1.0)  # windowed
    with pytest.raises(PrepareError, match=r"--overwrite") as info:
        prepare_source("toy_ct", raw, out, scripts_dirs=[scripts_dir], sample_fraction=1.0, ct_window=None)
    assert "raw_hu" in str(info.value) and "\n" not in str(info.value)
    assert run_cli(_prepare_args(raw, out, scripts_dir, "--raw-hu")) == 2  # the CLI refuses the same way
    prepare_source(
        "toy_ct", raw, out, scripts_dirs=[scripts_dir], sample_fraction=1.0, ct_window=None, overwrite=True
    )
    ref = pydicom.dcmread(src)
    hu = apply_modality_lut(ref.pixel_array, ref)
    np.testing.assert_array_equal(np.asarray(_load(out, "toy_ct")[0]["image"]), (hu + 1024).astype(np.uint16))


def test_plain_datasets_builder_honours_ct_window_none(tmp_path, scripts_dir, pydicom_ct_dir):
    """datasets drops config kwargs that are None; the builder must still store raw HU."""
    raw, src = pydicom_ct_dir
    Builder = get_source("toy_ct", [scripts_dir])
    b = Builder(cache_dir=str(tmp_path / "cache"), data_dir=str(raw), ct_window=None, sample_fraction=1.0)
    assert b.config.ct_window is None and b.config.raw_hu is True
    b.download_and_prepare()
    ref = pydicom.dcmread(src)
    hu = apply_modality_lut(ref.pixel_array, ref)
    np.testing.assert_array_equal(
        np.asarray(b.as_dataset("train")[0]["image"]), (hu + 1024).astype(np.uint16)
    )


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--ct-window", "40", "0"], "ct_window"),
        (["--ct-window", "40", "nan"], "ct_window"),
        (["--sample-fraction", "-3"], "sample_fraction"),
        (["--sample-fraction", "1.5"], "sample_fraction"),
        (["--stride", "0"], "stride"),
        (["--seed", "-1"], "seed"),
        (["--num-proc", "0"], "num-proc"),
        (["--sources", "no_equals_sign"], "--sources expects NAME=PATH, got 'no_equals_sign'"),
        (
            ["--sources", "other=x", "--file-list", "list.txt"],
            "with several sources, give --file-list NAME=PATH",
        ),
    ],
)
def test_cli_options_validated_before_any_work(tmp_path, scripts_dir, toy_xray_dir, extra, words, capsys):
    out = tmp_path / "out"
    args = ["prepare", "--source", "toy_xray", "--data-dir", str(toy_xray_dir), "--out", str(out)]
    capsys.readouterr()
    # an InvalidOptionError, which lvmmed prints as one line with exit status 2
    assert cli_main([*args, "--scripts-dir", str(scripts_dir), *extra]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()  # nothing was done


@pytest.mark.parametrize(
    "options, words",
    [
        ({"ct_window": (40, 0)}, "ct_window"),
        ({"ct_window": (40,)}, "ct_window"),
        ({"sample_fraction": -3}, "sample_fraction"),
        ({"stride": 0}, "stride"),
        ({"stride": 1.5}, "stride"),
        ({"bits": 12}, "bits"),
        ({"mr_percentiles": (99, 1)}, "mr_percentiles"),
        ({"empty_tolerance": -0.1}, "empty_tolerance"),
        ({"strid": 2}, "unknown option"),
    ],
)
def test_python_options_validated_before_any_work(tmp_path, scripts_dir, toy_xray_dir, options, words):
    out = tmp_path / "out"
    with pytest.raises(InvalidOptionError, match=words):
        prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir], **options)
    assert not out.exists()
    if "strid" in options:
        return
    # the builder itself (datasets sets config attributes with setattr, bypassing __post_init__)
    Builder = get_source("toy_xray", [scripts_dir])
    with pytest.raises(InvalidOptionError, match=words):
        Builder(cache_dir=str(tmp_path / "cache"), data_dir=str(toy_xray_dir), **options)


@pytest.mark.parametrize(
    "options, words",
    [
        ({"num_proc": 0}, "num_proc must be an integer >= 1, got 0"),
        ({"num_proc": True}, "num_proc must be an integer >= 1, got True"),
        ({"num_proc": 2.0}, "num_proc must be an integer >= 1, got 2.0"),
        ({"records_per_shard": 0}, "records_per_shard must be an integer >= 1, got 0"),
    ],
)
def test_run_options_validated_before_any_work(tmp_path, scripts_dir, toy_xray_dir, options, words):
    out = tmp_path / "out"
    with pytest.raises(InvalidOptionError, match=re.escape(words)):
        prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir], **options)
    assert not out.exists()


def test_missing_file_list_refused_before_any_work(tmp_path, scripts_dir, toy_xray_dir):
    out = tmp_path / "out"
    with pytest.raises(FileListError, match="no_such_list.txt"):
        prepare_source(
            "toy_xray",
            toy_xray_dir,
            out,
            scripts_dirs=[scripts_dir],
            file_list=str(tmp_path / "no_such_list.txt"),
        )
    assert not out.exists()


def test_new_files_after_a_completed_prepare_stop_with_a_message(tmp_path, scripts_dir, toy_xray_dir):
    out = tmp_path / "out"
    prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir])
    new = toy_xray_dir / "train" / "abnormal" / "p42_0.png"
    Image.fromarray(np.arange(16 * 20, dtype=np.uint16).reshape(16, 20) * 7).save(new)
    with pytest.raises(PrepareError, match=r"1 new record.*train/abnormal/p42_0\.png.*--overwrite"):
        prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir])
    assert run_cli(["prepare", "--source", "toy_xray", "--data-dir", str(toy_xray_dir), "--out", str(out),
                    "--scripts-dir", str(scripts_dir)]) == 2  # fmt: skip
    assert len(_load(out, "toy_xray")) == 20  # the finished source is untouched
    report = prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir], overwrite=True)
    assert report.examples_written == 21
    assert "train/abnormal/p42_0.png" in _load(out, "toy_xray")["original_path"]
    # a file removed since is detected as well
    (toy_xray_dir / "train" / "normal" / "p00_0.png").unlink()
    with pytest.raises(PrepareError, match=r"1 record\(s\) gone.*train/normal/p00_0\.png"):
        prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir])
    # unchanged data and options: skipped, nothing rewritten
    prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir], overwrite=True)
    shards = sorted((out / "toy_xray").glob("train-*.parquet"))
    mtimes = [s.stat().st_mtime_ns for s in shards]
    assert prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir]).examples_written == 20
    assert [s.stat().st_mtime_ns for s in shards] == mtimes


def test_height_and_width_columns_match_the_decoded_images(tmp_path, scripts_dir, toy_xray_dir, toy_ct_dir):
    out = tmp_path / "out"
    prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir])
    prepare_source("toy_ct", toy_ct_dir, out, scripts_dirs=[scripts_dir], sample_fraction=1.0)
    for name, shape in (("toy_xray", (16, 20)), ("toy_ct", (12, 10))):
        ds = _load(out, name)
        assert ds.features["height"] == datasets.Value("int32") == ds.features["width"]
        for row in ds:
            w, h = row["image"].size  # decoded by PIL, independently of the stored columns
            assert (row["height"], row["width"]) == (h, w) == shape
    # the columns are read without decoding any image
    plain = _load(out, "toy_xray").cast_column("image", datasets.Image(decode=False))
    assert set(plain["height"]) == {16} and set(plain["width"]) == {20}
