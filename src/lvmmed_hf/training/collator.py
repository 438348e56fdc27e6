"""Data collator for graph-matching pretraining: dataset rows -> two views + crop boxes."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .views import TwoViewAugmentation, ViewAugmentationConfig

logger = logging.getLogger(__name__)


def image_to_tensor(image: Any) -> torch.Tensor:
    """A PIL image / array / tensor -> float ``(1 or 3, H, W)`` in ``[0, 1]``.

    8-bit images are divided by 255. 16-bit (PIL ``I;16``, ``I``), float and other integer images
    are min-max rescaled per image, so medical intensities keep their full precision instead of
    being clipped to 8 bits. Grayscale stays one channel (expanded later); alpha is dropped.
    """
    if hasattr(image, "mode") and hasattr(image, "size"):  # PIL
        if image.mode in ("P", "PA", "LA", "RGBA", "CMYK", "YCbCr", "1"):
            image = image.convert("L" if image.mode in ("LA", "1") else "RGB")
        array = np.asarray(image)
    elif isinstance(image, torch.Tensor):
        array = image.numpy() if image.device.type == "cpu" else image.cpu().numpy()
    else:
        array = np.asarray(image)
    if array.ndim == 2:
        array = array[None]
    elif array.ndim == 3 and array.shape[-1] in (1, 3, 4) and array.shape[0] not in (1, 3):
        array = np.moveaxis(array, -1, 0)
    if array.ndim != 3 or array.shape[0] not in (1, 3, 4):
        raise ValueError(f"image must be 2-D grayscale or 3-channel, got array of shape {array.shape}")
    array = array[:3]
    if array.dtype == np.uint8:
        return torch.from_numpy(array.astype(np.float32) / 255.0)
    values = array.astype(np.float32)
    lo, hi = float(values.min()), float(values.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("image contains NaN or inf pixel values")
    if hi <= lo:
        return torch.zeros(values.shape)
    values -= lo
    values *= 1.0 / (hi - lo)
    return torch.from_numpy(values)


def pad_batch(images: list[torch.Tensor], max_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack images of different sizes into a zero-padded ``(B, 3, H, W)`` canvas + ``(B, 2)``
    real sizes. ``max_size`` downsizes (antialiased, aspect kept) images whose longer side is
    larger; crop boxes are normalised, so this changes no box."""
    prepared = []
    for img in images:
        if max_size is not None and max(img.shape[-2:]) > max_size:
            scale = max_size / max(img.shape[-2:])
            new = [max(1, round(s * scale)) for s in img.shape[-2:]]
            img = F.interpolate(img[None], size=new, mode="bilinear", antialias=True, align_corners=False)[0]
        prepared.append(img.expand(3, -1, -1) if img.shape[0] == 1 else img)
    sizes = torch.tensor([img.shape[-2:] for img in prepared], dtype=torch.long)
    canvas = torch.zeros(len(prepared), 3, int(sizes[:, 0].max()), int(sizes[:, 1].max()))
    for i, img in enumerate(prepared):
        canvas[i, :, : img.shape[1], : img.shape[2]] = img
    return canvas, sizes


class GraphMatchingCollator:
    """Rows with an image column -> ``pixel_values_s/t (B, 3, S, S)`` and ``boxes_s/t (B, 4)``.

    Args:
        augmentation: view parameters (:class:`ViewAugmentationConfig`) or a ready
            :class:`TwoViewAugmentation`.
        image_column: column holding PIL images (modes L, I;16, RGB, ...), arrays or tensors.
        max_size: longer-side cap applied before cropping (memory); ``None`` keeps sizes.
        on_device: if True, return the padded ``images`` and ``image_sizes`` only; the
            :class:`~lvmmed_hf.training.trainer.GraphMatchingTrainer` then makes the views on the
            training device.
    """

    def __init__(
        self,
        augmentation: ViewAugmentationConfig | TwoViewAugmentation | None = None,
        image_column: str = "image",
        max_size: int | None = 512,
        on_device: bool = False,
    ) -> None:
        if not isinstance(augmentation, TwoViewAugmentation):
            augmentation = TwoViewAugmentation(augmentation)
        self.augmentation = augmentation
        self.image_column = image_column
        self.max_size = max_size
        self.on_device = on_device

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("empty batch")
        if self.image_column not in rows[0]:
            raise KeyError(f"rows have no image column {self.image_column!r}; columns: {sorted(rows[0])}")
        images = [image_to_tensor(row[self.image_column]) for row in rows]
        canvas, sizes = pad_batch(images, self.max_size)
        if self.on_device:
            return {"images": canvas, "image_sizes": sizes}
        return self.augmentation(canvas, sizes)
