"""Key mapping between SAM's original image-encoder layout (ours, the authors' ``lvmmed_vit.pth``)
and transformers' ``SamVisionModel`` / ``SamModel`` (both hold the encoder under ``vision_encoder.``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from transformers import SamVisionConfig

from .configuration_lvmmed_vit import LvmMedViTConfig
from .conversion import KeyTable

HF_SAM_VISION_PREFIX = "vision_encoder."

#: SAM original / LVM-Med name -> transformers name (without the prefix), read off transformers'
#: ``modeling_sam`` module tree against SAM's ``ImageEncoderViT``.
SAM_KEYS = KeyTable(
    [
        ("patch_embed.proj.{p}", "patch_embed.projection.{p}"),
        ("pos_embed", "pos_embed"),
        ("blocks.{i}.norm1.{p}", "layers.{i}.layer_norm1.{p}"),
        ("blocks.{i}.norm2.{p}", "layers.{i}.layer_norm2.{p}"),
        ("blocks.{i}.attn.{attn}.{p}", "layers.{i}.attn.{attn}.{p}"),
        ("blocks.{i}.attn.{rel}", "layers.{i}.attn.{rel}"),
        ("blocks.{i}.mlp.{lin}.{p}", "layers.{i}.mlp.{lin}.{p}"),
        ("neck.0.weight", "neck.conv1.weight"),
        ("neck.1.{p}", "neck.layer_norm1.{p}"),
        ("neck.2.weight", "neck.conv2.weight"),
        ("neck.3.{p}", "neck.layer_norm2.{p}"),
    ],
    fields={"i": r"\d+", "p": "weight|bias", "attn": "qkv|proj", "rel": "rel_pos_[hw]", "lin": "lin[12]"},
)
#: The config fields ``SamVisionConfig`` shares with ours.
_SHARED_CONFIG = (
    "hidden_size",
    "output_channels",
    "num_hidden_layers",
    "num_attention_heads",
    "num_channels",
    "image_size",
    "patch_size",
    "hidden_act",
    "layer_norm_eps",
    "qkv_bias",
    "mlp_dim",
    "use_abs_pos",
    "use_rel_pos",
    "window_size",
)


def _rename(key: str, reverse: bool) -> str:
    new_key = SAM_KEYS.rename(key, reverse)
    if new_key is None:
        direction = "transformers -> SAM original" if reverse else "SAM original -> transformers"
        raise KeyError(f"{key!r} is not a SAM image-encoder key ({direction}); see conversion_vit's table")
    return new_key


def sam_key_to_hf(key: str, prefix: str = HF_SAM_VISION_PREFIX) -> str:
    """``blocks.3.norm1.weight`` -> ``vision_encoder.layers.3.layer_norm1.weight``."""
    return prefix + _rename(key, reverse=False)


def hf_key_to_sam(key: str, prefix: str = HF_SAM_VISION_PREFIX) -> str:
    """``vision_encoder.layers.3.layer_norm1.weight`` -> ``blocks.3.norm1.weight``."""
    if not key.startswith(prefix):
        raise KeyError(f"{key!r} does not start with the expected prefix {prefix!r}")
    return _rename(key[len(prefix) :], reverse=True)


def lvmmed_vit_to_hf_sam_state_dict(
    state_dict: Mapping[str, torch.Tensor], prefix: str = HF_SAM_VISION_PREFIX
) -> dict[str, torch.Tensor]:
    """Our / SAM-original encoder keys to transformers' ``SamVisionModel`` (or ``SamModel``) keys.

    Accepts the bare encoder's state dict or a head's (``lvmmed.`` prefix, head weights ignored).
    Unknown keys raise ``KeyError``.
    """
    if any(k.startswith("lvmmed.") for k in state_dict):
        state_dict = {k[len("lvmmed.") :]: v for k, v in state_dict.items() if k.startswith("lvmmed.")}
    return {sam_key_to_hf(k, prefix): v for k, v in state_dict.items()}


def hf_sam_to_lvmmed_vit_state_dict(
    state_dict: Mapping[str, torch.Tensor], prefix: str = HF_SAM_VISION_PREFIX
) -> dict[str, torch.Tensor]:
    """transformers' SAM vision-encoder keys back to ours; keys outside `prefix` (the prompt
    encoder and mask decoder of a ``SamModel``) are skipped."""
    return {hf_key_to_sam(k, prefix): v for k, v in state_dict.items() if k.startswith(prefix)}


def lvmmed_vit_to_hf_sam_config(config: LvmMedViTConfig) -> SamVisionConfig:
    """The ``SamVisionConfig`` of the same encoder (which always has the neck and accepts only
    inputs of exactly `image_size` pixels)."""
    shared = {name: getattr(config, name) for name in _SHARED_CONFIG}
    return SamVisionConfig(**shared, global_attn_indexes=list(config.global_attn_indexes))


def hf_sam_to_lvmmed_vit_config(sam_config: SamVisionConfig, **overrides) -> LvmMedViTConfig:
    """Our config for a transformers ``SamVisionConfig`` (neck kept: `use_neck=True`)."""
    shared = {name: getattr(sam_config, name) for name in _SHARED_CONFIG}
    kwargs = {**shared, "global_attn_indexes": list(sam_config.global_attn_indexes), "use_neck": True}
    return LvmMedViTConfig(**{**kwargs, **overrides})


__all__ = [
    "HF_SAM_VISION_PREFIX",
    "sam_key_to_hf",
    "hf_key_to_sam",
    "lvmmed_vit_to_hf_sam_state_dict",
    "hf_sam_to_lvmmed_vit_state_dict",
    "lvmmed_vit_to_hf_sam_config",
    "hf_sam_to_lvmmed_vit_config",
]
