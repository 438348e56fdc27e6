"""Configuration of the LVM-Med vision transformers (SAM's ViT image encoder).

The defaults describe the ViT-B of LVM-Med (`lvmmed_vit.pth`): SAM's ViT-B image encoder made for
1024-px inputs (64 x 64 patch grid), windowed attention (14 x 14) everywhere but in blocks 2, 5, 8
and 11, decomposed relative positions, no absolute position embedding. The released file also
carries SAM's 256-channel neck; a converted release has `use_neck=True` (the converter reads it
from the keys), the bare default config has none. The model type deliberately avoids the word
"resnet" (DETR freezes such backbones) and the word "sam" (transformers owns those model types).
"""

from __future__ import annotations

from transformers.backbone_utils import BackboneConfigMixin
from transformers.configuration_utils import PreTrainedConfig


class LvmMedViTConfig(BackboneConfigMixin, PreTrainedConfig):
    r"""
    Configuration of [`LvmMedViTModel`], [`LvmMedViTForImageClassification`] and [`LvmMedViTBackbone`].

    Args:
        hidden_size (`int`, defaults to 768): token width C.
        num_hidden_layers (`int`, defaults to 12): transformer blocks.
        num_attention_heads (`int`, defaults to 12): heads per block; must divide `hidden_size`.
        mlp_dim (`int`, defaults to 3072): hidden width of each block's MLP.
        num_channels (`int`, defaults to 3): input image channels.
        image_size (`int`, defaults to 1024): the input size (pixels) the position tables were made
            for. Global-attention blocks hold `2 * image_size / patch_size - 1` relative positions.
            Any input whose sides are multiples of `patch_size` works: tables are resized linearly.
        patch_size (`int`, defaults to 16): side of the square patches (pixels).
        window_size (`int`, defaults to 14): side of the attention windows (patches) of the blocks not
            in `global_attn_indexes`; 0 makes every block global. Grids that are not a multiple of it
            are zero-padded, as in SAM.
        global_attn_indexes (`list[int]`, defaults to `[2, 5, 8, 11]`): blocks attending globally.
        qkv_bias (`bool`, defaults to `True`): bias of the query/key/value projection.
        use_abs_pos (`bool`, defaults to `False`): learned absolute position embedding of shape
            `(1, image_size / patch_size, image_size / patch_size, hidden_size)`, resized bicubically
            for other inputs. SAM has one; LVM-Med's released ViT does not.
        use_rel_pos (`bool`, defaults to `True`): decomposed relative position bias (MViTv2, SAM).
        use_neck (`bool`, defaults to `False`): SAM's neck (conv 1x1, LayerNorm2d, conv 3x3,
            LayerNorm2d) mapping the last map to `output_channels`. Its output is the model's
            `neck_embeddings` (SAM's image embeddings); `last_hidden_state`, `pooler_output`, the
            classification head and the backbone always use the map before the neck.
        output_channels (`int`, defaults to 256): channels of the neck.
        layer_norm_eps (`float`, defaults to 1e-6): epsilon of every LayerNorm.
        hidden_act (`str`, defaults to `"gelu"`): MLP activation (exact GELU as in SAM).
        initializer_range (`float`, defaults to 0.02): std of the truncated normal for linear layers.
        classifier_hidden_sizes (`list[int]`, defaults to `[]`): hidden widths of the classification
            head. Empty gives a linear head (LVM-Med's "1-FCN"); e.g. `[512, 256]` its "multi-FCN".
        classifier_dropout (`float`, defaults to 0.0): dropout before every linear layer of the head.
        freeze_backbone (`bool`, defaults to `False`): linear evaluation; the encoder does not train.
        out_features (`list[str]`, *optional*): maps an [`LvmMedViTBackbone`] returns, among `"stem"`
            (patch embedding) and `"stage1"` ... `"stage{num_hidden_layers}"` (block outputs).
        out_indices (`list[int]`, *optional*): the same as indices into `stage_names`.

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
    classifier_hidden_sizes: list[int] | tuple[int, ...] = ()
    classifier_dropout: float = 0.0
    freeze_backbone: bool = False

    def __post_init__(self, **kwargs):
        self.global_attn_indexes = [int(i) for i in self.global_attn_indexes]
        self.classifier_hidden_sizes = [int(size) for size in self.classifier_hidden_sizes]
        self._validate_architecture()
        self.stage_names = ["stem"] + [f"stage{idx}" for idx in range(1, self.num_hidden_layers + 1)]
        self.set_output_features_output_indices(
            out_indices=kwargs.pop("out_indices", None), out_features=kwargs.pop("out_features", None)
        )
        super().__post_init__(**kwargs)

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
        if not 0.0 <= self.classifier_dropout < 1.0:
            raise ValueError(f"classifier_dropout must be in [0, 1), got {self.classifier_dropout}")

    def block_window_size(self, index: int) -> int:
        """Window side (patches) of block `index`; 0 for a global-attention block."""
        return 0 if index in self.global_attn_indexes else self.window_size

    @property
    def feature_dim(self) -> int:
        """Channels C of `last_hidden_state` and `pooler_output` (before the neck: `hidden_size`)."""
        return self.hidden_size


__all__ = ["LvmMedViTConfig"]
