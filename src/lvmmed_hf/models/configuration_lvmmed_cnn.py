"""Configuration of the LVM-Med convolutional backbones (torchvision-layout ResNets).

The keyword arguments mirror transformers' ``ResNetConfig`` so that a ResNet-18/34 (``"basic"``
blocks) or ResNet-50/101/152 (``"bottleneck"`` blocks) is described the same way in both
libraries. The model type deliberately avoids the word "resnet": DETR freezes every backbone
parameter of a backbone whose model type contains it.
"""

from __future__ import annotations

from transformers.backbone_utils import BackboneConfigMixin
from transformers.configuration_utils import PreTrainedConfig

LAYER_TYPES = ("basic", "bottleneck")


class LvmMedCnnConfig(BackboneConfigMixin, PreTrainedConfig):
    r"""
    Configuration of [`LvmMedCnnModel`], [`LvmMedCnnForImageClassification`] and [`LvmMedCnnBackbone`].

    The default values give the ResNet-50 that LVM-Med released (`lvmmed_resnet.torch`).

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
        classifier_hidden_sizes (`list[int]`, defaults to `[]`): hidden widths of the classification
            head. Empty gives a linear head (LVM-Med's "1-FCN"); e.g. `[512, 256]` its "multi-FCN".
        classifier_dropout (`float`, defaults to 0.0): dropout before every linear layer of the head.
        freeze_backbone (`bool`, defaults to `False`): linear evaluation. The backbone's parameters do
            not train and its BatchNorm layers stay in inference mode while the head trains.
        out_features (`list[str]`, *optional*): stages a [`LvmMedCnnBackbone`] returns, among
            `"stem"`, `"stage1"`, ... (default: the last stage).
        out_indices (`list[int]`, *optional*): the same as indices into `stage_names`.

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
    classifier_hidden_sizes: list[int] | tuple[int, ...] = ()
    classifier_dropout: float = 0.0
    freeze_backbone: bool = False

    def __post_init__(self, **kwargs):
        self.hidden_sizes = [int(size) for size in self.hidden_sizes]
        self.depths = [int(depth) for depth in self.depths]
        self.classifier_hidden_sizes = [int(size) for size in self.classifier_hidden_sizes]
        self._validate_architecture()
        self.stage_names = ["stem"] + [f"stage{idx}" for idx in range(1, len(self.depths) + 1)]
        self.set_output_features_output_indices(
            out_indices=kwargs.pop("out_indices", None), out_features=kwargs.pop("out_features", None)
        )
        super().__post_init__(**kwargs)

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
        if not 0.0 <= self.classifier_dropout < 1.0:
            raise ValueError(f"classifier_dropout must be in [0, 1), got {self.classifier_dropout}")

    @property
    def feature_dim(self) -> int:
        """Channels C of the last feature map and of the pooled features."""
        return self.hidden_sizes[-1]


__all__ = ["LvmMedCnnConfig"]
