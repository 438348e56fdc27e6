"""Backbone presets and loading shared by the downstream recipes.

A recipe names its backbone either by a folder written by ``save_pretrained`` (a bare LVM-Med
model, a pretraining checkpoint or a fine-tuned one: they share the ``lvmmed`` prefix) or by a
preset below, randomly initialised (tests, baselines).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from transformers import PreTrainedConfig

#: Architecture presets: name -> (family, config kwargs). "tiny-*" are the test configs of the
#: model contract; "resnet50" and "vit-b" are the paper's backbones.
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "tiny-cnn": (
        "cnn",
        dict(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic"),
    ),
    "resnet50": ("cnn", dict()),
    "tiny-vit": (
        "vit",
        dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            mlp_dim=64,
            image_size=64,
            patch_size=8,
            window_size=4,
            global_attn_indexes=[1],
        ),
    ),
    "vit-b": ("vit", dict(image_size=224)),
}


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
    if str(name_or_path) not in PRESETS:
        raise ValueError(
            f"backbone {name_or_path!r}: expected a folder with config.json or one of the presets "
            f"{sorted(PRESETS)}"
        )
    family, kwargs = PRESETS[str(name_or_path)]
    if family == "cnn":
        from lvmmed_hf.models.configuration_lvmmed_cnn import LvmMedCnnConfig as cls
    else:
        from lvmmed_hf.models.configuration_lvmmed_vit import LvmMedViTConfig as cls
    return cls(**{**kwargs, **overrides})


def model_type_of(name_or_path: str | os.PathLike) -> str:
    if is_checkpoint_dir(name_or_path):
        return json.loads((Path(name_or_path) / "config.json").read_text())["model_type"]
    return {"cnn": "lvmmed_cnn", "vit": "lvmmed_vit"}[PRESETS[str(name_or_path)][0]]


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
