"""Backbones of the recipes: a ``save_pretrained`` folder (a bare LVM-Med model, a pretraining or a
fine-tuned checkpoint: they share the ``lvmmed`` prefix) or a preset, randomly initialised."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from torch import nn
from transformers import AutoConfig, PreTrainedConfig

from ..models import LvmMedImageProcessor
from ..models.conversion import read_backbone_weights

# One preset table for the package (``tiny-cnn`` and ``tiny_cnn`` name the same preset).
from ..models.presets import PRESETS, get_preset, is_preset

logger = logging.getLogger(__name__)

_MODEL_TYPES = {"cnn": "lvmmed_cnn", "vit": "lvmmed_vit"}


def is_checkpoint_dir(name_or_path: str | os.PathLike) -> bool:
    return (Path(name_or_path) / "config.json").is_file()


def backbone_config(name_or_path: str | os.PathLike, **overrides) -> PreTrainedConfig:
    """The LVM-Med config of a checkpoint folder or a preset, with ``overrides`` applied."""
    if is_checkpoint_dir(name_or_path):
        config = AutoConfig.from_pretrained(name_or_path)
        for key, value in overrides.items():
            setattr(config, key, value)
        return config
    if not is_preset(str(name_or_path)):
        raise ValueError(
            f"backbone {name_or_path!r}: expected a folder with config.json "
            f"or one of the presets {sorted(PRESETS)}"
        )
    family, kwargs = get_preset(str(name_or_path))
    return AutoConfig.for_model(_MODEL_TYPES[family], **{**kwargs, **overrides})


def model_type_of(name_or_path: str | os.PathLike) -> str:
    if is_checkpoint_dir(name_or_path):
        return json.loads((Path(name_or_path) / "config.json").read_text())["model_type"]
    return _MODEL_TYPES[get_preset(str(name_or_path))[0]]


def image_processor_for(name_or_path: str | os.PathLike, image_size: int | None = None):
    """The saved image processor of a checkpoint folder, else LVM-Med's default (ImageNet mean/std)."""
    if is_checkpoint_dir(name_or_path) and (Path(name_or_path) / "preprocessor_config.json").is_file():
        processor = LvmMedImageProcessor.from_pretrained(name_or_path)
        if image_size is not None:
            processor.size = {"height": image_size, "width": image_size}
        return processor
    size = image_size or 224
    return LvmMedImageProcessor(size={"height": size, "width": size})


def load_backbone_weights(target: nn.Module, folder: str | os.PathLike) -> None:
    """Copy the ``lvmmed.*`` weights of a checkpoint folder into a backbone module (strict on the encoder)."""
    own = target.state_dict()
    # The ViT backbone has no neck; the CNN backbone has no fc: those keys are expected to be unused.
    wanted = {f"lvmmed.{k}": v for k, v in read_backbone_weights(folder).items() if f"lvmmed.{k}" in own}
    missing = [k for k in own if k not in wanted]
    if missing:
        raise ValueError(f"{folder}: backbone weights missing for {len(missing)} keys, e.g. {missing[:5]}")
    target.load_state_dict(wanted, strict=True)
    logger.info("loaded %d backbone tensors from %s", len(wanted), folder)
