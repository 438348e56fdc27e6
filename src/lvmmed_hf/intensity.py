"""The intensity convention of lvmmed-hf, implemented once: stored pixels -> floats in [0, 1].

The pretraining collator and views, the saved image processor, the linear probes and the
downstream recipes all read images through this module. With ``do_rescale=True`` and no window:
uint8 -> ``x * rescale_factor`` (1/255); uint16 -> ``x / 65535``; bool -> 0 or 1; floats all in
[0, 1] unchanged; floats all in [0, 255] -> ``x * rescale_factor`` with a warning (as transformers
rescales floats); other floats, signed or 32-bit integers (e.g. Hounsfield units) -> ``ValueError``;
NaN / inf are always refused. No per-image min-max: a prepared corpus stores CT windowed and MR
percentile-scaled to the full 16-bit range, so ``x / 65535`` keeps intensities comparable.
``window_center`` / ``window_width`` (input units, e.g. HU) replace the rescaling:
``clip((x - (center - width / 2)) / width, 0, 1)``. ``do_rescale=False`` keeps the values.

Layouts follow transformers: ``(H, W)`` is grayscale; a 3-D array's channel axis is
``input_data_format`` or inferred by ``infer_channel_dimension_format`` (1 or 3 channels).
In the pretraining collator images travel as 16-bit codes ``round(65535 * value)``
(:func:`unit_to_codes`): exact for 8- and 16-bit stored values, half the bytes of float32.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

if TYPE_CHECKING:
    from transformers.image_utils import ChannelDimension

logger = logging.getLogger(__name__)

#: Scale of 8-bit inputs (transformers' default ``rescale_factor``).
UINT8_SCALE = 1 / 255
#: Full-scale value of 16-bit inputs and of the collator's 16-bit codes.
UINT16_MAX = 65535

#: PIL modes read as arrays directly (their dtype carries the bit depth); others go to L or RGB.
_PIL_ARRAY_MODES = {"L", "I;16", "I;16L", "I;16B", "I;16N", "I", "F", "RGB"}
_PIL_TO_GRAY = {"1", "LA", "La"}
_warned: set[str] = set()


def image_to_array(image: Any) -> np.ndarray:
    """A PIL image, NumPy array or torch tensor -> NumPy array with its stored dtype (native byte order).

    PIL: 16-bit modes and ``"I"`` images holding 16-bit values become uint16, ``"F"`` float32; 1-bit
    and gray + alpha become ``"L"``, other colour modes RGB. Tensors are copied to the CPU
    (bfloat16 / float16 as float32).
    """
    if isinstance(image, Image.Image):
        if image.mode in _PIL_TO_GRAY:
            image = image.convert("L")
        elif image.mode not in _PIL_ARRAY_MODES:
            image = image.convert("RGB")
        array = np.asarray(image)
        if image.mode == "I" and array.size and array.min() >= 0 and array.max() <= UINT16_MAX:
            # Pillow opens some 16-bit PNG/TIFF files as 32-bit "I": keep them 16-bit
            array = array.astype(np.uint16)
    elif isinstance(image, torch.Tensor):
        tensor = image.detach()
        if tensor.dtype in (torch.bfloat16, torch.float16):
            tensor = tensor.float()
        array = tensor.cpu().numpy()
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise TypeError(
            "images must be PIL images, numpy arrays or torch tensors (or lists of them), "
            f"got {type(image).__name__}"
        )
    if array.dtype.byteorder not in ("=", "|"):  # e.g. PIL "I;16B": big-endian uint16
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    try:
        return torch.from_numpy(np.zeros(0, dtype=dtype.newbyteorder("="))).dtype
    except TypeError as err:
        raise ValueError(f"images of dtype {dtype} are not supported: {err}") from None


def _uint16_to_float(values: torch.Tensor) -> torch.Tensor:
    if values.device.type == "cpu":
        return values.float()
    # uint16 has only basic kernels on accelerators: reinterpret as int16, widen, mask
    return (values.view(torch.int16).to(torch.int32) & 0xFFFF).float()


def to_unit_range(
    pixels: np.ndarray | torch.Tensor,
    *,
    do_rescale: bool = True,
    rescale_factor: float | None = None,
    window_center: float | None = None,
    window_width: float | None = None,
) -> torch.Tensor:
    """Stored intensities -> float32 tensor (same shape, same device) by the convention above.

    Integer inputs need no look at their values (no host synchronisation on a GPU); float
    inputs are checked for NaN / inf and for their range.
    """
    if isinstance(pixels, np.ndarray):
        dtype = _torch_dtype(pixels.dtype)
        # a fresh float32 copy: arrays of PIL images are read-only, and the result never aliases
        values = torch.from_numpy(np.array(pixels, dtype=np.float32, order="C"))
    else:
        dtype = pixels.dtype
        values = _uint16_to_float(pixels) if dtype == torch.uint16 else pixels.to(torch.float32)
    factor = UINT8_SCALE if rescale_factor is None else float(rescale_factor)
    floating = dtype.is_floating_point
    if floating and not bool(torch.isfinite(values).all()):
        bad = int((~torch.isfinite(values)).sum())
        raise ValueError(
            f"image contains {bad} NaN or infinite pixel value(s) (of {values.numel()}): "
            "replace them (e.g. numpy.nan_to_num) before processing"
        )
    if window_center is not None or window_width is not None:
        if window_center is None or window_width is None or not window_width > 0:
            raise ValueError(
                "window_center and window_width must be given together and window_width must be "
                f"positive, got window_center={window_center} and window_width={window_width}"
            )
        low = float(window_center) - float(window_width) / 2.0
        return ((values - low) / float(window_width)).clamp(0.0, 1.0)
    if not do_rescale or dtype == torch.bool:
        return values
    if dtype == torch.uint8:
        return values * factor
    if dtype == torch.uint16:
        return values / float(UINT16_MAX)
    if floating:
        if values.numel() == 0:
            return values
        low, high = (float(v) for v in torch.aminmax(values))
        if low >= 0.0 and high <= 1.0:
            return values
        if low >= 0.0 and high <= 255.0:
            if "float255" not in _warned:
                _warned.add("float255")
                logger.warning(
                    f"a float image with values in [{low:g}, {high:g}] (outside [0, 1]) is read on the "
                    f"8-bit scale and multiplied by rescale_factor={factor:g}, as transformers rescales "
                    "floats; pass floats in [0, 1], or do_rescale=False to keep the values as they are"
                )
            return values * factor
        raise ValueError(
            f"float image with values in [{low:g}, {high:g}] is neither in [0, 1] nor on the 8-bit scale "
            "[0, 255]: give window_center/window_width (e.g. 40/400 for CT in HU), scale it to [0, 1] "
            "yourself, or pass do_rescale=False to use the values as they are"
        )
    name = str(dtype).replace("torch.", "")
    raise ValueError(
        f"image of dtype {name} has no intensity convention: stored images are uint8 (/255), uint16 "
        "(/65535) or float in [0, 1]. Signed integers are usually Hounsfield units: give "
        "window_center/window_width (e.g. 40/400 for soft tissue); otherwise convert the image to "
        "uint8/uint16 or to float in [0, 1]"
    )


def image_to_channels_first(
    image: Any, input_data_format: str | ChannelDimension | None = None
) -> np.ndarray:
    """A stored image -> ``(C, H, W)`` NumPy array, C in {1, 3}, with its stored dtype.

    ``(H, W)`` is grayscale. A PIL image is channels-last (as transformers treats it, so a 1- or
    3-pixel-high RGB image is not misread); another 3-D array's layout is ``input_data_format``,
    else transformers' inference (which warns and takes the channels first when both ends are 1
    or 3, e.g. ``(1, W, 3)``).
    """
    # Imported here: importing transformers runs lvmmed_hf's Auto registrations, which import this
    # module; at module level that would make ``import lvmmed_hf.intensity`` circular.
    from transformers.image_utils import ChannelDimension, infer_channel_dimension_format

    array = image_to_array(image)
    if isinstance(image, Image.Image) and array.ndim == 3:
        input_data_format = ChannelDimension.LAST
    if array.ndim == 2:
        array = array[None]
    elif array.ndim != 3:
        raise ValueError(
            f"each image must have shape (H, W), (H, W, C) or (C, H, W); got an array of shape {array.shape}"
        )
    else:
        if input_data_format is not None:
            layout = ChannelDimension(input_data_format)
            if layout not in (ChannelDimension.FIRST, ChannelDimension.LAST):
                raise ValueError(
                    f"input_data_format must be 'channels_first' or 'channels_last', got {layout}"
                )
        else:
            try:
                layout = infer_channel_dimension_format(array, num_channels=(1, 3))
            except ValueError:
                layout = None
        shape = tuple(array.shape)
        if layout == ChannelDimension.LAST:
            array = np.moveaxis(array, -1, 0)
        if layout is None or array.shape[0] not in (1, 3):
            hint = " (drop the alpha channel of RGBA arrays)" if 4 in (shape[0], shape[-1]) else ""
            axis = "first" if layout == ChannelDimension.FIRST else "last" if layout else "first or last"
            raise ValueError(
                f"image of shape {shape} has neither 1 nor 3 channels in its {axis} axis: expected "
                "grayscale (H, W), (H, W, 1), (1, H, W) or RGB (H, W, 3), (3, H, W)" + hint
            )
    if array.size == 0:
        raise ValueError(f"image of shape {tuple(array.shape)} is empty")
    return array


def load_unit_image(
    image: Any, *, input_data_format: str | ChannelDimension | None = None, **options: Any
) -> torch.Tensor:
    """One stored image (PIL / NumPy / torch) -> float32 ``(1 or 3, H, W)`` in [0, 1]; ``options``
    are those of :func:`to_unit_range` (``do_rescale``, ``rescale_factor``, the window)."""
    return to_unit_range(image_to_channels_first(image, input_data_format), **options)


def unit_to_codes(unit: torch.Tensor) -> torch.Tensor:
    """Floats in [0, 1] -> uint16 codes ``round(65535 * x)`` (clipped); :func:`to_unit_range`
    reads them back."""
    return unit.mul(float(UINT16_MAX)).round_().clamp_(0, UINT16_MAX).to(torch.int32).to(torch.uint16)


def stored_to_codes(array: np.ndarray) -> np.ndarray:
    """A channels-first stored image -> uint16 codes of its [0, 1] value, without floats when
    possible: uint16 as it is, uint8 times 257 (exact: ``257 * x / 65535 = x / 255``)."""
    if array.dtype == np.uint16:
        return array
    if array.dtype == np.uint8:
        return array.astype(np.uint16) * np.uint16(257)
    return unit_to_codes(to_unit_range(array)).numpy()


__all__ = [
    "UINT8_SCALE",
    "UINT16_MAX",
    "image_to_array",
    "image_to_channels_first",
    "to_unit_range",
    "load_unit_image",
    "unit_to_codes",
    "stored_to_codes",
]
