"""Configuration of the LVM-Med vision transformers (SAM's ViT image encoder).

The defaults describe LVM-Med's ViT-B (`lvmmed_vit.pth`): SAM's ViT-B image encoder for 1024-px
inputs, 14 x 14 windowed attention except in blocks 2, 5, 8 and 11, decomposed relative positions,
no absolute position embedding. A converted release has SAM's 256-channel neck (`use_neck=True`).
The model type avoids "resnet" (DETR freezes such backbones) and "sam" (transformers owns those).
"""

from __future__ import annotations

from .configuration_lvmmed_base import LvmMedBaseConfig


class LvmMedViTConfig(LvmMedBaseConfig):
    r"""
    Configuration of [`LvmMedViTModel`], [`LvmMedViTForImageClassification`] and [`LvmMedViTBackbone`].

    The head, pretraining and backbone-output options are those of [`LvmMedBaseConfig`]; the
    backbone's stages are `"stem"` (patch embedding) and `"stage1"` ... `"stage{num_hidden_layers}"`.

    Args:
        hidden_size (`int`, defaults to 768): token width C.
        num_hidden_layers (`int`, defaults to 12): transformer blocks.
        num_attention_heads (`int`, defaults to 12): heads per block; must divide `hidden_size`.
        mlp_dim (`int`, defaults to 3072): hidden width of each block's MLP.
        num_channels (`int`, defaults to 3): input image channels.
        image_size (`int`, defaults to 1024): the input size (pixels) the position tables are made for
            (global blocks hold `2 * image_size / patch_size - 1` relative positions). Inputs of any
            multiple of `patch_size` work: the tables are resized linearly.
        patch_size (`int`, defaults to 16): side of the square patches (pixels).
        window_size (`int`, defaults to 14): attention window side (patches) of the blocks not in
            `global_attn_indexes`, grids zero-padded to a multiple as in SAM; 0 makes every block global.
        global_attn_indexes (`list[int]`, defaults to `[2, 5, 8, 11]`): blocks attending globally.
        qkv_bias (`bool`, defaults to `True`): bias of the query/key/value projection.
        use_abs_pos (`bool`, defaults to `False`): learned absolute position embedding
            `(1, image_size / patch_size, image_size / patch_size, hidden_size)`, resized bicubically
            for other inputs. SAM has one; LVM-Med's released ViT does not.
        use_rel_pos (`bool`, defaults to `True`): decomposed relative position bias (MViTv2, SAM).
        use_neck (`bool`, defaults to `False`): SAM's neck (conv 1x1, LayerNorm, conv 3x3, LayerNorm) to
            `output_channels`, giving `neck_embeddings`; everything else uses the map before the neck.
        output_channels (`int`, defaults to 256): channels of the neck.
        layer_norm_eps (`float`, defaults to 1e-6): epsilon of every LayerNorm.
        hidden_act (`str`, defaults to `"gelu"`): MLP activation (exact GELU as in SAM).
        initializer_range (`float`, defaults to 0.02): std of the truncated normal for linear layers.

    Example:

    ```python
    >>> from lvmmed_hf import LvmMedViTConfig, LvmMedViTModel
    >>> config = LvmMedViTConfig()  # SAM ViT-B as released by LVM-Med
    >>> model = LvmMedViTModel(config)
    >>> config.feature_dim
    768
    ```
    """

    model_type = "lvmmed_vit"

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    mlp_dim: int = 3072
    num_channels: int = 3
    image_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    global_attn_indexes: list[int] | tuple[int, ...] = (2, 5, 8, 11)
    qkv_bias: bool = True
    use_abs_pos: bool = False
    use_rel_pos: bool = True
    use_neck: bool = False
    output_channels: int = 256
    layer_norm_eps: float = 1e-6
    hidden_act: str = "gelu"
    initializer_range: float = 0.02
    _int_list_fields = (*LvmMedBaseConfig._int_list_fields, "global_attn_indexes")

    def _validate_architecture(self) -> None:
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "mlp_dim", "patch_size"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} must be divisible by "
                f"num_attention_heads={self.num_attention_heads}"
            )
        if self.image_size <= 0 or self.image_size % self.patch_size:
            raise ValueError(
                f"image_size={self.image_size} must be a positive multiple of patch_size={self.patch_size}"
            )
        if self.window_size < 0:
            raise ValueError(f"window_size must be >= 0 (0 = every block global), got {self.window_size}")
        bad = [i for i in self.global_attn_indexes if not 0 <= i < self.num_hidden_layers]
        if bad:
            raise ValueError(
                f"global_attn_indexes {bad} are not block indices in [0, {self.num_hidden_layers - 1}]"
            )

    def block_window_size(self, index: int) -> int:
        """Window side (patches) of block `index`; 0 for a global-attention block."""
        return 0 if index in self.global_attn_indexes else self.window_size

    @property
    def num_stages(self) -> int:
        return self.num_hidden_layers

    @property
    def feature_dim(self) -> int:
        """Channels C of `last_hidden_state` and `pooler_output` (before the neck: `hidden_size`)."""
        return self.hidden_size


__all__ = ["LvmMedViTConfig"]
