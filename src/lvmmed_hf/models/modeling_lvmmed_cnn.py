"""LVM-Med convolutional backbones: torchvision-layout ResNets as transformers models.

The module tree mirrors torchvision's ``resnet`` (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer1.0.downsample.0``), so the authors' ``lvmmed_resnet.torch`` maps 1:1 onto
``LvmMedCnnModel`` (prefix ``lvmmed.`` inside the heads). This file imports only torch,
transformers and its configuration, so it can be shipped as remote code.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.backbone_utils import BackboneMixin
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BackboneOutput,
    BaseModelOutputWithPoolingAndNoAttention,
    ImageClassifierOutputWithNoAttention,
)
from transformers.modeling_utils import PreTrainedModel

from .configuration_lvmmed_cnn import LvmMedCnnConfig


def _activation(name: str) -> nn.Module:
    # In-place ReLU (as torchvision) saves one allocation per activation; each input it is applied
    # to is a fresh BatchNorm or sum output that nothing else reads afterwards.
    return nn.ReLU(inplace=True) if name == "relu" else ACT2FN[name]


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    padding = kernel_size // 2
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)


class LvmMedCnnBlock(GradientCheckpointingLayer):
    """Residual block: ``"basic"`` (3x3, 3x3; ResNet-18/34) or ``"bottleneck"`` (1x1 reduce, 3x3 with
    the stride, 1x1 expand by 4; ResNet-50+), each convolution followed by its BatchNorm."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, config: LvmMedCnnConfig):
        super().__init__()
        if config.layer_type == "bottleneck":
            width = out_channels // 4
            convs = [
                _conv(in_channels, width, 1),
                _conv(width, width, 3, stride),
                _conv(width, out_channels, 1),
            ]
        else:
            convs = [_conv(in_channels, out_channels, 3, stride), _conv(out_channels, out_channels, 3)]
        self.num_convs = len(convs)
        for index, conv in enumerate(convs, start=1):
            self.add_module(f"conv{index}", conv)
            self.add_module(f"bn{index}", nn.BatchNorm2d(conv.out_channels))
        self.relu = _activation(config.hidden_act)
        # Projection shortcut (``downsample.0`` conv, ``downsample.1`` BatchNorm) where shapes change.
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                _conv(in_channels, out_channels, 1, stride), nn.BatchNorm2d(out_channels)
            )

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        identity = hidden_states if self.downsample is None else self.downsample(hidden_states)
        out = hidden_states
        for index in range(1, self.num_convs + 1):
            out = getattr(self, f"bn{index}")(getattr(self, f"conv{index}")(out))
            if index < self.num_convs:
                out = self.relu(out)
        out += identity
        return self.relu(out)


class LvmMedCnnPreTrainedModel(PreTrainedModel):
    """Weight initialisation (torchvision's) and the loading conventions shared by every class."""

    config_class = LvmMedCnnConfig
    config: LvmMedCnnConfig
    base_model_prefix = "lvmmed"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["LvmMedCnnBlock"]

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            # torch's own nn.Linear.reset_parameters, which torchvision keeps for `fc`.
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in = module.weight.shape[1]
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                init.uniform_(module.bias, -bound, bound)
        # By name, not isinstance: DETR swaps BatchNorm2d for its own frozen variant with the same buffers.
        elif "BatchNorm" in module.__class__.__name__:
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            if getattr(module, "num_batches_tracked", None) is not None:
                init.zeros_(module.num_batches_tracked)


class LvmMedCnnModel(LvmMedCnnPreTrainedModel):
    """The bare network: stem (``conv1``, ``bn1``, ``maxpool``) and stages ``layer1``... ``layerN``."""

    def __init__(self, config: LvmMedCnnConfig):
        super().__init__(config)
        self.conv1 = nn.Conv2d(
            config.num_channels, config.embedding_size, kernel_size=7, stride=2, padding=3, bias=False
        )
        self.bn1 = nn.BatchNorm2d(config.embedding_size)
        self.relu = _activation(config.hidden_act)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = config.embedding_size
        for index, (depth, out_channels) in enumerate(zip(config.depths, config.hidden_sizes)):
            blocks = [LvmMedCnnBlock(in_channels, out_channels, 1 if index == 0 else 2, config)]
            blocks += [LvmMedCnnBlock(out_channels, out_channels, 1, config) for _ in range(depth - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))
            in_channels = out_channels
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.post_init()

    def forward_features(
        self, pixel_values: torch.Tensor, num_stages: int | None = None, keep_all: bool = True
    ) -> list[torch.Tensor]:
        """Stem output (after max-pool) then each stage's output, stopping after ``num_stages`` stages
        (default: all). With ``keep_all=False`` only the last map is returned (a list of one)."""
        if pixel_values.ndim != 4 or pixel_values.shape[1] != self.config.num_channels:
            raise ValueError(
                f"pixel_values must have shape (batch, {self.config.num_channels}, height, width), "
                f"got {tuple(pixel_values.shape)}"
            )
        hidden_state = self.maxpool(self.relu(self.bn1(self.conv1(pixel_values))))
        maps = [hidden_state]
        for index in range(len(self.config.depths) if num_stages is None else num_stages):
            hidden_state = getattr(self, f"layer{index + 1}")(hidden_state)
            if keep_all:
                maps.append(hidden_state)
            else:
                maps = [hidden_state]
        return maps

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPoolingAndNoAttention | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch, num_channels, height, width)`): normalised images.

        Returns `last_hidden_state` (B, C, H/32, W/32), `pooler_output` (B, C) and, if asked,
        `hidden_states` (stem output after max-pool, then every stage's output).
        """
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        maps = self.forward_features(pixel_values, keep_all=bool(output_hidden_states))
        output = BaseModelOutputWithPoolingAndNoAttention(
            last_hidden_state=maps[-1],
            pooler_output=torch.flatten(self.avgpool(maps[-1]), 1),
            hidden_states=tuple(maps) if output_hidden_states else None,
        )
        return output if return_dict else output.to_tuple()


def _classification_head(config: LvmMedCnnConfig) -> nn.Module:
    """Linear (``classifier.weight``) or MLP (``classifier.0``, ``classifier.3``, ...) on pooled features."""
    if config.num_labels <= 0:
        return nn.Identity()
    layers: list[nn.Module] = []
    in_features, dropout = config.feature_dim, config.classifier_dropout
    for hidden in config.classifier_hidden_sizes:
        layers += [nn.Linear(in_features, hidden), _activation(config.hidden_act), nn.Dropout(dropout)]
        in_features = hidden
    head = nn.Linear(in_features, config.num_labels)
    return nn.Sequential(*layers, head) if layers else head


class LvmMedCnnForImageClassification(LvmMedCnnPreTrainedModel):
    """The backbone under ``lvmmed``, dropout and a linear or MLP head ``classifier`` on the pooled features.

    With ``config.freeze_backbone`` (linear evaluation) the backbone parameters do not require
    gradients and the backbone stays in eval mode (BatchNorm keeps its running statistics) even
    when the model is put in training mode. Checkpoints whose head is named ``fc`` still load.
    """

    def __init__(self, config: LvmMedCnnConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.lvmmed = LvmMedCnnModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = _classification_head(config)
        self.post_init()
        self._register_load_state_dict_pre_hook(_rename_legacy_head, with_module=True)
        if config.freeze_backbone:
            self.freeze_backbone()

    def freeze_backbone(self) -> None:
        """Stop training the backbone (no gradients, BatchNorm statistics fixed); sets the config flag."""
        self.config.freeze_backbone = True
        self.lvmmed.requires_grad_(False)
        self.lvmmed.eval()

    def unfreeze_backbone(self) -> None:
        """Train the whole network again (follows the model's current train/eval mode)."""
        self.config.freeze_backbone = False
        self.lvmmed.requires_grad_(True)
        self.lvmmed.train(self.training)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        kwargs["key_mapping"] = {r"^fc\.": "classifier.", **(kwargs.get("key_mapping") or {})}
        model = super().from_pretrained(*args, **kwargs)
        # Loading replaces the parameter objects (requires_grad back to True): freeze them again.
        if model.config.freeze_backbone:
            model.freeze_backbone()
        return model

    def train(self, mode: bool = True) -> LvmMedCnnForImageClassification:
        super().train(mode)
        if self.config.freeze_backbone:
            self.lvmmed.eval()
        return self

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ImageClassifierOutputWithNoAttention | tuple:
        r"""
        labels (`torch.LongTensor` of shape `(batch,)` or `torch.FloatTensor` of shape `(batch, num_labels)`):
            class indices (single-label cross-entropy), multi-hot targets (multi-label BCE) or
            regression targets (MSE), chosen by `config.problem_type` as in transformers.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.lvmmed(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = self.loss_function(labels, logits, self.config) if labels is not None else None
        output = ImageClassifierOutputWithNoAttention(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states
        )
        return output if return_dict else output.to_tuple()


def _rename_legacy_head(module, state_dict, prefix, *args) -> None:
    """``load_state_dict`` pre-hook: ``fc.*`` of an old head checkpoint becomes ``classifier.*``."""
    for key in [k for k in state_dict if k.startswith(prefix + "fc.")]:
        state_dict[prefix + re.sub(r"^fc\.", "classifier.", key[len(prefix) :])] = state_dict.pop(key)


class LvmMedCnnBackbone(BackboneMixin, LvmMedCnnPreTrainedModel):
    """Multi-scale feature maps for detection/segmentation heads (UperNet, DETR, Mask2Former, ...).

    Stage names: ``"stem"`` (stride 4, ``embedding_size`` channels), ``"stage1"`` ... (strides 4,
    8, 16, 32 for four stages). Only the stages up to the deepest requested one are computed.
    """

    has_attentions = False

    def __init__(self, config: LvmMedCnnConfig):
        super().__init__(config)
        self.lvmmed = LvmMedCnnModel(config)
        self.num_features = [config.embedding_size] + list(config.hidden_sizes)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BackboneOutput | tuple:
        """Returns `feature_maps`: one (B, C_i, H_i, W_i) map per entry of `config.out_features`."""
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        indices = [index % len(self.stage_names) for index in self.out_indices]
        # maps[0] is the stem, so the deepest requested map index equals the number of stages to run.
        maps = self.lvmmed.forward_features(pixel_values, None if output_hidden_states else max(indices))
        output = BackboneOutput(
            feature_maps=tuple(maps[index] for index in indices),
            hidden_states=tuple(maps) if output_hidden_states else None,
        )
        return output if return_dict else output.to_tuple()


__all__ = [
    "LvmMedCnnBackbone",
    "LvmMedCnnForImageClassification",
    "LvmMedCnnModel",
    "LvmMedCnnPreTrainedModel",
]
