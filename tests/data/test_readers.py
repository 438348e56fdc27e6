"""Readers: fixtures written in each real format, read back with the right values, order and geometry."""

from __future__ import annotations

from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import tifffile
from _data_fixtures import gradient_volume, write_ct_series, write_dicom_slice
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import RLELossless

from lvmmed_hf.data.readers import (
    NotAnImageError,
    UnreadableImageError,
    read_dicom,
    read_dicom_series,
    read_hdf5,
    read_image,
    read_image_data,
    read_metaimage,
    read_nifti,
)

# ------------------------------------------------------------------ DICOM


@pytest.mark.parametrize("compress", [None, RLELossless])
def test_dicom_series_sorted_by_position_and_in_hu(tmp_path: Path, compress):
    stored = gradient_volume((6, 12, 10))
    write_ct_series(
        tmp_path / "series", stored, z0=-50.0, dz=2.5, slope=2.0, intercept=-1024.0, compress=compress
    )
    data = read_dicom_series(tmp_path / "series")
    assert data.kind == "volume" and data.is_hu and data.modality == "CT"
    # HU = stored * slope + intercept, slices in increasing z although names/instances run backwards
    np.testing.assert_array_equal(data.array, stored.astype(np.float64) * 2.0 - 1024.0)
    assert data.meta["slice_positions_mm"] == pytest.approx([-50.0 + 2.5 * k for k in range(6)])
    # affine maps (slice, row, col) to LPS mm: rows step 0.7 mm along +y, columns 0.8 mm along +x
    np.testing.assert_allclose(data.affine[:3, 0], [0, 0, 2.5])
    np.testing.assert_allclose(data.affine[:3, 1], [0, 0.7, 0])
    np.testing.assert_allclose(data.affine[:3, 2], [0.8, 0, 0])
    np.testing.assert_allclose(data.affine[:3, 3], [-20, -30, -50])
    assert [Path(f).name for f in data.files] == [f"1-{6 - k:03d}.dcm" for k in range(6)]


def test_dicom_series_oblique_sorted_along_normal(tmp_path: Path):
    """Sorting uses the IPP projected on the normal, not the z coordinate alone."""
    # rows along x, columns along (0, cos, -sin): the normal is (0, sin, cos)
    a = np.deg2rad(30)
    iop = (1, 0, 0, 0, np.cos(a), -np.sin(a))
    normal = np.cross(iop[:3], iop[3:])
    stored = gradient_volume((5, 8, 8), seed=3)
    order = [3, 0, 4, 1, 2]  # file k holds slice order[k]
    for k, s in enumerate(order):
        write_dicom_slice(
            tmp_path / "s" / f"{k}.dcm", stored[s], iop=iop, ipp=tuple(normal * 3.0 * s + [5, 0, 0])
        )
    data = read_dicom_series(tmp_path / "s")
    np.testing.assert_array_equal(data.array, stored.astype(np.float64) - 1024.0)
    np.testing.assert_allclose(data.affine[:3, 0], normal * 3.0, atol=1e-9)


def test_dicom_series_skips_truncated_slice(tmp_path: Path):
    stored = gradient_volume((4, 8, 8))
    paths = write_ct_series(tmp_path / "s", stored)
    raw = paths[1].read_bytes()
    paths[1].write_bytes(raw[: len(raw) // 2])  # truncated mid pixel data
    data = read_dicom_series(tmp_path / "s")
    assert data.array.shape[0] == 3
    assert [Path(p).name for p, _ in data.meta["skipped"]] == [paths[1].name]
    with pytest.raises(UnreadableImageError, match=paths[1].name):
        read_dicom_series(tmp_path / "s", skip_unreadable=False)


def test_truncated_dicom_file_raises_naming_the_file(tmp_path: Path):
    p = write_dicom_slice(tmp_path / "x.dcm", gradient_volume((1, 8, 8))[0])
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(UnreadableImageError, match="x.dcm"):
        read_dicom(p)


def test_monochrome1_is_inverted(tmp_path: Path):
    stored = np.arange(64, dtype=np.uint16).reshape(8, 8) * 60
    p = write_dicom_slice(
        tmp_path / "cr.dcm",
        stored,
        modality="CR",
        photometric="MONOCHROME1",
        bits_stored=12,
        slope=None,
        iop=None,
    )
    data = read_dicom(p)
    assert data.kind == "image" and data.array.dtype == np.uint16 and not data.is_hu
    np.testing.assert_array_equal(data.array, 4095 - stored)


def test_signed_ct_slice_rescaled(tmp_path: Path):
    stored = np.arange(-32, 32, dtype=np.int16).reshape(8, 8) * 30
    p = write_dicom_slice(tmp_path / "ct.dcm", stored, signed=True, slope=1.0, intercept=0.0)
    data = read_dicom(p)
    assert data.is_hu
    np.testing.assert_array_equal(data.array, stored.astype(np.float32))


@pytest.mark.parametrize(
    "reference, variants",
    [
        ("MR2_UNCR.dcm", ["MR2_J2KR.dcm"]),
        ("RG1_UNCR.dcm", ["RG1_J2KR.dcm"]),
        (
            "emri_small.dcm",
            [
                "emri_small_RLE.dcm",
                "emri_small_jpeg_ls_lossless.dcm",
                "emri_small_jpeg_2k_lossless.dcm",
                "emri_small_big_endian.dcm",
            ],
        ),
        ("US1_UNCR.dcm", ["US1_J2KR.dcm"]),
    ],
)
def test_lossless_compressed_dicoms_decode_like_uncompressed(reference, variants):
    """The uncompressed file is the independent reference for each lossless encoding (pylibjpeg
    plugins, RLE)."""
    ref = read_image_data(get_testdata_file(reference))
    for v in variants:
        data = read_image_data(get_testdata_file(v))
        assert data.kind == ref.kind
        np.testing.assert_array_equal(data.array, ref.array, err_msg=v)


def test_enhanced_multiframe_ct_is_a_volume_sorted_along_the_normal():
    import pydicom

    path = get_testdata_file("eCT_Supplemental.dcm")
    ds = pydicom.dcmread(path)
    data = read_dicom(path)
    assert data.kind == "volume" and data.is_hu and data.array.shape == (2, 512, 512)
    iop = np.array(
        ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient, float
    )
    normal = np.cross(iop[:3], iop[3:])
    # docs/data.md: frames run along the normal turned towards its largest positive patient axis
    # (here the IOP normal points inferior, so frames are stored inferior to superior)
    normal = normal if normal[np.argmax(np.abs(normal))] > 0 else -normal
    pos = np.array(
        [g.PlanePositionSequence[0].ImagePositionPatient for g in ds.PerFrameFunctionalGroupsSequence], float
    )
    order = np.argsort(pos @ normal)
    assert data.native_slices and pos[order[0], 2] < pos[order[-1], 2]
    np.testing.assert_allclose(data.affine[:3, 3], pos[order[0]])
    t = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    expected = ds.pixel_array[order].astype(np.float64) * float(t.RescaleSlope) + float(t.RescaleIntercept)
    np.testing.assert_array_equal(data.array, expected)


def test_multiframe_without_geometry_is_frames():
    data = read_dicom(get_testdata_file("emri_small.dcm"))
    assert data.kind == "frames" and data.array.shape == (10, 64, 64) and data.modality == "MRI"


def test_ybr_multiframe_ultrasound_becomes_rgb():
    import pydicom
    from pydicom.pixels import pixel_array

    path = get_testdata_file("examples_ybr_color.dcm")
    data = read_dicom(path)
    assert data.kind == "frames" and data.array.shape == (30, 240, 320, 3) and data.modality == "ultrasound"
    ybr = pixel_array(pydicom.dcmread(path), as_rgb=False).astype(np.float64)
    # ITU-R BT.601 full-range YCbCr -> RGB (DICOM PS3.3 C.7.6.3.1.2), written out independently
    y, cb, cr = ybr[..., 0], ybr[..., 1] - 128, ybr[..., 2] - 128
    rgb = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], -1)
    assert np.abs(data.array.astype(np.float64) - np.clip(rgb, 0, 255)).max() <= 2.0


def test_palette_colour_ultrasound_uses_the_lut():
    import pydicom

    path = get_testdata_file("OBXXXX1A.dcm")
    ds = pydicom.dcmread(path)
    data = read_dicom(path)
    assert data.array.shape == (ds.Rows, ds.Columns, 3) and data.array.dtype == np.uint8
    n, first, bits = ds.RedPaletteColorLookupTableDescriptor
    idx = np.clip(ds.pixel_array.astype(np.int64) - first, 0, (n or 65536) - 1)
    for c, name in enumerate(("Red", "Green", "Blue")):
        lut = np.frombuffer(getattr(ds, f"{name}PaletteColorLookupTableData"), dtype="<u2")
        expected = lut[idx] >> 8 if bits == 16 else lut[idx]
        np.testing.assert_array_equal(data.array[..., c], expected.astype(np.uint8))


def test_non_image_dicom_is_reported_as_such():
    with pytest.raises(NotAnImageError, match="SEG"):
        read_dicom(get_testdata_file("liver.dcm"))


# ------------------------------------------------------------------ NIfTI / Analyze


def test_nifti_nontrivial_affine_converted_to_lps(tmp_path: Path):
    vol = gradient_volume((5, 6, 7)).astype(np.int16)
    ras = np.array([[0, 0, -1.5, 30], [2.0, 0, 0, -10], [0, 0.8, 0, 4], [0, 0, 0, 1]], dtype=float)
    nib.save(nib.Nifti1Image(vol, ras), tmp_path / "v.nii.gz")
    data = read_nifti(tmp_path / "v.nii.gz")
    np.testing.assert_array_equal(data.array, vol)
    np.testing.assert_allclose(data.affine, np.diag([-1, -1, 1, 1]) @ ras)
    assert data.meta["orientation_known"]


def test_nifti_scaling_applied(tmp_path: Path):
    vol = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    img = nib.Nifti1Image(vol, np.eye(4))
    img.header.set_slope_inter(0.5, -100)
    nib.save(img, tmp_path / "s.nii")
    np.testing.assert_allclose(read_nifti(tmp_path / "s.nii").array, vol * 0.5 - 100)


def test_analyze_pair(tmp_path: Path):
    vol = gradient_volume((4, 5, 6)).astype(np.int16)
    nib.save(nib.AnalyzeImage(vol, np.diag([1.2, 1.0, 3.0, 1.0])), tmp_path / "h.hdr")
    assert (tmp_path / "h.img").exists()
    data = read_image_data(tmp_path / "h.hdr")
    np.testing.assert_array_equal(data.array, vol)
    assert not data.meta["orientation_known"]


def test_corrupt_nifti_header_raises(tmp_path: Path):
    vol = gradient_volume((4, 5, 6)).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "c.nii")
    raw = bytearray((tmp_path / "c.nii").read_bytes())
    raw[0:4] = (12345).to_bytes(4, "little")  # sizeof_hdr must be 348
    raw[40:56] = b"\xff" * 16  # dim[] garbage
    (tmp_path / "c.nii").write_bytes(bytes(raw))
    with pytest.raises(UnreadableImageError, match="c.nii"):
        read_nifti(tmp_path / "c.nii")


# ------------------------------------------------------------------ MetaImage


def test_metaimage_pair_written_by_hand(tmp_path: Path):
    """Header text written here (not by SimpleITK): a flipped TransformMatrix, MET_SHORT, (z, y, x) data."""
    vol = gradient_volume((3, 4, 5)).astype(np.int16) - 1000  # (z, y, x) on disk, x fastest
    (tmp_path / "scan.raw").write_bytes(vol.astype("<i2").tobytes())
    (tmp_path / "scan.mhd").write_text(
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
        "CompressedData = False\nTransformMatrix = 1 0 0 0 -1 0 0 0 1\nOffset = -10 20 -300\n"
        "CenterOfRotation = 0 0 0\nAnatomicalOrientation = RAI\nElementSpacing = 0.6 0.7 2.5\n"
        "DimSize = 5 4 3\nElementType = MET_SHORT\nElementDataFile = scan.raw\n"
    )
    data = read_metaimage(tmp_path / "scan.mhd")
    np.testing.assert_array_equal(data.array, vol)
    # array axes (z, y, x): columns = direction * spacing of ITK axes (2, 1, 0)
    np.testing.assert_allclose(data.affine[:3, 0], [0, 0, 2.5])
    np.testing.assert_allclose(data.affine[:3, 1], [0, -0.7, 0])
    np.testing.assert_allclose(data.affine[:3, 2], [0.6, 0, 0])
    np.testing.assert_allclose(data.affine[:3, 3], [-10, 20, -300])


def test_metaimage_missing_raw_raises(tmp_path: Path):
    (tmp_path / "a.mhd").write_text(
        "ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementType = MET_SHORT\n"
        "ElementDataFile = gone.raw\n"
    )
    with pytest.raises(UnreadableImageError, match="a.mhd"):
        read_metaimage(tmp_path / "a.mhd")


# ------------------------------------------------------------------ HDF5


def test_hdf5_frames_range(tmp_path: Path):
    x = np.random.default_rng(0).integers(0, 256, size=(20, 9, 9, 3)).astype(np.uint8)
    with h5py.File(tmp_path / "camelyonpatch_level_2_split_train_x.h5", "w") as f:
        f.create_dataset("x", data=x, chunks=(4, 9, 9, 3))
    data = read_hdf5(tmp_path / "camelyonpatch_level_2_split_train_x.h5", key="x", start=5, stop=12)
    assert data.kind == "frames"
    np.testing.assert_array_equal(data.array, x[5:12])
    with pytest.raises(UnreadableImageError, match="no dataset 'y'"):
        read_hdf5(tmp_path / "camelyonpatch_level_2_split_train_x.h5", key="y")


# ------------------------------------------------------------------ 2D images


def test_png16_tiff16_jpeg_bmp(tmp_path: Path):
    g16 = np.random.default_rng(0).integers(0, 65536, size=(10, 12)).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "b.tif", g16)
    rgb = np.random.default_rng(1).integers(0, 256, size=(10, 12, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.bmp")
    Image.fromarray(rgb).save(tmp_path / "d.jpg", quality=95)
    a = read_image(tmp_path / "a.png")
    assert a.array.dtype == np.uint16 and a.encoded == (tmp_path / "a.png").read_bytes()
    np.testing.assert_array_equal(a.array, g16)
    np.testing.assert_array_equal(read_image(tmp_path / "b.tif").array, g16)
    c = read_image(tmp_path / "c.bmp")
    np.testing.assert_array_equal(c.array, rgb)
    assert c.encoded is None  # BMP is re-encoded as PNG when stored
    d = read_image(tmp_path / "d.jpg")
    assert d.array.shape == (10, 12, 3) and d.encoded is not None
    np.testing.assert_array_equal(d.array, np.asarray(Image.open(tmp_path / "d.jpg")))


def test_truncated_png_raises(tmp_path: Path):
    Image.fromarray(np.zeros((50, 50), np.uint8) + 7).save(tmp_path / "t.png")
    raw = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(raw[:30])
    with pytest.raises(UnreadableImageError, match="t.png"):
        read_image(tmp_path / "t.png")


def test_unknown_file_type(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UnreadableImageError, match="unknown file type"):
        read_image_data(tmp_path / "notes.txt")


def test_two_images_per_position_become_two_grayscale_sub_series(tmp_path: Path):
    """Diffusion-like series without a b-value tag: b=0 and b=800 at each position (instances
    interleaved, names shuffled) fall back to instance order: the k-th image at each position."""
    b0, b800 = gradient_volume((4, 8, 8), seed=1), gradient_volume((4, 8, 8), seed=2)
    rng = np.random.default_rng(0)
    names = rng.permutation(8)
    for k in range(4):
        for j, vol in enumerate((b0, b800)):
            n = names[2 * k + j]
            write_dicom_slice(
                tmp_path / "dwi" / f"1-{n:02d}.dcm",
                vol[k],
                modality="MR",
                slope=None,
                ipp=(0.0, 0.0, 3.0 * k),
                instance=1 + 2 * k + j,
            )
    data = read_dicom_series(tmp_path / "dwi")
    parts = data.split()
    assert [sfx for sfx, _ in parts] == ["_c0", "_c1"]
    assert not data.is_color and all(not p.is_color and p.array.shape == (4, 8, 8) for _, p in parts)
    np.testing.assert_array_equal(parts[0][1].array, b0)
    np.testing.assert_array_equal(parts[1][1].array, b800)
    assert parts[1][1].meta["sub_series"]["attribute"] == "InstanceNumber order"


def test_irregular_duplicates_are_kept_and_second_series_reported(tmp_path: Path):
    """One image per stored instance: an extra instance at a taken position is its own sub-series;
    the same SOP instance twice is read once; another series in the folder is reported."""
    import shutil

    vol = gradient_volume((3, 8, 8), seed=4)
    paths = write_ct_series(tmp_path / "s", vol, reverse_names=False)
    write_dicom_slice(tmp_path / "s" / "dup.dcm", vol[1] + 7, ipp=(-20.0, -30.0, -50.0 + 2.5), instance=99)
    shutil.copy(paths[0], tmp_path / "s" / "copy-of-1.dcm")
    write_ct_series(tmp_path / "s" / "other", gradient_volume((2, 8, 8), seed=5), series_uid="1.2.3.999")
    data = read_dicom_series(tmp_path / "s")
    parts = dict(data.split())
    np.testing.assert_array_equal(parts["_c0"].array, vol.astype(np.float64) - 1024)
    np.testing.assert_array_equal(parts["_c1"].array, vol[1:2].astype(np.float64) + 7 - 1024)
    assert [Path(f).name for f in parts["_c1"].files] == ["dup.dcm"]
    reasons = {Path(p).name: r for p, r in data.meta["skipped"]}
    assert sum(r == "another series in the same folder" for r in reasons.values()) == 2
    assert reasons[sorted(n for n in reasons if n in ("1-001.dcm", "copy-of-1.dcm"))[-1]].startswith(
        "duplicate instance"
    )


def test_series_of_non_image_objects_is_not_an_image_not_unreadable(tmp_path):
    """A folder of RT plans (real pydicom-data files) is skipped as not_an_image, not as broken."""
    import shutil

    from pydicom.data import get_testdata_file

    from lvmmed_hf.data.readers import NotAnImageError, read_dicom_series

    folder = tmp_path / "RTPLAN-series"
    folder.mkdir()
    for i in range(2):
        shutil.copy(get_testdata_file("rtplan.dcm"), folder / f"1-{i + 1:03d}.dcm")
    with pytest.raises(NotAnImageError, match="no image in the series"):
        read_dicom_series(folder)
    # one truly broken slice among the non-images makes it unreadable again
    (folder / "1-003.dcm").write_bytes(b"DICM broken")
    with pytest.raises(UnreadableImageError) as info:
        read_dicom_series(folder)
    assert not isinstance(info.value, NotAnImageError)


def test_enhanced_multiframe_with_two_b_values_at_one_position_is_two_sub_series(tmp_path: Path):
    """Enhanced multi-frame: frames sharing a position, told apart by the per-frame MR Diffusion
    Sequence (PS3.3 C.8.13.5.9), become two sub-series ordered by b-value."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(get_testdata_file("eCT_Supplemental.dcm"))
    frames = ds.PerFrameFunctionalGroupsSequence
    frames[1].PlanePositionSequence[0].ImagePositionPatient = list(
        frames[0].PlanePositionSequence[0].ImagePositionPatient
    )
    for group, b in zip(frames, (1000.0, 0.0)):
        item = Dataset()
        item.DiffusionBValue = b
        group.MRDiffusionSequence = Sequence([item])
    ds.save_as(tmp_path / "e.dcm")
    data = read_dicom(tmp_path / "e.dcm")
    parts = data.split()
    assert [s for s, _ in parts] == ["_c0", "_c1"]
    t = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    hu = ds.pixel_array.astype(np.float64) * float(t.RescaleSlope) + float(t.RescaleIntercept)
    np.testing.assert_array_equal(parts[0][1].array, hu[1:2])  # b = 0 first
    np.testing.assert_array_equal(parts[1][1].array, hu[0:1])
    assert parts[0][1].meta["sub_series"] == {"attribute": "DiffusionBValue", "value": 0.0, "index": 0}
