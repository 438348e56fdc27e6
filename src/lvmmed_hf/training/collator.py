"""Data collator for graph-matching pretraining: dataset rows -> two views + crop boxes.

Two paths, with the same output for the same random draws:

* **views in the collator** (``on_device=False``, the CPU default): each DataLoader worker
  decodes, caps the size, pads, and makes the two views (:class:`TwoViewAugmentation`);
* **views on the device** (``on_device=True``, the default of the pretraining on CUDA, see
  :func:`resolve_views_on_device`): the workers only decode and cap the size; the batch goes to
  the device as a padded canvas of 16-bit codes (:func:`lvmmed_hf.intensity.unit_to_codes`:
  half the bytes of float32, exact for 8- and 16-bit images, one channel when the whole batch
  is grayscale) and :func:`make_views` (called by the Trainer) draws crops, flips, colour and blur
  batch-wise there.

Intensities follow :mod:`lvmmed_hf.intensity` (uint8 / 255, uint16 / 65535, floats in [0, 1]):
the same convention as the saved image processor.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..intensity import (
    image_to_channels_first,
    load_unit_image,
    stored_to_codes,
    to_unit_range,
    unit_to_codes,
)
from .views import TwoViewAugmentation, ViewAugmentationConfig

try:  # Pillow is a dependency of the package
    from PIL import Image
except ImportError:  # pragma: no cover
    Image = None

logger = logging.getLogger(__name__)


def image_to_tensor(image: Any) -> torch.Tensor:
    """A PIL image / array / tensor -> float ``(1 or 3, H, W)`` in ``[0, 1]``.

    The package's intensity convention (:func:`lvmmed_hf.intensity.load_unit_image`, the same as
    the image processor's): uint8 / 255, uint16 / 65535 of the stored value (no per-image
    min-max), floats in [0, 1] as they are; NaN and unscalable dtypes are refused. Grayscale stays
    one channel (expanded later); alpha of PIL images is dropped.
    """
    return load_unit_image(image)


def _capped_size(height: int, width: int, max_size: int) -> tuple[int, int]:
    scale = max_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _resize_longer_side(unit: torch.Tensor, max_size: int) -> torch.Tensor:
    new = _capped_size(*unit.shape[-2:], max_size)
    return F.interpolate(unit[None], size=new, mode="bilinear", antialias=True, align_corners=False)[0]


#: PIL modes resized by Pillow itself (same antialiased bilinear filter as torch's, about twice as
#: fast on 8-bit RGB); 16-bit is resampled as 32-bit "I" and stays exact to one 16-bit step.
_PIL_RESIZE_MODES = {"L": "L", "RGB": "RGB", "I;16": "I", "I;16L": "I", "I;16B": "I"}


def image_to_codes(image: Any, max_size: int | None = None) -> np.ndarray:
    """Decode one stored image to uint16 codes ``(1 or 3, H, W)`` (``round(65535 * value)``),
    the longer side capped at ``max_size`` (antialiased bilinear, aspect kept)."""
    if (
        max_size is not None
        and Image is not None
        and isinstance(image, Image.Image)
        and image.mode in _PIL_RESIZE_MODES
        and max(image.size) > max_size
    ):
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


def pad_batch(images: list[torch.Tensor], max_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack float images of different sizes into a zero-padded ``(B, 3, H, W)`` canvas + ``(B, 2)``
    real sizes. ``max_size`` downsizes (antialiased, aspect kept) images whose longer side is
    larger; crop boxes are normalised, so this changes no box."""
    prepared = []
    for img in images:
        if max_size is not None and max(img.shape[-2:]) > max_size:
            img = _resize_longer_side(img, max_size)
        prepared.append(img.expand(3, -1, -1) if img.shape[0] == 1 else img)
    sizes = torch.tensor([img.shape[-2:] for img in prepared], dtype=torch.long)
    canvas = torch.zeros(len(prepared), 3, int(sizes[:, 0].max()), int(sizes[:, 1].max()))
    for i, img in enumerate(prepared):
        canvas[i, :, : img.shape[1], : img.shape[2]] = img
    return canvas, sizes


def resolve_views_on_device(option: bool | None, device: torch.device | str) -> bool:
    """Where the views are made: ``option`` when given, else on the device when it is a CUDA
    device (the CPU then only decodes and resizes), else in the collator (DataLoader workers)."""
    if option is not None:
        return bool(option)
    return torch.device(device).type == "cuda"


def make_views(
    batch: dict,
    augmentation: TwoViewAugmentation,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> dict:
    """The device half of ``on_device=True``: a collated batch holding ``images`` (+
    ``image_sizes``) -> the same batch with ``pixel_values_s/t`` and ``boxes_s/t`` made on
    ``device`` (default: where ``images`` already are). Other keys pass through; a batch that
    already holds views is returned as it is."""
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


class GraphMatchingCollator:
    """Rows with an image column -> ``pixel_values_s/t (B, 3, S, S)`` and ``boxes_s/t (B, 4)``.

    Args:
        augmentation: view parameters (:class:`ViewAugmentationConfig`) or a ready
            :class:`TwoViewAugmentation`.
        image_column: column holding PIL images (modes L, I;16, RGB, ...), arrays or tensors.
        max_size: longer-side cap applied before cropping (memory); ``None`` keeps sizes.
        on_device: if True, return ``images`` (uint16 codes, padded) and ``image_sizes`` only;
            :func:`make_views` (the :class:`~lvmmed_hf.training.trainer.GraphMatchingTrainer`
            calls it) then makes the views on the training device.
        generator: optional ``torch.Generator`` for the views made here (tests); default the
            global (per-worker) RNG.
    """

    def __init__(
        self,
        augmentation: ViewAugmentationConfig | TwoViewAugmentation | None = None,
        image_column: str = "image",
        max_size: int | None = 512,
        on_device: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        if not isinstance(augmentation, TwoViewAugmentation):
            augmentation = TwoViewAugmentation(augmentation)
        if max_size is not None and max_size < 1:
            raise ValueError(f"max_size must be a positive number of pixels or None, got {max_size}")
        self.augmentation = augmentation
        self.image_column = image_column
        self.max_size = max_size
        self.on_device = on_device
        self.generator = generator

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
        if self.on_device:
            return batch
        return make_views(batch, self.augmentation, generator=self.generator)
