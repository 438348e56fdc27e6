"""From decoded pixels to stored 2D images: slicing, orientation, CT windowing, MR scaling.

Slicing (docs/data.md, "Slicing rules"): DICOM volumes (``ImageData.native_slices``) are stored one
image per instance in their own acquisition plane, in the reader's order along the slice normal;
volumes without per-instance geometry (NIfTI, MetaImage, Analyze; LPS affine, see
:mod:`lvmmed_hf.data.readers`) are reoriented with ``nibabel.orientations`` to axial slices ordered
inferior to superior, each laid out radiologically: rows run anterior to posterior (+y), columns
run patient right to patient left (+x). Degenerate images (a volume slice with a side below
:data:`MIN_SLICE_SIDE` px, or any image more elongated than :data:`MAX_ASPECT_RATIO`) and
near-constant ones are skipped with a reason (:class:`SliceResult`).

Intensity follows what the pixels are (:func:`resolve_intensity`), not the modality label. Stored
precision: volumes (CT windowed, MR percentile-scaled) are quantised to ``bits`` (16 by default, so
a 400 HU window keeps 0.006 HU steps; 8 is available for compact corpora). Raw HU is stored as
``uint16(HU + 1024)`` (the usual CT offset; clipped to [0, 65535]). 2D grayscale images keep their
dtype (uint8 stays uint8, uint16 stays uint16); colour becomes 8-bit RGB.
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


_AXIAL_TARGET = np.array([[2.0, 1.0], [1.0, 1.0], [0.0, 1.0]])  # (slice=+z, row=+y, col=+x) in LPS


def axial_axis(affine: np.ndarray) -> int:
    """Index (0, 1 or 2) of the voxel axis closest to the patient's superior-inferior direction
    (nibabel's :func:`~nibabel.orientations.io_orientation` assignment of voxel to world axes)."""
    from nibabel.orientations import io_orientation

    ornt = io_orientation(np.asarray(affine, dtype=float))
    return int(np.flatnonzero(ornt[:, 0] == 2)[0])


def to_axial_stack(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder a volume to (slice, row, col[, ...]) axial slices in radiological layout.

    ``array`` is indexed like the affine's voxel axes (extra trailing axes are carried along).
    The voxel axes are matched to the LPS world axes with nibabel's orientation tools
    (``io_orientation`` / ``ornt_transform`` / ``apply_orientation``): slices run inferior to
    superior (+z), rows anterior to posterior (+y), columns patient right to left (+x).
    Returns the reordered array and the new (4, 4) affine of its first three axes.
    """
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

    affine = np.asarray(affine, dtype=float)
    transform = ornt_transform(io_orientation(affine), _AXIAL_TARGET)
    out = apply_orientation(array, transform)
    new_aff = affine @ inv_ornt_aff(transform, np.shape(array)[:3])
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
    """Scale so the ``low``-th..``high``-th percentiles of the whole volume map to [0, 1] (float32),
    clipped."""
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


# Skip reasons of stored slices (counted in the source report, see builder.SourceReport).
EMPTY_SLICE = "empty_slice"
DEGENERATE_SLICE = "degenerate_slice"

MIN_SLICE_SIDE = 6  # px: a volume slice with a shorter side (3-5 px localizer strips) is not stored
MAX_ASPECT_RATIO = 10.0  # long side / short side above which no image is stored


@dataclass
class SliceOptions:
    """How :func:`iter_slices` turns decoded data into stored 2D images (see the module docstring).

    ``min_side`` applies to slices of volumes (the acquisition or axial slices), ``max_aspect`` to
    every stored image; such degenerate images are skipped with the reason ``degenerate_slice``.
    """

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
    """One stored 2D image (``image``), or one that was not stored (``image`` None, ``reason`` and
    ``message`` say why)."""

    index: int
    image: np.ndarray | None
    reason: str = ""
    message: str = ""


def resolve_intensity(data: ImageData, modality: str | None, options: SliceOptions) -> str:
    """The intensity transform for this data: it follows what the pixels are, not the modality label.

    Explicit option first; then colour -> native; Hounsfield units (``data.intensity_kind ==
    "hu"``: DICOM CT with a modality LUT) -> CT window (or raw HU when ``ct_window`` is None);
    display gray levels (PNG/JPEG/BMP/TIFF/HDF5, 8-bit DICOM captures) -> native, also in a CT
    source; a volume of unknown scale in a CT source (NIfTI/MetaImage CT, stored in HU by the
    datasets that ship them) -> CT window, unless the file names another modality (a DICOM MR
    series); other volumes -> percentile; other 2D data -> native.
    """
    if options.intensity != "auto":
        return options.intensity
    ct = "ct_window" if options.ct_window is not None else "hu_raw"
    if data.is_color:
        return "native"
    if data.intensity_kind == "hu":
        return ct
    if data.intensity_kind == "display":
        return "native"
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


def iter_slice_results(data: ImageData, modality: str | None, options: SliceOptions) -> Iterator[SliceResult]:
    """Every 2D image of one unit of ``data`` (see :meth:`ImageData.split`), stored or skipped.

    ``kind="image"``: one image, index -1. ``frames``: frame i, index i. ``volume``: DICOM data
    with per-instance geometry (``native_slices``) is sliced along its own first axis, one image per
    stored instance in the reader's order (along the slice normal); other volumes (NIfTI,
    MetaImage, Analyze) are reoriented to axial slices (:func:`to_axial_stack`), inferior to
    superior. Indices count before the stride. Skipped: degenerate images (``degenerate_slice``,
    :func:`degenerate_reason`) and near-constant ones (``empty_slice``).
    """
    how = resolve_intensity(data, modality, options)
    stride = max(1, int(options.stride))
    from_volume = data.kind == "volume"
    if data.kind == "image":
        slices: list[tuple[int, np.ndarray]] = [(-1, data.array)]
        per_slice = True
    elif data.kind == "frames":
        slices = [(i, data.array[i]) for i in range(0, data.array.shape[0], stride)]
        per_slice = True
    else:
        vol = data.array
        extra = vol.shape[3:] if vol.ndim > 3 else ()
        if extra and not data.is_color:
            raise ValueError(f"volume has extra axes {extra}; split 4D data into 3D volumes before slicing")
        if data.native_slices:
            stack = vol
        else:
            if data.affine is None:
                raise ValueError("a volume needs an affine to find its axial axis")
            stack, _ = to_axial_stack(vol, data.affine)
        why = degenerate_reason(stack.shape[1:3], options, True)
        if why:
            for i in range(0, stack.shape[0], stride):
                yield SliceResult(i, None, DEGENERATE_SLICE, why)
            return
        # Percentile scaling is per volume, so transform the whole stack once.
        stack = _transform(stack, how, options) if how != "native" else stack
        slices = [(i, stack[i]) for i in range(0, stack.shape[0], stride)]
        per_slice = False
    for idx, img in slices:
        why = "" if from_volume else degenerate_reason(img.shape, options, False)
        if why:
            yield SliceResult(idx, None, DEGENERATE_SLICE, why)
            continue
        if per_slice:
            img = _transform(img, how, options) if how != "native" else img
        img = native_2d(img)
        if options.drop_empty and is_near_constant(img, options.empty_tolerance):
            yield SliceResult(idx, None, EMPTY_SLICE, "")
        else:
            yield SliceResult(idx, img)


def iter_slices(
    data: ImageData, modality: str | None, options: SliceOptions
) -> Iterator[tuple[int, np.ndarray | None]]:
    """Yield ``(slice_index, image)`` for every 2D image of ``data`` (:func:`iter_slice_results`).

    ``image`` is None for a slice that was not stored (near-constant or degenerate), so the caller
    can count it; :func:`iter_slice_results` also gives the reason.
    """
    for r in iter_slice_results(data, modality, options):
        yield r.index, r.image


def slice_source_file(data: ImageData, index: int) -> str | None:
    """The file stored image ``index`` of ``data`` came from, when one file is known.

    Native DICOM slices map to their own instance file; single-file data to that file.
    """
    if data.native_slices and index >= 0 and len(data.files) == data.array.shape[0]:
        return data.files[index]
    if len(data.files) == 1:
        return data.files[0]
    return None
