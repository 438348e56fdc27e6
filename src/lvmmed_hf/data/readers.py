"""Readers for the medical file formats of the LVM-Med sources: files in, arrays plus geometry out.

Every reader returns an :class:`ImageData`:

- ``kind="image"``: one 2D image, ``array`` (H, W) grayscale or (H, W, 3) RGB.
- ``kind="frames"``: independent 2D frames (ultrasound cine, HDF5 patch stacks, multi-page TIFF),
  ``array`` (F, H, W) or (F, H, W, 3); no geometry between frames.
- ``kind="volume"``: a 3D image, ``array`` indexed by voxel (n0, n1, n2) [+ a 4th axis for 4D
  NIfTI, or RGB], ``affine`` (4, 4) mapping voxel indices (i, j, k, 1) to patient coordinates in
  mm, in the DICOM/ITK LPS convention (+x patient left, +y posterior, +z superior). NIfTI's RAS
  affines are converted to LPS here so that :mod:`lvmmed_hf.data.volumes` sees one convention.
  DICOM volumes are ``native_slices``: axis 0 is one stored instance per index, in its own plane.

Colour (``color``) is what the format's metadata declares, never guessed from a trailing axis of
3 or 4. Several units read from one record (DICOM sub-series per b-value / echo / time point /
plane, 4D NIfTI volumes, TIFF series) come out of :meth:`ImageData.split`.

Grayscale intensities are returned as read, after the modality transform; ``intensity_kind`` says
what they are: ``"hu"`` (DICOM CT, RescaleSlope/Intercept applied), ``"display"`` (gray levels of
PNG/JPEG/TIFF/HDF5 images), ``"unknown"`` (MR, NIfTI, MetaImage). MONOCHROME1 DICOMs are inverted
so that higher means brighter, YBR and palette colour become RGB. A file that cannot be decoded,
or whose header declares more data than it holds (checked before anything is allocated), raises
:class:`UnreadableImageError`, which names the file and the reason; builders count those as
skipped "unreadable" files.
"""

from __future__ import annotations

import contextlib
import dataclasses
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


INTENSITY_KINDS: tuple[str, ...] = ("hu", "display", "unknown")

# Decoded-size limits for hostile files (see :func:`check_declared_size`): deflate cannot expand
# data by more than 1032:1 (RFC 1951: at most 258 bytes per 2-bit code), so a zlib/gzip stream
# shorter than 1/1032 of the declared size cannot hold the image.
DEFLATE_MAX_RATIO = 1032


@dataclass
class ImageData:
    """Decoded pixels plus what the slicing and intensity steps need (see module docstring).

    ``color`` comes from the format's metadata (DICOM SamplesPerPixel / PhotometricInterpretation,
    NIfTI RGB24/RGBA32, TIFF photometric, the PIL mode); a trailing axis of size 3 or 4 alone never
    makes data colour. ``intensity_kind`` says what the gray values are: ``"hu"`` (calibrated
    Hounsfield units, e.g. DICOM CT with RescaleSlope/Intercept), ``"display"`` (display gray levels
    of a PNG/JPEG/BMP/TIFF/HDF5 image, kept as they are), ``"unknown"`` (scanner values: MR, NIfTI,
    MetaImage). ``native_slices``: a volume whose first axis is the acquisition's own slice axis
    (one image per stored DICOM instance / frame), stored as is rather than resliced axially.
    ``parts``: several volumes or frame sets read from one record (DICOM sub-series, TIFF series);
    :meth:`split` gives them with their ``volume_id`` suffix.
    """

    array: np.ndarray
    kind: Kind
    affine: np.ndarray | None = None
    modality: str | None = None
    is_hu: bool = False
    files: tuple[str, ...] = ()
    # Original compressed bytes when they can be stored unchanged (plain 8-bit/16-bit PNG or JPEG).
    encoded: bytes | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    color: bool = False
    intensity_kind: str = ""
    native_slices: bool = False
    parts: list[tuple[str, ImageData]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.is_hu:
            self.intensity_kind = "hu"
        elif not self.intensity_kind:
            self.intensity_kind = "unknown"
        if self.intensity_kind not in INTENSITY_KINDS:
            raise ValueError(f"intensity_kind must be one of {INTENSITY_KINDS}, got {self.intensity_kind!r}")
        self.is_hu = self.intensity_kind == "hu"
        gray = {"image": 2, "frames": 3, "volume": 3}.get(self.kind)
        if gray is None:
            raise ValueError(f"ImageData kind must be image, frames or volume, got {self.kind!r}")
        nd = np.ndim(self.array)
        if self.color:
            ok = nd == gray + 1 and self.array.shape[-1] == 3
        else:
            ok = nd == gray or (self.kind == "volume" and nd == 4)  # 4D: several volumes, see split()
        if not ok:
            raise ValueError(
                f"ImageData of kind {self.kind!r} (color={self.color}) cannot hold an array of shape "
                f"{np.shape(self.array)}"
            )

    @property
    def is_color(self) -> bool:
        """Colour as the file's metadata declares it (never guessed from the array's shape)."""
        return self.color

    def split(self) -> list[tuple[str, ImageData]]:
        """The independently sliced units of this data, each with its ``volume_id`` suffix.

        DICOM sub-series (b-values, echoes, time points, orientations) and TIFF series come from
        ``parts``; a 4D grayscale volume (4D NIfTI) gives one 3D volume per index of its 4th axis
        (suffix ``_c<t>``); anything else is one unit with an empty suffix.
        """
        if self.parts:
            return list(self.parts)
        if self.kind == "volume" and self.array.ndim == 4 and not self.color:
            return [
                (
                    f"_c{t}",
                    dataclasses.replace(
                        self, array=self.array[..., t], meta={**self.meta, "component": t}, parts=[]
                    ),
                )
                for t in range(self.array.shape[3])
            ]
        return [("", self)]


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
    """Read one file, a DICOM series folder or a list of DICOM slice files with the named reader.

    Every failure of a file (a decoder's own exception, a header the checks did not foresee, memory)
    comes out as :class:`UnreadableImageError` naming the file, so a builder skips it with a
    reason instead of stopping; a wrong ``reader`` name or file count is a ``ValueError``.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise UnreadableImageError("<no files>", "empty list of files")
    if reader not in READER_KINDS:
        raise ValueError(f"unknown reader {reader!r}; expected one of {READER_KINDS}")
    if reader == "auto":
        reader = "dicom_series" if len(paths) > 1 else guess_reader(paths[0])
    if reader != "dicom_series" and len(paths) != 1:
        raise ValueError(f"reader {reader!r} takes one file, got {len(paths)}: {paths[:3]}...")
    fn = {
        "dicom_series": lambda _, **o: read_dicom_series(paths[0] if len(paths) == 1 else paths, **o),
        "dicom": read_dicom,
        "nifti": read_nifti,
        "metaimage": read_metaimage,
        "hdf5": read_hdf5,
        "image": read_image,
    }
    try:
        return fn[reader](paths[0], **options)
    except UnreadableImageError:
        raise
    except MemoryError as e:
        raise UnreadableImageError(paths[0], f"out of memory while decoding ({e})") from e
    except Exception as e:  # a decoder bug or a header no check foresaw: this file only
        logger.debug("reader %s failed on %s", reader, paths[0], exc_info=True)
        raise UnreadableImageError(
            paths[0] if len(paths) == 1 else paths[0].parent,
            f"{reader} reader failed ({type(e).__name__}: {e})",
        ) from e


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


def _dicom_rescale(ds, frame_index: int | None = None) -> tuple[float, float, bool]:
    """(slope, intercept, present): the modality LUT of a slice, also from enhanced functional groups."""
    if "RescaleSlope" in ds or "RescaleIntercept" in ds:
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        return slope, intercept, True
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
            return slope, intercept, True
    return 1.0, 0.0, False


def _dicom_intensity_kind(ds, rescaled: bool) -> str:
    """``hu`` for CT pixels with a modality LUT (or 16-bit CT, whose IOD requires one), ``display`` for
    8-bit grayscale without a rescale (screenshots, secondary captures, ultrasound, 8-bit X-ray), else
    ``unknown`` (MR and other scanner values, scaled per volume)."""
    modality = str(getattr(ds, "Modality", "")).upper()
    bits = int(getattr(ds, "BitsAllocated", 16) or 16)
    if modality == "CT" and (rescaled or bits > 8):
        return "hu"
    if bits <= 8 and not rescaled and modality not in ("MR", "PT", "NM"):
        return "display"
    return "unknown"


def _dicom_gray_to_float(ds, arr: np.ndarray, frame_index: int | None = None) -> tuple[np.ndarray, bool]:
    """Apply the modality transform (slope/intercept) and MONOCHROME1 inversion.

    Returns the array and whether it is in HU. Keeps integer dtype where no rescale applies so
    that 16-bit X-rays stay 16-bit.
    """
    arr, kind = _dicom_gray(ds, arr, frame_index)
    return arr, kind == "hu"


def _dicom_gray(ds, arr: np.ndarray, frame_index: int | None = None) -> tuple[np.ndarray, str]:
    """:func:`_dicom_gray_to_float` returning the intensity kind (``hu``, ``display``, ``unknown``)."""
    slope, intercept, rescaled = _dicom_rescale(ds, frame_index)
    kind = _dicom_intensity_kind(ds, rescaled)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        bits = int(getattr(ds, "BitsStored", 8 * arr.dtype.itemsize))
        if int(getattr(ds, "PixelRepresentation", 0)) == 0:
            arr = ((1 << bits) - 1 - arr.astype(np.int64)).astype(arr.dtype)
        else:
            arr = -1 - arr.astype(np.int64)  # (min + max) - x of the signed range, as GDCM
    if slope != 1.0 or intercept != 0.0 or kind == "hu":
        return arr.astype(np.float32) * np.float32(slope) + np.float32(intercept), kind
    return arr, kind


def _iop_ipp(item) -> tuple[np.ndarray | None, np.ndarray | None]:
    iop = getattr(item, "ImageOrientationPatient", None)
    ipp = getattr(item, "ImagePositionPatient", None)
    try:
        iop_a = np.asarray([float(v) for v in iop]) if iop is not None and len(iop) == 6 else None
        ipp_a = np.asarray([float(v) for v in ipp]) if ipp is not None and len(ipp) == 3 else None
    except (TypeError, ValueError):
        return None, None
    if iop_a is not None and (
        not np.all(np.isfinite(iop_a)) or np.linalg.norm(np.cross(iop_a[:3], iop_a[3:])) < 1e-3
    ):
        iop_a = None  # degenerate orientation: no usable geometry
    if ipp_a is not None and not np.all(np.isfinite(ipp_a)):
        ipp_a = None
    return iop_a, ipp_a


def _pixel_spacing(item) -> tuple[float, float]:
    ps = getattr(item, "PixelSpacing", None) or getattr(item, "ImagerPixelSpacing", None)
    if ps is None or len(ps) != 2:
        return 1.0, 1.0
    return float(ps[0]), float(ps[1])


def _slice_normal(iop: np.ndarray) -> np.ndarray:
    """Unit normal of the IOP plane, oriented so that its largest patient-axis component is positive
    (axial: inferior to superior, sagittal: right to left, coronal: anterior to posterior)."""
    normal = np.cross(iop[:3], iop[3:])
    normal = normal / np.linalg.norm(normal)
    if normal[int(np.argmax(np.abs(normal)))] < 0:
        normal = -normal
    return normal


def _series_affine(iop: np.ndarray, positions: np.ndarray, spacing: tuple[float, float]) -> np.ndarray:
    """Affine for an array indexed (slice, row, column) from IOP, sorted IPPs (S, 3) and PixelSpacing."""
    row_dir, col_dir = iop[:3], iop[3:]  # row_dir: direction of increasing column index
    aff = np.eye(4)
    if len(positions) > 1:
        step = (positions[-1] - positions[0]) / (len(positions) - 1)
    else:
        step = _slice_normal(iop)
    aff[:3, 0] = step
    aff[:3, 1] = col_dir * spacing[0]  # PixelSpacing[0] is the distance between rows
    aff[:3, 2] = row_dir * spacing[1]
    aff[:3, 3] = positions[0]
    return aff


def _number(v: Any) -> Any:
    """A header value as a hashable, comparable value (numbers as rounded floats)."""
    if v is None:
        return None
    if isinstance(v, bytes):
        v = v.decode("latin-1", "replace").strip("\x00 ")
    if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        return tuple(_number(x) for x in v)
    try:
        return round(float(v), 4)
    except (TypeError, ValueError):
        return str(v).strip()


def _private_first_number(v: Any) -> Any:
    """First number of a private tag value (GE (0043,1039) holds ``b, ...`` with 10^9 added to b)."""
    v = _number(v)
    if isinstance(v, tuple):
        v = v[0] if v else None
    if isinstance(v, str):
        try:
            v = round(float(v.replace("\\", " ").split()[0]), 4)
        except (ValueError, IndexError):
            return v
    if isinstance(v, float) and v >= 1e9:
        v = round(v % 1e9, 4)
    return v


def _instance_number(ds) -> int:
    v = _number(getattr(ds, "InstanceNumber", None))
    return int(v) if isinstance(v, float) else 0


def _classic_attrs(ds) -> dict[str, Any]:
    """Attributes that tell apart several images at one slice position of a classic DICOM series."""

    def get(tag):
        el = ds.get(tag)
        return None if el is None else el.value

    return {
        "DiffusionBValue": _number(get((0x0018, 0x9087))),
        "DiffusionGradientOrientation": _number(get((0x0018, 0x9089))),
        "SiemensBValue(0019,100C)": _private_first_number(get((0x0019, 0x100C))),
        "GEBValue(0043,1039)": _private_first_number(get((0x0043, 0x1039))),
        "PhilipsBValue(2001,1003)": _private_first_number(get((0x2001, 0x1003))),
        "SequenceName": _number(get((0x0018, 0x0024))),  # Siemens "*ep_b50t", "*ep_b800t"
        "EchoTime": _number(get((0x0018, 0x0081))),
        "EchoNumbers": _number(get((0x0018, 0x0086))),
        "InversionTime": _number(get((0x0018, 0x0082))),
        "TemporalPositionIdentifier": _number(get((0x0020, 0x0100))),
        "TriggerTime": _number(get((0x0018, 0x1060))),
        "AcquisitionNumber": _number(get((0x0020, 0x0012))),
        "ImageType": _number(get((0x0008, 0x0008))),
    }


def _frame_attrs(group) -> dict[str, Any]:
    """The same attributes for one frame of an enhanced multi-frame file (per-frame functional group)."""

    def seq_value(seq_name: str, attr: str):
        if seq_name in group and len(group[seq_name].value):
            return _number(getattr(group[seq_name].value[0], attr, None))
        return None

    return {
        "DiffusionBValue": seq_value("MRDiffusionSequence", "DiffusionBValue"),
        "EffectiveEchoTime": seq_value("MREchoSequence", "EffectiveEchoTime"),
        "TemporalPositionIndex": seq_value("FrameContentSequence", "TemporalPositionIndex"),
        "StackID": seq_value("FrameContentSequence", "StackID"),
        "FrameType": seq_value("MRImageFrameTypeSequence", "FrameType")
        or seq_value("CTImageFrameTypeSequence", "FrameType"),
    }


@dataclass
class _Instance:
    """One stored 2D image of a series (a classic instance or a frame of a multi-frame file)."""

    path: str
    uid: str
    iop: np.ndarray | None
    ipp: np.ndarray | None
    array: np.ndarray
    intensity_kind: str
    instance: int
    spacing: tuple[float, float]
    attrs: dict[str, Any]


def _orientation_groups(items: list[_Instance]) -> list[list[_Instance]]:
    """Instances with the same orientation (IOP within 1e-3) and image size, largest group first."""
    groups: list[list[_Instance]] = []
    for it in items:
        for g in groups:
            ref = g[0]
            if ref.array.shape == it.array.shape and np.abs(ref.iop - it.iop).max() < 1e-3:
                g.append(it)
                break
        else:
            groups.append([it])
    groups.sort(key=lambda g: -len(g))
    return groups


def _sub_series(items: list[_Instance], pos: np.ndarray) -> tuple[str | None, list[list[int]]]:
    """Split instances that share slice positions into sub-series without repeated positions.

    The distinguishing attribute is the first of the instances' attributes (b-value, echo time,
    temporal position, acquisition number, image type...) that gives as many sub-series as there
    are images at the most crowded position and repeats no position within a sub-series; failing
    that, the k-th image at each position (by InstanceNumber, then file order) goes to sub-series k.
    Returns the attribute name (None for instance order) and the index lists, sub-series ordered
    by the attribute's value.
    """
    counts: dict[float, int] = {}
    for p in pos:
        counts[p] = counts.get(p, 0) + 1
    n_max = max(counts.values())
    for name in items[0].attrs:
        values = [it.attrs.get(name) for it in items]
        distinct = set(values)
        if len(distinct) != n_max:
            continue
        groups: dict[Any, list[int]] = {}
        for i, v in enumerate(values):
            groups.setdefault(v, []).append(i)
        if all(len({pos[i] for i in g}) == len(g) for g in groups.values()):

            def order(v):
                return (v is None, v if isinstance(v, float) else 0.0, str(v))

            return name, [groups[v] for v in sorted(groups, key=order)]
    rank: dict[float, int] = {}
    subs: dict[int, list[int]] = {}
    for i in sorted(range(len(items)), key=lambda i: (items[i].instance, i)):
        k = rank.get(pos[i], 0)
        rank[pos[i]] = k + 1
        subs.setdefault(k, []).append(i)
    return None, [subs[k] for k in sorted(subs)]


def _assemble_series(
    items: list[_Instance], modality: str | None, skipped: list[tuple[str, str]]
) -> list[tuple[str, ImageData]]:
    """Instances of one series -> native-slice volumes (and frame sets for instances without geometry).

    Every instance is kept: one group per orientation and image size (a 3-plane localizer gives
    three stacks), each sorted along its own normal; several images per position are split into
    sub-series (:func:`_sub_series`). Identical SOP instances (the same file twice) are kept once.
    """
    seen: set[str] = set()
    unique = []
    for it in items:
        if it.uid in seen:
            skipped.append((it.path, "duplicate instance (same SOPInstanceUID as another file)"))
            continue
        seen.add(it.uid)
        unique.append(it)
    with_geom = [it for it in unique if it.iop is not None and it.ipp is not None]
    without = [it for it in unique if it.iop is None or it.ipp is None]
    units: list[tuple[str, ImageData]] = []  # (plane suffix, data)
    for group in _orientation_groups(with_geom):
        normal = _slice_normal(group[0].iop)
        pos = np.round(np.array([it.ipp @ normal for it in group]), 2)
        if len(set(pos.tolist())) < len(group):
            attr, subs = _sub_series(group, pos)
        else:
            attr, subs = None, [list(range(len(group)))]
        for k, idx in enumerate(subs):
            idx = sorted(idx, key=lambda i: (pos[i], group[i].instance))
            members = [group[i] for i in idx]
            dtype = np.result_type(*[m.array.dtype for m in members])
            stack = np.stack([m.array.astype(dtype, copy=False) for m in members])
            positions = np.stack([m.ipp for m in members])
            meta: dict[str, Any] = {"slice_positions_mm": [float(pos[i]) for i in idx]}
            if len(subs) > 1:
                meta["sub_series"] = {
                    "attribute": attr or "InstanceNumber order",
                    "value": members[0].attrs.get(attr) if attr else k,
                    "index": k,
                }
            data = ImageData(
                stack,
                "volume",
                affine=_series_affine(group[0].iop, positions, members[0].spacing),
                modality=modality,
                intensity_kind=members[0].intensity_kind,
                files=tuple(m.path for m in members),
                meta=meta,
                native_slices=True,
            )
            units.append((f"_c{k}" if len(subs) > 1 else "", data))
    # instances without geometry: independent frames, one set per image size, in InstanceNumber order
    by_shape: dict[tuple[int, ...], list[_Instance]] = {}
    for it in sorted(without, key=lambda it: it.instance):
        by_shape.setdefault(it.array.shape, []).append(it)
    for members in by_shape.values():
        dtype = np.result_type(*[m.array.dtype for m in members])
        stack = np.stack([m.array.astype(dtype, copy=False) for m in members])
        units.append(
            (
                "",
                ImageData(
                    stack,
                    "frames",
                    modality=modality,
                    intensity_kind=members[0].intensity_kind,
                    files=tuple(m.path for m in members),
                    meta={"geometry": "none"},
                    native_slices=True,
                ),
            )
        )
    if len(units) == 1:
        return units
    n_planes = len(units) - sum(1 for sfx, _ in units if sfx not in ("", "_c0"))
    out = []
    plane = -1
    for sfx, data in units:
        if sfx in ("", "_c0"):
            plane += 1
        out.append(((f"_p{plane}" if n_planes > 1 else "") + sfx, data))
    return out


def _combine_parts(
    parts: list[tuple[str, ImageData]], files: Sequence[str], meta: dict[str, Any]
) -> ImageData:
    """One :class:`ImageData` for a record: the part itself, or the first part carrying all in ``parts``."""
    if len(parts) == 1:
        data = parts[0][1]
        data.meta = {**data.meta, **meta}
        return data
    first = parts[0][1]
    return dataclasses.replace(
        first,
        files=tuple(files),
        meta={**meta, "parts": [sfx for sfx, _ in parts]},
        parts=parts,
    )


def _enhanced_frames(ds, arr: np.ndarray, path: Path) -> list[_Instance] | None:
    """The frames of an enhanced multi-frame CT/MR with per-frame positions, or None."""
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    per_frame = ds.PerFrameFunctionalGroupsSequence if "PerFrameFunctionalGroupsSequence" in ds else None
    if per_frame is None or len(per_frame) != arr.shape[0]:
        return None

    def first(g, name):
        for item in (g, shared):
            if item is not None and name in item and len(item[name].value):
                return item[name].value[0]
        return None

    out = []
    for i, g in enumerate(per_frame):
        orient, position = first(g, "PlaneOrientationSequence"), first(g, "PlanePositionSequence")
        if orient is None or position is None:
            return None
        iop, _ = _iop_ipp(orient)
        _, ipp = _iop_ipp(position)
        if iop is None or ipp is None:
            return None
        measures = first(g, "PixelMeasuresSequence")
        img, kind = _dicom_gray(ds, arr[i], frame_index=i)
        attrs = _frame_attrs(g)
        out.append(
            _Instance(
                str(path),
                f"{path}#{i}",
                iop,
                ipp,
                img,
                kind,
                i,
                _pixel_spacing(measures) if measures is not None else (1.0, 1.0),
                attrs,
            )
        )
    return out


def _check_dicom_pixel_size(ds, path: Path) -> None:
    """Refuse a header whose Rows x Columns x frames x samples does not fit its pixel data (before any
    decoding allocates the declared size)."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
        bits = int(getattr(ds, "BitsAllocated", 8) or 8)
    except (AttributeError, TypeError, ValueError) as e:
        raise UnreadableImageError(path, f"DICOM image attributes missing or invalid ({e})") from e
    if min(rows, cols, frames, samples, bits) <= 0:
        raise UnreadableImageError(
            path, f"invalid DICOM image size Rows={rows} Columns={cols} NumberOfFrames={frames}"
        )
    expected = rows * cols * frames * samples * bits // 8
    if "PixelData" not in ds:
        return
    n = len(ds.PixelData or b"")
    if ds.file_meta.get("TransferSyntaxUID") is not None and ds.file_meta.TransferSyntaxUID.is_compressed:
        # encapsulated: no exact bound, but a decoded size far beyond any codec's ratio is a bomb
        if expected > 64 * 2**20 and expected > 2000 * max(n, 1):
            raise UnreadableImageError(
                path,
                f"declared image size {rows}x{cols}x{frames} ({expected} bytes decoded) does not fit "
                f"{n} bytes of compressed pixel data",
            )
        return
    if n < expected:
        raise UnreadableImageError(
            path,
            f"pixel data holds {n} bytes but Rows x Columns x NumberOfFrames x SamplesPerPixel x "
            f"BitsAllocated = {rows}x{cols}x{frames}x{samples}x{bits} needs {expected} (truncated file?)",
        )


def read_dicom(path: str | os.PathLike, **_: Any) -> ImageData:
    """One DICOM file: a 2D image, a multi-frame cine (``frames``) or an enhanced CT/MR volume.

    An enhanced multi-frame file with per-frame positions is a native-slice volume (frames sorted
    along their normal); several frames per position (b-values, echoes, time points) and several
    orientations become separate parts (:meth:`ImageData.split`).
    """
    path = Path(path)
    ds = _dcmread(path)
    _check_dicom_image(ds, path)
    _check_dicom_pixel_size(ds, path)
    arr = _dicom_pixels(ds, path)
    n_frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    photometric = str(getattr(ds, "PhotometricInterpretation", "")).upper()
    color = str(getattr(ds, "SamplesPerPixel", 1)) != "1" or photometric == "PALETTE COLOR"
    modality = _dicom_modality(ds)
    meta = {
        "photometric": str(getattr(ds, "PhotometricInterpretation", "")),
        "transfer_syntax": str(ds.file_meta.get("TransferSyntaxUID", "")),
    }
    if color:
        if arr.ndim == (4 if n_frames > 1 else 3) and arr.shape[-1] == 4:
            arr = arr[..., :3]
        if n_frames == 1 and arr.ndim == 4:
            arr = arr[0]
        expected_nd = 4 if n_frames > 1 else 3
        if arr.ndim != expected_nd or arr.shape[-1] != 3:
            raise UnreadableImageError(path, f"colour pixel data of unexpected shape {arr.shape}")
        return ImageData(
            arr,
            "frames" if n_frames > 1 else "image",
            modality=modality,
            files=(str(path),),
            meta=meta,
            color=True,
            intensity_kind="display",
        )
    if n_frames == 1:
        if arr.ndim == 3:  # a single frame returned with a frame axis
            arr = arr[0]
        arr, kind = _dicom_gray(ds, arr)
        return ImageData(arr, "image", modality=modality, intensity_kind=kind, files=(str(path),), meta=meta)
    if arr.ndim != 3:
        raise UnreadableImageError(path, f"multi-frame pixel data of unexpected shape {arr.shape}")
    frames = _enhanced_frames(ds, arr, path)
    if frames is not None:
        skipped: list[tuple[str, str]] = []
        parts = _assemble_series(frames, modality, skipped)
        meta["skipped"] = skipped
        return _combine_parts(parts, [str(path)], meta)
    conv = [_dicom_gray(ds, arr[i], frame_index=i) for i in range(n_frames)]
    stack = np.stack([c[0] for c in conv])
    return ImageData(
        stack, "frames", modality=modality, intensity_kind=conv[0][1], files=(str(path),), meta=meta
    )


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
    """A DICOM series (a folder, or a list of slice files): one image per stored instance.

    The series is kept in its own acquisition plane (never resliced): instances are sorted by
    ImagePositionPatient projected on the slice normal (the cross product of the two
    ImageOrientationPatient directions, pointing along its largest positive patient axis), never by
    file name or InstanceNumber. Several images per position (diffusion b-values, echoes, phases,
    time points) become grayscale sub-series, told apart by DiffusionBValue / (0019,100C) /
    EchoTime / TemporalPositionIdentifier / AcquisitionNumber ... or else by instance order; several
    orientations or image sizes (3-plane localisers) become separate stacks. These are the
    :attr:`ImageData.parts` (``volume_id`` suffixes ``_c<k>`` / ``_p<g>``); with one part the part
    itself is returned. Unreadable slices and files of another series in the same folder are left
    out and listed in ``meta["skipped"]`` as ``(path, reason)`` when ``skip_unreadable``; otherwise
    they raise.
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
            _check_dicom_pixel_size(ds, f)
            photometric = str(getattr(ds, "PhotometricInterpretation", "")).upper()
            if str(getattr(ds, "SamplesPerPixel", 1)) != "1" or photometric == "PALETTE COLOR":
                raise UnreadableImageError(f, "colour image in a grayscale series")
            arr = _dicom_pixels(ds, f)
            if arr.ndim != 2:
                raise UnreadableImageError(
                    f, f"expected one grayscale frame per slice, got shape {arr.shape}"
                )
            arr, kind = _dicom_gray(ds, arr)
            iop, ipp = _iop_ipp(ds)
        except UnreadableImageError as e:
            if not skip_unreadable:
                raise
            skipped.append((str(f), e.reason))
            not_images += isinstance(e, NotAnImageError)
            continue
        inst = _Instance(
            str(f),
            str(getattr(ds, "SOPInstanceUID", "")) or str(f),
            iop,
            ipp,
            arr,
            kind,
            _instance_number(ds),
            _pixel_spacing(ds),
            _classic_attrs(ds),
        )
        slices.append((str(getattr(ds, "SeriesInstanceUID", "")), _dicom_modality(ds), inst))
    if not slices:
        if not_images == len(files):  # e.g. an RTSTRUCT or SEG series: not an image, not a broken one
            raise NotAnImageError(label, f"no image in the series ({skipped[0][1]})")
        raise UnreadableImageError(label, f"no readable slices ({len(skipped)} unreadable)")
    # A second series left in the same folder must not be mixed in: the majority series is read.
    uids = [s[0] for s in slices]
    majority = max(set(uids), key=uids.count)
    items = []
    for uid, _, inst in slices:
        if uid == majority:
            items.append(inst)
        else:
            skipped.append((inst.path, "another series in the same folder"))
    modality = next(m for uid, m, _ in slices if uid == majority)
    parts = _assemble_series(items, modality, skipped)
    meta: dict[str, Any] = {"skipped": skipped}
    return _combine_parts(parts, [it.path for it in items], meta)


# --------------------------------------------------------------------------------------------
# declared sizes of hostile headers


def _gzip_isize(path: Path) -> int | None:
    """The ISIZE field of a gzip file (uncompressed length of its last member, modulo 2**32)."""
    try:
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            return int.from_bytes(f.read(4), "little")
    except OSError:
        return None


def _gzip_holds(path: Path, required: int) -> bool:
    """Whether a gzip file decompresses to at least ``required`` bytes, decided without holding them:
    the deflate ratio bound, then the ISIZE trailer, then (multi-member files) a streamed count."""
    import gzip
    import zlib

    size = path.stat().st_size
    if size * DEFLATE_MAX_RATIO < required:
        return False
    isize = _gzip_isize(path)
    if required < 2**32 and isize is not None and isize >= required:
        return True
    total = 0
    try:
        with gzip.open(path, "rb") as f:
            while total < required:
                chunk = f.read(1 << 22)
                if not chunk:
                    break
                total += len(chunk)
    except (OSError, EOFError, zlib.error):
        return False
    return total >= required


def check_declared_size(
    path: Path, required: int, what: str, compressed: str | None = None, header: Path | None = None
) -> None:
    """Refuse ``path`` when it cannot hold the ``required`` bytes its header declares (before allocating).

    ``compressed``: ``"gzip"`` for a .gz file (see :func:`_gzip_holds`), ``"zlib"`` for raw zlib data
    (deflate ratio bound only), None for uncompressed data. ``header``: the file the user named when
    the data lives in another file (Analyze .img, MetaImage .raw); the error names both.
    """
    named = header if header is not None else path
    where = f" (data file {path})" if header is not None and header != path else ""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise UnreadableImageError(named, f"data file missing or unreadable{where} ({e})") from e
    if compressed == "gzip":
        ok = _gzip_holds(path, required)
    elif compressed == "zlib":
        ok = size * DEFLATE_MAX_RATIO >= required
    else:
        ok = size >= required
    if not ok:
        raise UnreadableImageError(
            named,
            f"header declares {what} ({required} bytes) but the file{where} holds {size} bytes"
            + (" compressed" if compressed else "")
            + "; refused before reading (truncated or hostile file)",
        )


# --------------------------------------------------------------------------------------------
# NIfTI / Analyze (nibabel), MetaImage (SimpleITK)

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
_NIFTI_RGB_CODES = {128: 3, 2304: 4}  # NIfTI datatype RGB24, RGBA32 (nifti1.h)


def _check_nifti_size(img, path: Path) -> None:
    header = img.header
    shape = tuple(int(n) for n in header.get_data_shape())
    if not shape or min(shape) <= 0:
        raise UnreadableImageError(path, f"header declares an empty or invalid shape {shape}")
    itemsize = header.get_data_dtype().itemsize
    required = int(header.get_data_offset()) + int(np.prod(shape, dtype=np.int64)) * itemsize
    fmap = img.file_map.get("image")
    data_path = Path(fmap.filename) if fmap is not None and fmap.filename else path
    gz = data_path.name.lower().endswith(".gz")
    dims = "x".join(str(n) for n in shape)
    check_declared_size(
        data_path, required, f"{dims} voxels of {header.get_data_dtype()}", "gzip" if gz else None, path
    )


def read_nifti(path: str | os.PathLike, *, modality: str | None = None, **_: Any) -> ImageData:
    """NIfTI-1/2 or Analyze 7.5 (.hdr/.img) volume; affine converted from RAS to LPS.

    Analyze has no orientation field: nibabel's default affine (voxel sizes, no rotation) is used,
    and ``meta["orientation_known"]`` is False. Colour only for the RGB24/RGBA32 data types (alpha
    dropped); a 4D grayscale file keeps its 4th axis (one 3D volume per index, see
    :meth:`ImageData.split`). A header declaring more data than the file holds is refused before
    any voxel is read.
    """
    import nibabel as nib

    path = Path(path)
    try:
        img = nib.load(str(path))
    except Exception as e:
        raise UnreadableImageError(path, f"invalid NIfTI/Analyze file ({type(e).__name__}: {e})") from e
    try:
        _check_nifti_size(img, path)
    except UnreadableImageError:
        raise
    except Exception as e:
        raise UnreadableImageError(path, f"invalid NIfTI/Analyze header ({type(e).__name__}: {e})") from e
    try:
        arr = np.asanyarray(img.dataobj)
    except Exception as e:
        raise UnreadableImageError(path, f"invalid NIfTI/Analyze data ({type(e).__name__}: {e})") from e
    code = int(img.header["datatype"]) if "datatype" in img.header else 0
    color = code in _NIFTI_RGB_CODES
    if color:
        names = arr.dtype.names or ()
        if not {"R", "G", "B"} <= set(names):
            raise UnreadableImageError(path, f"RGB datatype {code} without R, G, B fields ({arr.dtype})")
        arr = np.stack([arr["R"], arr["G"], arr["B"]], axis=-1).astype(np.uint8)
    gray_nd = arr.ndim - int(color)
    while gray_nd > 4 and arr.shape[3 if not color else 3] == 1:
        arr = np.squeeze(arr, axis=3)
        gray_nd -= 1
    if gray_nd == 2:
        arr = arr[:, :, None]
        gray_nd = 3
    if gray_nd == 4 and arr.shape[3] == 1:
        arr = arr[:, :, :, 0]
        gray_nd = 3
    if gray_nd not in (3, 4) or (color and gray_nd != 3):
        raise UnreadableImageError(path, f"expected a 3D or 4D image, got shape {arr.shape}")
    if gray_nd == 4 and arr.ndim > 4:
        raise UnreadableImageError(path, f"expected a 3D or 4D image, got shape {arr.shape}")
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
        meta={"orientation_known": bool(known), "four_d": gray_nd == 4},
        color=color,
        intensity_kind="display" if color else "unknown",
    )


_MET_SIZES = {
    "MET_CHAR": 1,
    "MET_UCHAR": 1,
    "MET_SHORT": 2,
    "MET_USHORT": 2,
    "MET_INT": 4,
    "MET_UINT": 4,
    "MET_LONG": 4,
    "MET_ULONG": 4,
    "MET_LONG_LONG": 8,
    "MET_ULONG_LONG": 8,
    "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}


def _metaimage_header(path: Path) -> tuple[dict[str, str], int]:
    """``Key = Value`` fields of a MetaImage header up to ElementDataFile, and the header's length."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError as e:
        raise UnreadableImageError(path, f"cannot open MetaImage header ({e})") from e
    fields: dict[str, str] = {}
    offset = 0
    for raw in head.split(b"\n"):
        offset += len(raw) + 1
        line = raw.decode("latin-1").strip()
        if "=" not in line:
            continue
        key, value = (t.strip() for t in line.split("=", 1))
        fields[key] = value
        if key == "ElementDataFile":
            break
    return fields, offset


def _check_metaimage_size(path: Path) -> None:
    """Refuse a MetaImage whose DimSize x ElementType does not fit its data file (LIST / pattern data
    files and unknown element types are left to SimpleITK)."""
    fields, header_len = _metaimage_header(path)
    try:
        dims = [int(v) for v in fields.get("DimSize", "").split()]
        channels = int(fields.get("ElementNumberOfChannels", "1"))
    except ValueError as e:
        raise UnreadableImageError(path, f"invalid DimSize / ElementNumberOfChannels ({e})") from e
    item = _MET_SIZES.get(fields.get("ElementType", ""))
    data_file = fields.get("ElementDataFile", "")
    if not dims or item is None or not data_file:
        return
    if min(dims) <= 0 or channels <= 0:
        raise UnreadableImageError(path, f"header declares an empty or invalid DimSize {dims}")
    required = int(np.prod(dims, dtype=np.int64)) * channels * item
    compressed = fields.get("CompressedData", "False").lower() == "true"
    if data_file.upper() == "LOCAL":
        target, start = path, header_len
    elif data_file.upper().startswith("LIST") or "%" in data_file or " " in data_file.strip():
        return
    else:
        target, start = path.parent / data_file, 0
    try:
        header_size = int(fields.get("HeaderSize", "0") or 0)
    except ValueError as e:
        raise UnreadableImageError(path, f"invalid HeaderSize {fields.get('HeaderSize')!r}") from e
    what = f"{'x'.join(map(str, dims))} elements of {fields.get('ElementType')}"
    check_declared_size(
        target, required + start + max(header_size, 0), what, "zlib" if compressed else None, path
    )


def read_metaimage(path: str | os.PathLike, **_: Any) -> ImageData:
    """MetaImage (.mhd + data file, or .mha) through SimpleITK.

    SimpleITK is used rather than a hand parser because the format's real-world variants
    (zlib-compressed ``CompressedData``, ``ElementDataFile = LIST``, big-endian ``BinaryDataByteOrderMSB``,
    ``TransformMatrix`` with flips) are all handled by ITK. ITK's direction matrix is LPS, and
    ``GetArrayFromImage`` indexes the array (z, y, x), so the affine's columns are reversed to match.
    The header's declared size is checked against the data file before ITK allocates it.
    """
    import SimpleITK as sitk

    path = Path(path)
    _check_metaimage_size(path)
    try:
        img = sitk.ReadImage(str(path))
        arr = sitk.GetArrayFromImage(img)
    except Exception as e:
        raise UnreadableImageError(
            path, f"invalid MetaImage ({str(e).strip().splitlines()[-1] if str(e) else type(e).__name__})"
        ) from e
    dim = img.GetDimension()
    comps = img.GetNumberOfComponentsPerPixel()
    if dim == 2 and comps == 1:
        return ImageData(arr, "image", files=(str(path),))
    if dim == 2 and comps in (3, 4) and arr.dtype == np.uint8:
        return ImageData(arr[..., :3], "image", files=(str(path),), color=True, intensity_kind="display")
    if dim != 3 or comps != 1:
        raise UnreadableImageError(
            path, f"expected a 3D scalar image, got dimension {dim} with {comps} components"
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
    """Frames ``[start:stop]`` of an (N, H, W) or (N, H, W, C) dataset ``key``; only that range is read.

    HDF5 has no colour metadata: the dataset's rank says it (the layout PCam and the other HDF5
    sources document): (N, H, W) is grayscale, whatever W is; the last axis of a 4D dataset holds
    the channels (C = 3 RGB, 4 RGBA with alpha dropped, 1 grayscale; other C are refused).
    """
    import h5py
    from PIL import Image

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
            if dset.ndim == 4 and dset.shape[-1] not in (1, 3, 4):
                raise UnreadableImageError(
                    path, f"dataset {key!r} has {dset.shape[-1]} channels, expected 1, 3 or 4"
                )
            limit = 2 * (Image.MAX_IMAGE_PIXELS or 2**62)
            if dset.shape[1] * dset.shape[2] > limit:
                raise UnreadableImageError(
                    path, f"frames of {dset.shape[1]}x{dset.shape[2]} px exceed the decompression-bomb limit"
                )
            arr = dset[start:stop]
    except UnreadableImageError:
        raise
    except Exception as e:
        raise UnreadableImageError(path, f"invalid HDF5 ({type(e).__name__}: {e})") from e
    color = False
    if arr.ndim == 4:
        if arr.shape[-1] == 1:
            arr = arr[..., 0]
        else:
            arr, color = arr[..., :3], True
    return ImageData(
        arr,
        "frames",
        files=(str(path),),
        meta={"frame_offset": int(start)},
        color=color,
        intensity_kind="display",
    )


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
    """PNG (8/16-bit), JPEG, BMP, GIF or TIFF (16-bit, multi-page and multi-series through tifffile).

    Colour follows the PIL mode: grayscale modes stay (H, W) with their dtype (uint8 or uint16);
    RGB, palette, alpha and CMYK images become 8-bit RGB. A PNG or JPEG that is already 8-bit L/RGB
    or 16-bit grayscale keeps its original bytes in ``encoded`` so it can be stored without
    re-encoding. A decompression bomb (more than twice PIL's ``MAX_IMAGE_PIXELS``) raises
    :class:`UnreadableImageError` naming the file; so does an image between once and twice the limit
    (PIL only warns there, then decodes everything).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        return _read_tiff(path)
    try:
        data = path.read_bytes()
        with warnings.catch_warnings():
            # Between once and twice MAX_IMAGE_PIXELS Pillow only warns and then decodes it all:
            # refused too, so one file cannot take the memory of a whole preparation.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
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
                elif mode in ("1", "LA", "La"):
                    arr = np.asarray(im.convert("L"))
                else:
                    arr = np.asarray(im.convert("RGB"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UnreadableImageError(path, f"decompression bomb refused ({e})") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise UnreadableImageError(path, f"invalid or truncated image ({type(e).__name__}: {e})") from e
    color = arr.ndim == 3
    keep = (
        fmt in ("PNG", "JPEG")
        and mode in ("L", "RGB", "I;16", "I;16B")
        and arr.dtype in (np.uint8, np.uint16)
    )
    return ImageData(
        arr,
        "image",
        files=(str(path),),
        encoded=data if keep else None,
        meta={"format": fmt, "mode": mode},
        color=color,
        intensity_kind="display" if arr.dtype in (np.uint8, np.uint16) else "unknown",
    )


def _tiff_series_frames(series, path: Path) -> tuple[np.ndarray, bool]:
    """One tifffile series as (F, H, W) grayscale frames or (F, H, W, 3) RGB, from its metadata.

    Colour only when the photometric interpretation is RGB / YCbCr (tifffile returns RGB) or a
    palette; the sample axis ``S`` of any other photometric holds separate grayscale channels
    (extra alpha samples dropped). Every other axis (pages, Z, T, C, ...) gives frames.
    """
    import tifffile

    page = series.keyframe
    axes = series.axes
    photometric = page.photometric
    arr = series.asarray()
    if "Y" not in axes or "X" not in axes:
        raise UnreadableImageError(path, f"TIFF series without Y/X axes ({axes}, shape {arr.shape})")
    color = False
    if photometric == tifffile.PHOTOMETRIC.PALETTE and page.colormap is not None and "S" not in axes:
        cmap = np.asarray(page.colormap)  # (3, 2**bits) uint16
        cmap8 = (cmap >> 8).astype(np.uint8) if cmap.max() > 255 else cmap.astype(np.uint8)
        arr = np.moveaxis(cmap8[:, arr], 0, -1)
        axes = axes + "S"
        color = True
    elif "S" in axes:
        s = axes.index("S")
        arr = np.moveaxis(arr, s, -1)
        axes = axes.replace("S", "") + "S"
        alpha = {1, 2}  # ExtraSamples: associated / unassociated alpha
        extras = list(page.extrasamples or ())
        n = arr.shape[-1]
        if photometric in (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.YCBCR) and n >= 3:
            arr = arr[..., :3]
            color = True
        else:
            keep = [
                i for i in range(n) if not (i >= n - len(extras) and extras[i - (n - len(extras))] in alpha)
            ]
            arr = arr[..., keep]
            # separate channels: channel axis becomes a frame axis just before Y
            arr = np.moveaxis(arr, -1, 0)
            axes = "S" + axes[:-1]
    if not color and photometric == tifffile.PHOTOMETRIC.MINISWHITE and np.issubdtype(arr.dtype, np.integer):
        arr = np.iinfo(arr.dtype).max - arr
    # frames: every axis other than Y, X (and the colour samples) flattened in order
    y, x = axes.index("Y"), axes.index("X")
    if color:
        arr = np.moveaxis(arr, [y, x], [-3, -2])
        frames = arr.reshape((-1,) + arr.shape[-3:])
    else:
        arr = np.moveaxis(arr, [y, x], [-2, -1])
        frames = arr.reshape((-1,) + arr.shape[-2:])
    if frames.dtype == np.uint16 and color:
        frames = (frames >> 8).astype(np.uint8)
    return frames, color


def _read_tiff(path: Path) -> ImageData:
    """Every series of a TIFF through tifffile; colour and page/sample axes from its metadata."""
    import tifffile
    from PIL import Image

    limit = 2 * (Image.MAX_IMAGE_PIXELS or 2**62)
    parts: list[tuple[str, ImageData]] = []
    try:
        size = path.stat().st_size
        with tifffile.TiffFile(path) as tif:
            series_list = list(tif.series)
            if not series_list:
                raise UnreadableImageError(path, "TIFF holds no image series")
            for i, series in enumerate(series_list):
                shape = tuple(int(n) for n in series.shape)
                axes = series.axes
                h = shape[axes.index("Y")] if "Y" in axes else 0
                w = shape[axes.index("X")] if "X" in axes else 0
                if h * w > limit:
                    raise UnreadableImageError(
                        path, f"series {i}: {h}x{w} px exceeds the decompression-bomb limit ({limit} px)"
                    )
                nbytes = int(np.prod(shape, dtype=np.int64)) * series.dtype.itemsize
                uncompressed = series.keyframe.compression == tifffile.COMPRESSION.NONE
                if (uncompressed and nbytes > size) or (nbytes > 64 * 2**20 and nbytes > 2000 * size):
                    raise UnreadableImageError(
                        path,
                        f"series {i} declares {nbytes} bytes of pixels but the file holds {size} bytes; "
                        "refused before reading",
                    )
                frames, color = _tiff_series_frames(series, path)
                kind = "image" if frames.shape[0] == 1 else "frames"
                arr = frames[0] if kind == "image" else frames
                parts.append(
                    (
                        f"_s{i}" if len(series_list) > 1 else "",
                        ImageData(
                            arr,
                            kind,
                            files=(str(path),),
                            meta={"format": "TIFF", "series": i, "axes": series.axes},
                            color=color,
                            intensity_kind="display" if arr.dtype in (np.uint8, np.uint16) else "unknown",
                        ),
                    )
                )
    except UnreadableImageError:
        raise
    except Exception as e:
        raise UnreadableImageError(path, f"invalid TIFF ({type(e).__name__}: {e})") from e
    if len(parts) == 1:
        return parts[0][1]
    first = parts[0][1]
    return dataclasses.replace(first, meta={**first.meta, "parts": [s for s, _ in parts]}, parts=parts)
