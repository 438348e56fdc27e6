"""Data collator for graph-matching pretraining: dataset rows -> two views + crop boxes, made in
the DataLoader workers or (``on_device=True``) on the device from a padded canvas of uint16 codes
(exact for 8- and 16-bit images) by :func:`make_views`; same output for the same draws."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..intensity import (
    image_to_channels_first,
    load_unit_image,
    stored_to_codes,
    to_unit_range,
    unit_to_codes,
)
from .views import TwoViewAugmentation, ViewAugmentationConfig

#: A PIL image / array / tensor -> float ``(1 or 3, H, W)`` in ``[0, 1]`` (uint8 / 255, uint16 /
#: 65535, floats as they are; NaN refused; gray stays one channel; alpha dropped).
image_to_tensor = load_unit_image


def _capped_size(height: int, width: int, max_size: int) -> tuple[int, int]:
    scale = max_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _resize_longer_side(unit: torch.Tensor, max_size: int) -> torch.Tensor:
    new = _capped_size(*unit.shape[-2:], max_size)
    return F.interpolate(unit[None], size=new, mode="bilinear", antialias=True, align_corners=False)[0]


#: PIL modes Pillow resizes itself (2x faster on 8-bit RGB); 16-bit as 32-bit "I", exact to one step
_PIL_RESIZE_MODES = {"L": "L", "RGB": "RGB", "I;16": "I", "I;16L": "I", "I;16B": "I"}


def image_to_codes(image: Any, max_size: int | None = None) -> np.ndarray:
    """One stored image -> uint16 codes ``(1 or 3, H, W)``, the longer side capped at ``max_size``."""
    pil = isinstance(image, Image.Image) and image.mode in _PIL_RESIZE_MODES
    if pil and max_size is not None and max(image.size) > max_size:
        height, width = _capped_size(image.height, image.width, max_size)
        work = image.convert(_PIL_RESIZE_MODES[image.mode]) if image.mode.startswith("I;16") else image
        image = work.resize((width, height), Image.BILINEAR)
        if image.mode == "I":
            image = np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
    array = image_to_channels_first(image)
    if max_size is not None and max(array.shape[-2:]) > max_size:
        return unit_to_codes(_resize_longer_side(to_unit_range(array), max_size)).numpy()
    return stored_to_codes(array)


def pad_codes(images: list[np.ndarray | torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """uint16 code images of different sizes -> zero-padded ``(B, C, H, W)`` uint16 canvas and
    ``(B, 2)`` real sizes. ``C`` is 1 when every image is grayscale, else 3 (gray repeated)."""
    images = [np.asarray(img) for img in images]
    channels = 3 if any(img.shape[0] == 3 for img in images) else 1
    sizes = np.array([img.shape[-2:] for img in images], dtype=np.int64)
    canvas = np.zeros((len(images), channels, *sizes.max(0)), dtype=np.uint16)
    for i, img in enumerate(images):
        canvas[i, :, : img.shape[1], : img.shape[2]] = img  # broadcasts a gray image to 3 channels
    return torch.from_numpy(canvas), torch.from_numpy(sizes)


def resolve_views_on_device(option: bool | None, device: torch.device | str) -> bool:
    """Whether the views are made on the device: ``option`` when given, else on a CUDA device."""
    return torch.device(device).type == "cuda" if option is None else bool(option)


def make_views(
    batch: dict,
    augmentation: TwoViewAugmentation,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> dict:
    """The device half of ``on_device=True``: a batch's ``images`` (+ ``image_sizes``) -> views and boxes."""
    if "images" not in batch:
        return batch
    batch = dict(batch)
    images = batch.pop("images")
    sizes = batch.pop("image_sizes", None)
    if device is not None:
        images = images.to(device, non_blocking=True)
        sizes = sizes.to(device, non_blocking=True) if sizes is not None else None
    batch.update(augmentation(images, sizes, generator=generator))
    return batch


@dataclasses.dataclass(eq=False)
class GraphMatchingCollator:
    """Rows with an image column -> ``pixel_values_s/t`` and ``boxes_s/t`` (``on_device``: raw images)."""

    augmentation: ViewAugmentationConfig | TwoViewAugmentation | None = None
    image_column: str = "image"
    max_size: int | None = 512
    on_device: bool = False
    generator: torch.Generator | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.augmentation, TwoViewAugmentation):
            self.augmentation = TwoViewAugmentation(self.augmentation)
        if self.max_size is not None and self.max_size < 1:
            raise ValueError(f"max_size must be a positive number of pixels or None, got {self.max_size}")

    def collate_images(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        """The CPU half: decode and cap the size -> ``images`` (uint16 codes) + ``image_sizes``."""
        if not rows:
            raise ValueError("empty batch")
        if self.image_column not in rows[0]:
            raise KeyError(f"rows have no image column {self.image_column!r}; columns: {sorted(rows[0])}")
        codes = []
        for i, row in enumerate(rows):
            try:
                codes.append(image_to_codes(row[self.image_column], self.max_size))
            except (ValueError, TypeError) as err:
                raise type(err)(f"row {i} of the batch, column {self.image_column!r}: {err}") from err
        canvas, sizes = pad_codes(codes)
        return {"images": canvas, "image_sizes": sizes}

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.collate_images(rows)
        return batch if self.on_device else make_views(batch, self.augmentation, generator=self.generator)
