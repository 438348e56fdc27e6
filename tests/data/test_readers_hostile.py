"""Hostile files at reader level: declared sizes that do not fit the file are refused before any
allocation, decompression bombs and truncated files raise the reader's error naming the file, and one
such file among good ones costs only itself when a source is prepared."""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import tifffile
from PIL import Image
from pydicom.data import get_testdata_file

from lvmmed_hf.data.readers import (
    UnreadableImageError,
    read_dicom,
    read_dicom_series,
    read_image,
    read_image_data,
    read_metaimage,
    read_nifti,
)

GIB = 1024**3


def _nifti_header_bytes(shape, dtype=np.int16) -> bytes:
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(dtype)
    hdr.set_qform(np.eye(4), code=1)
    return hdr.binaryblock + b"\x00" * 4  # 348-byte header + 4-byte extension flag = vox_offset 352


def test_nifti_declaring_1024_cubed_in_1kb_is_refused_before_reading(tmp_path: Path):
    p = tmp_path / "bomb.nii"
    p.write_bytes(_nifti_header_bytes((1024, 1024, 1024)) + b"\x01" * 700)
    assert p.stat().st_size < 1100
    with pytest.raises(UnreadableImageError, match=r"bomb\.nii.*declares 1024x1024x1024"):
        read_nifti(p)


def test_peak_memory_stays_small_on_a_16_gib_declaration(tmp_path: Path):
    """Measured in a fresh process: its peak RSS (ru_maxrss) while refusing a 16 GiB declaration."""
    import lvmmed_hf.data.readers as readers_module

    p = tmp_path / "huge.nii.gz"
    with gzip.open(p, "wb") as f:
        f.write(_nifti_header_bytes((2048, 2048, 2048)) + b"\x00" * 4096)
    code = textwrap.dedent(
        f"""
        import importlib.util, resource, sys
        import nibabel
        # the reader module alone (the package would import torch and transformers first)
        spec = importlib.util.spec_from_file_location("readers_alone", {readers_module.__file__!r})
        readers = importlib.util.module_from_spec(spec)
        sys.modules["readers_alone"] = readers
        spec.loader.exec_module(readers)
        UnreadableImageError, read_nifti = readers.UnreadableImageError, readers.read_nifti
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            read_nifti({str(p)!r})
        except UnreadableImageError as e:
            print("refused", e.reason)
        print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert lines and lines[0].startswith("refused"), out.stderr[-2000:]
    before, after = (int(v) for v in lines[-1].split())
    # peak RSS (KiB) grows by less than 100 MiB over the imports, for 16 GiB declared
    assert after - before < 100 * 1024


def test_truncated_nifti_gz_and_nii_are_refused(tmp_path: Path):
    vol = np.random.default_rng(0).integers(0, 1000, (32, 32, 8)).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "ok.nii")
    raw = (tmp_path / "ok.nii").read_bytes()
    (tmp_path / "cut.nii").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(UnreadableImageError, match=r"cut\.nii"):
        read_nifti(tmp_path / "cut.nii")
    gz = gzip.compress(raw)
    (tmp_path / "cut.nii.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(UnreadableImageError, match=r"cut\.nii\.gz"):
        read_nifti(tmp_path / "cut.nii.gz")
    # the intact file still reads (the checks refuse only what cannot hold the data)
    (tmp_path / "ok.nii.gz").write_bytes(gz)
    np.testing.assert_array_equal(read_nifti(tmp_path / "ok.nii.gz").array, vol)


def test_analyze_pair_with_short_img_is_refused(tmp_path: Path):
    vol = np.zeros((64, 64, 64), np.int16)
    nib.save(nib.AnalyzeImage(vol, np.eye(4)), tmp_path / "a.hdr")
    (tmp_path / "a.img").write_bytes(b"\x00" * 1000)
    with pytest.raises(UnreadableImageError, match=r"a\.hdr.*a\.img"):
        read_image_data(tmp_path / "a.hdr")


@pytest.mark.parametrize("local", [False, True])
def test_metaimage_declaring_more_than_its_data_is_refused(tmp_path: Path, local):
    header = (
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
        "DimSize = 1024 1024 1024\nElementType = MET_SHORT\n"
    )
    if local:
        p = tmp_path / "bomb.mha"
        p.write_bytes((header + "ElementDataFile = LOCAL\n").encode() + b"\x00" * 1000)
    else:
        p = tmp_path / "bomb.mhd"
        p.write_text(header + "ElementDataFile = bomb.raw\n")
        (tmp_path / "bomb.raw").write_bytes(b"\x00" * 1000)
    with pytest.raises(UnreadableImageError, match=r"bomb\.mh[da].*declares 1024x1024x1024"):
        read_metaimage(p)


def test_compressed_metaimage_beyond_the_deflate_bound_is_refused(tmp_path: Path):
    p = tmp_path / "z.mhd"
    p.write_text(
        "ObjectType = Image\nNDims = 3\nCompressedData = True\nDimSize = 1024 1024 1024\n"
        "ElementType = MET_SHORT\nElementDataFile = z.zraw\n"
    )
    (tmp_path / "z.zraw").write_bytes(zlib.compress(b"\x00" * 100_000))
    with pytest.raises(UnreadableImageError, match=r"z\.mhd"):
        read_metaimage(p)


def _ct_small_with(tmp_path: Path, name: str, **attrs) -> Path:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for k, v in attrs.items():
        setattr(ds, k, v)
    p = tmp_path / name
    ds.save_as(p)
    return p


def test_dicom_rows_columns_frames_beyond_pixel_data_are_refused(tmp_path: Path):
    big = _ct_small_with(tmp_path, "big.dcm", Rows=4096, Columns=4096)
    with pytest.raises(UnreadableImageError, match=r"big\.dcm.*4096x4096"):
        read_dicom(big)
    frames = _ct_small_with(tmp_path, "frames.dcm", NumberOfFrames=5000)
    with pytest.raises(UnreadableImageError, match=r"frames\.dcm.*5000"):
        read_dicom(frames)
    # in a series: that slice is reported, the good ones are read
    folder = tmp_path / "series"
    folder.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / "good.dcm")
    shutil.copy(big, folder / "big.dcm")
    data = read_dicom_series(folder)
    assert data.array.shape == (1, 128, 128)
    assert [Path(p).name for p, _ in data.meta["skipped"]] == ["big.dcm"]


def _png_bytes(width: int, height: int, idat: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_png_raises_a_reader_error_naming_the_file(tmp_path: Path):
    limit = Image.MAX_IMAGE_PIXELS
    side = int(np.sqrt(2 * limit)) + 100  # beyond PIL's error threshold (twice MAX_IMAGE_PIXELS)
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_bytes(side, side, zlib.compress(b"\x00" * 1000)))
    with pytest.raises(UnreadableImageError, match=r"bomb\.png.*decompression bomb"):
        read_image(p)
    assert Image.MAX_IMAGE_PIXELS == limit  # PIL's limit is kept, not raised


def _tiff_bytes(width: int, height: int, data: bytes, compression: int) -> bytes:
    """A one-strip 8-bit grayscale baseline TIFF (TIFF 6.0 section 2), little-endian, written by hand."""
    tags = [
        (256, 4, width),  # ImageWidth, LONG
        (257, 4, height),  # ImageLength
        (258, 3, 8),  # BitsPerSample, SHORT
        (259, 3, compression),  # 1 none, 8 deflate
        (262, 3, 1),  # PhotometricInterpretation: BlackIsZero
        (273, 4, 0),  # StripOffsets (filled below)
        (277, 3, 1),  # SamplesPerPixel
        (278, 4, height),  # RowsPerStrip
        (279, 4, len(data)),  # StripByteCounts
    ]
    ifd_size = 2 + 12 * len(tags) + 4
    data_offset = 8 + ifd_size
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(tags))
    for tag, typ, value in tags:
        value = data_offset if tag == 273 else value
        packed = struct.pack("<HxxI", value, 0)[:4] if typ == 3 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, typ, 1) + packed
    return out + struct.pack("<I", 0) + data


def test_tiff_declaring_a_bomb_or_more_than_its_data_is_refused(tmp_path: Path):
    side = int(np.sqrt(2 * Image.MAX_IMAGE_PIXELS)) + 100
    p = tmp_path / "bomb.tif"
    p.write_bytes(_tiff_bytes(side, side, zlib.compress(b"\x00" * 1000), compression=8))
    with pytest.raises(UnreadableImageError, match=r"bomb\.tif.*bomb"):
        read_image(p)
    short = tmp_path / "short.tif"  # uncompressed 4000 x 4000 declared, 1000 bytes present
    short.write_bytes(_tiff_bytes(4000, 4000, b"\x07" * 1000, compression=1))
    with pytest.raises(UnreadableImageError, match=r"short\.tif.*declares"):
        read_image(short)
    ok = tmp_path / "ok.tif"  # the hand-written layout itself is valid
    pixels = np.arange(64 * 32, dtype=np.uint8).reshape(32, 64)
    ok.write_bytes(_tiff_bytes(64, 32, pixels.tobytes(), compression=1))
    np.testing.assert_array_equal(read_image(ok).array, pixels)


def test_truncated_tiff_and_jpeg_raise_naming_the_file(tmp_path: Path):
    arr = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "t.tif", arr)
    raw = (tmp_path / "t.tif").read_bytes()
    (tmp_path / "t.tif").write_bytes(raw[:200])
    with pytest.raises(UnreadableImageError, match=r"t\.tif"):
        read_image(tmp_path / "t.tif")
    Image.fromarray(arr).save(tmp_path / "j.jpg")
    (tmp_path / "j.jpg").write_bytes((tmp_path / "j.jpg").read_bytes()[:20])
    with pytest.raises(UnreadableImageError, match=r"j\.jpg"):
        read_image(tmp_path / "j.jpg")


def test_one_bomb_costs_only_itself_in_a_prepared_source(tmp_path: Path, scripts_dir, toy_xray_dir):
    """The bomb is reported as too_large with its path; the 20 good images are written."""
    from lvmmed_hf.data.prepare import prepare_source

    side = int(np.sqrt(2 * Image.MAX_IMAGE_PIXELS)) + 100
    (toy_xray_dir / "train" / "normal" / "p99_0.png").write_bytes(
        _png_bytes(side, side, zlib.compress(b"\x00" * 1000))
    )
    report = prepare_source("toy_xray", toy_xray_dir, tmp_path / "out", scripts_dirs=[scripts_dir])
    assert report.examples_written == 20 and report.skipped["too_large"] == 1
    [detail] = [d for d in report.details if d["reason"] == "too_large"]
    assert detail["path"] == "train/normal/p99_0.png" and "decompression bomb" in detail["message"]


def test_hdf5_frames_beyond_the_bomb_limit_are_refused(tmp_path: Path):
    import h5py

    side = int(np.sqrt(2 * Image.MAX_IMAGE_PIXELS)) + 100
    with h5py.File(tmp_path / "big.h5", "w") as f:  # chunked, nothing written: a few KB on disk
        f.create_dataset("x", shape=(10, side, side), dtype="u1", chunks=(1, 64, 64))
    assert (tmp_path / "big.h5").stat().st_size < 100_000
    with pytest.raises(UnreadableImageError, match=r"big\.h5.*bomb"):
        read_image_data(tmp_path / "big.h5", "hdf5", key="x", start=0, stop=2)


def test_unforeseen_decoder_failure_is_a_reader_error_naming_the_file(tmp_path: Path):
    """A MetaImage header with a non-numeric HeaderSize: whatever fails inside, the caller gets the
    reader's error type with the path (the builder then skips this file only)."""
    p = tmp_path / "odd.mhd"
    p.write_text(
        "ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementType = MET_SHORT\nHeaderSize = many\n"
        "ElementDataFile = odd.raw\n"
    )
    (tmp_path / "odd.raw").write_bytes(b"\x00" * 128)
    with pytest.raises(UnreadableImageError, match=r"odd\.mhd"):
        read_image_data(p)
