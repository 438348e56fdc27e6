"""Parity of LvmMedViTModel with transformers' SamVisionModel loaded through SAM's key renames.

Weights are random in our (= SAM original = the authors' ``lvmmed_vit.pth``) layout, relative
position tables included (zeros would hide indexing and interpolation errors), then mapped with
``conversion_vit`` into ``SamVisionModel``, an independent implementation of the same encoder.

Sizes covered:
- a tiny config at its native size, smaller (tables interpolated down) and larger (interpolated up,
  windows zero-padded), with one and with several query bands;
- SAM ViT-B token geometry at 1024 px (64 x 64 tokens, windows of 14 padded to 70, global blocks,
  tables of 127 and 27 rows), narrow and 6 blocks deep so that it runs in seconds on CPU;
- the full ViT-B (width 768) at 224 px, batch 1, as LVM-Med's classification uses it.

SamVisionModel refuses inputs other than ``config.image_size`` in its patch embedding, although
its attention resizes the relative tables (that is the maths we compare); for inputs other than the
native size we widen that check on the stock instance, not our model.
"""

from __future__ import annotations

import pytest
import torch
from transformers import SamConfig, SamModel, SamVisionModel
from transformers.initialization import no_init_weights

from lvmmed_hf.models import modeling_lvmmed_vit
from lvmmed_hf.models.configuration_lvmmed_vit import LvmMedViTConfig
from lvmmed_hf.models.conversion_vit import (
    hf_key_to_sam,
    hf_sam_to_lvmmed_vit_config,
    hf_sam_to_lvmmed_vit_state_dict,
    lvmmed_vit_to_hf_sam_config,
    lvmmed_vit_to_hf_sam_state_dict,
    sam_key_to_hf,
)
from lvmmed_hf.models.modeling_lvmmed_vit import LvmMedViTModel

TOL = 1e-5
TINY = dict(
    hidden_size=32,
    num_hidden_layers=3,
    num_attention_heads=2,
    mlp_dim=64,
    image_size=64,
    patch_size=8,
    window_size=3,
    global_attn_indexes=[1],
    use_neck=True,
    output_channels=16,
)


def randomise_(model: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> torch.nn.Module:
    """Every parameter random (norm scales around 1), so no table or bias can hide."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator) * scale
            is_scale = (
                name.endswith("norm1.weight")
                or name.endswith("norm2.weight")
                or name.endswith(("neck.1.weight", "neck.3.weight"))
            )
            param.copy_(noise + (1.0 if is_scale else 0.0))
    return model


def pair(config: LvmMedViTConfig, seed: int = 0) -> tuple[LvmMedViTModel, SamVisionModel]:
    # Every parameter is overwritten below (ours randomised, stock loaded strictly): skip the init.
    with no_init_weights():
        ours = randomise_(LvmMedViTModel(config), seed).eval()
        stock = SamVisionModel(lvmmed_vit_to_hf_sam_config(config)).eval()
    stock.load_state_dict(lvmmed_vit_to_hf_sam_state_dict(ours.state_dict()), strict=True)
    return ours, stock


def compare(ours: LvmMedViTModel, stock: SamVisionModel, pixel_values: torch.Tensor) -> dict[str, float]:
    """Max abs differences: neck output, pre-neck map, and every hidden state."""
    size = tuple(pixel_values.shape[-2:])
    stock.vision_encoder.patch_embed.image_size = size  # see module docstring
    with torch.no_grad():
        a = ours(pixel_values, output_hidden_states=True)
        b = stock(pixel_values, output_hidden_states=True)
    # Stock last_hidden_state is the neck's output; ours is the pre-neck map, the neck's is separate.
    assert a.neck_embeddings.shape == b.last_hidden_state.shape
    assert torch.equal(a.last_hidden_state, a.hidden_states[-1])
    # Stock hidden states are channels-last (B, h, w, C): the embedding then each layer, before the neck.
    assert len(a.hidden_states) == len(b.hidden_states) == ours.config.num_hidden_layers + 1
    hidden = max(
        (x.permute(0, 2, 3, 1) - y).abs().max().item() for x, y in zip(a.hidden_states, b.hidden_states)
    )
    return {
        "neck": (a.neck_embeddings - b.last_hidden_state).abs().max().item(),
        "pre_neck": (a.hidden_states[-1].permute(0, 2, 3, 1) - b.hidden_states[-1]).abs().max().item(),
        "hidden": hidden,
        "scale": b.last_hidden_state.abs().max().item(),
    }


def test_key_mapping_covers_sam_vision_model_exactly():
    config = LvmMedViTConfig(use_neck=True, use_abs_pos=True)
    with torch.device("meta"):  # names only
        ours_keys = set(LvmMedViTModel(config).state_dict())
        stock_keys = set(SamVisionModel(lvmmed_vit_to_hf_sam_config(config)).state_dict())
    mapped = {sam_key_to_hf(k) for k in ours_keys}
    assert mapped == stock_keys
    assert {hf_key_to_sam(k) for k in stock_keys} == ours_keys
    # Spot checks against the renames documented for SAM's port.
    assert sam_key_to_hf("blocks.11.attn.rel_pos_w") == "vision_encoder.layers.11.attn.rel_pos_w"
    assert sam_key_to_hf("neck.3.bias") == "vision_encoder.neck.layer_norm2.bias"
    assert sam_key_to_hf("patch_embed.proj.weight") == "vision_encoder.patch_embed.projection.weight"
    with pytest.raises(KeyError, match="not a SAM image-encoder key"):
        sam_key_to_hf("image_encoder.blocks.0.norm1.weight")


def test_config_round_trip_through_sam_vision_config():
    config = LvmMedViTConfig(use_neck=True, window_size=7, global_attn_indexes=[1, 4], image_size=512)
    back = hf_sam_to_lvmmed_vit_config(lvmmed_vit_to_hf_sam_config(config))
    for name in (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "mlp_dim",
        "image_size",
        "patch_size",
        "window_size",
        "global_attn_indexes",
        "qkv_bias",
        "use_abs_pos",
        "use_rel_pos",
        "use_neck",
        "output_channels",
        "layer_norm_eps",
    ):
        assert getattr(back, name) == getattr(config, name), name


@pytest.mark.parametrize("band_budget", [None, 2**9], ids=["one-band", "many-bands"])
@pytest.mark.parametrize("size", [64, 32, 88], ids=["native", "smaller", "larger-padded"])
def test_tiny_parity_at_three_sizes(size, band_budget, monkeypatch):
    if band_budget is not None:
        monkeypatch.setitem(modeling_lvmmed_vit._BIAS_CHUNK_ELEMENTS, "cpu", band_budget)
    ours, stock = pair(LvmMedViTConfig(**TINY))
    diffs = compare(ours, stock, torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size)))
    assert diffs["scale"] > 0.1  # the comparison is not between two near-zero maps
    assert diffs["neck"] <= TOL and diffs["pre_neck"] <= TOL and diffs["hidden"] <= TOL, diffs


def test_tiny_parity_non_square_input():
    ours, stock = pair(LvmMedViTConfig(**TINY))
    diffs = compare(ours, stock, torch.randn(1, 3, 40, 72, generator=torch.Generator().manual_seed(1)))
    assert max(diffs["neck"], diffs["hidden"]) <= TOL, diffs


def test_vit_b_geometry_parity_at_1024_native():
    # SAM ViT-B's token geometry (64 x 64 grid, 25 padded windows of 14, global attention over 4096
    # tokens, tables of 127 and 27 rows), narrow and 6 blocks deep (global 2 and 5) to stay fast.
    config = LvmMedViTConfig(
        hidden_size=32,
        num_attention_heads=2,
        mlp_dim=64,
        num_hidden_layers=6,
        global_attn_indexes=[2, 5],
        use_neck=True,
        output_channels=16,
    )
    ours, stock = pair(config, seed=3)
    assert ours.blocks[2].attn.rel_pos_h.shape == (127, 16) and ours.blocks[0].attn.rel_pos_h.shape == (
        27,
        16,
    )
    diffs = compare(ours, stock, torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(2)))
    assert diffs["neck"] <= TOL and diffs["pre_neck"] <= TOL and diffs["hidden"] <= TOL, diffs


def test_vit_b_parity_at_224():
    # The released geometry (tables for 1024 px) used at 224 px, batch 1: tables of the global blocks
    # are interpolated from 127 to 27 rows; the windowed blocks see exactly one window.
    ours, stock = pair(LvmMedViTConfig(use_neck=True), seed=4)
    diffs = compare(ours, stock, torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(5)))
    assert diffs["neck"] <= TOL and diffs["pre_neck"] <= TOL and diffs["hidden"] <= TOL, diffs


def test_abs_pos_parity_at_native_size():
    ours, stock = pair(LvmMedViTConfig(**TINY, use_abs_pos=True), seed=6)
    assert ours.pos_embed.abs().max() > 0
    diffs = compare(ours, stock, torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(7)))
    assert diffs["neck"] <= TOL and diffs["hidden"] <= TOL, diffs


def test_abs_pos_is_resized_bicubically_for_other_sizes():
    # Stock SAM adds pos_embed as is (native size only). Give the stock model the bicubic resize,
    # computed here, and the rest must agree: ours resizes exactly that way.
    ours, stock = pair(LvmMedViTConfig(**TINY, use_abs_pos=True), seed=8)
    resized = torch.nn.functional.interpolate(
        ours.pos_embed.detach().permute(0, 3, 1, 2), size=(6, 10), mode="bicubic", align_corners=False
    ).permute(0, 2, 3, 1)
    stock.vision_encoder.pos_embed = torch.nn.Parameter(resized)
    diffs = compare(ours, stock, torch.randn(1, 3, 48, 80, generator=torch.Generator().manual_seed(9)))
    assert diffs["neck"] <= TOL and diffs["hidden"] <= TOL, diffs


def test_sam_model_vision_tower_gets_the_same_embeddings():
    # The box-prompted SAM recipe: our encoder inside transformers' full SamModel.
    config = LvmMedViTConfig(**{**TINY, "output_channels": 256})
    ours = randomise_(LvmMedViTModel(config), seed=10).eval()
    sam = SamModel(SamConfig(vision_config=lvmmed_vit_to_hf_sam_config(config).to_dict())).eval()
    result = sam.load_state_dict(lvmmed_vit_to_hf_sam_state_dict(ours.state_dict()), strict=False)
    assert not result.unexpected_keys
    assert all(not k.startswith("vision_encoder.") for k in result.missing_keys)
    pixel_values = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        diff = (sam.get_image_embeddings(pixel_values) - ours(pixel_values).neck_embeddings).abs().max()
    assert diff <= TOL
    # And back: SamModel's vision tower to our layout, prompt encoder / mask decoder left out.
    back = hf_sam_to_lvmmed_vit_state_dict(sam.state_dict())
    assert set(back) == set(ours.state_dict())
    assert all(torch.equal(back[k], v) for k, v in ours.state_dict().items())


def test_eager_attention_weights_match_sam_vision_model():
    """``attn_implementation="eager"`` returns SamVisionModel's eager attention weights, block by block
    (windowed blocks with padded windows, and the global block)."""
    config = LvmMedViTConfig(**TINY)
    with no_init_weights():
        ours = randomise_(LvmMedViTModel._from_config(config, attn_implementation="eager"), seed=7).eval()
        stock = SamVisionModel._from_config(
            lvmmed_vit_to_hf_sam_config(config), attn_implementation="eager"
        ).eval()
    stock.load_state_dict(lvmmed_vit_to_hf_sam_state_dict(ours.state_dict()), strict=True)
    pixel_values = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        a = ours(pixel_values, output_attentions=True)
        b = stock(pixel_values, output_attentions=True)
    assert len(a.attentions) == len(b.attentions) == config.num_hidden_layers
    # 8 x 8 tokens: windowed blocks see 9 padded 3 x 3 windows per image, the global block 64 tokens.
    assert [tuple(w.shape) for w in a.attentions] == [(18, 2, 9, 9), (2, 2, 64, 64), (18, 2, 9, 9)]
    for mine, theirs in zip(a.attentions, b.attentions):
        # SamVisionAttention folds heads into the batch: (B * windows * heads, N, N).
        torch.testing.assert_close(mine.reshape(theirs.shape), theirs, atol=1e-6, rtol=0)
    torch.testing.assert_close(a.neck_embeddings, b.last_hidden_state, atol=TOL, rtol=0)
