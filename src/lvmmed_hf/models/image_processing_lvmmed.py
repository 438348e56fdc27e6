"""Image processor for the LVM-Med backbones: medical intensities in, ImageNet-normalised tensors out.

Pipeline per image (all arithmetic in float32 torch, never through 8-bit PIL conversions):

1. read PIL / NumPy / torch input of shape (H, W), (H, W, C) or (C, H, W) with C in {1, 3};
2. intensities to [0, 1]: CT windowing ``clip((x - (center - width / 2)) / width, 0, 1)`` when
   ``window_center`` and ``window_width`` (in HU, or the input's units) are given; otherwise integers
   are divided by their dtype's maximum (uint8 by ``rescale_factor`` = 1/255, uint16 by 65535, int16
   by 32767) and floats are used as they are (expected in [0, 1]);
3. grayscale repeated to 3 channels;
4. bilinear, antialiased resize to ``size`` (default 224 x 224), optional centre crop;
5. ``(x - mean) / std`` with ImageNet statistics, as the LVM-Med downstream code does.

No torchvision is needed: the class is registered as the ``"pil"`` backend of ``AutoImageProcessor``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers.image_processing_backends import PilBackend
from transformers.image_processing_base import BatchFeature
from transformers.image_utils import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    ChannelDimension,
    PILImageResampling,
    SizeDict,
)
from transformers.processing_utils import ImagesKwargs

try:  # Pillow is a dependency of the package; keep the import local to what needs it
    from PIL import Image
except ImportError:  # pragma: no cover
    Image = None

logger = logging.getLogger(__name__)

#: PIL modes read as arrays directly (their dtype carries the bit depth); all others go through RGB.
_PIL_ARRAY_MODES = {"L", "I;16", "I;16L", "I;16B", "I;16N", "I", "F", "RGB"}
#: Integer dtypes with a well-defined full-scale value.
_SCALED_INT_DTYPES = (np.uint8, np.int8, np.uint16, np.int16)


class LvmMedImageProcessorKwargs(ImagesKwargs, total=False):
    """Extra keyword arguments of :class:`LvmMedImageProcessor`.

    window_center (`float`): centre (level) of the intensity window, e.g. 40 HU for soft tissue.
    window_width (`float`): width of the intensity window, e.g. 400 HU.
    """

    window_center: float | None
    window_width: float | None


class LvmMedImageProcessor(PilBackend):
    r"""
    Image processor for [`LvmMedCnnModel`] and [`LvmMedViTModel`].

    Args:
        do_resize (`bool`, defaults to `True`): resize to `size`.
        size (`dict[str, int]`, defaults to `{"height": 224, "width": 224}`): output size; also accepts
            `{"shortest_edge": n}` (aspect ratio kept).
        resample: accepted for API compatibility; resizing is always bilinear with antialiasing.
        do_center_crop (`bool`, defaults to `False`), crop_size (`dict[str, int]`): optional centre crop.
        do_rescale (`bool`, defaults to `True`): map integer intensities to [0, 1] by their dtype's range
            (uint8 by `rescale_factor`). Floats are never rescaled.
        rescale_factor (`float`, defaults to 1/255): scale of 8-bit inputs.
        do_normalize (`bool`, defaults to `True`), image_mean, image_std: ImageNet statistics.
        window_center, window_width (`float`, *optional*): intensity window (HU for CT) applied
            before everything else; replaces the dtype rescaling. Give both or neither.

    Returns a `BatchFeature` with `pixel_values` of shape (batch, 3, height, width), float32.
    """

    valid_kwargs = LvmMedImageProcessorKwargs
    model_input_names = ["pixel_values"]

    resample = PILImageResampling.BILINEAR
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = False
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = None
    window_center = None
    window_width = None

    def _prepare_images_structure(self, images, expected_ndims: int = 3) -> list:
        """Flatten the input into a list of single images.

        A 2-D array is one grayscale image and a 3-D array one image (never a batch); a 4-D
        array or tensor is a batch. Lists and tuples are flattened.
        """
        if isinstance(images, (list, tuple)):
            flat = []
            for item in images:
                flat.extend(self._prepare_images_structure(item))
            return flat
        if isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4:
            return list(images)
        return [images]

    def _validate_preprocess_kwargs(self, window_center=None, window_width=None, **kwargs) -> None:
        super()._validate_preprocess_kwargs(**kwargs)
        if (window_center is None) != (window_width is None):
            raise ValueError(
                f"window_center and window_width must be given together, got window_center={window_center} "
                f"and window_width={window_width}"
            )
        if window_width is not None and not window_width > 0:
            raise ValueError(f"window_width must be positive, got {window_width}")

    @staticmethod
    def _to_numpy(image) -> np.ndarray:
        if Image is not None and isinstance(image, Image.Image):
            if image.mode not in _PIL_ARRAY_MODES:
                image = image.convert("RGB")  # palette, alpha, CMYK, 1-bit...
            array = np.asarray(image)
            if image.mode == "I":
                # Pillow opens some 16-bit PNG/TIFF files as 32-bit "I": keep them 16-bit when they fit.
                if array.size and array.min() >= 0 and array.max() <= np.iinfo(np.uint16).max:
                    array = array.astype(np.uint16)
            return array
        if isinstance(image, torch.Tensor):
            image = image.detach().cpu()
            if image.dtype == torch.bfloat16:
                image = image.float()
            return image.numpy()
        if isinstance(image, np.ndarray):
            return image
        raise TypeError(
            "images must be PIL images, numpy arrays or torch tensors (or lists of them), "
            f"got {type(image).__name__}"
        )

    @staticmethod
    def _to_channels_first(array: np.ndarray, input_data_format: str | ChannelDimension | None) -> np.ndarray:
        if array.ndim == 2:
            return array[None]
        if array.ndim != 3:
            raise ValueError(
                "each image must have shape (H, W), (H, W, C) or (C, H, W); "
                f"got an array of shape {array.shape}"
            )
        if input_data_format is not None:
            layout = ChannelDimension(input_data_format)
            return array if layout == ChannelDimension.FIRST else np.moveaxis(array, -1, 0)
        first_ok, last_ok = array.shape[0] in (1, 3), array.shape[-1] in (1, 3)
        if last_ok and not first_ok:
            return np.moveaxis(array, -1, 0)
        if first_ok:
            return array
        raise ValueError(
            f"image of shape {array.shape} has neither 1 nor 3 channels in its first or last axis: "
            "expected grayscale (H, W), (H, W, 1), (1, H, W) or RGB (H, W, 3), (3, H, W)"
            + (" (drop the alpha channel of RGBA arrays)" if 4 in (array.shape[0], array.shape[-1]) else "")
        )

    def _intensities_to_unit(
        self,
        array: np.ndarray,
        do_rescale: bool,
        rescale_factor: float,
        window_center: float | None,
        window_width: float | None,
    ) -> torch.Tensor:
        """Raw intensities (any dtype) -> float32 tensor, in [0, 1] for windowed or rescaled input."""
        dtype = array.dtype
        values = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        if window_center is not None:
            low = window_center - window_width / 2.0
            return ((values - low) / window_width).clamp_(0.0, 1.0)
        if not do_rescale or np.issubdtype(dtype, np.floating):
            return values
        if dtype == np.bool_:
            return values
        if dtype == np.uint8:
            return values.mul_(rescale_factor)
        if any(dtype == d for d in _SCALED_INT_DTYPES):
            return values.div_(float(np.iinfo(dtype).max))
        raise ValueError(
            f"cannot rescale an image of dtype {dtype}: give window_center/window_width, or convert it to "
            "uint8/uint16/int16 or to float in [0, 1]"
        )

    def process_image(
        self,
        image,
        do_rescale: bool | None = None,
        rescale_factor: float | None = None,
        window_center: float | None = None,
        window_width: float | None = None,
        input_data_format: str | ChannelDimension | None = None,
        **kwargs,
    ) -> torch.Tensor:
        """One raw image -> float32 tensor (3, H, W) with intensities in [0, 1] (unless unscaled floats)."""
        array = self._to_channels_first(self._to_numpy(image), input_data_format)
        pixels = self._intensities_to_unit(
            array,
            do_rescale=bool(do_rescale),
            rescale_factor=rescale_factor if rescale_factor is not None else self.rescale_factor,
            window_center=window_center,
            window_width=window_width,
        )
        if pixels.shape[0] == 1:
            pixels = pixels.expand(3, -1, -1)
        return pixels

    @staticmethod
    def _output_size(height: int, width: int, size: SizeDict) -> tuple[int, int]:
        if size.height and size.width:
            return size.height, size.width
        if size.shortest_edge:
            scale = size.shortest_edge / min(height, width)
            return max(1, round(height * scale)), max(1, round(width * scale))
        raise ValueError(f"size must have 'height' and 'width', or 'shortest_edge'; got {dict(size)}")

    def _preprocess(
        self,
        images: list[torch.Tensor],
        do_resize: bool,
        size: SizeDict,
        do_center_crop: bool,
        crop_size: SizeDict,
        do_normalize: bool,
        image_mean: float | Sequence[float],
        image_std: float | Sequence[float],
        return_tensors: str | None = None,
        **kwargs,
    ) -> BatchFeature:
        mean = torch.as_tensor(image_mean, dtype=torch.float32).reshape(-1, 1, 1)
        std = torch.as_tensor(image_std, dtype=torch.float32).reshape(-1, 1, 1)
        processed = []
        for pixels in images:
            if do_resize:
                target = self._output_size(pixels.shape[-2], pixels.shape[-1], size)
                if tuple(pixels.shape[-2:]) != target:
                    pixels = F.interpolate(
                        pixels[None], size=target, mode="bilinear", align_corners=False, antialias=True
                    )[0]
            if do_center_crop:
                pixels = _center_crop(pixels, crop_size.height, crop_size.width)
            if do_normalize:
                pixels = (pixels - mean) / std
            processed.append(pixels.contiguous())

        shapes = sorted({tuple(p.shape) for p in processed})
        if return_tensors in ("pt", "np") and len(shapes) > 1:
            raise ValueError(
                f"cannot stack images of different sizes {shapes} into one "
                "tensor: set do_resize=True with a fixed size, or return_tensors=None"
            )
        if return_tensors == "pt":
            data = torch.stack(processed)
        elif return_tensors == "np":
            data = torch.stack(processed).numpy()
        elif return_tensors is None:
            data = [p.numpy() for p in processed]
        else:
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}")
        return BatchFeature(data={"pixel_values": data})


def _center_crop(pixels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crop (C, H, W) around its centre; raises when the image is smaller than the crop."""
    in_height, in_width = pixels.shape[-2:]
    if height > in_height or width > in_width:
        raise ValueError(f"crop_size ({height}, {width}) is larger than the image ({in_height}, {in_width})")
    top, left = (in_height - height) // 2, (in_width - width) // 2
    return pixels[..., top : top + height, left : left + width]


__all__ = ["LvmMedImageProcessor"]
