"""Constants shared by the image processor, the pretraining views and the probes (defined once)."""

from __future__ import annotations

#: ImageNet channel means (RGB) used by LVM-Med's downstream code and by the pretraining views.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
#: ImageNet channel standard deviations (RGB).
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD"]
