"""Hostile inputs among good ones: every good image is written, every bad input is reported with its
path and reason, the run exits 0 and stays below 1 GB of memory.

Bad inputs: real decompression-bomb PNGs (valid files whose pixels exceed Pillow's limits), a
file name that is not UTF-8, a FIFO and a dangling link named like images, truncated PNG and DICOM
files, a NIfTI header declaring 1024^3 voxels in a 1 KB file, and (in the subprocess test) a
folder and a file without read permission.

Unreadable files as root: root bypasses permission bits through the capabilities
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so ``chmod 000`` alone does not make a file unreadable
in a test run as root. The subprocess test drops both capabilities from the child's bounding set
(``prctl(PR_CAPBSET_DROP)``) before it executes ``lvmmed``, so the kernel enforces the mode bits
for it as for any other user; the child first checks that the folder really is unreadable, so the
test cannot pass without exercising the case.
"""

from __future__ import annotations

import ctypes
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from lvmmed_hf.cli import main as cli_main

HOSTILE_SCRIPT = textwrap.dedent(
    '''
    """Any image file anywhere under the data folder (as image-folder datasets are laid out)."""
    from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record

    SUFFIXES = (".png", ".dcm", ".nii.gz")


    class HostileTree(LvmMedSourceBuilder):
        source_name = "hostile_tree"
        description = "good and hostile files mixed"
        homepage = "https://example.org"
        license = "CC0"
        access = "tests"
        modality = "X-ray"
        organ = "chest"
        dimensionality = "2d"
        split_rule = "official_train"
        layout = "<folders>/<name>.png|.dcm|.nii.gz"

        def iter_records(self, data_dir):
            for p in sorted(data_dir.rglob("*")):
                if p.name.lower().endswith(SUFFIXES) and not p.is_dir():
                    yield Record(paths=p, patient_id=p.name)
    '''
)

NON_UTF8 = os.fsdecode(b"scan_\xff\xfe.png")  # the bytes 0xff 0xfe are not UTF-8


def png_bomb(path: Path, width: int, height: int) -> None:
    """A valid 8-bit grayscale PNG of ``width`` x ``height`` black pixels: a few hundred KB that
    decode to ``width * height`` bytes (PNG spec: IHDR, zlib-compressed rows each led by a filter
    byte, IEND), written in chunks so the test never holds the decoded size in memory."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp = zlib.compressobj(9)
    total, block, parts = height * (width + 1), bytes(1 << 22), []
    while total > 0:
        n = min(total, len(block))
        parts.append(comp.compress(block[:n]))
        total -= n
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    )


def nifti_header_only(path: Path, shape=(1024, 1024, 1024)) -> None:
    """A gzipped NIfTI-1 file whose header declares ``shape`` int16 voxels (2 GiB) but holds 512
    bytes of data (NIfTI-1 header layout: 348 bytes, 4 extension bytes, data at vox_offset 352)."""
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(np.int16)
    hdr["vox_offset"] = 352
    with gzip.open(path, "wb") as f:
        f.write(hdr.binaryblock + b"\0" * 4 + bytes(range(256)) * 2)


def write_tree(root: Path) -> tuple[dict[str, np.ndarray], dict[str, set[str]]]:
    """Good images (relative path -> pixels, as an independent decoder reads them) and bad inputs
    (relative path -> acceptable skip reasons)."""
    rng = np.random.default_rng(7)
    good: dict[str, np.ndarray] = {}
    (root / "a" / "b").mkdir(parents=True)
    for i in range(5):
        rel = f"a/img_{i}.png" if i % 2 else f"a/b/img_{i}.png"
        arr = rng.integers(0, 256, (24 + i, 30)).astype(np.uint8)
        Image.fromarray(arr).save(root / rel)
        good[rel] = arr
    arr16 = rng.integers(0, 4096, (20, 18)).astype(np.uint16)
    Image.fromarray(arr16).save(root / "a" / "x16.png")
    good["a/x16.png"] = arr16
    odd = rng.integers(0, 256, (22, 26)).astype(np.uint8)
    Image.fromarray(odd).save(root / "a" / NON_UTF8)
    good["a/scan_\\xff\\xfe.png"] = odd  # stored with the undecodable bytes escaped
    ct = Path(get_testdata_file("CT_small.dcm"))
    shutil.copy(ct, root / "a" / "ct.dcm")
    good["a/ct.dcm"] = None  # a CT slice: windowed, so only its presence and size are checked

    bad: dict[str, set[str]] = {}
    png_bomb(root / "bomb_error.png", 20000, 10000)  # 2e8 px > 2 x Pillow's MAX_IMAGE_PIXELS: an error
    bad["bomb_error.png"] = {"too_large"}
    png_bomb(root / "a" / "bomb_warning.png", 12000, 10000)  # 1.2e8 px: Pillow only warns, then decodes
    bad["a/bomb_warning.png"] = {"too_large"}
    data = (root / "a" / "img_1.png").read_bytes()
    (root / "a" / "truncated.png").write_bytes(data[: len(data) // 2])
    bad["a/truncated.png"] = {"unreadable"}
    (root / "a" / "truncated.dcm").write_bytes(ct.read_bytes()[:-10000])  # cut inside the pixel data
    bad["a/truncated.dcm"] = {"unreadable"}
    os.mkfifo(root / "a" / "pipe.png")  # a reader that opens it would block forever
    bad["a/pipe.png"] = {"not_a_file"}
    os.symlink(root / "no_such_file.png", root / "a" / "gone.png")
    bad["a/gone.png"] = {"unreadable"}
    nifti_header_only(root / "huge.nii.gz")
    bad["huge.nii.gz"] = {"unreadable", "too_large"}
    return good, bad


def _write_scripts(tmp_path: Path) -> Path:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "hostile_tree.py").write_text(HOSTILE_SCRIPT)
    return scripts


def _check_output(out: Path, good: dict[str, np.ndarray | None], bad: dict[str, set[str]]) -> dict:
    ds = datasets.load_dataset(str(out), "hostile_tree", split="train", cache_dir=str(out.parent / "hf"))
    assert sorted(ds["original_path"]) == sorted(good)
    for row in ds:
        ref = good[row["original_path"]]
        if ref is not None:
            np.testing.assert_array_equal(np.asarray(row["image"]), ref)
        else:
            assert row["image"].size == (128, 128) == (row["width"], row["height"])
    saved = json.loads((out / "hostile_tree" / "lvmmed_report.json").read_text())["report"]
    reasons = {d["path"]: d["reason"] for d in saved["details"]}
    for path, allowed in bad.items():
        assert reasons.get(path) in allowed, (path, reasons.get(path), saved["details"])
        assert saved["skipped"][reasons[path]] >= 1
    assert saved["names_escaped"] == 1 and saved["examples_written"] == len(good)
    return saved


def test_hostile_files_are_skipped_and_reported(tmp_path):
    raw = tmp_path / "raw"
    good, bad = write_tree(raw)
    scripts = _write_scripts(tmp_path)
    out = tmp_path / "out"
    args = ["prepare", "--source", "hostile_tree", "--data-dir", str(raw), "--out", str(out)]
    assert cli_main([*args, "--scripts-dir", str(scripts), "--num-proc", "1"]) == 0
    saved = _check_output(out, good, bad)
    messages = {d["path"]: d["message"] for d in saved["details"]}
    assert "FIFO" in messages["a/pipe.png"]
    assert "bomb" in messages["bomb_error.png"].lower()


def _drop_dac_capabilities() -> None:
    """In the child, before exec: drop CAP_DAC_OVERRIDE (1) and CAP_DAC_READ_SEARCH (2) from the
    bounding set (prctl PR_CAPBSET_DROP = 24), so root obeys permission bits after exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


LAUNCHER = textwrap.dedent(
    """
    import json, os, resource, subprocess, sys
    locked = sys.argv[1]
    try:
        os.listdir(locked)
        print(json.dumps({"setup_error": "the mode-000 folder is still readable"}))
        sys.exit(0)
    except PermissionError:
        pass
    rc = subprocess.call([sys.executable, "-m", "lvmmed_hf.cli", *sys.argv[2:]])
    # ru_maxrss of RUSAGE_CHILDREN: the largest resident set of any waited-for descendant
    # (lvmmed and its worker processes), in KiB on Linux
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"rc": rc, "maxrss_kib": usage.ru_maxrss}))
    """
)


@pytest.mark.slow  # a fresh interpreter imports the package (torch, transformers, datasets)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and ru_maxrss units are Linux's")
def test_hostile_tree_with_unreadable_folder_and_file_in_a_subprocess(tmp_path):
    raw = tmp_path / "raw"
    good, bad = write_tree(raw)
    locked = raw / "locked"
    locked.mkdir()
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(locked / "inside.png")
    bad["locked"] = {"unreadable_folder"}
    noperm = raw / "a" / "noperm.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(noperm)
    bad["a/noperm.png"] = {"unreadable"}
    scripts = _write_scripts(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(locked, 0)
    os.chmod(noperm, 0)
    # the unprivileged child must be able to reach the tree and write the output
    for p in (tmp_path, *tmp_path.parents):
        if p == Path(p.anchor):
            break
        os.chmod(p, os.stat(p).st_mode | 0o055)
    for p in (out, scripts):
        os.chmod(p, 0o777)
    (tmp_path / "launcher.py").write_text(LAUNCHER)
    argv = ["prepare", "--source", "hostile_tree", "--data-dir", str(raw), "--out", str(out)]
    argv += ["--scripts-dir", str(scripts), "--num-proc", "2"]
    try:
        proc = subprocess.run(
            [sys.executable, str(tmp_path / "launcher.py"), str(locked), *argv],
            capture_output=True,
            text=True,
            timeout=900,
            preexec_fn=_drop_dac_capabilities if os.geteuid() == 0 else None,
        )
    finally:
        os.chmod(locked, 0o755)
        os.chmod(noperm, 0o644)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "setup_error" not in result, result
    assert result["rc"] == 0, proc.stderr[-3000:]
    _check_output(out, good, bad)
    # Peak memory of lvmmed and its workers. The NIfTI header declaring 2 GiB in a 1 KB file must be
    # refused before any allocation by the NIfTI reader (readers.py, header-size check); without
    # that check this assertion fails (about 2.5 GB).
    assert result["maxrss_kib"] < 1024 * 1024, f"peak RSS {result['maxrss_kib'] / 1024:.0f} MiB"
