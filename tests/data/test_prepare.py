"""Builders through preparation: Parquet + card, load_dataset (also streaming), reports, bad inputs,
resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
from _data_fixtures import gradient_volume, write_ct_series
from PIL import Image

from lvmmed_hf.cli import main as cli_main
from lvmmed_hf.data.builder import FileListError, SourceDataMissingError
from lvmmed_hf.data.prepare import EXIT_ENV, PrepareError, prepare_source
from lvmmed_hf.data.registry import UnknownSourceError, get_source


def _load(out: Path, name: str) -> datasets.Dataset:
    return datasets.load_dataset(str(out), name, split="train")


def _keys(ds) -> list[tuple[str, int]]:
    return sorted(zip(ds["volume_id"], ds["slice_index"]))


def test_ct_series_prepared_loaded_and_streamed(tmp_path, scripts_dir, toy_ct_dir):
    out = tmp_path / "out"
    report = prepare_source(
        "toy_ct", toy_ct_dir, out, scripts_dirs=[scripts_dir], sample_fraction=1.0, num_proc=2
    )
    assert report.examples_written == 20 and report.files_read == 20 and not report.skipped
    ds = _load(out, "toy_ct")
    assert len(ds) == 20
    assert set(ds.features) == {
        "image",
        "source",
        "modality",
        "organ",
        "patient_id",
        "volume_id",
        "slice_index",
        "original_path",
        "label",
        "height",
        "width",
    }
    assert isinstance(ds.features["image"], datasets.Image)
    row = ds.filter(
        lambda v, s: v == "PATIENT_0002/1.000000-CT-1234" and s == 1,
        input_columns=["volume_id", "slice_index"],
    )[0]
    # slice 1 in z order lives in file 1-003.dcm (names run against z); pixels are the windowed HU
    assert row["original_path"] == "PATIENT_0002/1.000000-CT-1234/1-003.dcm"
    hu = gradient_volume((4, 12, 10), seed=2)[1].astype(np.float64) - 1024.0
    expected = np.clip((hu - (40 - 200)) / 400, 0, 1) * 65535  # soft-tissue window W400/L40, 16-bit
    assert row["image"].mode == "I;16"
    assert np.abs(np.asarray(row["image"]).astype(np.float64) - expected).max() <= 0.5 + 1e-3 * 65535 / 400
    assert (row["source"], row["modality"], row["organ"], row["label"]) == ("toy_ct", "CT", "abdomen", None)
    streamed = list(datasets.load_dataset(str(out), "toy_ct", split="train", streaming=True))
    assert sorted((r["volume_id"], r["slice_index"]) for r in streamed) == _keys(ds)
    card = (out / "README.md").read_text()
    assert "config_name: toy_ct" in card and "register at example.org" in card and "CC BY 4.0" in card
    saved = json.loads((out / "toy_ct" / "lvmmed_report.json").read_text())
    assert saved["report"]["examples_written"] == 20


def test_16bit_xray_with_labels_and_original_bytes(tmp_path, scripts_dir, toy_xray_dir):
    out = tmp_path / "out"
    prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir])
    ds = _load(out, "toy_xray")
    assert len(ds) == 20 and ds.features["label"].names == ["normal", "abnormal"]
    for row in ds.select(range(3)):
        src = toy_xray_dir / row["original_path"]
        assert row["image"].mode == "I;16"
        np.testing.assert_array_equal(np.asarray(row["image"]), np.asarray(Image.open(src)))
        assert ds.features["label"].int2str(row["label"]) == src.parent.name
        assert row["slice_index"] == -1


def test_random_20pct_split_is_by_patient_and_seeded(tmp_path, scripts_dir, toy_ct_dir):
    for i in range(10):  # 10 patients; 0-4 now have two series each
        write_ct_series(
            toy_ct_dir / f"PATIENT_{i:04d}" / "2.000000-CT-99",
            gradient_volume((2, 6, 6), seed=i),
            series_uid=f"1.2.3.{i}",
        )
    n_series = {f"PATIENT_{i:04d}": 2 if i < 5 else 1 for i in range(10)}
    reports = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1), ("d", 2)):
        reports[name] = prepare_source(
            "toy_ct", toy_ct_dir, tmp_path / name, scripts_dirs=[scripts_dir], seed=seed
        )
    chosen = {}
    for name in "abcd":
        ds = _load(tmp_path / name, "toy_ct")
        chosen[name] = set(ds["patient_id"])
        assert len(chosen[name]) == 2  # round(0.2 * 10) patients
        for p in chosen[name]:  # every series of a chosen patient is kept
            assert len({v for v, q in zip(ds["volume_id"], ds["patient_id"]) if q == p}) == n_series[p]
    assert chosen["a"] == chosen["b"]
    assert len({frozenset(chosen[x]) for x in "acd"}) > 1  # the seed changes the sample
    a = reports["a"]
    assert a.records_found == 15 and a.records_selected == sum(n_series[p] for p in chosen["a"])
    assert a.skipped["not_in_split"] == 15 - a.records_selected


def test_file_list_restricts_to_listed_slices(tmp_path, scripts_dir, toy_ct_dir):
    listed = [
        "PATIENT_0001/1.000000-CT-1234/1-001.dcm",
        "PATIENT_0001/1.000000-CT-1234/1-004.dcm",
        "PATIENT_0003/1.000000-CT-1234/1-002.dcm",
        "PATIENT_0099/1.000000-CT-1234/1-001.dcm",  # not in the data
    ]
    lst = tmp_path / "0_SSL_Toy_CT.txt"
    lst.write_text("\n".join(listed) + "\n\n")
    report = prepare_source(
        "toy_ct", toy_ct_dir, tmp_path / "out", scripts_dirs=[scripts_dir], file_list=str(lst)
    )
    ds = _load(tmp_path / "out", "toy_ct")
    assert sorted(ds["original_path"]) == sorted(listed[:3])
    assert (
        report.skipped["not_in_list"] == 17
        and report.list_entries == 4
        and report.list_entries_unmatched == 1
    )
    assert "not_in_split" not in report.skipped  # the list replaces the random sample
    bad = tmp_path / "bad.txt"
    bad.write_text("nothing/here.dcm\n")
    with pytest.raises(FileListError, match="none of the 1 entries"):
        prepare_source(
            "toy_ct", toy_ct_dir, tmp_path / "out2", scripts_dirs=[scripts_dir], file_list=str(bad)
        )


def test_file_list_stem_mode(tmp_path, scripts_dir):
    import nibabel as nib

    raw = tmp_path / "raw"
    (raw / "imagesTr").mkdir(parents=True)
    for name in ("case_1", "case_2", "case_3"):
        nib.save(
            nib.Nifti1Image(gradient_volume((6, 7, 3)).astype(np.int16), np.diag([1, 1, 2, 1.0])),
            raw / "imagesTr" / f"{name}.nii.gz",
        )
    lst = tmp_path / "l.txt"
    lst.write_text("Task/imagesTr/case_2.nii.gz\ncase_3\n")
    prepare_source("toy_mri", raw, tmp_path / "out", scripts_dirs=[scripts_dir], file_list=str(lst))
    ds = _load(tmp_path / "out", "toy_mri")
    assert set(ds["volume_id"]) == {"case_2", "case_3"} and len(ds) == 6
    assert {np.asarray(im).dtype for im in ds["image"]} == {np.dtype(np.uint16)}


def test_missing_empty_and_wrong_layout_errors(tmp_path, scripts_dir):
    with pytest.raises(
        SourceDataMissingError, match=r"does not exist[\s\S]*example.org/toy-ct[\s\S]*DUA[\s\S]*CC BY 4.0"
    ):
        prepare_source("toy_ct", tmp_path / "nope", tmp_path / "out", scripts_dirs=[scripts_dir])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceDataMissingError, match="is empty"):
        prepare_source("toy_ct", tmp_path / "empty", tmp_path / "out", scripts_dirs=[scripts_dir])
    wrong = tmp_path / "wrong"
    write_ct_series(wrong / "scans" / "s1", gradient_volume((2, 6, 6)))  # not PATIENT_*/<series>/
    with pytest.raises(
        SourceDataMissingError, match=r"found no files of the expected layout[\s\S]*PATIENT_<nnnn>"
    ):
        prepare_source("toy_ct", wrong, tmp_path / "out", scripts_dirs=[scripts_dir])
    with pytest.raises(UnknownSourceError, match="toy_ct"):
        get_source("no_such_source", [scripts_dir])


def test_unreadable_file_among_good_ones_is_skipped_and_reported(tmp_path, scripts_dir, toy_xray_dir):
    bad = toy_xray_dir / "train" / "normal" / "p00_0.png"
    bad.write_bytes(bad.read_bytes()[:40])
    Image.fromarray(np.full((8, 8), 3000, np.uint16)).save(toy_xray_dir / "train" / "normal" / "p98_0.png")
    report = prepare_source("toy_xray", toy_xray_dir, tmp_path / "out", scripts_dirs=[scripts_dir])
    ds = _load(tmp_path / "out", "toy_xray")
    assert len(ds) == 19 and "train/normal/p00_0.png" not in ds["original_path"]
    assert report.skipped == {"unreadable": 1, "empty_slice": 1}
    details = {d["path"]: d["reason"] for d in report.details}
    assert details == {"train/normal/p00_0.png": "unreadable", "train/normal/p98_0.png": "empty_slice"}
    saved = json.loads((tmp_path / "out" / "toy_xray" / "lvmmed_report.json").read_text())["report"]
    assert saved["skipped"] == {"empty_slice": 1, "unreadable": 1} and saved["examples_written"] == 19


def test_idempotent_and_option_conflict(tmp_path, scripts_dir, toy_xray_dir):
    out = tmp_path / "out"
    prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir], records_per_shard=7)
    shards = sorted((out / "toy_xray").glob("train-*.parquet"))
    assert len(shards) == 3
    mtimes = [s.stat().st_mtime_ns for s in shards]
    again = prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir], records_per_shard=7)
    assert again.examples_written == 20 and [s.stat().st_mtime_ns for s in shards] == mtimes
    with pytest.raises(PrepareError, match="overwrite"):
        prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir], stride=2)
    prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir], bits=8, overwrite=True)
    assert len(_load(out, "toy_xray")) == 20


class _Interrupt(Exception):
    pass


def test_interrupted_preparation_resumes_without_duplicates(tmp_path, scripts_dir, toy_xray_dir):
    ref_out, out = tmp_path / "ref", tmp_path / "out"
    prepare_source("toy_xray", toy_xray_dir, ref_out, scripts_dirs=[scripts_dir], records_per_shard=3)
    seen = []

    def crash_at_13th(source, task, n):
        seen.append(task)
        if len(seen) == 13:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        prepare_source(
            "toy_xray",
            toy_xray_dir,
            out,
            scripts_dirs=[scripts_dir],
            records_per_shard=3,
            on_example=crash_at_13th,
        )
    visible = sorted(p.name for p in (out / "toy_xray").glob("train-*.parquet"))
    assert visible == [f"train-{i:05d}-of-00007.parquet" for i in range(4)]  # 4 whole shards, none partial
    assert (
        not list((out / "toy_xray").glob(".tmp-*"))
        and not (out / "toy_xray" / ".lvmmed" / "COMPLETE").exists()
    )
    resumed_tasks = []
    prepare_source(
        "toy_xray",
        toy_xray_dir,
        out,
        scripts_dirs=[scripts_dir],
        records_per_shard=3,
        on_example=lambda s, t, n: resumed_tasks.append(t),
    )
    assert sorted(set(resumed_tasks)) == [4, 5, 6]  # finished shards were not redone
    ds, ref = _load(out, "toy_xray"), _load(ref_out, "toy_xray")
    assert sorted(ds["original_path"]) == sorted(ref["original_path"]) and len(set(ds["original_path"])) == 20


@pytest.mark.slow  # a fresh interpreter imports torch/transformers through lvmmed_hf
def test_killed_worker_process_then_resume(tmp_path, scripts_dir, toy_xray_dir):
    """A real process dies mid-shard (os._exit, no cleanup); the next run finishes the source exactly."""
    out = tmp_path / "out"
    code = (
        "import sys; from lvmmed_hf.data.prepare import prepare_source; "
        f"prepare_source('toy_xray', {str(toy_xray_dir)!r}, {str(out)!r}, "
        f"scripts_dirs=[{str(scripts_dir)!r}], records_per_shard=4)"
    )
    env = {**os.environ, EXIT_ENV: "3"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert proc.returncode == 3
    assert not list((out / "toy_xray").glob("train-*.parquet"))  # the half-written shard stayed hidden
    assert list((out / "toy_xray").glob(".tmp-train-*"))
    report = prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir], records_per_shard=4)
    ds = _load(out, "toy_xray")
    assert report.examples_written == 20 and len(ds) == 20 and len(set(ds["original_path"])) == 20
    assert not list((out / "toy_xray").glob(".tmp-*"))


def test_cli_prepare_and_sources(tmp_path, scripts_dir, toy_xray_dir, capsys):
    rc = cli_main(["sources", "--scripts-dir", str(scripts_dir)])
    listing = capsys.readouterr().out
    assert (
        rc == 0
        and "toy_xray" in listing
        and "X-ray" in listing
        and "CC0" in listing
        and "embedded_pydicom" in listing
    )
    rc = cli_main(
        [
            "prepare",
            "--source",
            "toy_xray",
            "--data-dir",
            str(toy_xray_dir),
            "--out",
            str(tmp_path / "out"),
            "--scripts-dir",
            str(scripts_dir),
            "--num-proc",
            "2",
        ]
    )
    assert rc == 0 and len(_load(tmp_path / "out", "toy_xray")) == 20
    rc = cli_main(["sources", "--json", "--scripts-dir", str(scripts_dir)])
    facts = {f["source"]: f for f in json.loads(capsys.readouterr().out)}
    assert facts["toy_ct"]["split_rule"] == "random_20pct_by_volume"


def test_4d_series_sliced_per_volume(tmp_path, scripts_dir):
    from _data_fixtures import write_dicom_slice

    raw = tmp_path / "raw"
    for k in range(3):
        for j in range(2):
            write_dicom_slice(
                raw / "PATIENT_0001" / "7.000000-ep2d_diff" / f"1-{2 * k + j + 1:02d}.dcm",
                gradient_volume((3, 8, 8), seed=j)[k],
                ipp=(0.0, 0.0, 4.0 * k),
                instance=2 * k + j + 1,
            )
    prepare_source("toy_ct", raw, tmp_path / "out", scripts_dirs=[scripts_dir], sample_fraction=1.0)
    ds = _load(tmp_path / "out", "toy_ct")
    assert sorted(set(ds["volume_id"])) == [
        "PATIENT_0001/7.000000-ep2d_diff_c0",
        "PATIENT_0001/7.000000-ep2d_diff_c1",
    ]
    assert len(ds) == 6


def test_builder_runs_as_a_plain_datasets_builder(tmp_path, scripts_dir, toy_xray_dir):
    """The same class works through datasets' own download_and_prepare / as_dataset / streaming."""
    Builder = get_source("toy_xray", [scripts_dir])
    b = Builder(cache_dir=str(tmp_path / "cache"), data_dir=str(toy_xray_dir))
    b.download_and_prepare()
    ds = b.as_dataset("train")
    assert len(ds) == 20 and ds.features == Builder.features()
    assert b.report.examples_written == 20 and b.report.files_read == 20
    streamed = list(b.as_streaming_dataset("train"))
    assert sorted(r["original_path"] for r in streamed) == sorted(ds["original_path"])
