"""From decoded pixels to stored 2D images: orientation, axial slicing, CT windowing, MR scaling.

Conventions (see :mod:`lvmmed_hf.data.readers`): volumes come with an LPS affine. The axial axis is
the voxel axis whose direction has the largest superior-inferior (z) component; slices are ordered
inferior to superior, and each slice is laid out radiologically: rows run anterior to posterior
(+y), columns run patient right to patient left (+x).

Stored precision: volumes (CT windowed, MR percentile-scaled) are quantised to ``bits`` (16 by
default, so a 400 HU window keeps 0.006 HU steps; 8 is available for compact corpora). Raw HU is
stored as ``uint16(HU + 1024)`` (the usual CT offset; clipped to [0, 65535]). 2D grayscale images
keep their dtype (uint8 stays uint8, uint16 stays uint16); colour becomes 8-bit RGB.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .readers import ImageData

HU_OFFSET = 1024
DEFAULT_CT_WINDOW = (40.0, 400.0)  # (level/centre, width) in HU: soft tissue
DEFAULT_MR_PERCENTILES = (0.5, 99.5)


# --------------------------------------------------------------------------------------------
# orientation


def axial_axis(affine: np.ndarray) -> int:
    """Index (0, 1 or 2) of the voxel axis closest to the patient's superior-inferior direction."""
    cols = np.asarray(affine, dtype=float)[:3, :3]
    norms = np.linalg.norm(cols, axis=0)
    norms[norms == 0] = 1.0
    return int(np.argmax(np.abs(cols[2]) / norms))


def to_axial_stack(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder a volume to (slice, row, col[, ...]) axial slices in radiological layout.

    ``array`` is indexed like the affine's voxel axes (extra trailing axes are carried along).
    Returns the reordered array and the new (4, 4) affine of its first three axes.
    """
    affine = np.asarray(affine, dtype=float)
    cols = affine[:3, :3] / np.maximum(np.linalg.norm(affine[:3, :3], axis=0), 1e-12)
    z_axis = axial_axis(affine)
    rest = [a for a in range(3) if a != z_axis]
    # the in-plane axis closer to y (anterior-posterior) becomes the row axis
    if abs(cols[1, rest[0]]) >= abs(cols[1, rest[1]]):
        row_axis, col_axis = rest
    else:
        col_axis, row_axis = rest
    order = [z_axis, row_axis, col_axis]
    out = np.transpose(array, order + list(range(3, array.ndim)))
    new_aff = np.eye(4)
    new_aff[:3, :3] = affine[:3, order]
    new_aff[:3, 3] = affine[:3, 3]
    # flip so the slice axis points superior (+z), rows posterior (+y), columns left (+x)
    for new_axis, world in enumerate((2, 1, 0)):
        if new_aff[world, new_axis] < 0:
            n = out.shape[new_axis]
            out = np.flip(out, axis=new_axis)
            new_aff[:3, 3] = new_aff[:3, 3] + new_aff[:3, new_axis] * (n - 1)
            new_aff[:3, new_axis] = -new_aff[:3, new_axis]
    return np.ascontiguousarray(out), new_aff


# --------------------------------------------------------------------------------------------
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
    """Scale so the ``low``-th..``high``-th percentiles of the whole volume map to [0, 1] (float32), clipped."""
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
    """[0, 1] floats -> uint8 (bits=8) or uint16 (bits=16), rounded."""
    # round half to even (np.rint), in place to spare a temporary volume
    if bits == 8:
        y = np.multiply(x01, 255.0, dtype=np.float32)
        return np.rint(y, out=y).astype(np.uint8)
    if bits == 16:
        y = np.multiply(x01, 65535.0, dtype=np.float32)
        return np.rint(y, out=y).astype(np.uint16)
    raise ValueError(f"bits must be 8 or 16, got {bits}")


def hu_to_uint16(hu: np.ndarray) -> np.ndarray:
    """Raw HU stored losslessly (integer HU) as ``uint16(HU + 1024)``, clipped to the uint16 range."""
    return np.clip(np.round(np.asarray(hu, dtype=np.float32)) + HU_OFFSET, 0, 65535).astype(np.uint16)


def native_2d(arr: np.ndarray) -> np.ndarray:
    """A 2D image as it is stored: uint8/uint16 grayscale unchanged, colour as 8-bit RGB.

    Signed or float grayscale is min-max scaled to uint16 (the full range of the image).
    """
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
    if a.size == 0:
        return True
    return float(a.std(dtype=np.float64)) <= tolerance * full


# --------------------------------------------------------------------------------------------
# slicing


@dataclass
class SliceOptions:
    """How :func:`iter_slices` turns decoded data into stored 2D images (see the module docstring)."""

    intensity: str = "auto"  # "auto" | "ct_window" | "hu_raw" | "percentile" | "native"
    ct_window: tuple[float, float] | None = DEFAULT_CT_WINDOW  # (centre, width) HU; None = raw HU
    mr_percentiles: tuple[float, float] = DEFAULT_MR_PERCENTILES
    bits: int = 16
    stride: int = 1
    empty_tolerance: float = 0.005
    drop_empty: bool = True


def resolve_intensity(data: ImageData, modality: str | None, options: SliceOptions) -> str:
    """The intensity transform for this data: explicit option, else CT -> window, 3D -> percentile, 2D -> native."""
    if options.intensity != "auto":
        return options.intensity
    if data.is_color:
        return "native"
    if data.is_hu or modality == "CT":
        return "ct_window" if options.ct_window is not None else "hu_raw"
    if data.kind == "volume":
        return "percentile"
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


def iter_slices(
    data: ImageData, modality: str | None, options: SliceOptions
) -> Iterator[tuple[int, np.ndarray | None]]:
    """Yield ``(slice_index, image)`` for every stored 2D image of ``data``.

    ``image`` is None for a near-constant slice that was dropped (so the caller can count it).
    For ``kind="image"`` the index is -1; frames and axial slices are numbered from 0 in stored
    order (inferior to superior for volumes), before the stride is applied.
    """
    how = resolve_intensity(data, modality, options)
    stride = max(1, int(options.stride))
    if data.kind == "image":
        slices: list[tuple[int, np.ndarray]] = [(-1, data.array)]
        per_slice = True
    elif data.kind == "frames":
        slices = [(i, data.array[i]) for i in range(0, data.array.shape[0], stride)]
        per_slice = True
    else:
        if data.affine is None:
            raise ValueError("a volume needs an affine to find its axial axis")
        vol = data.array
        extra = vol.shape[3:] if vol.ndim > 3 else ()
        stack, _ = to_axial_stack(vol, data.affine)
        if extra and not data.is_color:
            raise ValueError(f"volume has extra axes {extra}; split 4D data into 3D volumes before slicing")
        # Percentile scaling is per volume, so transform the whole stack once.
        stack = _transform(stack, how, options) if how != "native" else stack
        slices = [(i, stack[i]) for i in range(0, stack.shape[0], stride)]
        per_slice = False
    for idx, img in slices:
        if per_slice:
            img = _transform(img, how, options) if how != "native" else img
        img = native_2d(img)
        if options.drop_empty and is_near_constant(img, options.empty_tolerance):
            yield idx, None
        else:
            yield idx, img
