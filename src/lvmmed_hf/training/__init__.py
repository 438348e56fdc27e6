"""Graph-matching pretraining: views with crop boxes, collator, Trainer, callbacks, entry logic."""

from .callbacks import GpuMonitorCallback
from .collator import GraphMatchingCollator, image_to_tensor, make_views, resolve_views_on_device
from .trainer import GraphMatchingTrainer, step_halving_schedule
from .views import TwoViewAugmentation, ViewAugmentationConfig

__all__ = [
    "GpuMonitorCallback",
    "GraphMatchingCollator",
    "image_to_tensor",
    "make_views",
    "resolve_views_on_device",
    "GraphMatchingTrainer",
    "step_halving_schedule",
    "TwoViewAugmentation",
    "ViewAugmentationConfig",
]
