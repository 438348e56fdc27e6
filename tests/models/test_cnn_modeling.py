"""Common-model checks for the LVM-Med CNN family (the in-repo equivalent of transformers' model tests)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import (
    AutoBackbone,
    AutoConfig,
    AutoModel,
    AutoModelForImageClassification,
)
from transformers.modeling_outputs import (
    BackboneOutput,
    BaseModelOutputWithPoolingAndNoAttention,
    ImageClassifierOutputWithNoAttention,
)

from lvmmed_hf import (
    LvmMedCnnBackbone,
    LvmMedCnnConfig,
    LvmMedCnnForImageClassification,
    LvmMedCnnModel,
)

TINY = dict(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic")
TINY_BOTTLENECK = dict(
    embedding_size=8, hidden_sizes=[16, 32, 64, 128], depths=[2, 1, 1, 1], layer_type="bottleneck"
)


def _pixels(batch: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _randomise_batchnorm(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BatchNorm statistics and affines, so eval-mode outputs depend on every buffer."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(0.5 + torch.rand(n, generator=gen))
                module.bias.copy_(0.1 * torch.randn(n, generator=gen))
                module.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(n, generator=gen))


# ---------------------------------------------------------------- config


def test_config_defaults_are_resnet50_and_feature_dim():
    config = LvmMedCnnConfig()
    assert config.model_type == "lvmmed_cnn" and "resnet" not in config.model_type
    assert config.depths == [3, 4, 6, 3] and config.hidden_sizes == [256, 512, 1024, 2048]
    assert config.layer_type == "bottleneck" and config.embedding_size == 64
    assert config.feature_dim == 2048
    assert LvmMedCnnConfig(**TINY).feature_dim == 64
    assert config.stage_names == ["stem", "stage1", "stage2", "stage3", "stage4"]
    assert config.out_features == ["stage4"] and config.out_indices == [4]
    with pytest.raises(AttributeError):
        config.feature_dim = 3  # read-only


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(layer_type="preactivation"), "layer_type"),
        (dict(depths=[1, 1], hidden_sizes=[8, 16, 32]), "same length"),
        (dict(depths=[1, 0], hidden_sizes=[8, 16], layer_type="basic"), "at least one block"),
        (dict(hidden_sizes=[10, 16, 32, 64]), "divisible by 4"),
        (dict(classifier_dropout=1.0), "classifier_dropout"),
        (dict(out_features=["stage9"]), "out_features"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LvmMedCnnConfig(**kwargs)


def test_config_round_trip_through_autoconfig(tmp_path):
    config = LvmMedCnnConfig(
        **TINY,
        classifier_hidden_sizes=[12, 6],
        classifier_dropout=0.2,
        freeze_backbone=True,
        num_labels=4,
        out_features=["stem", "stage2"],
    )
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert type(loaded) is LvmMedCnnConfig
    for name in (
        "hidden_sizes",
        "depths",
        "layer_type",
        "embedding_size",
        "classifier_hidden_sizes",
        "classifier_dropout",
        "freeze_backbone",
        "num_labels",
        "out_features",
        "out_indices",
    ):
        assert getattr(loaded, name) == getattr(config, name), name
    assert loaded.out_indices == [0, 2]


# ---------------------------------------------------------------- base model


@pytest.mark.parametrize("kwargs", [TINY, TINY_BOTTLENECK])
def test_base_model_outputs_and_hidden_states(kwargs):
    config = LvmMedCnnConfig(**kwargs)
    model = LvmMedCnnModel(config).eval()
    pixels = _pixels(size=64)
    with torch.no_grad():
        out = model(pixels, output_hidden_states=True)
    assert isinstance(out, BaseModelOutputWithPoolingAndNoAttention)
    assert out.last_hidden_state.shape == (2, config.feature_dim, 2, 2)
    assert out.pooler_output.shape == (2, config.feature_dim)
    torch.testing.assert_close(out.pooler_output, out.last_hidden_state.mean(dim=(2, 3)))
    # stem (stride 4) then one map per stage at strides 4, 8, 16, 32
    assert len(out.hidden_states) == len(config.depths) + 1
    expected = [(config.embedding_size, 16)] + list(zip(config.hidden_sizes, [16, 8, 4, 2]))
    assert [(h.shape[1], h.shape[2]) for h in out.hidden_states] == expected
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)
    with torch.no_grad():
        plain = model(pixels)
    assert plain.hidden_states is None
    torch.testing.assert_close(plain.pooler_output, out.pooler_output)


def test_hidden_states_from_config_flag():
    model = LvmMedCnnModel(LvmMedCnnConfig(**TINY, output_hidden_states=True)).eval()
    with torch.no_grad():
        assert len(model(_pixels()).hidden_states) == 5


def test_return_dict_false_equals_dict_outputs():
    torch.manual_seed(0)
    pixels = _pixels()
    labels = torch.tensor([0, 2])
    config = LvmMedCnnConfig(**TINY, num_labels=3, out_features=["stage2", "stage4"])
    for cls, kwargs in [
        (LvmMedCnnModel, {}),
        (LvmMedCnnForImageClassification, {"labels": labels}),
        (LvmMedCnnBackbone, {}),
    ]:
        model = cls(config).eval()
        with torch.no_grad():
            as_dict = model(pixels, output_hidden_states=True, **kwargs)
            as_tuple = model(pixels, output_hidden_states=True, return_dict=False, **kwargs)
        assert isinstance(as_tuple, tuple), cls.__name__
        dict_values = [v for v in as_dict.values() if v is not None]
        assert len(as_tuple) == len(dict_values), cls.__name__
        for a, b in zip(as_tuple, dict_values):
            if isinstance(a, tuple):
                assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))
            else:
                assert torch.equal(a, b), cls.__name__


def test_wrong_number_of_channels_is_a_clear_error():
    model = LvmMedCnnModel(LvmMedCnnConfig(**TINY))
    with pytest.raises(ValueError, match=r"pixel_values must have shape \(batch, 3, height, width\)"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="pixel_values"):
        model(torch.randn(3, 32, 32))


def test_channels_last_input_gives_the_same_features():
    model = LvmMedCnnModel(LvmMedCnnConfig(**TINY_BOTTLENECK)).eval()
    _randomise_batchnorm(model)
    pixels = _pixels()
    with torch.no_grad():
        reference = model(pixels).pooler_output
        model_cl = model.to(memory_format=torch.channels_last)
        out = model_cl(pixels.contiguous(memory_format=torch.channels_last)).pooler_output
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)


def test_module_tree_is_torchvision_layout_with_stride_on_3x3():
    model = LvmMedCnnModel(LvmMedCnnConfig())
    assert model.conv1.stride == (2, 2) and model.conv1.kernel_size == (7, 7)
    first = model.layer2[0]
    assert first.conv1.stride == (1, 1) and first.conv2.stride == (2, 2)  # torchvision v1.5
    assert first.downsample[0].stride == (2, 2)
    assert model.layer1[0].downsample is not None  # 64 -> 256 channels
    assert model.layer1[1].downsample is None


# ---------------------------------------------------------------- init


def test_init_follows_torchvision_and_resets_batchnorm_buffers():
    torch.manual_seed(0)
    config = LvmMedCnnConfig(**TINY, num_labels=5, classifier_hidden_sizes=[32])
    model = LvmMedCnnForImageClassification(config)
    # kaiming normal, fan_out, gain sqrt(2): std = sqrt(2 / (out_channels * kh * kw))
    conv = model.lvmmed.layer4[0].conv2
    expected_std = math.sqrt(2.0 / (conv.out_channels * 9))
    assert abs(conv.weight.std().item() / expected_std - 1) < 0.05
    assert abs(conv.weight.mean().item()) < 0.05 * expected_std
    # nn.Linear's own default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight (kaiming a=sqrt(5)) and bias
    linear = model.classifier[0]
    bound = 1 / math.sqrt(linear.in_features)
    assert linear.weight.abs().max() <= bound and linear.bias.abs().max() <= bound
    assert linear.weight.abs().max() > 0.8 * bound
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0)
            assert torch.all(module.running_mean == 0) and torch.all(module.running_var == 1)
            assert module.num_batches_tracked.item() == 0


def test_missing_batchnorm_buffers_are_initialised_on_load(tmp_path):
    """Keys absent from a checkpoint must be initialised by `_init_weights`, buffers included."""
    model = LvmMedCnnModel(LvmMedCnnConfig(**TINY))
    _randomise_batchnorm(model)
    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    dropped = ["layer3.0.bn2.running_mean", "layer3.0.bn2.running_var", "layer3.0.bn2.weight"]
    for key in dropped:
        del weights[key]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    loaded = LvmMedCnnModel.from_pretrained(tmp_path)
    bn = loaded.layer3[0].bn2
    assert torch.all(bn.running_mean == 0) and torch.all(bn.running_var == 1) and torch.all(bn.weight == 1)
    # the keys that were present are the saved ones, not re-initialised
    torch.testing.assert_close(loaded.layer3[0].bn2.bias, model.layer3[0].bn2.bias)
    torch.testing.assert_close(loaded.layer2[0].bn1.running_var, model.layer2[0].bn1.running_var)


# ---------------------------------------------------------------- determinism and save/load


def test_determinism_and_seeded_construction():
    torch.manual_seed(3)
    a = LvmMedCnnModel(LvmMedCnnConfig(**TINY)).eval()
    torch.manual_seed(3)
    b = LvmMedCnnModel(LvmMedCnnConfig(**TINY)).eval()
    pixels = _pixels()
    with torch.no_grad():
        first, second, other = a(pixels).pooler_output, a(pixels).pooler_output, b(pixels).pooler_output
    assert torch.equal(first, second) and torch.equal(first, other)


def test_save_load_round_trip_through_auto_classes(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pixels = _pixels()
    config = LvmMedCnnConfig(
        **TINY, num_labels=3, classifier_hidden_sizes=[16], out_features=["stage1", "stage3"]
    )

    head = LvmMedCnnForImageClassification(config).eval()
    _randomise_batchnorm(head)
    head.save_pretrained(tmp_path / "head")
    loaded_head = AutoModelForImageClassification.from_pretrained(tmp_path / "head").eval()
    assert type(loaded_head) is LvmMedCnnForImageClassification
    with torch.no_grad():
        torch.testing.assert_close(loaded_head(pixels).logits, head(pixels).logits, rtol=0, atol=0)

    # a head checkpoint loads into the bare model (prefix `lvmmed.` stripped) and into the backbone
    bare = AutoModel.from_pretrained(tmp_path / "head").eval()
    assert type(bare) is LvmMedCnnModel
    backbone = LvmMedCnnBackbone.from_pretrained(tmp_path / "head").eval()
    with torch.no_grad():
        expected = head.lvmmed(pixels, output_hidden_states=True)
        torch.testing.assert_close(bare(pixels).pooler_output, expected.pooler_output, rtol=0, atol=0)
        maps = backbone(pixels).feature_maps
    assert len(maps) == 2
    torch.testing.assert_close(maps[0], expected.hidden_states[1], rtol=0, atol=0)
    torch.testing.assert_close(maps[1], expected.hidden_states[3], rtol=0, atol=0)

    # and the bare model back into a head: backbone weights identical
    bare.save_pretrained(tmp_path / "bare")
    head_again = LvmMedCnnForImageClassification.from_pretrained(tmp_path / "bare", num_labels=3)
    for key, value in bare.state_dict().items():
        assert torch.equal(head_again.lvmmed.state_dict()[key], value), key

    # backbone save/load, and AutoBackbone from a config
    backbone.save_pretrained(tmp_path / "backbone")
    again = LvmMedCnnBackbone.from_pretrained(tmp_path / "backbone").eval()
    with torch.no_grad():
        for x, y in zip(again(pixels).feature_maps, maps):
            assert torch.equal(x, y)
    assert type(AutoBackbone.from_config(config)) is LvmMedCnnBackbone


# ---------------------------------------------------------------- backbone


def test_backbone_out_features_out_indices_and_channels():
    config = LvmMedCnnConfig(**TINY, out_indices=[0, 1, -1])
    assert config.out_features == ["stem", "stage1", "stage4"]
    backbone = LvmMedCnnBackbone(config).eval()
    assert backbone.channels == [8, 8, 64]
    assert backbone.out_feature_channels == {"stem": 8, "stage1": 8, "stage2": 16, "stage3": 32, "stage4": 64}
    with torch.no_grad():
        out = backbone(_pixels(size=64))
    assert isinstance(out, BackboneOutput) and out.hidden_states is None
    assert [tuple(m.shape) for m in out.feature_maps] == [(2, 8, 16, 16), (2, 8, 16, 16), (2, 64, 2, 2)]

    only_stage2 = LvmMedCnnBackbone(LvmMedCnnConfig(**TINY, out_features=["stage2"])).eval()
    only_stage2.load_state_dict(backbone.state_dict())
    with torch.no_grad():
        out2 = only_stage2(_pixels(size=64), output_hidden_states=True)
        reference = backbone.lvmmed(_pixels(size=64), output_hidden_states=True).hidden_states
    assert len(out2.hidden_states) == 5
    assert torch.equal(out2.feature_maps[0], reference[2])


# ---------------------------------------------------------------- heads, losses and training


def test_losses_follow_problem_type():
    torch.manual_seed(0)
    pixels = _pixels(batch=4)
    model = LvmMedCnnForImageClassification(LvmMedCnnConfig(**TINY, num_labels=3)).eval()
    with torch.no_grad():
        labels = torch.tensor([0, 1, 2, 1])
        out = model(pixels, labels=labels)
        assert isinstance(out, ImageClassifierOutputWithNoAttention) and out.logits.shape == (4, 3)
        torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))

        multi = torch.tensor([[1.0, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]])
        model.config.problem_type = "multi_label_classification"
        out = model(pixels, labels=multi)
        torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits, multi))

    regression = LvmMedCnnForImageClassification(LvmMedCnnConfig(**TINY, num_labels=1)).eval()
    targets = torch.tensor([0.5, -1.0, 2.0, 0.0])
    with torch.no_grad():
        out = regression(pixels, labels=targets)
    assert regression.config.problem_type == "regression"
    torch.testing.assert_close(out.loss, F.mse_loss(out.logits.squeeze(-1), targets))


def test_linear_and_mlp_heads():
    linear = LvmMedCnnForImageClassification(LvmMedCnnConfig(**TINY, num_labels=7))
    assert isinstance(linear.classifier, torch.nn.Linear) and linear.classifier.in_features == 64
    head_keys = {k for k in linear.state_dict() if not k.startswith("lvmmed.")}
    assert head_keys == {"classifier.weight", "classifier.bias"}  # one head name for CNN and ViT
    mlp = LvmMedCnnForImageClassification(
        LvmMedCnnConfig(**TINY, num_labels=7, classifier_hidden_sizes=[32, 16], classifier_dropout=0.3)
    )
    linears = [m for m in mlp.classifier if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 32), (32, 16), (16, 7)]
    assert [m.p for m in mlp.modules() if isinstance(m, torch.nn.Dropout)] == [0.3, 0.3, 0.3]
    mlp.eval()
    with torch.no_grad():
        assert mlp(_pixels()).logits.shape == (2, 7)


def test_head_checkpoints_saved_as_fc_still_load(tmp_path):
    """Heads saved before the rename hold ``fc.*``: from_pretrained and load_state_dict map them."""
    from safetensors.torch import load_file, save_file

    model = LvmMedCnnForImageClassification(LvmMedCnnConfig(**TINY, num_labels=3)).eval()
    model.save_pretrained(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    legacy = {
        ("fc." + k[len("classifier.") :] if k.startswith("classifier.") else k): v for k, v in state.items()
    }
    assert "fc.weight" in legacy and "classifier.weight" not in legacy
    save_file(legacy, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    loaded = LvmMedCnnForImageClassification.from_pretrained(tmp_path).eval()
    assert torch.equal(loaded.classifier.weight, model.classifier.weight)
    fresh = LvmMedCnnForImageClassification(LvmMedCnnConfig(**TINY, num_labels=3))
    fresh.load_state_dict(legacy, strict=True)
    assert torch.equal(fresh.classifier.bias, model.classifier.bias)


def _train(model, pixels, labels, steps=8, lr=0.05):
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9)
    model.train()
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model(pixels, labels=labels).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_training_step_updates_parameters_and_lowers_loss():
    torch.manual_seed(0)
    model = LvmMedCnnForImageClassification(LvmMedCnnConfig(**TINY, num_labels=2))
    before = copy.deepcopy(model.state_dict())
    pixels, labels = _pixels(batch=8, size=32, seed=1), torch.tensor([0, 1] * 4)
    losses = _train(model, pixels, labels)
    assert losses[-1] < 0.7 * losses[0]
    after = model.state_dict()
    assert not torch.equal(after["lvmmed.conv1.weight"], before["lvmmed.conv1.weight"])
    assert not torch.equal(after["classifier.weight"], before["classifier.weight"])
    assert not torch.equal(after["lvmmed.bn1.running_mean"], before["lvmmed.bn1.running_mean"])
    assert after["lvmmed.bn1.num_batches_tracked"].item() == 8


def test_freeze_backbone_is_linear_evaluation(tmp_path):
    torch.manual_seed(0)
    config = LvmMedCnnConfig(**TINY, num_labels=2, freeze_backbone=True)
    model = LvmMedCnnForImageClassification(config)
    _randomise_batchnorm(model)
    before = copy.deepcopy(model.state_dict())
    losses = _train(model, _pixels(batch=8, size=32, seed=1), torch.tensor([0, 1] * 4), steps=15)
    assert model.training and not model.lvmmed.training
    assert not any(m.training for m in model.lvmmed.modules())
    after = model.state_dict()
    for key, value in before.items():
        if key.startswith("lvmmed."):
            assert torch.equal(after[key], value), f"{key} changed with a frozen backbone"
    assert not torch.equal(after["classifier.weight"], before["classifier.weight"])
    assert losses[-1] < losses[0]

    # the switch survives save/load and is undone by unfreeze_backbone()
    model.save_pretrained(tmp_path)
    loaded = LvmMedCnnForImageClassification.from_pretrained(tmp_path)
    loaded.train()
    assert not loaded.lvmmed.training
    assert not any(p.requires_grad for p in loaded.lvmmed.parameters())
    assert all(p.requires_grad for p in loaded.classifier.parameters())
    loaded.unfreeze_backbone()
    assert loaded.lvmmed.training and all(p.requires_grad for p in loaded.lvmmed.parameters())


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    config = LvmMedCnnConfig(**TINY_BOTTLENECK, num_labels=2)
    reference = LvmMedCnnForImageClassification(config).train()
    checkpointed = copy.deepcopy(reference)
    checkpointed.activation_checkpointing_enable()
    assert checkpointed.is_activation_checkpointing
    pixels, labels = _pixels(batch=4, size=32), torch.tensor([0, 1, 1, 0])
    reference(pixels, labels=labels).loss.backward()
    checkpointed(pixels, labels=labels).loss.backward()
    for (name, p), q in zip(reference.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-6, msg=name)
