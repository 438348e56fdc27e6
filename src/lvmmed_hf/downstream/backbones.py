"""Backbone presets and loading shared by the downstream recipes.

A recipe names its backbone either by a folder written by ``save_pretrained`` (a bare LVM-Med
model, a pretraining checkpoint or a fine-tuned one: they share the ``lvmmed`` prefix) or by a
preset below, randomly initialised (tests, baselines).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from transformers import PreTrainedConfig

# One preset table for the package (``tiny-cnn`` and ``tiny_cnn`` name the same preset).
from ..models.presets import PRESETS, get_preset, is_preset


def is_checkpoint_dir(name_or_path: str | os.PathLike) -> bool:
    return (Path(name_or_path) / "config.json").is_file()


def backbone_config(name_or_path: str | os.PathLike, **overrides) -> PreTrainedConfig:
    """The LVM-Med config of a checkpoint folder or a preset, with ``overrides`` applied."""
    from transformers import AutoConfig

    import lvmmed_hf  # noqa: F401  (registers the model types)

    if is_checkpoint_dir(name_or_path):
        model_type = model_type_of(name_or_path)
        if model_type == "lvmmed_vit":
            from lvmmed_hf.models.configuration_lvmmed_vit import LvmMedViTConfig

            config = LvmMedViTConfig.from_pretrained(name_or_path)
        else:
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
    if family == "cnn":
        from lvmmed_hf.models.configuration_lvmmed_cnn import LvmMedCnnConfig as cls
    else:
        from lvmmed_hf.models.configuration_lvmmed_vit import LvmMedViTConfig as cls
    return cls(**{**kwargs, **overrides})


def model_type_of(name_or_path: str | os.PathLike) -> str:
    if is_checkpoint_dir(name_or_path):
        return json.loads((Path(name_or_path) / "config.json").read_text())["model_type"]
    return {"cnn": "lvmmed_cnn", "vit": "lvmmed_vit"}[get_preset(str(name_or_path))[0]]


def image_processor_for(name_or_path: str | os.PathLike, image_size: int | None = None):
    """The saved image processor of a checkpoint folder, else LVM-Med's default (ImageNet mean/std)."""
    import lvmmed_hf

    if is_checkpoint_dir(name_or_path) and (Path(name_or_path) / "preprocessor_config.json").is_file():
        processor = lvmmed_hf.LvmMedImageProcessor.from_pretrained(name_or_path)
        if image_size is not None:
            processor.size = {"height": image_size, "width": image_size}
        return processor
    size = image_size or 224
    return lvmmed_hf.LvmMedImageProcessor(size={"height": size, "width": size})
