"""Failures of preparation: one failing source never stops the others, expected errors are one-line
``LvmMedUserError``s (missing folder, unknown source, output path is a file, full disk), workers
exit when the main process dies, old corpora without the size columns get a clear message."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from lvmmed_hf.cli import main as cli_main
from lvmmed_hf.data.builder import SourceDataMissingError
from lvmmed_hf.data.mixture import CorpusFormatError, load_mixture
from lvmmed_hf.data.prepare import PrepareError, PrepareFailedError, prepare, prepare_source
from lvmmed_hf.data.registry import UnknownSourceError
from lvmmed_hf.errors import LvmMedUserError, OutputError

BROKEN_SCRIPT = textwrap.dedent(
    '''
    """A builder with a bug: its layout walk raises."""
    from lvmmed_hf.data.builder import LvmMedSourceBuilder


    class Broken(LvmMedSourceBuilder):
        source_name = "broken"
        description = "a builder whose iter_records raises"
        homepage = "https://example.org"
        license = "CC0"
        access = "tests"
        modality = "X-ray"
        organ = "chest"
        split_rule = "official_train"

        def iter_records(self, data_dir):
            raise RuntimeError("bug in the layout walk")
    '''
)


def _load(out: Path, name: str) -> datasets.Dataset:
    return datasets.load_dataset(str(out), name, split="train", cache_dir=str(out.parent / f"hf_{name}"))


def test_one_failing_source_never_stops_the_others(tmp_path, scripts_dir, toy_xray_dir, toy_ct_dir):
    (scripts_dir / "broken.py").write_text(BROKEN_SCRIPT)
    out = tmp_path / "out"
    sources = {
        "broken": toy_xray_dir,  # an unexpected exception (a bug), first
        "toy_xray": toy_xray_dir,
        "toy_mri": tmp_path / "no_such_folder",  # an expected error, in the middle
        "toy_ct": toy_ct_dir,
    }
    with pytest.raises(PrepareFailedError) as info:
        prepare(sources, out, scripts_dirs=[scripts_dir], sample_fraction=1.0)
    err = info.value
    assert set(err.errors) == {"broken", "toy_mri"} and set(err.reports) == {"toy_xray", "toy_ct"}
    assert isinstance(err.errors["toy_mri"], SourceDataMissingError)
    msg = str(err)
    assert (
        "\n" not in msg and "broken: RuntimeError: bug in the layout walk" in msg and "no_such_folder" in msg
    )
    # every completed source is loadable through its card entry
    assert len(_load(out, "toy_xray")) == 20 and len(_load(out, "toy_ct")) == 20
    card = (out / "README.md").read_text()
    assert (
        "config_name: toy_xray" in card
        and "config_name: toy_ct" in card
        and "config_name: broken" not in card
    )


def test_card_entry_written_when_a_source_completes(tmp_path, scripts_dir, toy_xray_dir):
    """The card is written after each source, so a later failure cannot lose the earlier entries."""
    out = tmp_path / "out"
    seen = []

    def after_first(source, task, n):
        seen.append(source)
        if source == "toy_mri":
            # the first source is complete and listed before the second one runs
            assert "config_name: toy_xray" in (out / "README.md").read_text()
            raise KeyboardInterrupt

    import nibabel as nib
    import numpy as np

    raw_mri = tmp_path / "raw_mri" / "imagesTr"
    raw_mri.mkdir(parents=True)
    vol = np.random.default_rng(0).integers(0, 900, (6, 7, 3)).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), raw_mri / "case_1.nii.gz")
    prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir])
    with pytest.raises(KeyboardInterrupt):
        prepare_source("toy_mri", raw_mri.parent, out, scripts_dirs=[scripts_dir], on_example=after_first)
    assert len(_load(out, "toy_xray")) == 20


def _cli_status(argv: list[str], capsys) -> tuple[int, str]:
    """Exit status and stderr of ``lvmmed``: expected errors are one line with exit status 2."""
    capsys.readouterr()
    status = cli_main(argv)
    return status, capsys.readouterr().err


def test_cli_several_sources_exit_status_reflects_failures(tmp_path, scripts_dir, toy_xray_dir, capsys):
    out = tmp_path / "out"
    args = ["prepare", "--sources", f"toy_xray={toy_xray_dir}", f"toy_ct={tmp_path / 'missing'}"]
    status, message = _cli_status([*args, "--out", str(out), "--scripts-dir", str(scripts_dir)], capsys)
    assert status == 2 and "1 of 2 sources failed" in message and "toy_ct" in message
    [line] = [x for x in message.splitlines() if x.startswith("lvmmed prepare: error:")]  # one line
    assert "toy_ct" in line and "Traceback" not in message
    assert len(_load(out, "toy_xray")) == 20


def test_expected_errors_are_one_line_user_errors(tmp_path, scripts_dir, toy_xray_dir):
    with pytest.raises(SourceDataMissingError) as e1:
        prepare_source("toy_xray", tmp_path / "nope", tmp_path / "o1", scripts_dirs=[scripts_dir])
    with pytest.raises(UnknownSourceError) as e2:
        prepare_source("no_such_source", toy_xray_dir, tmp_path / "o2", scripts_dirs=[scripts_dir])
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    with pytest.raises(OutputError, match="is a file") as e3:
        prepare_source("toy_xray", toy_xray_dir, a_file, scripts_dirs=[scripts_dir])
    with pytest.raises(OutputError) as e4:
        prepare_source("toy_xray", toy_xray_dir, a_file / "sub", scripts_dirs=[scripts_dir])
    for e in (e1, e2, e3, e4):
        assert isinstance(e.value, LvmMedUserError) and "\n" not in str(e.value), str(e.value)
    assert "nope" in str(e1.value) and "no_such_source" in str(e2.value) and str(a_file) in str(e3.value)
    assert isinstance(e1.value, FileNotFoundError) and isinstance(e2.value, KeyError)  # still what they were


def test_full_disk_is_a_one_line_error_and_the_rerun_completes(tmp_path, scripts_dir, toy_xray_dir):
    """ENOSPC from a real write: the run's first state file is a link to /dev/full, which refuses
    every write with ENOSPC (Linux)."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full (Linux)")
    out = tmp_path / "out"
    state = out / "toy_xray" / ".lvmmed"
    state.mkdir(parents=True)
    for name in ("records.txt.gz", "plan.json"):  # the temporary names _write_* use in this process
        os.symlink("/dev/full", state / f".tmp-{name}.{os.getpid()}")
    with pytest.raises(OutputError) as info:
        prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir])
    assert info.value.errno == errno.ENOSPC and "\n" not in str(info.value)
    assert "No space left on device" in str(info.value) and str(out) in str(info.value)
    for p in state.glob(".tmp-*"):
        p.unlink()
    assert prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir]).examples_written == 20


def test_corpus_without_size_columns_gets_a_clear_message(tmp_path, scripts_dir, toy_xray_dir):
    """A corpus in the earlier format (no height/width columns, COMPLETE without a format number)."""
    out = tmp_path / "out"
    prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir])
    src = out / "toy_xray"
    for shard in src.glob("train-*.parquet"):
        table = pq.read_table(shard)
        pq.write_table(table.drop_columns(["height", "width"]), shard)
    info = json.loads((src / "lvmmed_report.json").read_text())
    for col in ("height", "width"):
        del info["features"][col]
    info.pop("format")
    (src / "lvmmed_report.json").write_text(json.dumps(info))
    complete = json.loads((src / ".lvmmed" / "COMPLETE").read_text())
    complete.pop("format")
    (src / ".lvmmed" / "COMPLETE").write_text(json.dumps(complete))
    with pytest.raises(CorpusFormatError, match=r"height.*width.*--overwrite"):
        load_mixture(out, streaming=False)
    with pytest.raises(PrepareError, match=r"earlier version.*--overwrite"):
        prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir])
    prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir], overwrite=True)
    ds = load_mixture(out, streaming=False)
    assert set(ds.column_names) >= {"height", "width"} and set(ds["height"]) == {16}


SLOW_SCRIPT = textwrap.dedent(
    '''
    """Records whose reading takes minutes; each worker writes its pid first."""
    import os
    import time

    from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record


    class SlowToy(LvmMedSourceBuilder):
        source_name = "slow_toy"
        description = "slow reads"
        homepage = "https://example.org"
        license = "CC0"
        access = "tests"
        modality = "X-ray"
        organ = "chest"
        split_rule = "official_train"
        records_per_shard = 1

        def iter_records(self, data_dir):
            for p in sorted(data_dir.glob("*.png")):
                yield Record(paths=p)

        def read_record(self, record):
            pids = self.data_path.parent / "pids"
            (pids / str(os.getpid())).write_text("")
            time.sleep(600)
            return super().read_record(record)
    '''
)


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow  # a fresh interpreter imports the package
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_main_process_is_killed(tmp_path):
    from PIL import Image

    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "slow_toy.py").write_text(SLOW_SCRIPT)
    raw = tmp_path / "raw"
    raw.mkdir()
    (tmp_path / "pids").mkdir()
    for i in range(4):
        Image.new("L", (8, 8), i * 40).save(raw / f"{i}.png")
    code = (
        "from lvmmed_hf.data.prepare import prepare_source; "
        f"prepare_source('slow_toy', {str(raw)!r}, {str(tmp_path / 'out')!r}, "
        f"scripts_dirs=[{str(scripts)!r}], num_proc=2)"
    )
    main = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 600
        while len(workers) < 2 and time.monotonic() < deadline and main.poll() is None:
            time.sleep(0.5)
            workers = [int(p.name) for p in (tmp_path / "pids").iterdir()]
        assert len(workers) == 2 and main.poll() is None, "the workers did not start"
        main.send_signal(signal.SIGKILL)
        main.wait(timeout=30)
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in workers), "workers outlived the killed main process"
    finally:
        if main.poll() is None:
            main.kill()
        for pid in workers:  # only the processes this test started
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
