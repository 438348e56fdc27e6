"""Key mapping between the torchvision ResNet layout (= ours, = the authors' checkpoint) and
transformers' stock ``ResNetModel`` / ``ResNetBackbone`` / ``ResNetForImageClassification``.

torchvision / ours                    transformers ResNet
``conv1.weight``                      ``embedder.embedder.convolution.weight``
``bn1.*``                             ``embedder.embedder.normalization.*``
``layer{i}.{j}.conv{k}.weight``       ``encoder.stages.{i-1}.layers.{j}.layer.{k-1}.convolution.weight``
``layer{i}.{j}.bn{k}.*``              ``encoder.stages.{i-1}.layers.{j}.layer.{k-1}.normalization.*``
``layer{i}.{j}.downsample.0.weight``  ``encoder.stages.{i-1}.layers.{j}.shortcut.convolution.weight``
``layer{i}.{j}.downsample.1.*``       ``encoder.stages.{i-1}.layers.{j}.shortcut.normalization.*``
``fc.*``                              ``classifier.1.*`` (classification model only)

In ``ResNetForImageClassification`` the backbone keys carry the prefix ``resnet.``. Both layouts put
the bottleneck stride on the 3x3 convolution (transformers' ``downsample_in_bottleneck=False``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from transformers import ResNetConfig, ResNetForImageClassification, ResNetModel
from transformers.utils import logging

from .configuration_lvmmed_cnn import LvmMedCnnConfig
from .modeling_lvmmed_cnn import LvmMedCnnForImageClassification, LvmMedCnnModel, LvmMedCnnPreTrainedModel

logger = logging.get_logger(__name__)

_BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_STEM_CONV = re.compile(r"^conv1\.weight$")
_STEM_BN = re.compile(r"^bn1\.(\w+)$")
_BLOCK_CONV = re.compile(r"^layer(\d+)\.(\d+)\.conv(\d+)\.weight$")
_BLOCK_BN = re.compile(r"^layer(\d+)\.(\d+)\.bn(\d+)\.(\w+)$")
_SHORTCUT = re.compile(r"^layer(\d+)\.(\d+)\.downsample\.([01])\.(\w+)$")
_FC = re.compile(r"^fc\.(weight|bias)$")

_HF_STEM = re.compile(r"^embedder\.embedder\.(convolution|normalization)\.(\w+)$")
_HF_BLOCK = re.compile(
    r"^encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.(convolution|normalization)\.(\w+)$"
)
_HF_SHORTCUT = re.compile(
    r"^encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.(convolution|normalization)\.(\w+)$"
)
_HF_CLASSIFIER = re.compile(r"^classifier\.1\.(weight|bias)$")


def _torchvision_key_to_transformers(key: str) -> str | None:
    """One torchvision-layout backbone key to the transformers ``ResNetModel`` key (None for ``fc``)."""
    if _STEM_CONV.match(key):
        return "embedder.embedder.convolution.weight"
    if (m := _STEM_BN.match(key)) and m.group(1) in _BN_SUFFIXES:
        return f"embedder.embedder.normalization.{m.group(1)}"
    if m := _BLOCK_CONV.match(key):
        stage, block, conv = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return f"encoder.stages.{stage - 1}.layers.{block}.layer.{conv - 1}.convolution.weight"
    if (m := _BLOCK_BN.match(key)) and m.group(4) in _BN_SUFFIXES:
        stage, block, bn = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return f"encoder.stages.{stage - 1}.layers.{block}.layer.{bn - 1}.normalization.{m.group(4)}"
    if m := _SHORTCUT.match(key):
        stage, block = int(m.group(1)), int(m.group(2))
        part = "convolution" if m.group(3) == "0" else "normalization"
        return f"encoder.stages.{stage - 1}.layers.{block}.shortcut.{part}.{m.group(4)}"
    return None


def torchvision_to_transformers_resnet(
    state_dict: Mapping[str, torch.Tensor], for_classification: bool = False
) -> dict[str, torch.Tensor]:
    """Rename a torchvision-layout ResNet state dict for transformers' stock ResNet classes.

    Args:
        state_dict: keys ``conv1.weight``, ``bn1.*``, ``layer1.0.conv1.weight``, ... and optionally
            ``fc.*`` (no wrapper prefix; see :func:`strip_lvmmed_prefix`).
        for_classification: target ``ResNetForImageClassification``: backbone keys get the prefix
            ``resnet.`` and ``fc.*`` becomes ``classifier.1.*``. Otherwise ``fc.*`` is dropped
            (``ResNetModel`` and ``ResNetBackbone`` have no classifier).

    Raises:
        KeyError: for a key that belongs to neither layout part, naming it.
    """
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        if m := _FC.match(key):
            if for_classification:
                converted[f"classifier.1.{m.group(1)}"] = tensor
            else:
                logger.info("dropping %s: transformers' ResNetModel has no classifier", key)
            continue
        new_key = _torchvision_key_to_transformers(key)
        if new_key is None:
            raise KeyError(f"state_dict key {key!r} is not part of a torchvision-layout ResNet")
        converted[f"resnet.{new_key}" if for_classification else new_key] = tensor
    return converted


def transformers_resnet_to_torchvision(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`torchvision_to_transformers_resnet` (accepts ``ResNetModel``, ``ResNetBackbone``
    and ``ResNetForImageClassification`` state dicts; ``classifier.1.*`` becomes ``fc.*``)."""
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        bare = key.removeprefix("resnet.")
        if m := _HF_CLASSIFIER.match(bare):
            converted[f"fc.{m.group(1)}"] = tensor
        elif m := _HF_STEM.match(bare):
            converted["conv1.weight" if m.group(1) == "convolution" else f"bn1.{m.group(2)}"] = tensor
        elif m := _HF_BLOCK.match(bare):
            stage, block, index = int(m.group(1)) + 1, int(m.group(2)), int(m.group(3)) + 1
            name = f"conv{index}" if m.group(4) == "convolution" else f"bn{index}"
            converted[f"layer{stage}.{block}.{name}.{m.group(5)}"] = tensor
        elif m := _HF_SHORTCUT.match(bare):
            stage, block = int(m.group(1)) + 1, int(m.group(2))
            part = "0" if m.group(3) == "convolution" else "1"
            converted[f"layer{stage}.{block}.downsample.{part}.{m.group(4)}"] = tensor
        else:
            raise KeyError(f"state_dict key {key!r} is not part of a transformers ResNet")
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
    """Copy one of our models into transformers' stock class with identical outputs.

    ``LvmMedCnnModel`` gives ``ResNetModel``; ``LvmMedCnnForImageClassification`` with a linear head
    gives ``ResNetForImageClassification``. An MLP head has no stock counterpart.

    Raises:
        ValueError: for an MLP head or an unsupported model class.
    """
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
