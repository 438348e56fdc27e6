"""From decoded pixels to stored 2D images: slicing, orientation, CT windowing, MR scaling.

Slicing rules: docs/data.md. Windowed CT and percentile-scaled MR are quantised to ``bits`` (16 by
default: a 400 HU window keeps 0.006 HU steps), raw HU is stored as ``uint16(HU + 1024)``, 2D
grayscale keeps its dtype and colour becomes 8-bit RGB.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .readers import ImageData

HU_OFFSET = 1024
DEFAULT_CT_WINDOW = (40.0, 400.0)  # (level/centre, width) in HU: soft tissue
DEFAULT_MR_PERCENTILES = (0.5, 99.5)


# orientation
_AXIAL_TARGET = np.array([[2.0, 1.0], [1.0, 1.0], [0.0, 1.0]])  # (slice=+z, row=+y, col=+x) in LPS


def axial_axis(affine: np.ndarray) -> int:
    """Index (0, 1 or 2) of the voxel axis closest to the patient's superior-inferior direction."""
    from nibabel.orientations import io_orientation

    ornt = io_orientation(np.asarray(affine, dtype=float))
    return int(np.flatnonzero(ornt[:, 0] == 2)[0])


def to_axial_stack(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder a volume (indexed like the affine's voxel axes, extra trailing axes carried along) to
    axial slices inferior to superior, rows anterior to posterior, columns right to left (radiological
    layout); returns the array and the (4, 4) affine of its first three axes."""
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

    affine = np.asarray(affine, dtype=float)
    transform = ornt_transform(io_orientation(affine), _AXIAL_TARGET)
    out = apply_orientation(array, transform)
    return np.ascontiguousarray(out), affine @ inv_ornt_aff(transform, np.shape(array)[:3])


# intensity
def window_ct(
    hu: np.ndarray, center: float = DEFAULT_CT_WINDOW[0], width: float = DEFAULT_CT_WINDOW[1]
) -> np.ndarray:
    """Linear CT window: HU in [center - width/2, center + width/2] -> [0, 1] (float32), clipped."""
    if width <= 0:
        raise ValueError(f"CT window width must be positive, got {width}")
    lo = center - width / 2.0
    return np.clip((np.asarray(hu, dtype=np.float32) - np.float32(lo)) / np.float32(width), 0.0, 1.0)


def percentile_scale(
    volume: np.ndarray, low: float = DEFAULT_MR_PERCENTILES[0], high: float = DEFAULT_MR_PERCENTILES[1]
) -> np.ndarray:
    """Scale the ``low``-th..``high``-th percentiles of the whole volume to [0, 1] (float32), clipped."""
    v = np.asarray(volume, dtype=np.float32)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return np.zeros_like(v)
    lo, hi = np.percentile(finite, [low, high])
    if hi <= lo:
        return np.zeros_like(v)
    out = (v - np.float32(lo)) / np.float32(hi - lo)
    out[~np.isfinite(out)] = 0.0
    return np.clip(out, 0.0, 1.0)


def quantize(x01: np.ndarray, bits: int = 16) -> np.ndarray:
    """[0, 1] floats -> uint8 (bits=8) or uint16 (bits=16), rounded half to even."""
    dtype = {8: np.uint8, 16: np.uint16}.get(bits)
    if dtype is None:
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    y = np.multiply(x01, float(np.iinfo(dtype).max), dtype=np.float32)
    return np.rint(y, out=y).astype(dtype)  # in place: spares a temporary volume


def hu_to_uint16(hu: np.ndarray) -> np.ndarray:
    """Raw HU stored losslessly (integer HU) as ``uint16(HU + 1024)``, clipped to the uint16 range."""
    return np.clip(np.round(np.asarray(hu, dtype=np.float32)) + HU_OFFSET, 0, 65535).astype(np.uint16)


def native_2d(arr: np.ndarray) -> np.ndarray:
    """A 2D image as it is stored: uint8/uint16 grayscale unchanged, colour as 8-bit RGB, signed or
    float grayscale min-max scaled to uint16."""
    a = np.asarray(arr)
    if a.ndim == 3:
        if a.shape[-1] == 4:
            a = a[..., :3]
        if a.dtype == np.uint8:
            return a
        if a.dtype == np.uint16:
            return (a >> 8).astype(np.uint8) if a.max() > 255 else a.astype(np.uint8)
        return quantize(_minmax(a), 8)
    if a.dtype in (np.uint8, np.uint16):
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.integer) and a.min() >= 0 and a.max() <= 255 and a.dtype.itemsize == 1:
        return a.astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer) and a.min() >= 0 and a.max() <= 65535:
        return a.astype(np.uint16)
    return quantize(_minmax(a), 16)


def _minmax(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if hi <= lo:
        return np.zeros_like(a)
    return np.nan_to_num((a - lo) / (hi - lo))


def is_near_constant(img: np.ndarray, tolerance: float = 0.005) -> bool:
    """True when the image's standard deviation is below ``tolerance`` of its dtype's full scale."""
    a = np.asarray(img)
    full = float(np.iinfo(a.dtype).max) if np.issubdtype(a.dtype, np.integer) else 1.0
    return a.size == 0 or float(a.std(dtype=np.float64)) <= tolerance * full


# slicing: skip reasons of stored slices (counted in the source report, see builder.SourceReport).
EMPTY_SLICE = "empty_slice"
DEGENERATE_SLICE = "degenerate_slice"

MIN_SLICE_SIDE = 6  # px: a volume slice with a shorter side (3-5 px localizer strips) is not stored
MAX_ASPECT_RATIO = 10.0  # long side / short side above which no image is stored


@dataclass
class SliceOptions:
    """How :func:`iter_slices` turns decoded data into stored 2D images; ``min_side`` applies to
    volume slices, ``max_aspect`` to every image (else skipped as ``degenerate_slice``)."""

    intensity: str = "auto"  # "auto" | "ct_window" | "hu_raw" | "percentile" | "native"
    ct_window: tuple[float, float] | None = DEFAULT_CT_WINDOW  # (centre, width) HU; None = raw HU
    mr_percentiles: tuple[float, float] = DEFAULT_MR_PERCENTILES
    bits: int = 16
    stride: int = 1
    empty_tolerance: float = 0.005
    drop_empty: bool = True
    min_side: int = MIN_SLICE_SIDE
    max_aspect: float = MAX_ASPECT_RATIO


@dataclass
class SliceResult:
    """One stored 2D image (``image``), or one that was not (``image`` None; ``reason``, ``message``)."""

    index: int
    image: np.ndarray | None
    reason: str = ""
    message: str = ""


def resolve_intensity(data: ImageData, modality: str | None, options: SliceOptions) -> str:
    """The intensity transform: it follows what the pixels are, not the modality label.

    An explicit option first; colour, display gray levels and other 2D data: native; HU: CT window (raw
    HU when ``ct_window`` is None); a volume of unknown scale: CT window in a CT source (NIfTI/MetaImage
    CT are in HU) unless the file names another modality, else percentile."""
    if options.intensity != "auto":
        return options.intensity
    ct = "ct_window" if options.ct_window is not None else "hu_raw"
    if data.is_color or data.intensity_kind == "display":
        return "native"
    if data.intensity_kind == "hu":
        return ct
    if data.kind == "volume":
        # the file's own modality (DICOM) overrides the source label: an MR series is not HU
        return ct if modality == "CT" and data.modality in (None, "CT") else "percentile"
    return "native"


def _transform(arr: np.ndarray, how: str, options: SliceOptions) -> np.ndarray:
    if how == "ct_window":
        c, w = options.ct_window or DEFAULT_CT_WINDOW
        return quantize(window_ct(arr, c, w), options.bits)
    if how == "hu_raw":
        return hu_to_uint16(arr)
    if how == "percentile":
        return quantize(percentile_scale(arr, *options.mr_percentiles), options.bits)
    if how == "native":
        return arr
    raise ValueError(f"unknown intensity transform {how!r}; expected ct_window, hu_raw, percentile or native")


def degenerate_reason(shape: tuple[int, ...], options: SliceOptions, from_volume: bool) -> str:
    """Why a 2D image of ``shape`` (H, W[, 3]) is degenerate ('' when it is not)."""
    h, w = int(shape[0]), int(shape[1])
    short, long = min(h, w), max(h, w)
    if from_volume and short < options.min_side:
        return f"{h}x{w} px slice: a side is below the minimum of {options.min_side} px"
    if short == 0 or long / short > options.max_aspect:
        return f"{h}x{w} px image: aspect ratio above {options.max_aspect:g}:1"
    return ""


def _stored(index: int, img: np.ndarray, options: SliceOptions) -> SliceResult:
    img = native_2d(img)
    if options.drop_empty and is_near_constant(img, options.empty_tolerance):
        return SliceResult(index, None, EMPTY_SLICE, "")
    return SliceResult(index, img)


def iter_slice_results(data: ImageData, modality: str | None, options: SliceOptions) -> Iterator[SliceResult]:
    """Every 2D image of one unit of ``data`` (:meth:`ImageData.split`), stored or skipped (degenerate,
    near-constant). Index -1 for an image, i for frame or slice i (before the stride): native DICOM
    slices along axis 0, other volumes axial (:func:`to_axial_stack`)."""
    how = resolve_intensity(data, modality, options)
    stride = max(1, int(options.stride))
    if data.kind != "volume":
        for i in [-1] if data.kind == "image" else range(0, data.array.shape[0], stride):
            img = data.array if i < 0 else data.array[i]
            why = degenerate_reason(img.shape, options, False)
            if why:
                yield SliceResult(i, None, DEGENERATE_SLICE, why)
            else:
                yield _stored(i, _transform(img, how, options), options)
        return
    if data.array.ndim > 3 and not data.is_color:
        raise ValueError(
            f"volume has extra axes {data.array.shape[3:]}; split 4D data into 3D volumes before slicing"
        )
    stack = data.array
    if not data.native_slices:
        if data.affine is None:
            raise ValueError("a volume needs an affine to find its axial axis")
        stack, _ = to_axial_stack(stack, data.affine)
    why = degenerate_reason(stack.shape[1:3], options, True)
    if why:
        for i in range(0, stack.shape[0], stride):
            yield SliceResult(i, None, DEGENERATE_SLICE, why)
        return
    stack = _transform(stack, how, options)  # once per volume: percentile scaling is per volume
    for i in range(0, stack.shape[0], stride):
        yield _stored(i, stack[i], options)


def iter_slices(
    data: ImageData, modality: str | None, options: SliceOptions
) -> Iterator[tuple[int, np.ndarray | None]]:
    """``(slice_index, image)`` of :func:`iter_slice_results`; ``image`` None for a slice not stored."""
    for r in iter_slice_results(data, modality, options):
        yield r.index, r.image


def slice_source_file(data: ImageData, index: int) -> str | None:
    """The file image ``index`` came from: a native DICOM slice's own instance file, or the only file."""
    if data.native_slices and index >= 0 and len(data.files) == data.array.shape[0]:
        return data.files[index]
    if len(data.files) == 1:
        return data.files[0]
    return None
