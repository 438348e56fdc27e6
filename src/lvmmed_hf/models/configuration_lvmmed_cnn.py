"""Configuration of the LVM-Med convolutional backbones (torchvision-layout ResNets).

The keyword arguments mirror transformers' ``ResNetConfig``. The model type avoids the word
"resnet": DETR freezes every parameter of a backbone whose model type contains it.
"""

from __future__ import annotations

from .configuration_lvmmed_base import LvmMedBaseConfig

LAYER_TYPES = ("basic", "bottleneck")


class LvmMedCnnConfig(LvmMedBaseConfig):
    r"""
    Configuration of [`LvmMedCnnModel`], [`LvmMedCnnForImageClassification`] and [`LvmMedCnnBackbone`].

    The default values give the ResNet-50 that LVM-Med released (`lvmmed_resnet.torch`). The head,
    pretraining and backbone-output options are those of [`LvmMedBaseConfig`].

    Args:
        num_channels (`int`, defaults to 3): input channels.
        embedding_size (`int`, defaults to 64): channels of the 7x7 stem convolution.
        hidden_sizes (`list[int]`, defaults to `[256, 512, 1024, 2048]`): output channels of each stage.
            For bottleneck blocks the inner width is `hidden_size // 4` (torchvision's expansion of 4).
        depths (`list[int]`, defaults to `[3, 4, 6, 3]`): residual blocks per stage.
        layer_type (`str`, defaults to `"bottleneck"`): `"basic"` (two 3x3 convolutions, ResNet-18/34)
            or `"bottleneck"` (1x1, 3x3, 1x1, ResNet-50 and deeper). The stride of a bottleneck block
            sits on its 3x3 convolution (torchvision's "ResNet v1.5").
        hidden_act (`str`, defaults to `"relu"`): activation after each normalisation.
        freeze_backbone (`bool`, defaults to `False`): linear evaluation; the backbone's BatchNorm layers
            also stay in inference mode while the head trains.

    Example:

    ```python
    >>> from lvmmed_hf import LvmMedCnnConfig, LvmMedCnnModel
    >>> config = LvmMedCnnConfig()  # ResNet-50
    >>> model = LvmMedCnnModel(config)
    >>> config.feature_dim
    2048
    ```
    """

    model_type = "lvmmed_cnn"

    num_channels: int = 3
    embedding_size: int = 64
    hidden_sizes: list[int] | tuple[int, ...] = (256, 512, 1024, 2048)
    depths: list[int] | tuple[int, ...] = (3, 4, 6, 3)
    layer_type: str = "bottleneck"
    hidden_act: str = "relu"
    _int_list_fields = (*LvmMedBaseConfig._int_list_fields, "hidden_sizes", "depths")

    def _validate_architecture(self) -> None:
        if self.layer_type not in LAYER_TYPES:
            raise ValueError(f"layer_type={self.layer_type!r} is not one of {list(LAYER_TYPES)}")
        if not self.depths or len(self.depths) != len(self.hidden_sizes):
            raise ValueError(
                f"depths ({self.depths}) and hidden_sizes ({self.hidden_sizes}) must be non-empty lists "
                "of the same length (one entry per stage)"
            )
        if any(depth < 1 for depth in self.depths):
            raise ValueError(f"every stage needs at least one block, got depths={self.depths}")
        if self.layer_type == "bottleneck" and any(size % 4 for size in self.hidden_sizes):
            raise ValueError(
                f"bottleneck blocks expand their inner width by 4: hidden_sizes={self.hidden_sizes} "
                "must all be divisible by 4"
            )

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    @property
    def feature_dim(self) -> int:
        """Channels C of the last feature map and of the pooled features."""
        return self.hidden_sizes[-1]


__all__ = ["LvmMedCnnConfig"]
