"""Key mapping between the torchvision ResNet layout (= ours, = the authors' checkpoint) and
transformers' stock ``ResNetModel`` / ``ResNetBackbone`` / ``ResNetForImageClassification``.

In ``ResNetForImageClassification`` the backbone keys carry the prefix ``resnet.`` and ``fc.*`` is
``classifier.1.*``. Both layouts put the bottleneck stride on the 3x3 convolution (transformers'
``downsample_in_bottleneck=False``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from transformers import ResNetConfig, ResNetForImageClassification, ResNetModel
from transformers.utils import logging

from .configuration_lvmmed_cnn import LvmMedCnnConfig
from .conversion import KeyTable
from .modeling_lvmmed_cnn import LvmMedCnnForImageClassification, LvmMedCnnModel, LvmMedCnnPreTrainedModel

logger = logging.get_logger(__name__)

_BATCH_NORM_PARAMS = "weight|bias|running_mean|running_var|num_batches_tracked"
#: torchvision name -> transformers name; stage ``s`` and layer ``k`` count from 1 in torchvision
#: (``layer1``, ``conv1``) and from 0 in transformers (``stages.0``, ``layer.0``).
RESNET_KEYS = KeyTable(
    [
        ("conv1.weight", "embedder.embedder.convolution.weight"),
        ("bn1.{bn}", "embedder.embedder.normalization.{bn}"),
        ("layer{s}.{j}.conv{k}.weight", "encoder.stages.{s}.layers.{j}.layer.{k}.convolution.weight"),
        ("layer{s}.{j}.bn{k}.{bn}", "encoder.stages.{s}.layers.{j}.layer.{k}.normalization.{bn}"),
        ("layer{s}.{j}.downsample.0.weight", "encoder.stages.{s}.layers.{j}.shortcut.convolution.weight"),
        ("layer{s}.{j}.downsample.1.{bn}", "encoder.stages.{s}.layers.{j}.shortcut.normalization.{bn}"),
        ("fc.{p}", "classifier.1.{p}"),
    ],
    fields={"s": r"\d+", "j": r"\d+", "k": r"\d+", "p": "weight|bias", "bn": _BATCH_NORM_PARAMS},
    one_based=("s", "k"),
)


def torchvision_to_transformers_resnet(
    state_dict: Mapping[str, torch.Tensor], for_classification: bool = False
) -> dict[str, torch.Tensor]:
    """Rename a torchvision-layout ResNet state dict (no wrapper prefix, see :func:`strip_lvmmed_prefix`)
    for transformers' stock ResNet classes.

    `for_classification`: target ``ResNetForImageClassification`` (backbone keys prefixed ``resnet.``,
    ``fc.*`` kept as ``classifier.1.*``); otherwise ``fc.*`` is dropped. A key of neither layout
    raises ``KeyError``.
    """
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        new_key = RESNET_KEYS.rename(key)
        if new_key is None:
            raise KeyError(f"state_dict key {key!r} is not part of a torchvision-layout ResNet")
        if key.startswith("fc."):
            if not for_classification:
                logger.info("dropping %s: transformers' ResNetModel has no classifier", key)
                continue
        elif for_classification:
            new_key = f"resnet.{new_key}"
        converted[new_key] = tensor
    return converted


def transformers_resnet_to_torchvision(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`torchvision_to_transformers_resnet` (accepts ``ResNetModel``, ``ResNetBackbone``
    and ``ResNetForImageClassification`` state dicts; ``classifier.1.*`` becomes ``fc.*``)."""
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        new_key = RESNET_KEYS.rename(key.removeprefix("resnet."), reverse=True)
        if new_key is None:
            raise KeyError(f"state_dict key {key!r} is not part of a transformers ResNet")
        converted[new_key] = tensor
    return converted


def strip_lvmmed_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our head/backbone keys (``lvmmed.conv1.weight``, ``classifier.weight``) to the bare torchvision
    layout (``conv1.weight``, ``fc.weight``)."""
    out = {}
    for key, tensor in state_dict.items():
        if key.startswith("classifier."):
            key = "fc." + key[len("classifier.") :]
        out[key.removeprefix("lvmmed.")] = tensor
    return out


def to_transformers_resnet_config(config: LvmMedCnnConfig) -> ResNetConfig:
    """The stock ``ResNetConfig`` describing the same network (and labels, and backbone outputs)."""
    return ResNetConfig(
        num_channels=config.num_channels,
        embedding_size=config.embedding_size,
        hidden_sizes=list(config.hidden_sizes),
        depths=list(config.depths),
        layer_type=config.layer_type,
        hidden_act=config.hidden_act,
        downsample_in_first_stage=False,
        downsample_in_bottleneck=False,
        id2label=dict(config.id2label),
        label2id=dict(config.label2id),
        problem_type=config.problem_type,
        out_features=list(config.out_features),
    )


def export_to_transformers_resnet(
    model: LvmMedCnnPreTrainedModel,
) -> ResNetModel | ResNetForImageClassification:
    """Copy ``LvmMedCnnModel`` into ``ResNetModel``, or ``LvmMedCnnForImageClassification`` with a
    linear head into ``ResNetForImageClassification``, with identical outputs (else ``ValueError``)."""
    config = to_transformers_resnet_config(model.config)
    state_dict = strip_lvmmed_prefix(model.state_dict())
    if isinstance(model, LvmMedCnnForImageClassification):
        if model.config.classifier_hidden_sizes:
            raise ValueError(
                "ResNetForImageClassification has a linear head only; this model has an MLP head "
                f"(classifier_hidden_sizes={model.config.classifier_hidden_sizes}). "
                "Export the backbone instead."
            )
        stock: ResNetModel | ResNetForImageClassification = ResNetForImageClassification(config)
        state_dict = torchvision_to_transformers_resnet(state_dict, for_classification=True)
    elif isinstance(model, LvmMedCnnModel):
        stock = ResNetModel(config)
        state_dict = torchvision_to_transformers_resnet(state_dict)
    else:
        raise ValueError(
            f"export_to_transformers_resnet expects LvmMedCnnModel or LvmMedCnnForImageClassification, "
            f"got {type(model).__name__}"
        )
    stock.load_state_dict(state_dict, strict=True)
    return stock.to(next(model.parameters()).device).train(model.training)


__all__ = [
    "export_to_transformers_resnet",
    "strip_lvmmed_prefix",
    "to_transformers_resnet_config",
    "torchvision_to_transformers_resnet",
    "transformers_resnet_to_torchvision",
]
