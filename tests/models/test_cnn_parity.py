"""Parity of the LVM-Med CNN with transformers' independent ResNet implementation, and the
torchvision key layout the authors' checkpoint uses."""

from __future__ import annotations

import pytest
import torch
from transformers import ResNetBackbone, ResNetConfig, ResNetForImageClassification, ResNetModel

from lvmmed_hf import LvmMedCnnBackbone, LvmMedCnnConfig, LvmMedCnnForImageClassification, LvmMedCnnModel
from lvmmed_hf.models.conversion_cnn import (
    export_to_transformers_resnet,
    strip_lvmmed_prefix,
    to_transformers_resnet_config,
    torchvision_to_transformers_resnet,
    transformers_resnet_to_torchvision,
)

TINY = dict(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 2, 1, 1], layer_type="basic")


def _randomise(model: torch.nn.Module, seed: int = 0) -> None:
    """Random weights everywhere, BatchNorm statistics included, at a scale that keeps activations O(1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(0.5 + 0.5 * torch.rand(n, generator=gen))
                module.bias.copy_(0.1 * torch.randn(n, generator=gen))
                module.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(n, generator=gen))
            elif isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (1.0 / fan_in) ** 0.5)
                if module.bias is not None:
                    module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))


def _torchvision_resnet_keys(depths: list[int], bottleneck: bool) -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's resnet{18,34,50,...} state dict, written from its architecture."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

    def bn_keys(prefix: str, n: int) -> dict[str, tuple[int, ...]]:
        return {f"{prefix}.{s}": (() if s == "num_batches_tracked" else (n,)) for s in bn}

    keys = {"conv1.weight": (64, 3, 7, 7), **bn_keys("bn1", 64)}
    expansion = 4 if bottleneck else 1
    inplanes = 64
    for stage, (planes, depth) in enumerate(zip([64, 128, 256, 512], depths), start=1):
        for block in range(depth):
            p = f"layer{stage}.{block}"
            if bottleneck:
                keys[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
                keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                keys[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
                keys.update(bn_keys(f"{p}.bn1", planes) | bn_keys(f"{p}.bn2", planes))
                keys.update(bn_keys(f"{p}.bn3", planes * 4))
            else:
                keys[f"{p}.conv1.weight"] = (planes, inplanes, 3, 3)
                keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                keys.update(bn_keys(f"{p}.bn1", planes) | bn_keys(f"{p}.bn2", planes))
            if block == 0 and (stage > 1 or inplanes != planes * expansion):
                keys[f"{p}.downsample.0.weight"] = (planes * expansion, inplanes, 1, 1)
                keys.update(bn_keys(f"{p}.downsample.1", planes * expansion))
            inplanes = planes * expansion
    keys["fc.weight"] = (1000, 512 * expansion)
    keys["fc.bias"] = (1000,)
    return keys


@pytest.mark.parametrize(
    "config_kwargs, depths, bottleneck",
    [
        ({}, [3, 4, 6, 3], True),  # ResNet-50, the released LVM-Med backbone
        (dict(hidden_sizes=[64, 128, 256, 512], depths=[2] * 4, layer_type="basic"), [2] * 4, False),
    ],
)
def test_torchvision_layout_state_dict_loads_with_zero_missing_and_unexpected(
    config_kwargs, depths, bottleneck
):
    expected = _torchvision_resnet_keys(depths, bottleneck)
    assert len(expected) == (320 if bottleneck else 122)
    authors = {k: torch.randn(shape) if shape else torch.tensor(7) for k, shape in expected.items()}
    backbone_keys = {k: v for k, v in authors.items() if not k.startswith("fc.")}

    model = LvmMedCnnModel(LvmMedCnnConfig(**config_kwargs))
    result = model.load_state_dict(backbone_keys, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert torch.equal(model.layer3[1].bn2.running_var, authors["layer3.1.bn2.running_var"])

    head = LvmMedCnnForImageClassification(LvmMedCnnConfig(**config_kwargs, num_labels=1000))
    result = head.load_state_dict(
        {("" if k.startswith("fc.") else "lvmmed.") + k: v for k, v in authors.items()}, strict=True
    )
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_stock_config_matches_ours():
    ours = LvmMedCnnConfig(num_labels=3, out_features=["stage2", "stage4"])
    stock = to_transformers_resnet_config(ours)
    assert isinstance(stock, ResNetConfig)
    assert stock.downsample_in_bottleneck is False and stock.downsample_in_first_stage is False
    assert stock.depths == ours.depths and stock.hidden_sizes == ours.hidden_sizes
    assert stock.layer_type == ours.layer_type
    assert stock.num_labels == 3 and stock.out_features == ["stage2", "stage4"]


def test_r50_pooled_features_match_transformers_resnet():
    """The acceptance parity: max |ours - ResNetModel| of the pooled features <= 1e-5 (random weights)."""
    torch.manual_seed(0)
    ours = LvmMedCnnModel(LvmMedCnnConfig()).eval()
    _randomise(ours)
    torchvision_layout = strip_lvmmed_prefix(ours.state_dict())

    stock = ResNetModel(to_transformers_resnet_config(ours.config)).eval()
    stock.load_state_dict(torchvision_to_transformers_resnet(torchvision_layout), strict=True)

    pixels = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mine = ours(pixels, output_hidden_states=True)
        theirs = stock(pixels, output_hidden_states=True)
    diff = (mine.pooler_output - theirs.pooler_output.flatten(1)).abs().max().item()
    assert mine.pooler_output.abs().mean() > 1e-2  # features are not trivially zero
    assert diff <= 1e-5, diff
    for a, b in zip(mine.hidden_states, theirs.hidden_states):
        assert (a - b).abs().max().item() <= 1e-5


def test_classification_head_and_backbone_match_transformers():
    torch.manual_seed(0)
    config = LvmMedCnnConfig(**TINY, num_labels=4, out_features=["stem", "stage2", "stage4"])
    ours = LvmMedCnnForImageClassification(config).eval()
    _randomise(ours, seed=2)
    pixels = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(3))

    stock = export_to_transformers_resnet(ours)
    assert type(stock) is ResNetForImageClassification
    labels = torch.tensor([0, 3, 1])
    with torch.no_grad():
        mine, theirs = ours(pixels, labels=labels), stock(pixels, labels=labels)
    assert (mine.logits - theirs.logits).abs().max().item() <= 1e-5
    torch.testing.assert_close(mine.loss, theirs.loss)

    # the same weights in transformers' ResNetBackbone give the same multi-scale maps as ours
    backbone = LvmMedCnnBackbone(config).eval()
    backbone.load_state_dict({k: v for k, v in ours.state_dict().items() if k.startswith("lvmmed.")})
    stock_backbone = ResNetBackbone(to_transformers_resnet_config(config)).eval()
    stock_backbone.load_state_dict(
        torchvision_to_transformers_resnet(strip_lvmmed_prefix(backbone.state_dict())), strict=True
    )
    with torch.no_grad():
        for a, b in zip(backbone(pixels).feature_maps, stock_backbone(pixels).feature_maps, strict=True):
            assert (a - b).abs().max().item() <= 1e-5


def test_key_mapping_round_trips_and_rejects_foreign_keys():
    ours = LvmMedCnnForImageClassification(LvmMedCnnConfig(**TINY, num_labels=2))
    torchvision_layout = strip_lvmmed_prefix(ours.state_dict())
    hf = torchvision_to_transformers_resnet(torchvision_layout, for_classification=True)
    assert "resnet.encoder.stages.1.layers.1.layer.1.normalization.running_var" in hf
    assert "classifier.1.weight" in hf
    back = transformers_resnet_to_torchvision(hf)
    assert back.keys() == torchvision_layout.keys()
    assert all(back[k] is torchvision_layout[k] for k in back)
    assert "fc.weight" not in torchvision_to_transformers_resnet(torchvision_layout)
    with pytest.raises(KeyError, match="patch_embed.proj.weight"):
        torchvision_to_transformers_resnet({"patch_embed.proj.weight": torch.zeros(1)})
    with pytest.raises(KeyError, match="pooler.weight"):
        transformers_resnet_to_torchvision({"pooler.weight": torch.zeros(1)})


def test_mlp_head_has_no_stock_export():
    config = LvmMedCnnConfig(**TINY, num_labels=2, classifier_hidden_sizes=[8])
    model = LvmMedCnnForImageClassification(config)
    with pytest.raises(ValueError, match="linear head only"):
        export_to_transformers_resnet(model)
