"""Common-model suite for the ViT family (the equivalent of transformers' ModelTesterMixin).

Tiny configs on CPU. Parity with transformers' SAM lives in test_vit_parity.py.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import (
    AutoBackbone,
    AutoConfig,
    AutoModel,
    AutoModelForImageClassification,
    DetrConfig,
    DetrForObjectDetection,
    UperNetConfig,
    UperNetForSemanticSegmentation,
)
from transformers.modeling_outputs import BaseModelOutputWithPooling

import lvmmed_hf  # noqa: F401  (registers the Auto classes)
from lvmmed_hf import (
    LvmMedViTBackbone,
    LvmMedViTConfig,
    LvmMedViTForImageClassification,
    LvmMedViTModel,
)
from lvmmed_hf.models import modeling_lvmmed_vit
from lvmmed_hf.models.modeling_lvmmed_vit import (
    LvmMedViTAttention,
    resize_rel_pos,
    window_partition,
    window_unpartition,
)

TINY = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    mlp_dim=64,
    image_size=64,
    patch_size=8,
    window_size=4,
    global_attn_indexes=[1],
)


def tiny(**overrides) -> LvmMedViTConfig:
    return LvmMedViTConfig(**{**TINY, **overrides})


def randomise_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.05)
    return model


def pixels(batch: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------
# Config


def test_config_defaults_are_lvmmed_vit_b():
    config = LvmMedViTConfig()
    assert config.model_type == "lvmmed_vit" and "resnet" not in config.model_type
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.mlp_dim) == (
        768,
        12,
        12,
        3072,
    )
    assert (config.image_size, config.patch_size, config.window_size) == (1024, 16, 14)
    assert config.global_attn_indexes == [2, 5, 8, 11]
    assert not config.use_abs_pos and config.use_rel_pos and not config.use_neck
    assert config.feature_dim == 768
    # Pooled features are taken before the neck (LVM-Med's classification protocol).
    assert LvmMedViTConfig(use_neck=True, output_channels=256).feature_dim == 768
    assert config.stage_names == ["stem"] + [f"stage{i}" for i in range(1, 13)]
    with pytest.raises(AttributeError):
        config.feature_dim = 3  # read-only


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(hidden_size=30, num_attention_heads=4), "divisible by num_attention_heads"),
        (dict(global_attn_indexes=[5]), r"global_attn_indexes \[5\]"),
        (dict(image_size=60), "multiple of patch_size"),
        (dict(window_size=-1), "window_size must be >= 0"),
        (dict(out_features=["stage9"]), "out_features must be a subset"),
    ],
)
def test_bad_config_raises_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny(**kwargs)


def test_config_json_round_trip(tmp_path):
    config = tiny(use_neck=True, output_channels=16, classifier_hidden_sizes=[8], out_indices=[1, 2])
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, LvmMedViTConfig)
    drop = {"_name_or_path"}
    assert {k: v for k, v in loaded.to_dict().items() if k not in drop} == {
        k: v for k, v in config.to_dict().items() if k not in drop
    }
    assert loaded.out_features == ["stage1", "stage2"] and loaded.feature_dim == 32


# ----------------------------------------------------------------------------------------------
# Layout and shapes


def test_parameter_names_mirror_sam_image_encoder():
    with torch.device("meta"):  # names and shapes only
        model = LvmMedViTModel(LvmMedViTConfig(use_neck=True, use_abs_pos=True))
        released_model = LvmMedViTModel(LvmMedViTConfig())
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = {
        "patch_embed.proj.weight": (768, 3, 16, 16),
        "patch_embed.proj.bias": (768,),
        "pos_embed": (1, 64, 64, 768),
        "neck.0.weight": (256, 768, 1, 1),
        "neck.1.weight": (256,),
        "neck.1.bias": (256,),
        "neck.2.weight": (256, 256, 3, 3),
        "neck.3.weight": (256,),
        "neck.3.bias": (256,),
    }
    for i in range(12):
        span = 64 if i in (2, 5, 8, 11) else 14
        expected.update(
            {
                f"blocks.{i}.norm1.weight": (768,),
                f"blocks.{i}.norm1.bias": (768,),
                f"blocks.{i}.attn.qkv.weight": (2304, 768),
                f"blocks.{i}.attn.qkv.bias": (2304,),
                f"blocks.{i}.attn.proj.weight": (768, 768),
                f"blocks.{i}.attn.proj.bias": (768,),
                f"blocks.{i}.attn.rel_pos_h": (2 * span - 1, 64),
                f"blocks.{i}.attn.rel_pos_w": (2 * span - 1, 64),
                f"blocks.{i}.norm2.weight": (768,),
                f"blocks.{i}.norm2.bias": (768,),
                f"blocks.{i}.mlp.lin1.weight": (3072, 768),
                f"blocks.{i}.mlp.lin1.bias": (3072,),
                f"blocks.{i}.mlp.lin2.weight": (768, 3072),
                f"blocks.{i}.mlp.lin2.bias": (768,),
            }
        )
    assert shapes == expected
    # The released file has neither pos_embed nor neck: the default config loads it strictly.
    released = {k: v for k, v in shapes.items() if k != "pos_embed" and not k.startswith("neck.")}
    assert {k: tuple(v.shape) for k, v in released_model.state_dict().items()} == released


@pytest.mark.parametrize("size", [64, 32, 40])
def test_model_outputs_shapes_and_pooling(size):
    model = randomise_(LvmMedViTModel(tiny())).eval()
    out = model(pixels(2, size), output_hidden_states=True)
    grid = size // 8
    assert isinstance(out, BaseModelOutputWithPooling) and out.neck_embeddings is None
    assert out.last_hidden_state.shape == (2, 32, grid, grid)
    assert len(out.hidden_states) == 3 and all(h.shape == (2, 32, grid, grid) for h in out.hidden_states)
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)  # no neck: the last block's map
    manual_mean = out.last_hidden_state.sum(dim=(2, 3)) / (grid * grid)
    torch.testing.assert_close(out.pooler_output, manual_mean)
    assert model(pixels(2, size)).hidden_states is None


def test_neck_output_and_feature_dim():
    model = randomise_(LvmMedViTModel(tiny(use_neck=True, output_channels=16))).eval()
    out = model(pixels(1), output_hidden_states=True)
    # Both protocols from one model: the pre-neck map and its mean (classification) ...
    assert out.last_hidden_state.shape == (1, 32, 8, 8) and out.pooler_output.shape == (1, 32)
    assert model.config.feature_dim == 32
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)
    torch.testing.assert_close(out.pooler_output, out.last_hidden_state.mean(dim=(2, 3)))
    # ... and the neck's embeddings (SAM's image embeddings, box-prompted segmentation).
    assert out.neck_embeddings.shape == (1, 16, 8, 8)
    assert out.image_embeddings is out.neck_embeddings
    torch.testing.assert_close(out.neck_embeddings, model.neck(out.last_hidden_state))
    # LayerNorm2d output: per position, zero mean and unit variance over channels before the affine.
    ln = model.neck[3]
    with torch.no_grad():
        ln.weight.fill_(1.0)
        ln.bias.zero_()
    normed = model(pixels(1)).neck_embeddings
    torch.testing.assert_close(normed.mean(1), torch.zeros(1, 8, 8), atol=1e-5, rtol=0)
    torch.testing.assert_close(normed.var(1, unbiased=False), torch.ones(1, 8, 8), atol=1e-3, rtol=0)


@pytest.mark.parametrize(
    ("pixel_values", "message"),
    [
        (torch.randn(1, 1, 64, 64), "1 channels but the model expects num_channels=3"),
        (torch.randn(1, 3, 60, 64), "multiple of patch_size=8"),
        (torch.randn(3, 64, 64), r"\(batch, channels, height, width\)"),
    ],
)
def test_bad_pixel_values_raise_clear_error(pixel_values, message):
    with pytest.raises(ValueError, match=message):
        LvmMedViTModel(tiny())(pixel_values)


def test_modeling_file_is_self_contained_for_remote_code():
    path = Path(modeling_lvmmed_vit.__file__)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add(
                "." * node.level + (node.module or "").split(".")[0]
                if node.level
                else node.module.split(".")[0]
            )
    # Standard library, torch and transformers only (what a remote-code user has).
    assert roots <= {"__future__", "dataclasses", "torch", "transformers", ".configuration_lvmmed_vit"}, roots


# ----------------------------------------------------------------------------------------------
# Attention maths against independent references


def test_resize_rel_pos_matches_numpy_linear_interpolation():
    table = torch.randn(7, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for length in (3, 13, 27):
        # align_corners=False: output sample j sits at input coordinate (j + 0.5) * L_in / L_out - 0.5,
        # clamped to the ends (np.interp clamps).
        x_out = (np.arange(length) + 0.5) * 7 / length - 0.5
        expected = np.stack([np.interp(x_out, np.arange(7), table[:, c].numpy()) for c in range(5)], axis=1)
        np.testing.assert_allclose(resize_rel_pos(table, length).numpy(), expected, atol=1e-12)
    assert resize_rel_pos(table, 7) is table


def _eager_reference(attn: LvmMedViTAttention, x: torch.Tensor) -> torch.Tensor:
    """Loop-level reference: logits_ij = q_i.k_j / sqrt(d) + q_i.R_h[dh] + q_i.R_w[dw] (SAM's rule)."""
    batch, height, width, channels = x.shape
    heads, d = attn.num_heads, attn.head_dim
    qkv = x.reshape(batch, height * width, channels) @ attn.qkv.weight.T + attn.qkv.bias
    q, k, v = qkv.reshape(batch, height * width, 3, heads, d).permute(2, 0, 3, 1, 4)
    rh = resize_rel_pos(attn.rel_pos_h, 2 * height - 1)
    rw = resize_rel_pos(attn.rel_pos_w, 2 * width - 1)
    rows = torch.arange(height * width) // width
    cols = torch.arange(height * width) % width
    logits = q @ k.transpose(-1, -2) / math.sqrt(d)
    bias = torch.zeros_like(logits)
    for i in range(height * width):
        for j in range(height * width):
            dh = rows[i] - rows[j] + height - 1
            dw = cols[i] - cols[j] + width - 1
            bias[:, :, i, j] = (q[:, :, i] * rh[dh]).sum(-1) + (q[:, :, i] * rw[dw]).sum(-1)
    probs = torch.softmax(logits + bias, dim=-1)
    out = (probs @ v).transpose(1, 2).reshape(batch, height, width, channels)
    return out @ attn.proj.weight.T + attn.proj.bias


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
@pytest.mark.parametrize(("height", "width", "budget"), [(5, 5, None), (4, 6, None), (6, 3, 40)])
def test_attention_matches_loop_reference(height, width, budget, implementation, monkeypatch):
    if budget is not None:  # several query bands
        monkeypatch.setitem(modeling_lvmmed_vit._BIAS_CHUNK_ELEMENTS, "cpu", budget)
    config = tiny(hidden_size=16, num_attention_heads=2)
    config._attn_implementation = implementation
    attn = randomise_(LvmMedViTAttention(config, span=5).double(), seed=1)
    with torch.no_grad():
        attn.rel_pos_h.normal_(generator=torch.Generator().manual_seed(2))
        attn.rel_pos_w.normal_(generator=torch.Generator().manual_seed(3))
    x = torch.randn(2, height, width, 16, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(attn(x)[0], _eager_reference(attn, x), atol=1e-10, rtol=0)


def test_attention_implementation_is_honoured(tmp_path):
    model = randomise_(LvmMedViTModel(tiny(use_neck=True, output_channels=16))).eval()
    x = pixels()
    assert model.config._attn_implementation == "sdpa"  # the default
    # SDPA never materialises the weights: asking for them is an error, not a silent None.
    with pytest.raises(ValueError, match="attn_implementation='eager'"):
        model(x, output_attentions=True)
    model.save_pretrained(tmp_path)
    eager = LvmMedViTModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert eager.config._attn_implementation == "eager"
    with torch.no_grad():
        out = eager(x, output_attentions=True)
        reference = model(x)
    # Block 0 is windowed (4 x 4 windows of an 8 x 8 grid), block 1 global.
    assert [tuple(a.shape) for a in out.attentions] == [(2 * 4, 2, 16, 16), (2, 2, 64, 64)]
    for weights in out.attentions:
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    torch.testing.assert_close(out.last_hidden_state, reference.last_hidden_state, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.neck_embeddings, reference.neck_embeddings, atol=1e-5, rtol=0)
    # Switching at run time works too, and the heads pass the weights through.
    model.set_attn_implementation("eager")
    assert len(model(x, output_attentions=True).attentions) == 2
    head = LvmMedViTForImageClassification(tiny(num_labels=2))
    head.set_attn_implementation("eager")
    assert len(head(x, output_attentions=True).attentions) == 2
    backbone = LvmMedViTBackbone(tiny(out_indices=[1]))
    backbone.set_attn_implementation("eager")
    assert len(backbone(x, output_attentions=True).attentions) == 2
    with pytest.raises(ValueError):
        LvmMedViTModel.from_pretrained(tmp_path, attn_implementation="flash_attention_2")


def test_window_partition_round_trip_with_padding():
    x = torch.randn(2, 10, 7, 3)
    windows, padded = window_partition(x, 4)
    assert windows.shape == (2 * 3 * 2, 4, 4, 3) and padded == (12, 8)
    # Window (b, r, c) holds rows 4r..4r+3 and columns 4c..4c+3, zero beyond the grid.
    assert torch.equal(windows[1 * 6 + 2 * 2 + 1, :2, :3], x[1, 8:10, 4:7])
    assert torch.count_nonzero(windows[1 * 6 + 2 * 2 + 1, 2:]) == 0
    assert torch.equal(window_unpartition(windows, 4, padded, (10, 7)), x)


# ----------------------------------------------------------------------------------------------
# Init, determinism, return_dict


def test_init_weights():
    torch.manual_seed(0)
    config = tiny(
        hidden_size=64, mlp_dim=256, use_neck=True, output_channels=16, use_abs_pos=True, num_labels=3
    )
    model = LvmMedViTForImageClassification(config)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module.weight.numel() >= 4096:
            w = module.weight.detach()
            assert abs(w.std().item() - 0.02) < 0.004, name
            assert w.abs().max().item() <= 2 * 0.02 + 1e-6, name  # truncated at two std
        if isinstance(module, torch.nn.Linear) and module.bias is not None:
            assert torch.count_nonzero(module.bias) == 0, name
    for name, param in model.named_parameters():
        if "norm" in name or name.startswith(("lvmmed.neck.1", "lvmmed.neck.3")):
            expected = 1.0 if name.endswith("weight") else 0.0
            assert torch.all(param == expected), name
        if "rel_pos" in name or name.endswith("pos_embed"):
            assert torch.count_nonzero(param) == 0, name
    # Heads built on this base (the pretraining projector) may hold BatchNorm: buffers included.
    bn = torch.nn.BatchNorm1d(4)
    with torch.no_grad():
        bn.weight.fill_(3.0)
        bn.running_mean.fill_(2.0)
        bn.running_var.fill_(5.0)
    model._init_weights(bn)
    assert torch.all(bn.weight == 1) and torch.all(bn.running_mean == 0) and torch.all(bn.running_var == 1)


def test_same_seed_same_weights_and_deterministic_forward():
    torch.manual_seed(0)
    a = LvmMedViTModel(tiny())
    torch.manual_seed(0)
    b = LvmMedViTModel(tiny())
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    a = randomise_(a).eval()
    x = pixels()
    assert torch.equal(a(x).last_hidden_state, a(x).last_hidden_state)


def test_return_dict_false_matches_dict_outputs():
    x = pixels()
    model = randomise_(LvmMedViTModel(tiny())).eval()
    d, t = model(x, output_hidden_states=True), model(x, output_hidden_states=True, return_dict=False)
    assert torch.equal(t[0], d.last_hidden_state) and torch.equal(t[1], d.pooler_output)
    assert all(torch.equal(a, b) for a, b in zip(t[2], d.hidden_states))
    assert len(model(x, return_dict=False)) == 2

    head = randomise_(LvmMedViTForImageClassification(tiny(num_labels=3))).eval()
    labels = torch.tensor([0, 2])
    d, t = head(x, labels=labels), head(x, labels=labels, return_dict=False)
    assert torch.equal(t[0], d.loss) and torch.equal(t[1], d.logits)

    backbone = randomise_(LvmMedViTBackbone(tiny(out_indices=[0, 2]))).eval()
    d, t = backbone(x), backbone(x, return_dict=False)
    assert all(torch.equal(a, b) for a, b in zip(t[0], d.feature_maps))


# ----------------------------------------------------------------------------------------------
# Save / load through the Auto classes


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_save_load_round_trip_through_auto_classes(tmp_path):
    x = pixels()
    model = randomise_(LvmMedViTModel(tiny(use_neck=True, output_channels=16))).eval()
    model.save_pretrained(tmp_path / "base")
    assert (tmp_path / "base" / "model.safetensors").exists()
    loaded = AutoModel.from_pretrained(tmp_path / "base").eval()
    assert type(loaded) is LvmMedViTModel
    _same_state(model, loaded)
    torch.testing.assert_close(loaded(x).last_hidden_state, model(x).last_hidden_state, rtol=0, atol=0)

    head = randomise_(LvmMedViTForImageClassification(tiny(num_labels=4, classifier_hidden_sizes=[8]))).eval()
    head.save_pretrained(tmp_path / "head")
    loaded_head = AutoModelForImageClassification.from_pretrained(tmp_path / "head").eval()
    assert type(loaded_head) is LvmMedViTForImageClassification
    _same_state(head, loaded_head)
    assert torch.equal(loaded_head(x).logits, head(x).logits)

    # base_model_prefix: the head checkpoint's encoder loads into the bare model ...
    bare = AutoModel.from_pretrained(tmp_path / "head").eval()
    assert torch.equal(bare(x).pooler_output, head.lvmmed(x).pooler_output)
    # ... and the bare checkpoint into a head (new classifier) and the backbone.
    plain = randomise_(LvmMedViTModel(tiny()), seed=3).eval()
    plain.save_pretrained(tmp_path / "plain")
    new_head = LvmMedViTForImageClassification.from_pretrained(tmp_path / "plain", num_labels=2).eval()
    assert torch.equal(new_head.lvmmed(x).pooler_output, plain(x).pooler_output)
    backbone = LvmMedViTBackbone.from_pretrained(tmp_path / "plain", out_indices=[1, 2]).eval()
    assert torch.equal(backbone(x).feature_maps[-1], plain(x).last_hidden_state)


def test_backbone_save_load_and_auto_from_config(tmp_path):
    x = pixels()
    config = tiny(out_features=["stem", "stage2"])
    backbone = randomise_(LvmMedViTBackbone(config)).eval()
    backbone.save_pretrained(tmp_path)
    # AutoBackbone.from_pretrained(local) asks the Hub first (transformers 5.23+): concrete class.
    loaded = LvmMedViTBackbone.from_pretrained(tmp_path).eval()
    _same_state(backbone, loaded)
    assert loaded.out_features == ["stem", "stage2"]
    assert all(torch.equal(a, b) for a, b in zip(loaded(x).feature_maps, backbone(x).feature_maps))
    assert type(AutoBackbone.from_config(config)) is LvmMedViTBackbone


def test_backbone_out_features_channels_and_hidden_states():
    backbone = randomise_(LvmMedViTBackbone(tiny(num_hidden_layers=4, global_attn_indexes=[1, 3]))).eval()
    assert backbone.stage_names == ["stem", "stage1", "stage2", "stage3", "stage4"]
    assert backbone.out_features == ["stage4"] and backbone.channels == [32]
    backbone.out_indices = [1, 3, -1]
    assert backbone.out_features == ["stage1", "stage3", "stage4"] and backbone.channels == [32, 32, 32]
    x = pixels(1, 48)
    out = backbone(x)
    assert len(out.feature_maps) == 3 and all(f.shape == (1, 32, 6, 6) for f in out.feature_maps)
    assert out.hidden_states is None
    reference = LvmMedViTModel(backbone.config, add_neck=False)
    reference.load_state_dict(backbone.lvmmed.state_dict())
    ref = reference.eval()(x, output_hidden_states=True).hidden_states
    assert torch.equal(out.feature_maps[0], ref[1]) and torch.equal(out.feature_maps[2], ref[4])
    assert len(backbone(x, output_hidden_states=True).hidden_states) == 5


def test_backbone_ignores_neck_weights():
    backbone = LvmMedViTBackbone(tiny(use_neck=True, output_channels=16))
    assert not any(k.startswith("lvmmed.neck") for k in backbone.state_dict())
    assert backbone.channels == [32]


# ----------------------------------------------------------------------------------------------
# Training


def test_training_step_updates_every_parameter_and_lowers_loss():
    torch.manual_seed(0)
    model = randomise_(LvmMedViTForImageClassification(tiny(num_labels=3, use_neck=True, output_channels=16)))
    model.train()
    x, labels = pixels(4), torch.tensor([0, 1, 2, 1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model(x, labels=labels).loss
    first.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.count_nonzero(param.grad) > 0, name
    optimizer.step()
    for _ in range(5):
        optimizer.zero_grad()
        loss = model(x, labels=labels).loss
        loss.backward()
        optimizer.step()
    assert model(x, labels=labels).loss < first


def test_classification_losses_follow_problem_type():
    x = pixels(3)
    single = randomise_(LvmMedViTForImageClassification(tiny(num_labels=3))).eval()
    labels = torch.tensor([2, 0, 1])
    out = single(x, labels=labels)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))
    assert single.config.problem_type == "single_label_classification"

    multi = randomise_(LvmMedViTForImageClassification(tiny(num_labels=3))).eval()
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    out = multi(x, labels=targets)
    torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits, targets))

    regression = randomise_(LvmMedViTForImageClassification(tiny(num_labels=1))).eval()
    values = torch.tensor([0.5, -1.0, 2.0])
    out = regression(x, labels=values)
    torch.testing.assert_close(out.loss, ((out.logits[:, 0] - values) ** 2).mean())


def test_mlp_head_layout():
    head = LvmMedViTForImageClassification(
        tiny(num_labels=5, classifier_hidden_sizes=[16, 8], classifier_dropout=0.1)
    )
    linears = [m for m in head.classifier if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(32, 16), (16, 8), (8, 5)]
    assert sum(isinstance(m, torch.nn.Dropout) and m.p == 0.1 for m in head.classifier) == 3
    linear = LvmMedViTForImageClassification(tiny(num_labels=5))
    assert [type(m) for m in linear.classifier] == [torch.nn.Dropout, torch.nn.Linear]


def test_freeze_backbone_trains_only_the_head(tmp_path):
    model = randomise_(LvmMedViTForImageClassification(tiny(num_labels=2, freeze_backbone=True))).train()
    assert not any(p.requires_grad for p in model.lvmmed.parameters())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model(pixels(), labels=torch.tensor([0, 1])).loss.backward()
    optimizer.step()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("lvmmed."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("classifier."))
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForImageClassification.from_pretrained(tmp_path)
    assert reloaded.config.freeze_backbone and not any(p.requires_grad for p in reloaded.lvmmed.parameters())
    reloaded.unfreeze_backbone()
    assert all(p.requires_grad for p in reloaded.parameters())


def test_gradient_checkpointing_gives_the_same_gradients():
    config = tiny(num_labels=3, num_hidden_layers=3, global_attn_indexes=[1])
    torch.manual_seed(0)
    model = randomise_(LvmMedViTForImageClassification(config)).train()
    x, labels = pixels(2, 48), torch.tensor([0, 2])

    def grads() -> dict[str, torch.Tensor]:
        model.zero_grad()
        model(x, labels=labels).loss.backward()
        return {k: p.grad.clone() for k, p in model.named_parameters()}

    plain = grads()
    model.activation_checkpointing_enable()
    assert all(block.gradient_checkpointing for block in model.lvmmed.blocks)
    checkpointed = grads()
    for k in plain:
        torch.testing.assert_close(checkpointed[k], plain[k], rtol=1e-5, atol=1e-7, msg=k)


# ----------------------------------------------------------------------------------------------
# Downstream heads through backbone_config


def test_upernet_with_vit_backbone_forward_save_reload(tmp_path):
    backbone_config = tiny(num_hidden_layers=4, global_attn_indexes=[1, 3], out_indices=[1, 2, 3, 4])
    config = UperNetConfig(
        backbone_config=backbone_config,
        hidden_size=16,
        auxiliary_channels=8,
        num_labels=3,
        pool_scales=[1, 2],
    )
    model = UperNetForSemanticSegmentation(config).eval()
    assert type(model.backbone) is LvmMedViTBackbone and model.backbone.channels == [32] * 4
    x = pixels(2, 64)
    with torch.no_grad():
        out = model(x)
    assert out.logits.shape == (2, 3, 64, 64)
    model.save_pretrained(tmp_path)
    reloaded = UperNetForSemanticSegmentation.from_pretrained(tmp_path).eval()
    assert type(reloaded.backbone) is LvmMedViTBackbone
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x).logits, out.logits, rtol=0, atol=0)
    # The backbone trains with the decode head.
    model.train()
    labels = torch.randint(0, 3, (2, 64, 64), generator=torch.Generator().manual_seed(0))
    model(x, labels=labels).loss.backward()
    assert all(p.grad is not None for p in model.backbone.parameters())


def test_detr_with_vit_backbone_forward_save_reload(tmp_path):
    backbone_config = tiny(out_features=["stage2"])
    config = DetrConfig(
        use_timm_backbone=False,
        use_pretrained_backbone=False,
        backbone_config=backbone_config,
        num_labels=3,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_queries=5,
    )
    model = DetrForObjectDetection(config).eval()
    assert type(model.model.backbone.model) is LvmMedViTBackbone
    # Our model type has no "resnet" in it, so DETR leaves the backbone trainable.
    assert all(p.requires_grad for p in model.model.backbone.parameters())
    x = pixels(2, 64)
    with torch.no_grad():
        out = model(pixel_values=x)
    assert out.logits.shape == (2, 5, 4) and out.pred_boxes.shape == (2, 5, 4)
    model.save_pretrained(tmp_path)
    reloaded = DetrForObjectDetection.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(pixel_values=x).logits, out.logits, rtol=0, atol=0)
