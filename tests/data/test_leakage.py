"""Leakage check: re-encoded copies found by pixel content, different images ignored."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import skimage
import tifffile
from PIL import Image

from lvmmed_hf.cli import main as cli_main
from lvmmed_hf.data.leakage import check_leakage, pixel_hash


def test_pixel_hash_canonicalisation():
    g = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert pixel_hash(g) == pixel_hash(np.stack([g] * 3, -1))  # grayscale saved as RGB
    assert pixel_hash(g) != pixel_hash(g.astype(np.uint16))  # dtype is part of the content
    assert pixel_hash(g) != pixel_hash(g.reshape(4, 3))
    h = g.copy()
    h[0, 0] += 1
    assert pixel_hash(g) != pixel_hash(h)


def test_reencoded_copies_detected_others_ignored(embedded_corpus, tmp_path):
    out, _ = embedded_corpus
    down = tmp_path / "downstream" / "test"
    down.mkdir(parents=True)
    data = Path(skimage.__file__).parent / "data"
    cell = np.asarray(Image.open(data / "cell.png"))
    Image.fromarray(cell).convert("RGB").save(down / "patient7_slide.bmp")  # grayscale as RGB BMP, renamed
    Image.open(data / "microaneurysms.png").save(down / "copy.tiff")
    changed = cell.copy()
    changed[5, 5] ^= 1
    Image.fromarray(changed).save(down / "near_copy.png")  # one pixel differs: not the same image
    Image.fromarray(np.asarray(Image.open(data / "camera.png"))).save(
        down / "camera.png"
    )  # not in the corpus
    # a slice of the nilearn MNI template, exported as the stored 16-bit PNG would be, as TIFF
    import datasets

    mni = datasets.load_dataset(str(out), "embedded_nilearn", split="train")[10]
    tifffile.imwrite(down / "mni_slice.tif", np.asarray(mni["image"]))
    report = check_leakage(out, tmp_path / "downstream", report_path=tmp_path / "leak.json")
    found = {o["downstream"] for o in report.overlaps}
    assert found == {"test/patient7_slide.bmp", "test/copy.tiff", "test/mni_slice.tif"}
    assert report.downstream_images == 5
    saved = json.loads((tmp_path / "leak.json").read_text())
    by_name = {o["downstream"]: o["corpus"] for o in saved["overlaps"]}
    assert by_name["test/patient7_slide.bmp"] == [{"source": "embedded_skimage", "original_path": "cell.png"}]
    assert by_name["test/mni_slice.tif"][0]["original_path"] == f"{mni['original_path']}#{mni['slice_index']}"


def test_cli_leakage_exit_code(embedded_corpus, tmp_path):
    out, _ = embedded_corpus
    clean = tmp_path / "clean"
    clean.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (9, 9)).astype(np.uint8)).save(clean / "a.png")
    only = ["--corpus-sources", "embedded_skimage"]
    assert (
        cli_main(
            [
                "leakage",
                "--corpus",
                str(out),
                *only,
                "--downstream",
                str(clean),
                "--report",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "r.json").read_text())["corpus_images"] == 4
    Image.open(Path(skimage.__file__).parent / "data" / "ihc.png").save(clean / "b.png")
    assert cli_main(["leakage", "--corpus", str(out), *only, "--downstream", str(clean)]) == 1


def _tiny_corpus(tmp_path: Path, scripts_dir: Path, toy_xray_dir: Path) -> Path:
    from lvmmed_hf.data.prepare import prepare_source

    out = tmp_path / "corpus"
    prepare_source("toy_xray", toy_xray_dir, out, scripts_dirs=[scripts_dir])
    return out


def _write_png_bomb(path: Path, width: int, height: int) -> None:
    """A valid 8-bit PNG of black pixels beyond Pillow's decompression-bomb limit (PNG spec:
    IHDR, zlib-compressed rows led by a filter byte, IEND), compressed in chunks."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp, total, block, parts = zlib.compressobj(9), height * (width + 1), bytes(1 << 22), []
    while total > 0:
        parts.append(comp.compress(block[: min(total, len(block))]))
        total -= min(total, len(block))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    )


def test_leakage_exit_codes_and_hostile_downstream_files(tmp_path, scripts_dir, toy_xray_dir):
    corpus = _tiny_corpus(tmp_path, scripts_dir, toy_xray_dir)
    down = tmp_path / "down"
    (down / "sub").mkdir(parents=True)
    _write_png_bomb(down / "bomb.png", 20000, 10000)
    good = np.asarray(Image.open(toy_xray_dir / "train" / "normal" / "p00_0.png"))
    data = (toy_xray_dir / "train" / "normal" / "p02_0.png").read_bytes()
    (down / "sub" / "truncated.png").write_bytes(data[: len(data) // 2])
    Image.fromarray(np.full((9, 9), 7, np.uint8)).save(down / "clean.png")
    os.mkfifo(down / "sub" / "pipe.png")  # not a regular file: skipped, never opened (it would block)
    report = tmp_path / "r.json"
    args = ["leakage", "--corpus", str(corpus), "--downstream", str(down), "--report", str(report)]
    assert cli_main(args) == 0  # no overlap; the bomb and the truncated file do not crash the check
    saved = json.loads(report.read_text())
    assert {s["path"]: s["reason"] for s in saved["skipped"]} == {
        "bomb.png": "too_large",
        "sub/truncated.png": "unreadable",
        "sub/pipe.png": "unreadable",
    }
    assert saved["downstream_images"] == 1 and saved["corpus_images"] == 20
    tifffile.imwrite(down / "sub" / "copy.tif", good)  # a re-encoded copy of a corpus image
    assert cli_main(args) == 1  # overlap found
    assert json.loads(report.read_text())["overlaps"][0]["downstream"] == "sub/copy.tif"
    # errors: exit status 2, never 1
    assert cli_main(["leakage", "--corpus", str(tmp_path / "nope"), "--downstream", str(down)]) == 2
    assert cli_main(["leakage", "--corpus", str(corpus), "--downstream", str(tmp_path / "nope")]) == 2
    shard = next((corpus / "toy_xray").glob("train-*.parquet"))
    shard.write_bytes(b"not a parquet file")  # a damaged corpus: an unexpected error
    assert cli_main(args) == 2


def test_every_series_of_a_multi_series_tiff_is_compared(tmp_path, scripts_dir, toy_xray_dir):
    """A corpus image hidden as the second series of a TIFF is found (not only the first series)."""
    corpus = _tiny_corpus(tmp_path, scripts_dir, toy_xray_dir)
    down = tmp_path / "down"
    down.mkdir()
    good = np.asarray(Image.open(toy_xray_dir / "train" / "normal" / "p00_0.png"))
    with tifffile.TiffWriter(down / "two.tif") as tw:  # two series: tifffile's own multi-series writer
        tw.write(np.full((12, 14), 5, np.uint8))
        tw.write(good)
    assert len(tifffile.TiffFile(down / "two.tif").series) == 2
    report = tmp_path / "r.json"
    args = ["leakage", "--corpus", str(corpus), "--downstream", str(down), "--report", str(report)]
    assert cli_main(args) == 1
    saved = json.loads(report.read_text())
    assert saved["downstream_images"] == 2
    assert [o["downstream"].startswith("two.tif") for o in saved["overlaps"]] == [True]
