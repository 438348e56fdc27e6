"""Architecture presets shared by pretraining and the downstream recipes: one table, one spelling.

A preset is a family (``"cnn"`` or ``"vit"``) and that family's config keyword arguments. Names
are matched after lower-casing and mapping ``-`` to ``_``, so ``tiny-cnn`` names ``tiny_cnn``.
"""

from __future__ import annotations

import copy
from typing import Any

#: name -> (family, config kwargs). "tiny_*" are the test configs; "resnet50" and "vit_b" the paper's.
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "resnet50": ("cnn", {}),
    "resnet18": ("cnn", dict(hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2], layer_type="basic")),
    "tiny_cnn": (
        "cnn",
        dict(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic"),
    ),
    "small_cnn": (
        "cnn",
        dict(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic"),
    ),
    "vit_b": ("vit", dict(image_size=224)),
    "tiny_vit": (
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
}


def normalize_preset_name(name: str) -> str:
    """``"Tiny-CNN"`` -> ``"tiny_cnn"``: the key used in :data:`PRESETS`."""
    return str(name).strip().lower().replace("-", "_")


def is_preset(name: str) -> bool:
    return normalize_preset_name(name) in PRESETS


def get_preset(name: str) -> tuple[str, dict[str, Any]]:
    """``(family, config kwargs)`` of a preset (a copy: callers may change it); ValueError if unknown."""
    key = normalize_preset_name(name)
    if key not in PRESETS:
        raise ValueError(
            f"unknown model preset {name!r}; expected one of {sorted(PRESETS)} ('-' and '_' are equivalent)"
        )
    return copy.deepcopy(PRESETS[key])


def preset_config(name: str, **overrides: Any):
    """A fresh ``LvmMedCnnConfig`` / ``LvmMedViTConfig`` of the preset, with ``overrides`` applied."""
    from .configuration_lvmmed_cnn import LvmMedCnnConfig
    from .configuration_lvmmed_vit import LvmMedViTConfig

    family, kwargs = get_preset(name)
    return (LvmMedCnnConfig if family == "cnn" else LvmMedViTConfig)(**{**kwargs, **overrides})


__all__ = ["PRESETS", "get_preset", "is_preset", "normalize_preset_name", "preset_config"]
