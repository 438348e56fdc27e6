"""Colour from metadata, slicing in the acquisition plane, degenerate slices, windowing by pixel kind.

Each test states a case of the data-layer issue: multi-b-value DICOM and 4D NIfTI are grayscale
sub-series (not RGB), TIFF stacks are pages, DICOM series are stored one image per instance in
their own plane, no stored image is a strip, and 8-bit display images of a CT source keep their
gray levels. Expected values come from the fixture itself (what was written), never from the
readers.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import datasets
import nibabel as nib
import numpy as np
import pydicom
import pytest
import tifffile
from _data_fixtures import write_dicom_slice
from PIL import Image

from lvmmed_hf.data.prepare import prepare_source
from lvmmed_hf.data.readers import ImageData, read_image, read_image_data, read_nifti
from lvmmed_hf.data.volumes import (
    DEGENERATE_SLICE,
    SliceOptions,
    iter_slice_results,
    resolve_intensity,
)

SCRIPT = textwrap.dedent(
    '''
    """Sources for the slicing tests: DICOM MR series folders, NIfTI MR volumes, CT PNG slices."""
    from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
    from lvmmed_hf.data.readers import list_dicom_files


    class _Base(LvmMedSourceBuilder):
        description = "test source"
        homepage = "https://example.org"
        license = "CC0"
        access = "direct download"
        organ = "prostate"
        split_rule = "official_train"
        layout = "see the test"


    class SliceMrDicom(_Base):
        source_name = "slice_mr_dicom"
        modality = "MRI"
        dimensionality = "3d"

        def iter_records(self, data_dir):
            for series in sorted(p for p in data_dir.iterdir() if p.is_dir()):
                yield Record(paths=list_dicom_files(series), volume_id=series.name, reader="dicom_series")


    class SliceMrNifti(_Base):
        source_name = "slice_mr_nifti"
        modality = "MRI"
        dimensionality = "3d"

        def iter_records(self, data_dir):
            for p in sorted(data_dir.glob("*.nii.gz")):
                yield Record(paths=p, reader="nifti")


    class SliceCtPng(_Base):
        source_name = "slice_ct_png"
        modality = "CT"
        organ = "lung"
        dimensionality = "2d"

        def iter_records(self, data_dir):
            for p in sorted(data_dir.glob("*.png")):
                yield Record(paths=p, reader="image")
    '''
)


@pytest.fixture
def slice_scripts(tmp_path: Path) -> Path:
    d = tmp_path / "slice_scripts"
    d.mkdir()
    (d / "slice_sources.py").write_text(SCRIPT)
    return d


def _prepare(name: str, raw: Path, out: Path, scripts: Path, **options):
    report = prepare_source(name, raw, out, scripts_dirs=[scripts], **options)
    return report, datasets.load_dataset(str(out), name, split="train")


def _noise(shape, seed, low=100, high=3000) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, size=shape).astype(np.uint16)


def _percentile_16bit(volume: np.ndarray, k: int) -> np.ndarray:
    """docs/data.md: MR volumes scaled by the 0.5-99.5th percentiles of the whole volume, 16-bit."""
    lo, hi = np.percentile(volume.astype(np.float64), [0.5, 99.5])
    return np.clip((volume[k] - lo) / (hi - lo), 0, 1) * 65535


# ------------------------------------------------------------------ DICOM: acquisition plane


def test_sagittal_series_is_stored_one_native_image_per_instance(tmp_path: Path, slice_scripts):
    """5 sagittal 40 x 32 slices give 5 images of 40 x 32 (never 40 strips of 32 x 5), each with its
    own file as original_path, ordered right to left (+x, docs/data.md)."""
    iop = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # rows along +y (posterior), columns along -z: sagittal
    vol = _noise((5, 40, 32), 0)
    raw = tmp_path / "raw"
    for k in range(5):
        write_dicom_slice(
            raw / "t2_tse_sag" / f"IM{4 - k}.dcm",  # names run against x
            vol[k],
            modality="MR",
            slope=None,
            iop=iop,
            ipp=(-20.0 + 4.0 * k, -50.0, 60.0),
            instance=5 - k,
        )
    report, ds = _prepare("slice_mr_dicom", raw, tmp_path / "out", slice_scripts)
    assert report.examples_written == 5 and not report.skipped
    rows = sorted(ds, key=lambda r: r["slice_index"])
    assert [r["slice_index"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["original_path"] for r in rows] == [f"t2_tse_sag/IM{4 - k}.dcm" for k in range(5)]
    for k, r in enumerate(rows):
        img = np.asarray(r["image"]).astype(np.float64)
        assert img.shape == (40, 32)
        assert np.abs(img - _percentile_16bit(vol, k)).max() <= 1.0


def test_prostatex_like_diffusion_series_gives_grayscale_sub_series(tmp_path: Path, slice_scripts):
    """ep2d_diff_tra_DYNDIST_MIX: 3 b-values x 19 positions in one series (b-value in (0018,9087)).
    Stored: 3 sub-series of 19 grayscale 16-bit images, never 19 RGB images mixing b-values."""
    raw = tmp_path / "raw"
    b_values = (50, 400, 800)
    vols = {b: _noise((19, 24, 24), b, low=200 + b, high=2000 + 2 * b) for b in b_values}
    n = 0
    for k in range(19):
        for b in b_values:
            n += 1
            p = write_dicom_slice(
                raw / "7.000000-ep2d_diff_tra_DYNDIST_MIX-12345" / f"1-{n:02d}.dcm",
                vols[b][k],
                modality="MR",
                slope=None,
                ipp=(-100.0, -100.0, -30.0 + 3.0 * k),
                instance=n,
            )
            ds = pydicom.dcmread(p)
            ds.DiffusionBValue = float(b)
            ds.save_as(p)
    report, ds = _prepare("slice_mr_dicom", raw, tmp_path / "out", slice_scripts)
    assert report.examples_written == 57 and not report.skipped
    vid = "7.000000-ep2d_diff_tra_DYNDIST_MIX-12345"
    assert sorted(set(ds["volume_id"])) == [f"{vid}_c0", f"{vid}_c1", f"{vid}_c2"]
    for j, b in enumerate(b_values):
        sub = sorted((r for r in ds if r["volume_id"] == f"{vid}_c{j}"), key=lambda r: r["slice_index"])
        assert len(sub) == 19
        for k, r in enumerate(sub):
            assert r["image"].mode == "I;16"
            img = np.asarray(r["image"]).astype(np.float64)
            assert np.abs(img - _percentile_16bit(vols[b], k)).max() <= 1.0


# ------------------------------------------------------------------ NIfTI: 4D and degenerate slices


def test_4d_nifti_with_3_volumes_is_3_grayscale_volumes(tmp_path: Path, slice_scripts):
    raw = tmp_path / "raw"
    raw.mkdir()
    vol = _noise((20, 20, 4, 3), 1).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), raw / "dwi.nii.gz")
    report, ds = _prepare("slice_mr_nifti", raw, tmp_path / "out", slice_scripts)
    assert report.examples_written == 12
    assert sorted(set(ds["volume_id"])) == ["dwi_c0", "dwi_c1", "dwi_c2"]
    assert {r["image"].mode for r in ds} == {"I;16"}  # grayscale 16-bit, no RGB


def test_4d_nifti_with_4_volumes_keeps_the_fourth(tmp_path: Path):
    vol = _noise((20, 20, 4, 4), 2).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "v.nii.gz")
    parts = read_nifti(tmp_path / "v.nii.gz").split()
    assert len(parts) == 4
    np.testing.assert_array_equal(parts[3][1].array, vol[..., 3])


def test_nifti_rgb24_is_colour_from_its_datatype(tmp_path: Path):
    rgb = np.random.default_rng(3).integers(0, 256, (20, 18, 2, 3)).astype(np.uint8)
    structured = rgb.copy().view([("R", "u1"), ("G", "u1"), ("B", "u1")]).reshape(20, 18, 2)
    img = nib.Nifti1Image(structured, np.eye(4))
    assert int(img.header["datatype"]) == 128  # NIFTI_TYPE_RGB24
    nib.save(img, tmp_path / "rgb.nii")
    data = read_nifti(tmp_path / "rgb.nii")
    assert data.is_color and data.array.shape == (20, 18, 2, 3)
    np.testing.assert_array_equal(data.array, rgb)
    out = [r for r in iter_slice_results(data, "microscopy", SliceOptions())]
    assert [r.image.shape for r in out] == [(18, 20, 3), (18, 20, 3)]  # axial slices: rows y, cols x


def test_thin_axial_slices_are_skipped_as_degenerate(tmp_path: Path, slice_scripts):
    """A sagittally acquired NIfTI of 12 x 160 x 160 voxels: its 160 axial slices would be
    160 x 12 strips (aspect 13 > 10): none is written, all are counted with the reason."""
    raw = tmp_path / "raw"
    raw.mkdir()
    nib.save(nib.Nifti1Image(_noise((12, 160, 160), 4).astype(np.int16), np.eye(4)), raw / "sag.nii.gz")
    good = _noise((24, 24, 3), 5).astype(np.int16)
    nib.save(nib.Nifti1Image(good, np.eye(4)), raw / "ok.nii.gz")
    report = prepare_source("slice_mr_nifti", raw, tmp_path / "out", scripts_dirs=[slice_scripts])
    assert report.examples_written == 3
    assert report.skipped[DEGENERATE_SLICE] == 160
    detail = next(d for d in report.details if d["reason"] == DEGENERATE_SLICE)
    assert detail["path"] == "sag.nii.gz" and "aspect ratio" in detail["message"]


@pytest.mark.parametrize("shape, stored", [((3, 64, 64), 0), ((64, 64, 3), 3), ((9, 64, 64), 0)])
def test_minimum_side_and_aspect_rule(shape, stored):
    """Axial slices of 64 x 3 px (a side below 6 px) are not stored; 64 x 64 ones are; 64 x 9 ones
    (aspect ratio 7.1, below 10; sides of at least 6 px) are stored too."""
    vol = _noise(shape, 6).astype(np.float32)
    data = ImageData(vol, "volume", affine=np.eye(4), modality="MRI")
    out = list(iter_slice_results(data, "MRI", SliceOptions()))
    kept = [r for r in out if r.image is not None]
    if shape == (9, 64, 64):
        assert len(kept) == 64 and kept[0].image.shape == (64, 9)
    else:
        assert len(kept) == stored
        assert all(r.reason == DEGENERATE_SLICE for r in out if r.image is None)


# ------------------------------------------------------------------ TIFF and 2D images


def _gray_images(data: ImageData) -> list[np.ndarray]:
    """Every 2D grayscale image of a reader result (frames and parts flattened, in order)."""
    out = []
    for _, part in data.split():
        assert not part.is_color
        out += [part.array] if part.kind == "image" else list(part.array)
    return out


@pytest.mark.parametrize("n", [3, 4])
@pytest.mark.parametrize("writer", ["tifffile-stack", "tifffile-pages", "pillow"])
def test_three_and_four_page_grayscale_tiffs_are_pages_not_rgb(tmp_path: Path, n, writer):
    pages = _noise((n, 20, 30), n).astype(np.uint8 if writer == "pillow" else np.uint16)
    p = tmp_path / f"p{n}.tif"
    if writer == "tifffile-stack":
        tifffile.imwrite(p, pages, photometric="minisblack")
    elif writer == "tifffile-pages":
        with tifffile.TiffWriter(p) as w:
            for page in pages:
                w.write(page, photometric="minisblack")
    else:
        ims = [Image.fromarray(page) for page in pages]
        ims[0].save(p, save_all=True, append_images=ims[1:])
    images = _gray_images(read_image(p))
    assert len(images) == n
    np.testing.assert_array_equal(np.stack(images), pages)


def test_rgb_tiff_is_colour_from_photometric(tmp_path: Path):
    rgb = np.random.default_rng(7).integers(0, 256, (20, 30, 3)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    data = read_image(tmp_path / "rgb.tif")
    assert data.kind == "image" and data.is_color
    np.testing.assert_array_equal(data.array, rgb)


def test_every_series_of_a_multi_series_tiff_is_read(tmp_path: Path):
    a, b = _noise((20, 30), 8), _noise((2, 40, 50), 9)
    with tifffile.TiffWriter(tmp_path / "multi.tif") as w:
        w.write(a, photometric="minisblack")
        w.write(b, photometric="minisblack")
    data = read_image(tmp_path / "multi.tif")
    parts = data.split()
    assert [s for s, _ in parts] == ["_s0", "_s1"]
    np.testing.assert_array_equal(parts[0][1].array, a)
    np.testing.assert_array_equal(parts[1][1].array, b)


def test_two_sample_tiff_is_two_grayscale_images_not_strips(tmp_path: Path):
    """H x W x 2 with two samples per pixel: two H x W grayscale images; the same array written as
    tifffile's default 20 pages of 30 x 2 px gives only degenerate strips, reported, not stored."""
    arr = _noise((20, 30, 2), 10)
    tifffile.imwrite(tmp_path / "s2.tif", arr, photometric="minisblack", planarconfig="contig")
    data = read_image(tmp_path / "s2.tif")
    assert data.kind == "frames" and data.array.shape == (2, 20, 30)
    np.testing.assert_array_equal(data.array, np.moveaxis(arr, -1, 0))
    tifffile.imwrite(tmp_path / "pages.tif", arr)  # stored by tifffile as 20 pages of 30 x 2
    pages = read_image(tmp_path / "pages.tif")
    out = list(iter_slice_results(pages, "microscopy", SliceOptions()))
    assert out and all(r.image is None and r.reason == DEGENERATE_SLICE for r in out)


def test_pil_mode_decides_colour(tmp_path: Path):
    gray = np.random.default_rng(11).integers(0, 256, (20, 30)).astype(np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    Image.fromarray(np.stack([gray, gray // 2], -1), "LA").save(tmp_path / "la.png")
    assert not read_image(tmp_path / "g.png").is_color
    la = read_image(tmp_path / "la.png")
    assert not la.is_color and la.array.shape == (20, 30)
    rgba = np.random.default_rng(12).integers(0, 256, (20, 30, 4)).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "c.png")
    c = read_image(tmp_path / "c.png")
    assert c.is_color and c.array.shape == (20, 30, 3)
    np.testing.assert_array_equal(c.array, rgba[..., :3])


# ------------------------------------------------------------------ windowing follows the pixels


def test_8bit_png_slices_of_a_ct_source_keep_their_gray_levels(tmp_path: Path, slice_scripts):
    """COVIDx-CT ships 8-bit PNG slices: gray 0 stays 0 and 250 stays 250 (the stored bytes are the
    file's own), not windowed as if they were HU."""
    raw = tmp_path / "raw"
    raw.mkdir()
    img = np.random.default_rng(13).integers(0, 256, (32, 32)).astype(np.uint8)
    img[0, :4] = [0, 1, 240, 250]
    Image.fromarray(img).save(raw / "NCP_96_1328_0032.png")
    report, ds = _prepare("slice_ct_png", raw, tmp_path / "out", slice_scripts)
    assert report.examples_written == 1
    stored = np.asarray(ds[0]["image"])
    assert stored.dtype == np.uint8
    np.testing.assert_array_equal(stored, img)


def _vol(kind: str, modality=None, data_kind="volume") -> ImageData:
    arr = np.zeros((4, 8, 8), np.float32) if data_kind == "volume" else np.zeros((8, 8), np.uint8)
    return ImageData(arr, data_kind, affine=np.eye(4), modality=modality, intensity_kind=kind)


@pytest.mark.parametrize(
    "data, source_modality, ct_window, expected",
    [
        (_vol("hu", "CT"), "CT", (40.0, 400.0), "ct_window"),
        (_vol("hu", "CT"), "CT", None, "hu_raw"),  # ct_window=None keeps raw HU
        (_vol("display", None, "image"), "CT", (40.0, 400.0), "native"),  # 8-bit PNG in a CT source
        (_vol("unknown", None), "CT", (40.0, 400.0), "ct_window"),  # NIfTI / MetaImage CT volume
        (_vol("unknown", None), "CT", None, "hu_raw"),
        (_vol("unknown", "MRI"), "CT", (40.0, 400.0), "percentile"),  # an MR DICOM series in a CT source
        (_vol("unknown", None), "MRI", (40.0, 400.0), "percentile"),
        (_vol("hu", "CT"), "mixed", (40.0, 400.0), "ct_window"),  # HU pixels whatever the label
    ],
)
def test_resolve_intensity_follows_the_pixels(data, source_modality, ct_window, expected):
    assert resolve_intensity(data, source_modality, SliceOptions(ct_window=ct_window)) == expected


def test_dicom_ct_is_hu_and_8bit_capture_is_display(tmp_path: Path):
    p = write_dicom_slice(tmp_path / "ct.dcm", _noise((16, 16), 14), slope=1.0, intercept=-1024.0)
    assert read_image_data(p).intensity_kind == "hu"
    ds = pydicom.dcmread(p)
    del ds.RescaleSlope
    del ds.RescaleIntercept
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = np.random.default_rng(15).integers(0, 256, (16, 16)).astype(np.uint8).tobytes()
    ds.save_as(tmp_path / "sc.dcm")
    data = read_image_data(tmp_path / "sc.dcm")
    assert data.intensity_kind == "display" and data.array.dtype == np.uint8


def test_listed_localizer_files_each_yield_their_own_native_image(tmp_path: Path, slice_scripts):
    """A 3-plane localizer (one series: axial, sagittal, coronal instance) restricted by a file list
    naming its three files: three 40 x 32 images, each with its own file as original_path."""
    raw = tmp_path / "raw"
    planes = {
        "1-1.dcm": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        "1-2.dcm": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
        "1-3.dcm": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
    }
    pixels = {}
    for i, (name, iop) in enumerate(planes.items()):
        pixels[name] = _noise((40, 32), 20 + i)
        write_dicom_slice(
            raw / "1.000000-localizer-54321" / name,
            pixels[name],
            modality="MR",
            slope=None,
            iop=iop,
            ipp=(-10.0 * i, 5.0, 3.0),
            instance=i + 1,
        )
    lst = tmp_path / "list.txt"
    lst.write_text("".join(f"1.000000-localizer-54321/{n}\n" for n in planes))
    report, ds = _prepare("slice_mr_dicom", raw, tmp_path / "out", slice_scripts, file_list=str(lst))
    assert report.examples_written == 3 and report.list_entries_unmatched == 0
    by_path = {r["original_path"]: np.asarray(r["image"]) for r in ds}
    assert sorted(by_path) == [f"1.000000-localizer-54321/{n}" for n in planes]
    for name, img in by_path.items():
        assert img.shape == (40, 32)
        # one image per plane: scaled by the percentiles of its own pixels (docs/data.md)
        src = pixels[name.rsplit("/", 1)[1]].astype(np.float64)
        lo, hi = np.percentile(src, [0.5, 99.5])
        np.testing.assert_allclose(img, np.clip((src - lo) / (hi - lo), 0, 1) * 65535, atol=1.0)
