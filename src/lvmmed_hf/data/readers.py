"""Readers for the medical file formats of the LVM-Med sources: files in, arrays plus geometry out.

Every reader returns an :class:`ImageData`:

- ``kind="image"``: one 2D image, ``array`` (H, W) grayscale or (H, W, 3) RGB.
- ``kind="frames"``: independent 2D frames (ultrasound cine, HDF5 patch stacks, multi-page TIFF),
  ``array`` (F, H, W) or (F, H, W, 3); no geometry between frames.
- ``kind="volume"``: a 3D image, ``array`` indexed by voxel (n0, n1, n2) [+ trailing 4th axis for
  4D NIfTI], ``affine`` (4, 4) mapping voxel indices (i, j, k, 1) to patient coordinates in mm, in the
  DICOM/ITK LPS convention (+x patient left, +y posterior, +z superior). NIfTI's RAS affines are
  converted to LPS here so that :mod:`lvmmed_hf.data.volumes` sees one convention.

Grayscale intensities are returned as read, after the modality transform: CT comes back in HU
(``is_hu=True``, DICOM RescaleSlope/Intercept applied; NIfTI/MetaImage CT is stored in HU by the
datasets that use it). MONOCHROME1 DICOMs are inverted so that higher means brighter, YBR and palette
colour become RGB. A file that cannot be decoded raises :class:`UnreadableImageError`, which names the
file and the reason; builders count those as skipped "unreadable" files.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

logger = logging.getLogger(__name__)

Kind = Literal["image", "frames", "volume"]
ReaderKind = Literal["auto", "dicom", "dicom_series", "nifti", "metaimage", "hdf5", "image"]

READER_KINDS: tuple[str, ...] = ("auto", "dicom", "dicom_series", "nifti", "metaimage", "hdf5", "image")

# DICOM Modality (0008,0060) -> the modality names used across the package (see builder.MODALITIES).
DICOM_MODALITY_NAMES = {
    "CT": "CT",
    "MR": "MRI",
    "CR": "X-ray",
    "DX": "X-ray",
    "DR": "X-ray",
    "RF": "X-ray",
    "XA": "X-ray",
    "IO": "X-ray",
    "PX": "X-ray",
    "MG": "mammography",
    "US": "ultrasound",
    "OCT": "OCT",
    "OP": "fundus",
    "ES": "endoscopy",
    "SM": "histopathology",
    "NM": "nuclear medicine",
    "PT": "nuclear medicine",
}

# SOP classes / modalities without a displayable image: reported, never decoded.
NON_IMAGE_MODALITIES = {"RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SR", "SEG", "KO", "PR", "REG", "DOC"}


class UnreadableImageError(ValueError):
    """A file could not be decoded as the image format it was given as (path and reason in the message)."""

    def __init__(self, path: str | os.PathLike | Sequence, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read {self.path}: {reason}")


class NotAnImageError(UnreadableImageError):
    """A valid file that holds no image (DICOM RT structure set, SR, SEG, ...)."""


@dataclass
class ImageData:
    """Decoded pixels plus what the slicing and intensity steps need (see module docstring)."""

    array: np.ndarray
    kind: Kind
    affine: np.ndarray | None = None
    modality: str | None = None
    is_hu: bool = False
    files: tuple[str, ...] = ()
    # Original compressed bytes when they can be stored unchanged (plain 8-bit/16-bit PNG or JPEG).
    encoded: bytes | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_color(self) -> bool:
        ndim_gray = {"image": 2, "frames": 3, "volume": 3}[self.kind]
        return self.array.ndim == ndim_gray + 1 and self.array.shape[-1] in (3, 4)


# --------------------------------------------------------------------------------------------
# dispatch

_NIFTI_SUFFIXES = (".nii", ".nii.gz", ".hdr", ".img", ".hdr.gz", ".img.gz")
_META_SUFFIXES = (".mhd", ".mha")
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
_DICOM_SUFFIXES = (".dcm", ".dicom", ".dic", ".ima")


def guess_reader(path: str | os.PathLike) -> str:
    """The reader kind for a path, from its suffix (directories are DICOM series)."""
    p = Path(path)
    if p.is_dir():
        return "dicom_series"
    name = p.name.lower()
    for kind, suffixes in (
        ("nifti", _NIFTI_SUFFIXES),
        ("metaimage", _META_SUFFIXES),
        ("hdf5", _HDF5_SUFFIXES),
        ("image", _IMAGE_SUFFIXES),
        ("dicom", _DICOM_SUFFIXES),
    ):
        if name.endswith(suffixes):
            return kind
    if is_dicom_file(p):
        return "dicom"
    raise UnreadableImageError(
        p, "unknown file type (expected DICOM, NIfTI/Analyze, MetaImage, HDF5 or an image)"
    )


def read_image_data(
    paths: str | os.PathLike | Sequence[str | os.PathLike], reader: str = "auto", **options: Any
) -> ImageData:
    """Read one file, a DICOM series folder or a list of DICOM slice files with the named reader."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise UnreadableImageError("<no files>", "empty list of files")
    if reader not in READER_KINDS:
        raise ValueError(f"unknown reader {reader!r}; expected one of {READER_KINDS}")
    if reader == "auto":
        reader = "dicom_series" if len(paths) > 1 else guess_reader(paths[0])
    if reader == "dicom_series":
        return read_dicom_series(paths[0] if len(paths) == 1 else paths, **options)
    if len(paths) != 1:
        raise ValueError(f"reader {reader!r} takes one file, got {len(paths)}: {paths[:3]}...")
    fn = {
        "dicom": read_dicom,
        "nifti": read_nifti,
        "metaimage": read_metaimage,
        "hdf5": read_hdf5,
        "image": read_image,
    }
    return fn[reader](paths[0], **options)


# --------------------------------------------------------------------------------------------
# DICOM


def is_dicom_file(path: str | os.PathLike) -> bool:
    """True when the file has the DICM magic at offset 128 (Part 10 files)."""
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


@contextlib.contextmanager
def _quiet_pydicom():
    # ``disabled`` rather than setLevel: setLevel clears every logger's cache, slow per slice
    log = logging.getLogger("pydicom")
    was = log.disabled
    log.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        log.disabled = was


def _dcmread(path: Path, stop_before_pixels: bool = False):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with _quiet_pydicom():
            return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError as e:
        raise UnreadableImageError(path, f"not a DICOM file ({e})") from e
    except Exception as e:  # truncated headers raise EOFError, struct.error, OSError ...
        raise UnreadableImageError(path, f"invalid DICOM ({type(e).__name__}: {e})") from e


def _dicom_modality(ds) -> str | None:
    mod = str(getattr(ds, "Modality", "") or "").upper()
    return DICOM_MODALITY_NAMES.get(mod, mod or None)


def _check_dicom_image(ds, path: Path) -> None:
    mod = str(getattr(ds, "Modality", "") or "").upper()
    if mod in NON_IMAGE_MODALITIES:
        raise NotAnImageError(path, f"DICOM {mod} object holds no image")
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise NotAnImageError(path, "DICOM file has no pixel data")


def _dicom_pixels(ds, path: Path) -> np.ndarray:
    """Decoded pixels with RGB photometric interpretation for colour, (frames,) H, W [, 3]."""
    from pydicom.pixels import apply_color_lut

    try:
        # pydicom 3 converts YBR_* to RGB here (as_rgb default); JPEG 2000 / JPEG-LS / lossless JPEG
        # go through the installed pylibjpeg plugins, RLE is native. pydicom logs every failed
        # decoder attempt with a traceback; our error below names the file and reason instead.
        with _quiet_pydicom():
            photometric = str(getattr(ds, "PhotometricInterpretation", "")).upper()
            if photometric in ("YBR_FULL", "YBR_FULL_422") and int(getattr(ds, "BitsAllocated", 8)) == 8:
                # pydicom's numpy YBR->RGB is slow on long cines; PIL's C conversion uses the same
                # full-range BT.601 matrix (DICOM PS3.3 C.7.6.3.1.2).
                from pydicom.pixels import pixel_array

                arr = _ybr_full_to_rgb(pixel_array(ds, as_rgb=False))
            else:
                arr = ds.pixel_array
    except Exception as e:
        raise UnreadableImageError(path, f"pixel data could not be decoded ({type(e).__name__}: {e})") from e
    photometric = str(getattr(ds, "PhotometricInterpretation", "")).upper()
    if photometric == "PALETTE COLOR":
        try:
            arr = apply_color_lut(arr, ds)
        except Exception as e:
            raise UnreadableImageError(path, f"palette colour lookup failed ({e})") from e
        if arr.dtype != np.uint8:  # 16-bit LUT entries: keep the top byte for 8-bit RGB
            arr = (arr >> 8).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
    return arr


def _ybr_full_to_rgb(ybr: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 full-range YCbCr -> RGB, frame by frame through PIL."""
    from PIL import Image

    flat = ybr.reshape((-1,) + ybr.shape[-3:])
    out = np.empty_like(flat)
    for i, frame in enumerate(flat):
        out[i] = np.asarray(Image.fromarray(np.ascontiguousarray(frame), mode="YCbCr").convert("RGB"))
    return out.reshape(ybr.shape)


def _dicom_gray_to_float(ds, arr: np.ndarray, frame_index: int | None = None) -> tuple[np.ndarray, bool]:
    """Apply the modality transform (slope/intercept) and MONOCHROME1 inversion.

    Returns the array and whether it is in HU. Keeps integer dtype where no rescale applies so
    that 16-bit X-rays stay 16-bit.
    """
    slope, intercept = 1.0, 0.0
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    else:
        # Enhanced CT/MR put the rescale in the (shared or per-frame) functional groups.
        groups = []
        if frame_index is not None and "PerFrameFunctionalGroupsSequence" in ds:
            groups.append(ds.PerFrameFunctionalGroupsSequence[frame_index])
        if "SharedFunctionalGroupsSequence" in ds:
            groups.append(ds.SharedFunctionalGroupsSequence[0])
        for g in groups:
            if "PixelValueTransformationSequence" in g:
                t = g.PixelValueTransformationSequence[0]
                slope = float(getattr(t, "RescaleSlope", 1.0) or 1.0)
                intercept = float(getattr(t, "RescaleIntercept", 0.0) or 0.0)
                break
    modality = str(getattr(ds, "Modality", "")).upper()
    is_hu = modality == "CT"
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        bits = int(getattr(ds, "BitsStored", 8 * arr.dtype.itemsize))
        if int(getattr(ds, "PixelRepresentation", 0)) == 0:
            arr = ((1 << bits) - 1 - arr.astype(np.int64)).astype(arr.dtype)
        else:
            arr = -arr.astype(np.int64)
    if slope != 1.0 or intercept != 0.0 or is_hu:
        return arr.astype(np.float32) * np.float32(slope) + np.float32(intercept), is_hu
    return arr, is_hu


def _iop_ipp(item) -> tuple[np.ndarray | None, np.ndarray | None]:
    iop = getattr(item, "ImageOrientationPatient", None)
    ipp = getattr(item, "ImagePositionPatient", None)
    return (
        np.asarray([float(v) for v in iop]) if iop is not None and len(iop) == 6 else None,
        np.asarray([float(v) for v in ipp]) if ipp is not None and len(ipp) == 3 else None,
    )


def _pixel_spacing(item) -> tuple[float, float]:
    ps = getattr(item, "PixelSpacing", None) or getattr(item, "ImagerPixelSpacing", None)
    if ps is None or len(ps) != 2:
        return 1.0, 1.0
    return float(ps[0]), float(ps[1])


def _series_affine(iop: np.ndarray, positions: np.ndarray, spacing: tuple[float, float]) -> np.ndarray:
    """Affine for an array indexed (slice, row, column) from IOP, sorted IPPs (S, 3) and PixelSpacing."""
    row_dir, col_dir = iop[:3], iop[3:]  # row_dir: direction of increasing column index
    normal = np.cross(row_dir, col_dir)
    aff = np.eye(4)
    if len(positions) > 1:
        step = (positions[-1] - positions[0]) / (len(positions) - 1)
    else:
        step = normal
    aff[:3, 0] = step
    aff[:3, 1] = col_dir * spacing[0]  # PixelSpacing[0] is the distance between rows
    aff[:3, 2] = row_dir * spacing[1]
    aff[:3, 3] = positions[0]
    return aff


def _enhanced_frame_geometry(ds) -> tuple[np.ndarray, np.ndarray, tuple[float, float]] | None:
    """(IOP, per-frame IPP (F, 3), spacing) of an enhanced multi-frame CT/MR, or None."""
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    per_frame = ds.PerFrameFunctionalGroupsSequence if "PerFrameFunctionalGroupsSequence" in ds else None
    if per_frame is None:
        return None

    def first(item_seq_names):
        for g in ([per_frame[0]] if per_frame else []) + ([shared] if shared is not None else []):
            for name in item_seq_names:
                if name in g:
                    return g[name].value[0]
        return None

    orient = first(["PlaneOrientationSequence"])
    measures = first(["PixelMeasuresSequence"])
    if orient is None:
        return None
    iop, _ = _iop_ipp(orient)
    positions = []
    for g in per_frame:
        if "PlanePositionSequence" not in g:
            return None
        _, ipp = _iop_ipp(g.PlanePositionSequence[0])
        if ipp is None:
            return None
        positions.append(ipp)
    if iop is None:
        return None
    spacing = _pixel_spacing(measures) if measures is not None else (1.0, 1.0)
    return iop, np.stack(positions), spacing


def read_dicom(path: str | os.PathLike, **_: Any) -> ImageData:
    """One DICOM file: a 2D image, a multi-frame cine (``frames``) or an enhanced CT/MR volume."""
    path = Path(path)
    ds = _dcmread(path)
    _check_dicom_image(ds, path)
    arr = _dicom_pixels(ds, path)
    n_frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    photometric = str(getattr(ds, "PhotometricInterpretation", "")).upper()
    color = str(getattr(ds, "SamplesPerPixel", 1)) != "1" or photometric == "PALETTE COLOR"
    modality = _dicom_modality(ds)
    meta = {
        "photometric": str(getattr(ds, "PhotometricInterpretation", "")),
        "transfer_syntax": str(ds.file_meta.get("TransferSyntaxUID", "")),
    }
    if n_frames == 1:
        if arr.ndim == (4 if color else 3):  # a single frame returned with a frame axis
            arr = arr[0]
        if color:
            return ImageData(arr, "image", modality=modality, files=(str(path),), meta=meta)
        arr, is_hu = _dicom_gray_to_float(ds, arr)
        return ImageData(arr, "image", modality=modality, is_hu=is_hu, files=(str(path),), meta=meta)
    if color:
        return ImageData(arr, "frames", modality=modality, files=(str(path),), meta=meta)
    geom = _enhanced_frame_geometry(ds)
    frames = [(_dicom_gray_to_float(ds, arr[i], frame_index=i)) for i in range(n_frames)]
    is_hu = frames[0][1]
    stack = np.stack([f[0] for f in frames])
    if geom is not None:
        iop, positions, spacing = geom
        normal = np.cross(iop[:3], iop[3:])
        order = np.argsort(positions @ normal, kind="stable")
        stack, positions = stack[order], positions[order]
        aff = _series_affine(iop, positions, spacing)
        return ImageData(
            stack, "volume", affine=aff, modality=modality, is_hu=is_hu, files=(str(path),), meta=meta
        )
    return ImageData(stack, "frames", modality=modality, is_hu=is_hu, files=(str(path),), meta=meta)


def list_dicom_files(folder: str | os.PathLike) -> list[Path]:
    """Files of a folder (recursively) that look like DICOM (suffix or DICM magic), sorted."""
    folder = Path(folder)
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and (p.name.lower().endswith(_DICOM_SUFFIXES) or is_dicom_file(p)):
            out.append(p)
    return out


def group_dicom_series(files: Iterable[str | os.PathLike]) -> dict[str, list[Path]]:
    """Group DICOM files by SeriesInstanceUID (headers only; unreadable files under key ``""``)."""
    groups: dict[str, list[Path]] = {}
    for f in files:
        f = Path(f)
        try:
            ds = _dcmread(f, stop_before_pixels=True)
            uid = str(getattr(ds, "SeriesInstanceUID", "")) or f"file:{f}"
        except UnreadableImageError:
            uid = ""
        groups.setdefault(uid, []).append(f)
    return groups


def read_dicom_series(
    source: str | os.PathLike | Sequence[str | os.PathLike], *, skip_unreadable: bool = True, **_: Any
) -> ImageData:
    """A DICOM series (a folder, or a list of slice files) as one volume indexed (slice, row, col).

    Slices are sorted by ImagePositionPatient projected on the slice normal (the cross product of
    the two ImageOrientationPatient directions), never by file name or InstanceNumber. Slices that
    cannot be read, or whose orientation or size differs from the majority, are left out and listed
    in ``meta["skipped"]`` as ``(path, reason)`` when ``skip_unreadable``; otherwise they raise.
    """
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        files = list_dicom_files(source)
        label = str(source)
    else:
        files = [Path(p) for p in ([source] if isinstance(source, (str, os.PathLike)) else source)]
        label = str(files[0].parent) if files else "<empty series>"
    if not files:
        raise UnreadableImageError(label, "no DICOM files in the series folder")
    skipped: list[tuple[str, str]] = []
    slices = []
    not_images = 0
    for f in files:
        try:
            ds = _dcmread(f)
            _check_dicom_image(ds, f)
            iop, ipp = _iop_ipp(ds)
            if iop is None or ipp is None:
                raise UnreadableImageError(f, "slice has no ImageOrientationPatient/ImagePositionPatient")
            arr = _dicom_pixels(ds, f)
            arr, is_hu = _dicom_gray_to_float(ds, arr)
            if arr.ndim != 2:
                raise UnreadableImageError(
                    f, f"expected one grayscale frame per slice, got shape {arr.shape}"
                )
        except UnreadableImageError as e:
            if not skip_unreadable:
                raise
            skipped.append((str(f), e.reason))
            not_images += isinstance(e, NotAnImageError)
            continue
        slices.append((f, ds, iop, ipp, arr, is_hu))
    if not slices:
        if not_images == len(files):  # e.g. an RTSTRUCT or SEG series: not an image, not a broken one
            raise NotAnImageError(label, f"no image in the series ({skipped[0][1]})")
        raise UnreadableImageError(label, f"no readable slices ({len(skipped)} unreadable)")
    # Majority series, orientation and size: a localiser, a stray slice or a second series left in
    # the same folder must not distort the volume.
    keys = [
        (str(getattr(s[1], "SeriesInstanceUID", "")), tuple(np.round(s[2], 3)), s[4].shape) for s in slices
    ]
    majority = max(set(keys), key=keys.count)
    kept = []
    for s, k in zip(slices, keys):
        if k == majority:
            kept.append(s)
        else:
            why = (
                "another series in the same folder"
                if k[0] != majority[0]
                else "orientation or size differs from the rest of the series"
            )
            skipped.append((str(s[0]), why))
    iop = kept[0][2]
    normal = np.cross(iop[:3], iop[3:])
    dist = np.array([s[3] @ normal for s in kept])
    instance = np.array([int(getattr(s[1], "InstanceNumber", 0) or 0) for s in kept])
    order = np.lexsort((instance, np.round(dist, 2)))
    kept = [kept[i] for i in order]
    dist = dist[order]
    dtype = np.result_type(*[s[4].dtype for s in kept])
    # Several images per position (MR echoes, diffusion b-values, time points): with the same count
    # at every position they form a 4D series (position, row, col, image), sliced per 3D volume;
    # otherwise the first image (lowest InstanceNumber) per position is kept and the rest reported.
    pos_keys = np.round(dist, 2)
    uniq, first_idx, counts = np.unique(pos_keys, return_index=True, return_counts=True)
    meta: dict[str, Any] = {"skipped": skipped}
    if len(uniq) < len(kept):
        if counts.min() == counts.max():
            k = int(counts[0])
            stack = np.stack([s[4].astype(dtype, copy=False) for s in kept]).reshape(
                (len(uniq), k) + kept[0][4].shape
            )
            stack = np.moveaxis(stack, 1, -1)
            meta["images_per_position"] = k
        else:
            keep = set(first_idx.tolist())
            for i, s in enumerate(kept):
                if i not in keep:
                    skipped.append((str(s[0]), "duplicate slice position (irregular multi-image series)"))
            kept = [s for i, s in enumerate(kept) if i in keep]
            stack = np.stack([s[4].astype(dtype, copy=False) for s in kept])
        positions = (
            np.stack([kept[i][3] for i in first_idx])
            if len(kept) > len(uniq)
            else np.stack([s[3] for s in kept])
        )
        dist = uniq
    else:
        stack = np.stack([s[4].astype(dtype, copy=False) for s in kept])
        positions = np.stack([s[3] for s in kept])
    meta["slice_positions_mm"] = np.asarray(dist).tolist()
    aff = _series_affine(iop, positions, _pixel_spacing(kept[0][1]))
    return ImageData(
        stack,
        "volume",
        affine=aff,
        modality=_dicom_modality(kept[0][1]),
        is_hu=kept[0][5],
        files=tuple(str(s[0]) for s in kept),
        meta=meta,
    )


# --------------------------------------------------------------------------------------------
# NIfTI / Analyze (nibabel), MetaImage (SimpleITK)

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def read_nifti(path: str | os.PathLike, *, modality: str | None = None, **_: Any) -> ImageData:
    """NIfTI-1/2 or Analyze 7.5 (.hdr/.img) volume; affine converted from RAS to LPS.

    Analyze has no orientation field: nibabel's default affine (voxel sizes, no rotation) is used,
    and ``meta["orientation_known"]`` is False.
    """
    import nibabel as nib

    path = Path(path)
    try:
        img = nib.load(str(path))
        arr = np.asanyarray(img.dataobj)
    except Exception as e:
        raise UnreadableImageError(path, f"invalid NIfTI/Analyze file ({type(e).__name__}: {e})") from e
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim not in (3, 4):
        raise UnreadableImageError(path, f"expected a 3D or 4D image, got shape {arr.shape}")
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    affine = np.asarray(img.affine, dtype=float)
    known = isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)) and (
        int(img.header["qform_code"]) > 0 or int(img.header["sform_code"]) > 0
    )
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise UnreadableImageError(path, "header affine is singular or not finite")
    return ImageData(
        arr,
        "volume",
        affine=_RAS_TO_LPS @ affine,
        modality=modality,
        files=(str(path),),
        meta={"orientation_known": bool(known), "four_d": arr.ndim == 4},
    )


def read_metaimage(path: str | os.PathLike, **_: Any) -> ImageData:
    """MetaImage (.mhd + data file, or .mha) through SimpleITK.

    SimpleITK is used rather than a hand parser because the format's real-world variants
    (zlib-compressed ``CompressedData``, ``ElementDataFile = LIST``, big-endian ``BinaryDataByteOrderMSB``,
    ``TransformMatrix`` with flips) are all handled by ITK. ITK's direction matrix is LPS, and
    ``GetArrayFromImage`` indexes the array (z, y, x), so the affine's columns are reversed to match.
    """
    import SimpleITK as sitk

    path = Path(path)
    try:
        img = sitk.ReadImage(str(path))
        arr = sitk.GetArrayFromImage(img)
    except Exception as e:
        raise UnreadableImageError(
            path, f"invalid MetaImage ({str(e).strip().splitlines()[-1] if str(e) else type(e).__name__})"
        ) from e
    dim = img.GetDimension()
    if dim == 2:
        return ImageData(arr, "image", files=(str(path),))
    if dim != 3 or img.GetNumberOfComponentsPerPixel() != 1:
        raise UnreadableImageError(
            path,
            f"expected a 3D scalar image, got dimension {dim} with {img.GetNumberOfComponentsPerPixel()} components",
        )
    direction = np.asarray(img.GetDirection(), dtype=float).reshape(3, 3)
    spacing = np.asarray(img.GetSpacing(), dtype=float)
    aff = np.eye(4)
    # array axis a corresponds to ITK index axis (2 - a)
    for a in range(3):
        aff[:3, a] = direction[:, 2 - a] * spacing[2 - a]
    aff[:3, 3] = img.GetOrigin()
    return ImageData(arr, "volume", affine=aff, files=(str(path),), meta={"orientation_known": True})


# --------------------------------------------------------------------------------------------
# HDF5 (h5py)


def read_hdf5(
    path: str | os.PathLike, *, key: str = "x", start: int = 0, stop: int | None = None, **_: Any
) -> ImageData:
    """Frames ``[start:stop]`` of an (N, H, W[, C]) dataset ``key``; only that range is read from disk."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if key not in f:
                raise UnreadableImageError(path, f"no dataset {key!r} (found {sorted(f.keys())})")
            dset = f[key]
            if dset.ndim not in (3, 4):
                raise UnreadableImageError(
                    path, f"dataset {key!r} has shape {dset.shape}, expected (N, H, W[, C])"
                )
            arr = dset[start:stop]
    except UnreadableImageError:
        raise
    except Exception as e:
        raise UnreadableImageError(path, f"invalid HDF5 ({type(e).__name__}: {e})") from e
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return ImageData(arr, "frames", files=(str(path),), meta={"frame_offset": int(start)})


def hdf5_length(path: str | os.PathLike, key: str = "x") -> int:
    """Number of frames in dataset ``key`` (for splitting a big file into records)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return int(f[key].shape[0])
    except Exception as e:
        raise UnreadableImageError(path, f"cannot read HDF5 dataset {key!r} ({type(e).__name__}: {e})") from e


# --------------------------------------------------------------------------------------------
# 2D images (PIL, tifffile)


def read_image(path: str | os.PathLike, **_: Any) -> ImageData:
    """PNG (8/16-bit), JPEG, BMP, GIF or TIFF (16-bit and multi-page through tifffile).

    Grayscale stays (H, W) with its dtype (uint8 or uint16); palette, alpha and CMYK images become
    8-bit RGB. A PNG or JPEG that is already 8-bit L/RGB or 16-bit grayscale keeps its original
    bytes in ``encoded`` so it can be stored without re-encoding.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        return _read_tiff(path)
    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            fmt, mode = im.format, im.mode
            if mode in ("I;16", "I;16B", "I;16L"):
                arr = np.asarray(im).astype(np.uint16)
            elif mode == "I":
                a = np.asarray(im)
                arr = a.astype(np.uint16) if a.min() >= 0 and a.max() < 65536 else a.astype(np.int32)
            elif mode == "F":
                arr = np.asarray(im).astype(np.float32)
            elif mode in ("L", "RGB"):
                arr = np.asarray(im)
            elif mode in ("1",):
                arr = np.asarray(im.convert("L"))
            elif mode in ("LA",):
                arr = np.asarray(im.convert("L"))
            else:
                arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UnreadableImageError(path, f"invalid or truncated image ({type(e).__name__}: {e})") from e
    keep = (
        fmt in ("PNG", "JPEG")
        and mode in ("L", "RGB", "I;16", "I;16B")
        and arr.dtype in (np.uint8, np.uint16)
    )
    return ImageData(
        arr, "image", files=(str(path),), encoded=data if keep else None, meta={"format": fmt, "mode": mode}
    )


def _read_tiff(path: Path) -> ImageData:
    import tifffile

    try:
        arr = tifffile.imread(path)
    except Exception as e:
        raise UnreadableImageError(path, f"invalid TIFF ({type(e).__name__}: {e})") from e
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar-configured RGB
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3):
        return ImageData(arr, "image", files=(str(path),), meta={"format": "TIFF"})
    if arr.ndim in (3, 4):
        return ImageData(arr, "frames", files=(str(path),), meta={"format": "TIFF"})
    raise UnreadableImageError(path, f"unsupported TIFF shape {arr.shape}")
