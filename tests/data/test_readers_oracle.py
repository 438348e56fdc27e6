"""The DICOM series, NIfTI, Analyze and MetaImage readers against an independent reader: SimpleITK.

Series are generated from real pydicom-data files (``CT_small.dcm``, ``MR_small.dcm``) with the
geometry attributes set per the DICOM standard (PS3.3 C.7.6.2: ImageOrientationPatient = row and
column direction cosines, ImagePositionPatient = centre of the first transmitted voxel, the slice
normal is their cross product). SimpleITK (ITK + GDCM) decodes the same files: its pixels (modality
LUT and MONOCHROME1 applied), origin, spacing, direction and slice order (GDCM's IPP sorter) are
the expected values. docs/data.md states the one convention the two differ in: our slices run
along the normal turned towards its largest positive patient axis, ITK's along the IOP normal.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from lvmmed_hf.data.readers import read_dicom_series, read_image_data, read_metaimage, read_nifti

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


def _oblique(deg: float) -> tuple[float, ...]:
    """Rows along x, columns tilted by ``deg`` from +y towards -z (a double-oblique-free tilt)."""
    a = np.deg2rad(deg)
    return (1.0, 0.0, 0.0, 0.0, float(np.cos(a)), float(-np.sin(a)))


def write_series(
    folder: Path,
    template: str,
    iop,
    n: int,
    *,
    step: float = 3.0,
    extra=None,
    photometric: str | None = None,
    rescale: tuple[float, float] | None = None,
    seed: int = 0,
    series_uid: str | None = None,
    first_instance: int = 1,
    shuffle: bool = True,
) -> list[Path]:
    """``n`` slices of ``template`` along the IOP normal, files and InstanceNumbers in a random order.

    ``extra(k)`` returns attributes to set on slice k (e.g. DiffusionBValue); pixels differ per
    slice (the template's pixels rolled and offset) so a wrong order is visible.
    """
    folder.mkdir(parents=True, exist_ok=True)
    ref = pydicom.dcmread(get_testdata_file(template))
    base = ref.pixel_array.astype(np.int32)
    iop = np.asarray(iop, float)
    normal = np.cross(iop[:3], iop[3:])
    origin = np.array([-40.0, -60.0, 20.0])
    series_uid = series_uid or generate_uid()
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    paths = []
    for k in range(n):
        ds = pydicom.dcmread(get_testdata_file(template))
        uid = generate_uid()
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.SeriesInstanceUID = series_uid
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
        ds.ImagePositionPatient = [f"{v:.4f}" for v in origin + normal * step * k]
        ds.InstanceNumber = first_instance + int(order[k])
        ds.SliceLocation = float(origin[2] + normal[2] * step * k)
        pixels = np.roll(base, 3 * k + seed, axis=1) + 11 * k
        ds.PixelData = pixels.astype(ref.pixel_array.dtype).tobytes()
        if photometric:
            ds.PhotometricInterpretation = photometric
        if rescale:
            ds.RescaleSlope, ds.RescaleIntercept = rescale
        for key, value in (extra(k) if extra else {}).items():
            if isinstance(key, tuple):
                ds.add_new(key, value[0], value[1])
            else:
                setattr(ds, key, value)
        p = folder / f"IM{int(order[k]) + first_instance:04d}_{seed}.dcm"
        ds.save_as(p)
        paths.append(p)
    return paths


def _flip_rule(normal: np.ndarray) -> bool:
    """docs/data.md: slices run along the normal turned to its largest positive patient axis."""
    return bool(normal[np.argmax(np.abs(normal))] < 0)


def sitk_series(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """(array (slice, row, col), affine) from SimpleITK, slices sorted by GDCM's IPP sorter and then
    turned to the documented direction."""
    folder = str(Path(files[0]).parent)
    reader = sitk.ImageSeriesReader()
    uid = pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID
    names = reader.GetGDCMSeriesFileNames(folder, uid)
    assert sorted(names) == sorted(str(f) for f in files)
    reader.SetFileNames(names)
    img = reader.Execute()
    return _sitk_to_affine(img)


def _sitk_to_affine(img) -> tuple[np.ndarray, np.ndarray]:
    arr = sitk.GetArrayFromImage(img)  # (z, y, x) = (slice, row, col)
    d = np.asarray(img.GetDirection(), float).reshape(3, 3)
    sp = np.asarray(img.GetSpacing(), float)
    aff = np.eye(4)
    aff[:3, 0] = d[:, 2] * sp[2]
    aff[:3, 1] = d[:, 1] * sp[1]
    aff[:3, 2] = d[:, 0] * sp[0]
    aff[:3, 3] = img.GetOrigin()
    if _flip_rule(d[:, 2]) and arr.shape[0] > 1:
        n = arr.shape[0]
        arr = arr[::-1]
        aff[:3, 3] = aff[:3, 3] + aff[:3, 0] * (n - 1)
        aff[:3, 0] = -aff[:3, 0]
    return arr, aff


def _assert_same(data, arr, aff):
    assert data.native_slices and data.kind == "volume" and not data.is_color
    np.testing.assert_array_equal(data.array, arr.astype(data.array.dtype))
    np.testing.assert_allclose(data.affine, aff, atol=1e-3)


@pytest.mark.parametrize(
    "template, iop, photometric, rescale",
    [
        ("CT_small.dcm", AXIAL, None, (2.0, -1024.0)),
        ("MR_small.dcm", SAGITTAL, None, None),
        ("MR_small.dcm", CORONAL, None, (0.5, 10.0)),
        ("MR_small.dcm", _oblique(25.0), None, None),
        ("CT_small.dcm", _oblique(-35.0), None, None),
        ("MR_small.dcm", AXIAL, "MONOCHROME1", (2.0, -100.0)),
        ("MR_small.dcm", (0.0, -1.0, 0.0, 1.0, 0.0, 0.0), None, None),  # axial, normal pointing inferior
    ],
    ids=[
        "ct-axial-rescale",
        "mr-sagittal",
        "mr-coronal",
        "mr-oblique",
        "ct-oblique",
        "monochrome1",
        "flipped",
    ],
)
def test_dicom_series_matches_simpleitk(tmp_path: Path, template, iop, photometric, rescale):
    files = write_series(tmp_path / "s", template, iop, 6, photometric=photometric, rescale=rescale)
    data = read_dicom_series(tmp_path / "s")
    assert data.split() == [("", data)]  # one stack: one image per instance
    arr, aff = sitk_series(files)
    _assert_same(data, arr, aff)
    # every stored image is one instance, in its own plane: same rows x columns as the file
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert data.array.shape == (6, ds.Rows, ds.Columns)


def _split_by_sitk_tag(files: list[Path], tag: str) -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = {}
    for f in files:
        r = sitk.ImageFileReader()
        r.SetFileName(str(f))
        r.LoadPrivateTagsOn()  # GDCM leaves private tags such as (0019,100C) out otherwise
        r.ReadImageInformation()
        groups.setdefault(r.GetMetaData(tag).strip(), []).append(f)
    return groups


def _sitk_sorted_stack(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Slices read one by one with SimpleITK, ordered by its origin along its normal; the affine from
    SimpleITK's per-slice origin, direction and spacing (then turned to the documented direction)."""
    imgs = [sitk.ReadImage(str(f)) for f in files]
    d = np.asarray(imgs[0].GetDirection(), float).reshape(3, 3)
    sp = np.asarray(imgs[0].GetSpacing(), float)
    origins = np.array([img.GetOrigin() for img in imgs])
    order = np.argsort(origins @ d[:, 2])
    arr = np.stack([sitk.GetArrayFromImage(imgs[i])[0] for i in order])
    origins = origins[order]
    aff = np.eye(4)
    aff[:3, 0] = (origins[-1] - origins[0]) / (len(order) - 1) if len(order) > 1 else d[:, 2]
    aff[:3, 1] = d[:, 1] * sp[1]
    aff[:3, 2] = d[:, 0] * sp[0]
    aff[:3, 3] = origins[0]
    if _flip_rule(d[:, 2]) and len(order) > 1:
        arr = arr[::-1]
        aff[:3, 3] = origins[-1]
        aff[:3, 0] = -aff[:3, 0]
    return arr, aff


@pytest.mark.parametrize(
    "tag_name, tag, values",
    [
        ("DiffusionBValue", "0018|9087", (0.0, 800.0, 1400.0)),
        ("siemens", "0019|100c", (50, 400, 800)),
        ("EchoTime", "0018|0081", (12.0, 60.0)),
    ],
)
def test_multi_value_series_split_like_simpleitk_groups(tmp_path: Path, tag_name, tag, values):
    """ProstateX-like ep2d_diff (3 b-values x positions) and a dual-echo series: one grayscale
    sub-series per value, each matching SimpleITK's reading of the files carrying that value."""
    files = []
    for j, v in enumerate(values):

        def extra(k, v=v):
            if tag_name == "siemens":  # Siemens CSA private B_value (0019,100C), IS
                return {(0x0019, 0x0010): ("LO", "SIEMENS MR HEADER"), (0x0019, 0x100C): ("IS", str(v))}
            return {tag_name: v}

        files += write_series(
            tmp_path / "dwi",
            "MR_small.dcm",
            SAGITTAL,
            5,
            extra=extra,
            seed=j,
            series_uid="1.2.826.0.1.3680043.8.498.77",
            first_instance=1 + j * 5,
        )
    data = read_dicom_series(tmp_path / "dwi")
    parts = data.split()
    assert [s for s, _ in parts] == [f"_c{j}" for j in range(len(values))]
    groups = _split_by_sitk_tag(files, tag)
    assert len(groups) == len(values)
    by_value = {float(k): v for k, v in groups.items()}
    for (_, part), value in zip(parts, sorted(by_value)):
        arr, aff = _sitk_sorted_stack(by_value[value])
        _assert_same(part, arr, aff)
        assert part.meta["sub_series"]["value"] == pytest.approx(value)


def test_three_plane_localizer_is_three_native_stacks(tmp_path: Path):
    """One localizer series with 3 axial, 3 sagittal and 3 coronal images: three stacks, each in its
    own plane and sorted along its own normal (SimpleITK per plane is the reference)."""
    uid = "1.2.826.0.1.3680043.8.498.55"
    files = {}
    for j, iop in enumerate((AXIAL, SAGITTAL, CORONAL)):
        files[iop] = write_series(
            tmp_path / "loc",
            "MR_small.dcm",
            iop,
            3,
            seed=j,
            series_uid=uid,
            first_instance=1 + 3 * j,
            step=10.0,
        )
    data = read_dicom_series(tmp_path / "loc")
    parts = data.split()
    assert len(parts) == 3 and all(p.array.shape == (3, 64, 64) for _, p in parts)
    for _, part in parts:
        normal = np.cross(
            *np.split(np.asarray(pydicom.dcmread(part.files[0]).ImageOrientationPatient, float), 2)
        )
        iop = next(k for k in files if np.allclose(np.cross(np.array(k[:3]), np.array(k[3:])), normal))
        arr, aff = _sitk_sorted_stack(files[iop])
        _assert_same(part, arr, aff)


# ------------------------------------------------------------------ NIfTI / Analyze / MetaImage


def _sitk_volume_xyz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """SimpleITK's image as an array indexed (i, j, k) like nibabel's, with its LPS affine."""
    img = sitk.ReadImage(str(path))
    arr = sitk.GetArrayFromImage(img)
    d = np.asarray(img.GetDirection(), float).reshape(3, 3)
    aff = np.eye(4)
    aff[:3, :3] = d * np.asarray(img.GetSpacing(), float)
    aff[:3, 3] = img.GetOrigin()
    return np.transpose(arr, tuple(range(arr.ndim))[::-1]), aff


def _rotated_ras(deg: float, spacing=(0.9, 1.2, 2.5), origin=(30.0, -20.0, 12.0)) -> np.ndarray:
    a = np.deg2rad(deg)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag(spacing)
    aff[:3, 3] = origin
    return aff


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_matches_simpleitk(tmp_path: Path, suffix):
    vol = np.random.default_rng(0).integers(-200, 300, size=(20, 18, 6)).astype(np.int16)
    img = nib.Nifti1Image(vol, _rotated_ras(20.0))
    img.header.set_slope_inter(0.5, -10.0)
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    nib.save(img, tmp_path / f"v{suffix}")
    data = read_nifti(tmp_path / f"v{suffix}")
    arr, aff = _sitk_volume_xyz(tmp_path / f"v{suffix}")
    np.testing.assert_allclose(data.array, arr)
    np.testing.assert_allclose(data.affine, aff, atol=1e-4)


def test_4d_nifti_volumes_match_simpleitk(tmp_path: Path):
    """A 4D NIfTI with 3 volumes is 3 grayscale volumes, never RGB slices."""
    vol = np.random.default_rng(1).integers(0, 1000, size=(20, 18, 5, 3)).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, _rotated_ras(-10.0)), tmp_path / "dwi.nii.gz")
    data = read_nifti(tmp_path / "dwi.nii.gz")
    parts = data.split()
    assert [s for s, _ in parts] == ["_c0", "_c1", "_c2"] and not data.is_color
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "dwi.nii.gz"))).transpose(3, 2, 1, 0)
    for t, (_, part) in enumerate(parts):
        assert part.array.shape == (20, 18, 5) and not part.is_color
        np.testing.assert_array_equal(part.array, arr[..., t])


def test_analyze_pixels_and_spacing_match_simpleitk(tmp_path: Path):
    vol = np.random.default_rng(2).integers(0, 3000, size=(20, 16, 5)).astype(np.int16)
    nib.save(nib.AnalyzeImage(vol, np.diag([1.1, 0.8, 3.0, 1.0])), tmp_path / "a.hdr")
    data = read_image_data(tmp_path / "a.hdr")
    img = sitk.ReadImage(str(tmp_path / "a.hdr"))
    np.testing.assert_array_equal(data.array, sitk.GetArrayFromImage(img).transpose(2, 1, 0))
    np.testing.assert_allclose(np.linalg.norm(data.affine[:3, :3], axis=0), img.GetSpacing(), atol=1e-5)


@pytest.mark.parametrize("compress, suffix", [(False, ".mhd"), (True, ".mha")])
def test_metaimage_matches_simpleitk_geometry(tmp_path: Path, compress, suffix):
    arr_zyx = np.random.default_rng(3).integers(-1000, 1000, size=(5, 18, 20)).astype(np.int16)
    img = sitk.GetImageFromArray(arr_zyx)
    img.SetSpacing((0.7, 0.8, 2.5))
    img.SetOrigin((-10.0, 20.0, -300.0))
    a = np.deg2rad(15)
    img.SetDirection((np.cos(a), -np.sin(a), 0, np.sin(a), np.cos(a), 0, 0, 0, -1))
    sitk.WriteImage(img, str(tmp_path / f"m{suffix}"), useCompression=compress)
    data = read_metaimage(tmp_path / f"m{suffix}")
    ref = sitk.ReadImage(str(tmp_path / f"m{suffix}"))
    np.testing.assert_array_equal(data.array, sitk.GetArrayFromImage(ref))
    # array index (z, y, x) -> physical point, by SimpleITK's own index-to-point transform
    for idx_zyx in [(0, 0, 0), (4, 17, 19), (2, 5, 11)]:
        point = ref.TransformIndexToPhysicalPoint([int(i) for i in idx_zyx[::-1]])
        np.testing.assert_allclose((data.affine @ np.array([*idx_zyx, 1.0]))[:3], point, atol=1e-4)
