"""Key mapping between SAM's original image-encoder layout and transformers' ``SamVisionModel``.

Our [`LvmMedViTModel`] uses SAM's original names (the keys of the authors' ``lvmmed_vit.pth``:
no ``image_encoder.`` prefix). transformers' SAM port renames them; the correspondence, read off
transformers' ``modeling_sam`` module tree against SAM's ``ImageEncoderViT``:

=====================================  ==============================================
SAM original / LVM-Med                 transformers (``SamVisionModel`` / ``SamModel``)
=====================================  ==============================================
``patch_embed.proj.*``                 ``vision_encoder.patch_embed.projection.*``
``pos_embed``                          ``vision_encoder.pos_embed``
``blocks.N.norm1.*``                   ``vision_encoder.layers.N.layer_norm1.*``
``blocks.N.attn.{qkv,proj}.*``         ``vision_encoder.layers.N.attn.{qkv,proj}.*``
``blocks.N.attn.rel_pos_{h,w}``        ``vision_encoder.layers.N.attn.rel_pos_{h,w}``
``blocks.N.norm2.*``                   ``vision_encoder.layers.N.layer_norm2.*``
``blocks.N.mlp.{lin1,lin2}.*``         ``vision_encoder.layers.N.mlp.{lin1,lin2}.*``
``neck.0.weight``                      ``vision_encoder.neck.conv1.weight``
``neck.1.{weight,bias}``               ``vision_encoder.neck.layer_norm1.{weight,bias}``
``neck.2.weight``                      ``vision_encoder.neck.conv2.weight``
``neck.3.{weight,bias}``               ``vision_encoder.neck.layer_norm2.{weight,bias}``
=====================================  ==============================================

``SamVisionModel`` and ``SamModel`` both hold the encoder under ``vision_encoder.``, so the same
keys serve the SAM vision tower and the full promptable SAM.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from transformers import SamVisionConfig

from .configuration_lvmmed_vit import LvmMedViTConfig

HF_SAM_VISION_PREFIX = "vision_encoder."

# (pattern in SAM-original names, replacement in transformers' names, without the prefix).
_SAM_TO_HF: tuple[tuple[str, str], ...] = (
    (r"^patch_embed\.proj\.(weight|bias)$", r"patch_embed.projection.\1"),
    (r"^pos_embed$", r"pos_embed"),
    (r"^blocks\.(\d+)\.norm1\.(weight|bias)$", r"layers.\1.layer_norm1.\2"),
    (r"^blocks\.(\d+)\.norm2\.(weight|bias)$", r"layers.\1.layer_norm2.\2"),
    (r"^blocks\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)$", r"layers.\1.attn.\2.\3"),
    (r"^blocks\.(\d+)\.attn\.(rel_pos_h|rel_pos_w)$", r"layers.\1.attn.\2"),
    (r"^blocks\.(\d+)\.mlp\.(lin1|lin2)\.(weight|bias)$", r"layers.\1.mlp.\2.\3"),
    (r"^neck\.0\.weight$", r"neck.conv1.weight"),
    (r"^neck\.1\.(weight|bias)$", r"neck.layer_norm1.\1"),
    (r"^neck\.2\.weight$", r"neck.conv2.weight"),
    (r"^neck\.3\.(weight|bias)$", r"neck.layer_norm2.\1"),
)

# The inverse of _SAM_TO_HF (the round trip is tested key by key).
_HF_TO_SAM: tuple[tuple[str, str], ...] = (
    (r"^patch_embed\.projection\.(weight|bias)$", r"patch_embed.proj.\1"),
    (r"^pos_embed$", r"pos_embed"),
    (r"^layers\.(\d+)\.layer_norm1\.(weight|bias)$", r"blocks.\1.norm1.\2"),
    (r"^layers\.(\d+)\.layer_norm2\.(weight|bias)$", r"blocks.\1.norm2.\2"),
    (r"^layers\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)$", r"blocks.\1.attn.\2.\3"),
    (r"^layers\.(\d+)\.attn\.(rel_pos_h|rel_pos_w)$", r"blocks.\1.attn.\2"),
    (r"^layers\.(\d+)\.mlp\.(lin1|lin2)\.(weight|bias)$", r"blocks.\1.mlp.\2.\3"),
    (r"^neck\.conv1\.weight$", r"neck.0.weight"),
    (r"^neck\.layer_norm1\.(weight|bias)$", r"neck.1.\1"),
    (r"^neck\.conv2\.weight$", r"neck.2.weight"),
    (r"^neck\.layer_norm2\.(weight|bias)$", r"neck.3.\1"),
)


def _rename(key: str, table: tuple[tuple[str, str], ...], direction: str) -> str:
    for pattern, replacement in table:
        new, count = re.subn(pattern, replacement, key)
        if count:
            return new
    raise KeyError(f"{key!r} is not a SAM image-encoder key ({direction}); see conversion_vit's table")


def sam_key_to_hf(key: str, prefix: str = HF_SAM_VISION_PREFIX) -> str:
    """``blocks.3.norm1.weight`` -> ``vision_encoder.layers.3.layer_norm1.weight``."""
    return prefix + _rename(key, _SAM_TO_HF, "SAM original -> transformers")


def hf_key_to_sam(key: str, prefix: str = HF_SAM_VISION_PREFIX) -> str:
    """``vision_encoder.layers.3.layer_norm1.weight`` -> ``blocks.3.norm1.weight``."""
    if not key.startswith(prefix):
        raise KeyError(f"{key!r} does not start with the expected prefix {prefix!r}")
    return _rename(key[len(prefix) :], _HF_TO_SAM, "transformers -> SAM original")


def _strip_base_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # Head checkpoints (classification, backbone) hold the encoder under "lvmmed."; heads are dropped.
    if any(k.startswith("lvmmed.") for k in state_dict):
        return {k[len("lvmmed.") :]: v for k, v in state_dict.items() if k.startswith("lvmmed.")}
    return dict(state_dict)


def lvmmed_vit_to_hf_sam_state_dict(
    state_dict: Mapping[str, torch.Tensor], prefix: str = HF_SAM_VISION_PREFIX
) -> dict[str, torch.Tensor]:
    """Our / SAM-original encoder keys to transformers' ``SamVisionModel`` (or ``SamModel``) keys.

    Accepts the bare encoder's state dict (= the authors' file) or a head's (``lvmmed.`` prefix,
    head weights ignored). Unknown keys raise ``KeyError``.
    """
    return {sam_key_to_hf(k, prefix): v for k, v in _strip_base_prefix(state_dict).items()}


def hf_sam_to_lvmmed_vit_state_dict(
    state_dict: Mapping[str, torch.Tensor], prefix: str = HF_SAM_VISION_PREFIX
) -> dict[str, torch.Tensor]:
    """transformers' SAM vision-encoder keys back to SAM-original (our) keys.

    Keys outside `prefix` (the prompt encoder and mask decoder of a ``SamModel``) are skipped.
    """
    return {hf_key_to_sam(k, prefix): v for k, v in state_dict.items() if k.startswith(prefix)}


def lvmmed_vit_to_hf_sam_config(config: LvmMedViTConfig) -> SamVisionConfig:
    """The ``SamVisionConfig`` of the same encoder.

    ``SamVisionModel`` always has the neck and accepts only inputs of exactly `image_size` pixels;
    the neck weights exist only if `config.use_neck`.
    """
    return SamVisionConfig(
        hidden_size=config.hidden_size,
        output_channels=config.output_channels,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_channels=config.num_channels,
        image_size=config.image_size,
        patch_size=config.patch_size,
        hidden_act=config.hidden_act,
        layer_norm_eps=config.layer_norm_eps,
        qkv_bias=config.qkv_bias,
        mlp_dim=config.mlp_dim,
        use_abs_pos=config.use_abs_pos,
        use_rel_pos=config.use_rel_pos,
        window_size=config.window_size,
        global_attn_indexes=list(config.global_attn_indexes),
    )


def hf_sam_to_lvmmed_vit_config(sam_config: SamVisionConfig, **overrides) -> LvmMedViTConfig:
    """Our config for a transformers ``SamVisionConfig`` (neck kept: `use_neck=True`)."""
    kwargs = dict(
        hidden_size=sam_config.hidden_size,
        output_channels=sam_config.output_channels,
        num_hidden_layers=sam_config.num_hidden_layers,
        num_attention_heads=sam_config.num_attention_heads,
        num_channels=sam_config.num_channels,
        image_size=sam_config.image_size,
        patch_size=sam_config.patch_size,
        hidden_act=sam_config.hidden_act,
        layer_norm_eps=sam_config.layer_norm_eps,
        qkv_bias=sam_config.qkv_bias,
        mlp_dim=sam_config.mlp_dim,
        use_abs_pos=sam_config.use_abs_pos,
        use_rel_pos=sam_config.use_rel_pos,
        window_size=sam_config.window_size,
        global_attn_indexes=list(sam_config.global_attn_indexes),
        use_neck=True,
    )
    kwargs.update(overrides)
    return LvmMedViTConfig(**kwargs)


__all__ = [
    "HF_SAM_VISION_PREFIX",
    "sam_key_to_hf",
    "hf_key_to_sam",
    "lvmmed_vit_to_hf_sam_state_dict",
    "hf_sam_to_lvmmed_vit_state_dict",
    "lvmmed_vit_to_hf_sam_config",
    "hf_sam_to_lvmmed_vit_config",
]
