"""Image processor for the LVM-Med backbones: medical intensities in, ImageNet-normalised tensors out.

Per image, in float32 torch (never through 8-bit PIL conversions): intensities to [0, 1] by
:mod:`lvmmed_hf.intensity` (dtype rescaling or a CT window), grayscale repeated to 3 channels,
antialiased bilinear resize to ``size`` (224 x 224), optional centre crop, ImageNet
normalisation as in LVM-Med's downstream code. Registered as the ``"pil"`` backend of
``AutoImageProcessor``, so no torchvision is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers.image_processing_backends import PilBackend
from transformers.image_processing_base import BatchFeature
from transformers.image_utils import ChannelDimension, PILImageResampling, SizeDict
from transformers.processing_utils import ImagesKwargs

from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..intensity import load_unit_image


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
        do_rescale (`bool`, defaults to `True`): map stored intensities to [0, 1] by the package's
            convention (`lvmmed_hf.intensity`); `False` keeps the values.
        rescale_factor (`float`, defaults to 1/255): scale of 8-bit inputs (uint8 and 8-bit-scale floats).
        input_data_format (`str`, *optional*): `"channels_first"` or `"channels_last"` for 3-D arrays;
            inferred as transformers does when not given.
        do_normalize (`bool`, defaults to `True`), image_mean, image_std: ImageNet statistics.
        window_center, window_width (`float`, *optional*): intensity window (HU for CT) applied
            before everything else; replaces the dtype rescaling. Give both or neither.

    Returns a `BatchFeature` with `pixel_values` of shape (batch, 3, height, width), float32.
    """

    valid_kwargs = LvmMedImageProcessorKwargs
    model_input_names = ["pixel_values"]

    resample = PILImageResampling.BILINEAR
    image_mean = list(IMAGENET_MEAN)
    image_std = list(IMAGENET_STD)
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
        """Flatten lists and 4-D batches into single images (a 2-D or 3-D array is one image)."""
        if isinstance(images, (list, tuple)):
            flat = []
            for item in images:
                flat.extend(self._prepare_images_structure(item))
            return flat
        if isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4:
            return list(images)
        return [images]

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
        """One raw image -> float32 tensor (3, H, W) in [0, 1] by :mod:`lvmmed_hf.intensity`."""
        pixels = load_unit_image(
            image,
            input_data_format=input_data_format,
            do_rescale=bool(do_rescale),
            rescale_factor=rescale_factor if rescale_factor is not None else self.rescale_factor,
            window_center=window_center,
            window_width=window_width,
        )
        return pixels.expand(3, -1, -1) if pixels.shape[0] == 1 else pixels

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

        if return_tensors not in ("pt", "np", None):
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}")
        shapes = sorted({tuple(p.shape) for p in processed})
        if return_tensors and len(shapes) > 1:
            raise ValueError(
                f"cannot stack images of different sizes {shapes} into one "
                "tensor: set do_resize=True with a fixed size, or return_tensors=None"
            )
        data = torch.stack(processed) if return_tensors else [p.numpy() for p in processed]
        return BatchFeature(data={"pixel_values": data.numpy() if return_tensors == "np" else data})


def _center_crop(pixels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crop (C, H, W) around its centre; raises when the image is smaller than the crop."""
    in_height, in_width = pixels.shape[-2:]
    if height > in_height or width > in_width:
        raise ValueError(f"crop_size ({height}, {width}) is larger than the image ({in_height}, {in_width})")
    top, left = (in_height - height) // 2, (in_width - width) // 2
    return pixels[..., top : top + height, left : left + width]


__all__ = ["LvmMedImageProcessor"]
