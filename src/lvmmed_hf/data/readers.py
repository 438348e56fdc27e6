"""Readers for the medical file formats of the LVM-Med sources: files in, :class:`ImageData` out.

``kind``: ``"image"`` (H, W[, 3]), ``"frames"`` (F, H, W[, 3]: cines, HDF5 patches, multi-page TIFF,
no geometry between frames) or ``"volume"`` (voxel axes n0, n1, n2 [+ a 4D NIfTI axis, or RGB] with
an ``affine`` (4, 4) to patient mm in the DICOM/ITK LPS convention: +x left, +y posterior, +z
superior; NIfTI's RAS is converted). Colour is what the format's metadata declares. A file that cannot
be decoded, or whose header declares more data than it holds (checked before allocating), raises
:class:`UnreadableImageError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

logger = logging.getLogger(__name__)

Kind = Literal["image", "frames", "volume"]

READER_KINDS: tuple[str, ...] = ("auto", "dicom", "dicom_series", "nifti", "metaimage", "hdf5", "image")

# DICOM Modality (0008,0060) -> the modality names used across the package (see builder.MODALITIES).
DICOM_MODALITY_NAMES = {
    "CT": "CT",
    "MR": "MRI",
    "MG": "mammography",
    "US": "ultrasound",
    "OCT": "OCT",
    "OP": "fundus",
    "ES": "endoscopy",
    "SM": "histopathology",
    **dict.fromkeys(("CR", "DX", "DR", "RF", "XA", "IO", "PX"), "X-ray"),
    **dict.fromkeys(("NM", "PT"), "nuclear medicine"),
}

# SOP classes / modalities without a displayable image: reported, never decoded.
NON_IMAGE_MODALITIES = {"RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SR", "SEG", "KO", "PR", "REG", "DOC"}

INTENSITY_KINDS: tuple[str, ...] = ("hu", "display", "unknown")

# Deflate cannot expand data by more than 1032:1 (RFC 1951: at most 258 bytes per 2-bit code). Image
# codecs (JPEG, JPEG 2000, TIFF deflate...) have no exact bound: a declared size above 64 MiB and 2000
# times the stored bytes is refused as a bomb.
DEFLATE_MAX_RATIO = 1032
CODEC_MAX_RATIO = 2000
CODEC_MIN_REFUSED = 64 * 2**20


class UnreadableImageError(ValueError):
    """A file could not be decoded as the image format it was given as (path and reason in the message)."""

    def __init__(self, path: str | os.PathLike | Sequence, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read {self.path}: {reason}")


class NotAnImageError(UnreadableImageError):
    """A valid file that holds no image (DICOM RT structure set, SR, SEG, ...)."""


@contextlib.contextmanager
def _decoding(path: str | os.PathLike, what: str):
    """Turn any exception inside (but ours) into an :class:`UnreadableImageError` ``what (Type: message)``."""
    try:
        yield
    except UnreadableImageError:
        raise
    except Exception as e:
        raise UnreadableImageError(path, f"{what} ({type(e).__name__}: {e})") from e


@dataclass
class ImageData:
    """Decoded pixels plus what the slicing and intensity steps need (see the module docstring).

    ``intensity_kind``: ``"hu"`` (DICOM CT after its modality LUT), ``"display"`` (gray levels of
    PNG/JPEG/TIFF/HDF5 and 8-bit DICOM captures) or ``"unknown"`` (MR, NIfTI, MetaImage).
    ``native_slices``: axis 0 is the acquisition's own slice axis (one DICOM instance each).
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
    parts: list[tuple[str, ImageData]] = field(default_factory=list)  # several units of a record: split()

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
        """The independently sliced units with their ``volume_id`` suffix: ``parts`` (DICOM sub-series
        and planes, TIFF series), one 3D volume per 4th-axis index ``_c<t>`` of 4D grayscale, or self."""
        if self.parts:
            return list(self.parts)
        if self.kind == "volume" and self.array.ndim == 4 and not self.color:
            return [
                (f"_c{t}", dataclasses.replace(self, array=v, meta={**self.meta, "component": t}, parts=[]))
                for t, v in enumerate(np.moveaxis(self.array, 3, 0))
            ]
        return [("", self)]


_SUFFIXES = {
    "nifti": (".nii", ".nii.gz", ".hdr", ".img", ".hdr.gz", ".img.gz"),
    "metaimage": (".mhd", ".mha"),
    "hdf5": (".h5", ".hdf5", ".hdf", ".he5"),
    "image": (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"),
    "dicom": (".dcm", ".dicom", ".dic", ".ima"),
}


def guess_reader(path: str | os.PathLike) -> str:
    """The reader kind for a path, from its suffix (directories are DICOM series)."""
    p = Path(path)
    if p.is_dir():
        return "dicom_series"
    for kind, suffixes in _SUFFIXES.items():
        if p.name.lower().endswith(suffixes):
            return kind
    if is_dicom_file(p):
        return "dicom"
    raise UnreadableImageError(
        p, "unknown file type (expected DICOM, NIfTI/Analyze, MetaImage, HDF5 or an image)"
    )


def read_image_data(
    paths: str | os.PathLike | Sequence[str | os.PathLike], reader: str = "auto", **options: Any
) -> ImageData:
    """Read one file, a DICOM series folder or a list of DICOM slice files with the named reader. Any
    failure of a file is an :class:`UnreadableImageError` naming it (a builder skips it)."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    if not paths:
        raise UnreadableImageError("<no files>", "empty list of files")
    if reader not in READER_KINDS:
        raise ValueError(f"unknown reader {reader!r}; expected one of {READER_KINDS}")
    if reader == "auto":
        reader = "dicom_series" if len(paths) > 1 else guess_reader(paths[0])
    if reader != "dicom_series" and len(paths) != 1:
        raise ValueError(f"reader {reader!r} takes one file, got {len(paths)}: {paths[:3]}...")
    fn = {
        "dicom_series": read_dicom_series,
        "dicom": read_dicom,
        "nifti": read_nifti,
        "metaimage": read_metaimage,
        "hdf5": read_hdf5,
        "image": read_image,
    }[reader]
    try:
        return fn(paths[0] if len(paths) == 1 else paths, **options)
    except UnreadableImageError:
        raise
    except MemoryError as e:
        raise UnreadableImageError(paths[0], f"out of memory while decoding ({e})") from e
    except Exception as e:  # a decoder bug or a header no check foresaw: this file only
        logger.debug("reader %s failed on %s", reader, paths[0], exc_info=True)
        where = paths[0] if len(paths) == 1 else paths[0].parent
        raise UnreadableImageError(where, f"{reader} reader failed ({type(e).__name__}: {e})") from e


# declared sizes of hostile headers: refused before anything is allocated
def _gzip_holds(path: Path, required: int, size: int) -> bool:
    """Whether a gzip file decompresses to ``required`` bytes: deflate bound, ISIZE, then a streamed count."""
    import gzip
    import zlib

    if size * DEFLATE_MAX_RATIO < required:
        return False
    total = 0
    try:
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            if required < 2**32 and int.from_bytes(f.read(4), "little") >= required:
                return True  # ISIZE: the last member's uncompressed length, modulo 2**32
        with gzip.open(path, "rb") as f:
            while total < required and (chunk := f.read(1 << 22)):
                total += len(chunk)
    except (OSError, EOFError, zlib.error):
        return False
    return total >= required


def check_declared_size(
    named: Path, data: Path | int, required: int, what: str, compressed: str | None = None
) -> None:
    """Refuse ``named`` when its ``data`` (the file holding it: ``named``, Analyze .img, MetaImage .raw;
    or the stored byte count of DICOM pixel data) cannot hold the ``required`` bytes its header declares.
    ``compressed``: None, ``"gzip"``, ``"zlib"`` or ``"codec"``."""
    where = f" (data file {data})" if isinstance(data, Path) and data != named else ""
    holder = "the pixel data" if isinstance(data, int) else f"the file{where}"
    try:
        size = data if isinstance(data, int) else data.stat().st_size
    except OSError as e:
        raise UnreadableImageError(named, f"data file missing or unreadable{where} ({e})") from e
    if compressed == "gzip":
        ok = _gzip_holds(data, required, size)
    elif compressed == "zlib":
        ok = size * DEFLATE_MAX_RATIO >= required
    elif compressed == "codec":
        ok = required <= CODEC_MIN_REFUSED or required <= CODEC_MAX_RATIO * max(size, 1)
    else:
        ok = size >= required
    if not ok:
        compressed_note = " compressed" if compressed else ""
        raise UnreadableImageError(
            named,
            f"header declares {what} ({required} bytes) but {holder} holds {size} bytes{compressed_note}; "
            "refused before reading (truncated or hostile file)",
        )


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
def bombs_raise():
    """Pillow's decompression-bomb warning (between ``MAX_IMAGE_PIXELS`` and twice that) as an error."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


@contextlib.contextmanager
def _quiet_pydicom():
    # ``disabled`` rather than setLevel: setLevel clears every logger's cache, slow per slice
    log = logging.getLogger("pydicom")
    was, log.disabled = log.disabled, True
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


def _dicom_is_color(ds) -> bool:
    photometric = str(getattr(ds, "PhotometricInterpretation", "")).upper()
    return str(getattr(ds, "SamplesPerPixel", 1)) != "1" or photometric == "PALETTE COLOR"


def _check_dicom(ds, path: Path) -> None:
    """Refuse a DICOM without an image, or whose declared image size does not fit its pixel data."""
    mod = str(getattr(ds, "Modality", "") or "").upper()
    if mod in NON_IMAGE_MODALITIES:
        raise NotAnImageError(path, f"DICOM {mod} object holds no image")
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise NotAnImageError(path, "DICOM file has no pixel data")
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
    if "PixelData" in ds:
        syntax = ds.file_meta.get("TransferSyntaxUID")
        codec = "codec" if syntax is not None and syntax.is_compressed else None
        dims = f"{rows}x{cols}x{frames}x{samples}x{bits}"
        what = f"Rows x Columns x NumberOfFrames x SamplesPerPixel x BitsAllocated = {dims}"
        required = rows * cols * frames * samples * bits // 8
        check_declared_size(path, len(ds.PixelData or b""), required, what, codec)


def _dicom_pixels(ds, path: Path) -> np.ndarray:
    """Decoded pixels, colour as RGB: (frames,) H, W [, 3]."""
    from PIL import Image
    from pydicom.pixels import apply_color_lut, pixel_array

    photometric = str(getattr(ds, "PhotometricInterpretation", "")).upper()
    # pydicom converts YBR_* to RGB (as_rgb) and decodes JPEG 2000 / JPEG-LS / lossless JPEG through the
    # pylibjpeg plugins, RLE natively; its log of failed decoder attempts is silenced (our error says it).
    with _decoding(path, "pixel data could not be decoded"), _quiet_pydicom():
        if photometric in ("YBR_FULL", "YBR_FULL_422") and int(getattr(ds, "BitsAllocated", 8)) == 8:
            # pydicom's numpy YBR->RGB is slow on long cines; PIL's C conversion, frame by frame, uses
            # the same full-range BT.601 matrix (DICOM PS3.3 C.7.6.3.1.2).
            ybr = pixel_array(ds, as_rgb=False)
            frames = ybr.reshape((-1,) + ybr.shape[-3:])
            rgb = [Image.fromarray(np.ascontiguousarray(f), mode="YCbCr").convert("RGB") for f in frames]
            arr = np.stack([np.asarray(im) for im in rgb]).reshape(ybr.shape)
        else:
            arr = ds.pixel_array
    if photometric == "PALETTE COLOR":
        with _decoding(path, "palette colour lookup failed"):
            arr = apply_color_lut(arr, ds)
        if arr.dtype != np.uint8:  # 16-bit LUT entries: keep the top byte for 8-bit RGB
            arr = (arr >> 8).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
    return arr


def _dicom_gray(ds, arr: np.ndarray, frame_index: int | None = None) -> tuple[np.ndarray, str]:
    """Modality transform (RescaleSlope/Intercept, also from enhanced functional groups), MONOCHROME1
    inversion and intensity kind: ``hu`` (CT with a rescale or 16 bits, which its IOD requires),
    ``display`` (8-bit without a rescale) or ``unknown``. Integer dtypes stay where nothing rescales."""
    t = ds if "RescaleSlope" in ds or "RescaleIntercept" in ds else None
    if t is None:  # enhanced CT/MR: in the per-frame or shared functional groups
        groups = []
        if frame_index is not None and "PerFrameFunctionalGroupsSequence" in ds:
            groups.append(ds.PerFrameFunctionalGroupsSequence[frame_index])
        if "SharedFunctionalGroupsSequence" in ds:
            groups.append(ds.SharedFunctionalGroupsSequence[0])
        pvt = "PixelValueTransformationSequence"
        t = next((g[pvt].value[0] for g in groups if pvt in g), None)
    rescaled = t is not None
    slope = float(getattr(t, "RescaleSlope", 1.0) or 1.0)  # 1.0 and 0.0 without a modality LUT
    intercept = float(getattr(t, "RescaleIntercept", 0.0) or 0.0)
    modality = str(getattr(ds, "Modality", "")).upper()
    bits = int(getattr(ds, "BitsAllocated", 16) or 16)
    if modality == "CT" and (rescaled or bits > 8):
        kind = "hu"
    elif bits <= 8 and not rescaled and modality not in ("MR", "PT", "NM"):
        kind = "display"
    else:
        kind = "unknown"
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
    """Finite ImageOrientationPatient (None if degenerate) and ImagePositionPatient, None if unusable."""
    iop, ipp = getattr(item, "ImageOrientationPatient", None), getattr(item, "ImagePositionPatient", None)
    try:
        iop = np.asarray([float(v) for v in iop]) if iop is not None and len(iop) == 6 else None
        ipp = np.asarray([float(v) for v in ipp]) if ipp is not None and len(ipp) == 3 else None
    except (TypeError, ValueError):
        return None, None
    if iop is not None and (
        not np.all(np.isfinite(iop)) or np.linalg.norm(np.cross(iop[:3], iop[3:])) < 1e-3
    ):
        iop = None  # degenerate orientation: no usable geometry
    if ipp is not None and not np.all(np.isfinite(ipp)):
        ipp = None
    return iop, ipp


def _pixel_spacing(item) -> tuple[float, float]:
    ps = getattr(item, "PixelSpacing", None) or getattr(item, "ImagerPixelSpacing", None)
    if ps is None or len(ps) != 2:
        return 1.0, 1.0
    return float(ps[0]), float(ps[1])


def _slice_normal(iop: np.ndarray) -> np.ndarray:
    """Unit normal of the IOP plane with its largest patient-axis component positive (axial: upwards)."""
    normal = np.cross(iop[:3], iop[3:])
    normal = normal / np.linalg.norm(normal)
    return -normal if normal[int(np.argmax(np.abs(normal)))] < 0 else normal


def _series_affine(iop: np.ndarray, positions: np.ndarray, spacing: tuple[float, float]) -> np.ndarray:
    """Affine for an array indexed (slice, row, column) from IOP, sorted IPPs (S, 3) and PixelSpacing."""
    step = (positions[-1] - positions[0]) / (len(positions) - 1) if len(positions) > 1 else _slice_normal(iop)
    aff = np.eye(4)
    aff[:3, 0] = step
    aff[:3, 1] = iop[3:] * spacing[0]  # column direction; PixelSpacing[0] is the distance between rows
    aff[:3, 2] = iop[:3] * spacing[1]  # row direction: increasing column index
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
            if g[0].array.shape == it.array.shape and np.abs(g[0].iop - it.iop).max() < 1e-3:
                g.append(it)
                break
        else:
            groups.append([it])
    return sorted(groups, key=lambda g: -len(g))


def _sub_series(items: list[_Instance], pos: np.ndarray) -> tuple[str | None, list[list[int]]]:
    """Split instances that share slice positions into sub-series without repeated positions.

    By the first attribute (b-value, echo time, ...) with as many values as images at the most crowded
    position and no position twice per value; else the k-th image at each position (by InstanceNumber,
    then file order) goes to sub-series k. Returns the attribute (None: instance order), index lists.
    """
    n_max = max(Counter(pos.tolist()).values())
    for name in items[0].attrs:
        values = [it.attrs.get(name) for it in items]
        if len(set(values)) != n_max:
            continue
        groups: dict[Any, list[int]] = {}
        for i, v in enumerate(values):
            groups.setdefault(v, []).append(i)
        if all(len({pos[i] for i in g}) == len(g) for g in groups.values()):
            order = sorted(groups, key=lambda v: (v is None, v if isinstance(v, float) else 0.0, str(v)))
            return name, [groups[v] for v in order]
    rank: Counter = Counter()
    subs: dict[int, list[int]] = {}  # k-th image at its position -> indices; keys arrive as 0, 1, ...
    for i in sorted(range(len(items)), key=lambda i: (items[i].instance, i)):
        subs.setdefault(rank[pos[i]], []).append(i)
        rank[pos[i]] += 1
    return None, list(subs.values())


def _stack(members: list[_Instance], kind: Kind, **fields: Any) -> ImageData:
    """Instances stacked along a new first axis (one native slice or frame each)."""
    dtype = np.result_type(*[m.array.dtype for m in members])
    array = np.stack([m.array.astype(dtype, copy=False) for m in members])
    files, intensity = tuple(m.path for m in members), members[0].intensity_kind
    return ImageData(array, kind, files=files, intensity_kind=intensity, native_slices=True, **fields)


def _assemble_series(
    items: list[_Instance], modality: str | None, skipped: list[tuple[str, str]]
) -> list[tuple[str, ImageData]]:
    """Instances of one series -> native-slice volumes (frame sets for instances without geometry): one
    stack per orientation and image size (``_p<g>``) sorted along its normal, sub-series ``_c<k>``."""
    unique: dict[str, _Instance] = {}
    for it in items:
        if it.uid in unique:
            skipped.append((it.path, "duplicate instance (same SOPInstanceUID as another file)"))
        else:
            unique[it.uid] = it
    located = [it for it in unique.values() if it.iop is not None and it.ipp is not None]
    planes: list[list[tuple[str, ImageData]]] = []
    for group in _orientation_groups(located):
        normal = _slice_normal(group[0].iop)
        pos = np.round(np.array([it.ipp @ normal for it in group]), 2)
        attr, subs = None, [list(range(len(group)))]
        if len(set(pos.tolist())) < len(group):
            attr, subs = _sub_series(group, pos)
        planes.append([])
        for k, idx in enumerate(subs):
            idx = sorted(idx, key=lambda i: (pos[i], group[i].instance))
            members = [group[i] for i in idx]
            meta: dict[str, Any] = {"slice_positions_mm": [float(pos[i]) for i in idx]}
            if len(subs) > 1:
                value = members[0].attrs.get(attr) if attr else k
                meta["sub_series"] = {"attribute": attr or "InstanceNumber order", "value": value, "index": k}
            affine = _series_affine(group[0].iop, np.stack([m.ipp for m in members]), members[0].spacing)
            data = _stack(members, "volume", modality=modality, meta=meta, affine=affine)
            planes[-1].append((f"_c{k}" if len(subs) > 1 else "", data))
    # instances without geometry: independent frames, one set per image size, in InstanceNumber order
    by_shape: dict[tuple[int, ...], list[_Instance]] = {}
    for it in sorted(unique.values(), key=lambda it: it.instance):
        if it.iop is None or it.ipp is None:
            by_shape.setdefault(it.array.shape, []).append(it)
    planes += [
        [("", _stack(m, "frames", modality=modality, meta={"geometry": "none"}))] for m in by_shape.values()
    ]
    prefixes = [f"_p{g}" if len(planes) > 1 else "" for g in range(len(planes))]
    return [(prefix + sfx, data) for prefix, plane in zip(prefixes, planes) for sfx, data in plane]


def _combine_parts(
    parts: list[tuple[str, ImageData]], files: Sequence[str], meta: dict[str, Any]
) -> ImageData:
    """One :class:`ImageData` for a record: the part itself, or the first part carrying all in ``parts``."""
    if len(parts) == 1:
        data = parts[0][1]
        data.meta = {**data.meta, **meta}
        return data
    meta = {**meta, "parts": [sfx for sfx, _ in parts]}
    return dataclasses.replace(parts[0][1], files=tuple(files), meta=meta, parts=parts)


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
        iop, ipp = _iop_ipp(orient)[0], _iop_ipp(position)[1]
        if iop is None or ipp is None:
            return None
        spacing = _pixel_spacing(first(g, "PixelMeasuresSequence"))  # (1, 1) without one
        img, kind = _dicom_gray(ds, arr[i], frame_index=i)
        out.append(_Instance(str(path), f"{path}#{i}", iop, ipp, img, kind, i, spacing, _frame_attrs(g)))
    return out


def read_dicom(path: str | os.PathLike, **_: Any) -> ImageData:
    """One DICOM file: a 2D image, a multi-frame cine (``frames``) or an enhanced CT/MR volume (frames
    with per-frame positions, read like :func:`read_dicom_series`)."""
    path = Path(path)
    ds = _dcmread(path)
    _check_dicom(ds, path)
    arr = _dicom_pixels(ds, path)
    n_frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    meta = {"photometric": str(getattr(ds, "PhotometricInterpretation", "")), "transfer_syntax": syntax}
    common = {"modality": _dicom_modality(ds), "files": (str(path),), "meta": meta}
    if _dicom_is_color(ds):
        expected_nd = 4 if n_frames > 1 else 3
        if arr.ndim == expected_nd and arr.shape[-1] == 4:
            arr = arr[..., :3]
        if n_frames == 1 and arr.ndim == 4:
            arr = arr[0]
        if arr.ndim != expected_nd or arr.shape[-1] != 3:
            raise UnreadableImageError(path, f"colour pixel data of unexpected shape {arr.shape}")
        kind = "frames" if n_frames > 1 else "image"
        return ImageData(arr, kind, color=True, intensity_kind="display", **common)
    if n_frames == 1:
        arr, kind = _dicom_gray(ds, arr[0] if arr.ndim == 3 else arr)  # a single frame with a frame axis
        return ImageData(arr, "image", intensity_kind=kind, **common)
    if arr.ndim != 3:
        raise UnreadableImageError(path, f"multi-frame pixel data of unexpected shape {arr.shape}")
    frames = _enhanced_frames(ds, arr, path)
    if frames is not None:
        parts = _assemble_series(frames, common["modality"], meta.setdefault("skipped", []))
        return _combine_parts(parts, [str(path)], meta)
    conv = [_dicom_gray(ds, arr[i], frame_index=i) for i in range(n_frames)]
    return ImageData(np.stack([c[0] for c in conv]), "frames", intensity_kind=conv[0][1], **common)


def list_dicom_files(folder: str | os.PathLike) -> list[Path]:
    """Files of a folder (recursively) that look like DICOM (suffix or DICM magic), sorted."""
    suffixes = _SUFFIXES["dicom"]
    paths = sorted(Path(folder).rglob("*"))
    return [p for p in paths if p.is_file() and (p.name.lower().endswith(suffixes) or is_dicom_file(p))]


def group_dicom_series(files: Iterable[str | os.PathLike]) -> dict[str, list[Path]]:
    """Group DICOM files by SeriesInstanceUID (headers only; unreadable files under key ``""``)."""
    groups: dict[str, list[Path]] = {}
    for f in map(Path, files):
        try:
            uid = str(getattr(_dcmread(f, stop_before_pixels=True), "SeriesInstanceUID", "")) or f"file:{f}"
        except UnreadableImageError:
            uid = ""
        groups.setdefault(uid, []).append(f)
    return groups


def read_dicom_series(
    source: str | os.PathLike | Sequence[str | os.PathLike], *, skip_unreadable: bool = True, **_: Any
) -> ImageData:
    """A DICOM series (a folder, or a list of slice files): one image per stored instance.

    Instances keep their plane, sorted by ImagePositionPatient along the slice normal; several images
    per position (b-values, echoes, ...) and several orientations or sizes become :attr:`ImageData.parts`.
    Unreadable slices and another series in the folder are listed in ``meta["skipped"]`` as ``(path,
    reason)`` when ``skip_unreadable``; otherwise they raise.
    """
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        files, label = list_dicom_files(source), str(source)
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
            _check_dicom(ds, f)
            if _dicom_is_color(ds):
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
        number = _number(getattr(ds, "InstanceNumber", None))
        number = int(number) if isinstance(number, float) else 0
        uid = str(getattr(ds, "SOPInstanceUID", "")) or str(f)
        inst = _Instance(str(f), uid, iop, ipp, arr, kind, number, _pixel_spacing(ds), _classic_attrs(ds))
        slices.append((str(getattr(ds, "SeriesInstanceUID", "")), _dicom_modality(ds), inst))
    if not slices:
        if not_images == len(files):  # e.g. an RTSTRUCT or SEG series: not an image, not a broken one
            raise NotAnImageError(label, f"no image in the series ({skipped[0][1]})")
        raise UnreadableImageError(label, f"no readable slices ({len(skipped)} unreadable)")
    # A second series left in the same folder must not be mixed in: the majority series is read.
    uids = [s[0] for s in slices]
    majority = max(set(uids), key=uids.count)
    items = [inst for uid, _, inst in slices if uid == majority]
    skipped += [
        (inst.path, "another series in the same folder") for uid, _, inst in slices if uid != majority
    ]
    modality = next(m for uid, m, _ in slices if uid == majority)
    parts = _assemble_series(items, modality, skipped)
    return _combine_parts(parts, [it.path for it in items], {"skipped": skipped})


# NIfTI / Analyze (nibabel), MetaImage (SimpleITK)

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
_NIFTI_RGB_CODES = (128, 2304)  # NIfTI datatype RGB24, RGBA32 (nifti1.h)


def read_nifti(path: str | os.PathLike, *, modality: str | None = None, **_: Any) -> ImageData:
    """NIfTI-1/2 or Analyze 7.5 (.hdr/.img) volume; affine converted from RAS to LPS.

    Analyze has no orientation: nibabel's default affine is used, ``meta["orientation_known"]`` False.
    Colour only for RGB24/RGBA32 (alpha dropped); a 4D grayscale file keeps its 4th axis.
    """
    import nibabel as nib

    path = Path(path)
    with _decoding(path, "invalid NIfTI/Analyze file"):
        img = nib.load(str(path))
    header = img.header
    with _decoding(path, "invalid NIfTI/Analyze header"):
        shape = tuple(int(n) for n in header.get_data_shape())
        if not shape or min(shape) <= 0:
            raise UnreadableImageError(path, f"header declares an empty or invalid shape {shape}")
        dtype = header.get_data_dtype()
        fmap = img.file_map.get("image")
        data_path = Path(fmap.filename) if fmap is not None and fmap.filename else path
        required = int(header.get_data_offset()) + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        gzip = "gzip" if data_path.name.lower().endswith(".gz") else None
        check_declared_size(path, data_path, required, f"{'x'.join(map(str, shape))} voxels of {dtype}", gzip)
    with _decoding(path, "invalid NIfTI/Analyze data"):
        arr = np.asanyarray(img.dataobj)
    code = int(header["datatype"]) if "datatype" in header else 0
    color = code in _NIFTI_RGB_CODES
    if color:
        if not {"R", "G", "B"} <= set(arr.dtype.names or ()):
            raise UnreadableImageError(path, f"RGB datatype {code} without R, G, B fields ({arr.dtype})")
        arr = np.stack([arr["R"], arr["G"], arr["B"]], axis=-1).astype(np.uint8)
    gray_nd = arr.ndim - int(color)
    if gray_nd == 2:
        arr, gray_nd = arr[:, :, None], 3
    while gray_nd > 3 and arr.shape[3] == 1:  # trailing singleton axes (x, y, z, 1, ...)
        arr, gray_nd = np.squeeze(arr, axis=3), gray_nd - 1
    if gray_nd != 3 and (color or gray_nd != 4):
        raise UnreadableImageError(path, f"expected a 3D or 4D image, got shape {arr.shape}")
    aff = _RAS_TO_LPS @ np.asarray(img.affine, dtype=float)
    if not np.all(np.isfinite(aff)) or abs(np.linalg.det(aff[:3, :3])) < 1e-12:
        raise UnreadableImageError(path, "header affine is singular or not finite")
    nifti = isinstance(img, (nib.Nifti1Image, nib.Nifti2Image))
    known = nifti and (int(header["qform_code"]) > 0 or int(header["sform_code"]) > 0)
    meta = {"orientation_known": bool(known), "four_d": gray_nd == 4}
    kind, files = "display" if color else "unknown", (str(path),)
    return ImageData(
        arr, "volume", affine=aff, modality=modality, files=files, meta=meta, color=color, intensity_kind=kind
    )


_MET_SIZES = {"MET_FLOAT": 4, "MET_DOUBLE": 8} | {
    f"MET_{sign}{name}": size
    for name, size in (("CHAR", 1), ("SHORT", 2), ("INT", 4), ("LONG", 4), ("LONG_LONG", 8))
    for sign in ("", "U")
}


def _check_metaimage_size(path: Path) -> None:
    """Refuse a MetaImage whose DimSize x ElementType does not fit its data file (LIST / pattern: ITK's)."""
    with _decoding(path, "cannot open MetaImage header"), open(path, "rb") as f:
        head = f.read(1 << 16)
    fields: dict[str, str] = {}
    header_len = 0  # bytes up to and including the ElementDataFile line (LOCAL data follows)
    for raw in head.split(b"\n"):
        header_len += len(raw) + 1
        key, eq, value = raw.decode("latin-1").partition("=")
        if eq:
            fields[key.strip()] = value.strip()
            if key.strip() == "ElementDataFile":
                break
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
    if data_file.upper() == "LOCAL":
        target, start = path, header_len
    elif data_file.upper().startswith("LIST") or "%" in data_file or " " in data_file:
        return
    else:
        target, start = path.parent / data_file, 0
    try:
        start += max(int(fields.get("HeaderSize", "0") or 0), 0)
    except ValueError as e:
        raise UnreadableImageError(path, f"invalid HeaderSize {fields.get('HeaderSize')!r}") from e
    required = int(np.prod(dims, dtype=np.int64)) * channels * item + start
    what = f"{'x'.join(map(str, dims))} elements of {fields['ElementType']}"
    zlib = fields.get("CompressedData", "False").lower() == "true"
    check_declared_size(path, target, required, what, "zlib" if zlib else None)


def read_metaimage(path: str | os.PathLike, **_: Any) -> ImageData:
    """MetaImage (.mhd + data file, or .mha) through SimpleITK (compressed, LIST, big-endian variants).

    ITK's direction is LPS and its array is indexed (z, y, x): the affine's columns are reversed.
    """
    import SimpleITK as sitk

    path = Path(path)
    _check_metaimage_size(path)
    try:
        img = sitk.ReadImage(str(path))
        arr = sitk.GetArrayFromImage(img)
    except Exception as e:
        reason = str(e).strip().splitlines()[-1] if str(e) else type(e).__name__
        raise UnreadableImageError(path, f"invalid MetaImage ({reason})") from e
    dim, comps = img.GetDimension(), img.GetNumberOfComponentsPerPixel()
    if dim == 2 and comps == 1:
        return ImageData(arr, "image", files=(str(path),))
    if dim == 2 and comps in (3, 4) and arr.dtype == np.uint8:
        return ImageData(arr[..., :3], "image", files=(str(path),), color=True, intensity_kind="display")
    if dim != 3 or comps != 1:
        raise UnreadableImageError(
            path, f"expected a 3D scalar image, got dimension {dim} with {comps} components"
        )
    direction = np.asarray(img.GetDirection(), dtype=float).reshape(3, 3)
    aff = np.eye(4)
    aff[:3, :3] = (direction * np.asarray(img.GetSpacing(), dtype=float))[:, ::-1]  # array axis a: ITK 2 - a
    aff[:3, 3] = img.GetOrigin()
    return ImageData(arr, "volume", affine=aff, files=(str(path),), meta={"orientation_known": True})


# HDF5 (h5py)
def read_hdf5(
    path: str | os.PathLike, *, key: str = "x", start: int = 0, stop: int | None = None, **_: Any
) -> ImageData:
    """Frames ``[start:stop]`` of an (N, H, W) or (N, H, W, C) dataset ``key``; only that range is read.

    HDF5 has no colour metadata, so the rank says it: (N, H, W) is grayscale whatever W is; C is 3
    (RGB), 4 (RGBA, alpha dropped) or 1 (grayscale).
    """
    import h5py
    from PIL import Image

    path = Path(path)
    with _decoding(path, "invalid HDF5"), h5py.File(path, "r") as f:
        if key not in f:
            raise UnreadableImageError(path, f"no dataset {key!r} (found {sorted(f.keys())})")
        shape = f[key].shape
        if len(shape) not in (3, 4):
            raise UnreadableImageError(path, f"dataset {key!r} has shape {shape}, expected (N, H, W[, C])")
        if len(shape) == 4 and shape[-1] not in (1, 3, 4):
            raise UnreadableImageError(path, f"dataset {key!r} has {shape[-1]} channels, expected 1, 3 or 4")
        if shape[1] * shape[2] > 2 * (Image.MAX_IMAGE_PIXELS or 2**62):
            raise UnreadableImageError(
                path, f"frames of {shape[1]}x{shape[2]} px exceed the decompression-bomb limit"
            )
        arr = f[key][start:stop]
    color = arr.ndim == 4 and arr.shape[-1] != 1
    if arr.ndim == 4:
        arr = arr[..., :3] if color else arr[..., 0]
    meta = {"frame_offset": int(start)}
    return ImageData(arr, "frames", files=(str(path),), meta=meta, color=color, intensity_kind="display")


def hdf5_length(path: str | os.PathLike, key: str = "x") -> int:
    """Number of frames in dataset ``key`` (for splitting a big file into records)."""
    import h5py

    with _decoding(path, f"cannot read HDF5 dataset {key!r}"), h5py.File(path, "r") as f:
        return int(f[key].shape[0])


# 2D images (PIL, tifffile)
def read_image(path: str | os.PathLike, **_: Any) -> ImageData:
    """PNG (8/16-bit), JPEG, BMP, GIF or TIFF (16-bit, multi-page and multi-series through tifffile).

    Grayscale keeps its dtype; RGB, palette, alpha and CMYK become 8-bit RGB; an 8-bit L/RGB or 16-bit
    gray PNG/JPEG keeps its bytes in ``encoded``. Beyond PIL's ``MAX_IMAGE_PIXELS``: a decompression bomb.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        return _read_tiff(path)
    try:
        data = path.read_bytes()
        with bombs_raise(), Image.open(io.BytesIO(data)) as im:
            im.load()
            fmt, mode = im.format, im.mode
            if mode in ("1", "LA", "La"):
                im = im.convert("L")
            elif mode not in ("L", "RGB", "I", "F", "I;16", "I;16B", "I;16L"):
                im = im.convert("RGB")  # palette, alpha, CMYK, ...
            arr = np.asarray(im)
            if mode == "I":
                arr = arr.astype(np.uint16 if arr.min() >= 0 and arr.max() < 65536 else np.int32)
            elif mode in ("I;16", "I;16B", "I;16L", "F"):
                arr = arr.astype(np.float32 if mode == "F" else np.uint16)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UnreadableImageError(path, f"decompression bomb refused ({e})") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise UnreadableImageError(path, f"invalid or truncated image ({type(e).__name__}: {e})") from e
    display = arr.dtype in (np.uint8, np.uint16)
    keep = display and fmt in ("PNG", "JPEG") and mode in ("L", "RGB", "I;16", "I;16B")
    encoded = data if keep else None
    meta, kind = {"format": fmt, "mode": mode}, "display" if display else "unknown"
    return ImageData(
        arr, "image", files=(str(path),), encoded=encoded, meta=meta, color=arr.ndim == 3, intensity_kind=kind
    )


def _tiff_series_frames(series, path: Path) -> tuple[np.ndarray, bool]:
    """One tifffile series as (F, H, W) grayscale or (F, H, W, 3) RGB frames: colour only for an RGB,
    YCbCr or palette photometric; other samples (alpha dropped) and every other axis give frames."""
    import tifffile

    page, axes, arr = series.keyframe, series.axes, series.asarray()
    photometric = page.photometric
    if "Y" not in axes or "X" not in axes:
        raise UnreadableImageError(path, f"TIFF series without Y/X axes ({axes}, shape {arr.shape})")
    color = False
    if photometric == tifffile.PHOTOMETRIC.PALETTE and page.colormap is not None and "S" not in axes:
        cmap = np.asarray(page.colormap)  # (3, 2**bits) uint16
        cmap8 = (cmap >> 8).astype(np.uint8) if cmap.max() > 255 else cmap.astype(np.uint8)
        arr, axes, color = np.moveaxis(cmap8[:, arr], 0, -1), axes + "S", True
    elif "S" in axes:
        arr = np.moveaxis(arr, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
        if photometric in (tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.YCBCR) and arr.shape[-1] >= 3:
            arr, color = arr[..., :3], True
        else:  # separate channels, alpha (ExtraSamples 1, 2) dropped: the channel axis becomes frames
            extras = list(page.extrasamples or ())
            n_plain = arr.shape[-1] - len(extras)
            keep = [i for i in range(arr.shape[-1]) if i < n_plain or extras[i - n_plain] not in (1, 2)]
            arr, axes = np.moveaxis(arr[..., keep], -1, 0), "S" + axes[:-1]
    if not color and photometric == tifffile.PHOTOMETRIC.MINISWHITE and np.issubdtype(arr.dtype, np.integer):
        arr = np.iinfo(arr.dtype).max - arr
    # frames: every axis other than Y, X (and the colour samples) flattened in order
    tail = 3 if color else 2
    arr = np.moveaxis(arr, [axes.index("Y"), axes.index("X")], [-tail, 1 - tail])
    frames = arr.reshape((-1,) + arr.shape[-tail:])
    if frames.dtype == np.uint16 and color:
        frames = (frames >> 8).astype(np.uint8)
    return frames, color


def _read_tiff(path: Path) -> ImageData:
    """Every series of a TIFF through tifffile; colour and page/sample axes from its metadata."""
    import tifffile
    from PIL import Image

    limit = 2 * (Image.MAX_IMAGE_PIXELS or 2**62)
    parts: list[tuple[str, ImageData]] = []
    with _decoding(path, "invalid TIFF"), tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise UnreadableImageError(path, "TIFF holds no image series")
        for i, series in enumerate(tif.series):
            shape, axes = tuple(int(n) for n in series.shape), series.axes
            h, w = (shape[axes.index(a)] if a in axes else 0 for a in "YX")
            if h * w > limit:
                raise UnreadableImageError(
                    path, f"series {i}: {h}x{w} px exceeds the decompression-bomb limit ({limit} px)"
                )
            nbytes = int(np.prod(shape, dtype=np.int64)) * series.dtype.itemsize
            what = f"series {i} of {'x'.join(map(str, shape))} {series.dtype} pixels"
            codec = series.keyframe.compression != tifffile.COMPRESSION.NONE
            check_declared_size(path, path, nbytes, what, "codec" if codec else None)
            frames, color = _tiff_series_frames(series, path)
            arr, kind = (frames[0], "image") if len(frames) == 1 else (frames, "frames")
            intensity = "display" if arr.dtype in (np.uint8, np.uint16) else "unknown"
            meta = {"format": "TIFF", "series": i, "axes": series.axes}
            data = ImageData(arr, kind, files=(str(path),), meta=meta, color=color, intensity_kind=intensity)
            parts.append((f"_s{i}" if len(tif.series) > 1 else "", data))
    return _combine_parts(parts, parts[0][1].files, parts[0][1].meta)
