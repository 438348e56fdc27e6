"""Conversion of the authors' checkpoint layouts into Hugging Face folders.

The checkpoints are built from key / shape lists written from the authors' published model
definitions (``tests/models/data/*.json``: torchvision's resnet50 for ``lvmmed_resnet.torch``,
segment_anything's ImageEncoderViT as LVM-Med builds it for ``lvmmed_vit.pth``; each file names its
source), never from our own models' state dicts. Tiny variants follow the same layout rules
(``_torchvision_resnet_shapes``, ``_sam_encoder_shapes``) so most tests run in milliseconds.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lvmmed_hf  # noqa: F401  (registers the Auto classes)
from lvmmed_hf import LvmMedCnnConfig, LvmMedImageProcessor
from lvmmed_hf.cli import main as cli_main
from lvmmed_hf.models.conversion import (
    ConversionError,
    convert_checkpoint,
    convert_state_dict,
    infer_vit_config,
    load_checkpoint,
    read_backbone_weights,
    to_stock_model,
)

DATA = Path(__file__).parent / "data"


# ----------------------------------------------------------------------------------------------
# Checkpoints in the authors' layouts


def _released(name: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a released file (or of timm's / torchvision's resnet50), from tests/models/data."""
    return {k: tuple(v) for k, v in json.loads((DATA / name).read_text())["tensors"].items()}


def _bn(prefix: str, channels: int, out: dict) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        out[f"{prefix}.{name}"] = (channels,)
    out[f"{prefix}.num_batches_tracked"] = ()


def _torchvision_resnet_shapes(
    depths=(1, 2, 1, 1), planes=(2, 4, 8, 16), bottleneck=True, stem=8, num_classes=10
) -> dict[str, tuple[int, ...]]:
    """torchvision's ResNet layout (resnet.py): stem conv1 7x7 + bn1; per block conv1/bn1, conv2/bn2
    (3x3), conv3/bn3 (x4, bottleneck only); downsample.0/.1 on a block whose shape changes; fc."""
    expansion = 4 if bottleneck else 1
    keys: dict[str, tuple[int, ...]] = {"conv1.weight": (stem, 3, 7, 7)}
    _bn("bn1", stem, keys)
    inplanes = stem
    for stage, (depth, width) in enumerate(zip(depths, planes), start=1):
        for block in range(depth):
            p = f"layer{stage}.{block}"
            if bottleneck:
                convs = [(width, inplanes, 1), (width, width, 3), (width * 4, width, 1)]
            else:
                convs = [(width, inplanes, 3), (width, width, 3)]
            for index, (cout, cin, k) in enumerate(convs, start=1):
                keys[f"{p}.conv{index}.weight"] = (cout, cin, k, k)
                _bn(f"{p}.bn{index}", cout, keys)
            if block == 0 and (stage > 1 or inplanes != width * expansion):
                keys[f"{p}.downsample.0.weight"] = (width * expansion, inplanes, 1, 1)
                _bn(f"{p}.downsample.1", width * expansion, keys)
            inplanes = width * expansion
    keys["fc.weight"], keys["fc.bias"] = (num_classes, inplanes), (num_classes,)
    return keys


def _sam_encoder_shapes(
    depth=4, dim=32, heads=2, patch=8, image=64, window=4, global_blocks=(1, 3), neck=16
) -> dict[str, tuple[int, ...]]:
    """segment_anything's ImageEncoderViT layout (no pos_embed, as LVM-Med builds it)."""
    keys: dict[str, tuple[int, ...]] = {
        "patch_embed.proj.weight": (dim, 3, patch, patch),
        "patch_embed.proj.bias": (dim,),
    }
    for i in range(depth):
        span = image // patch if i in global_blocks else window
        p = f"blocks.{i}"
        keys.update(
            {
                f"{p}.norm1.weight": (dim,),
                f"{p}.norm1.bias": (dim,),
                f"{p}.attn.qkv.weight": (3 * dim, dim),
                f"{p}.attn.qkv.bias": (3 * dim,),
                f"{p}.attn.proj.weight": (dim, dim),
                f"{p}.attn.proj.bias": (dim,),
                f"{p}.attn.rel_pos_h": (2 * span - 1, dim // heads),
                f"{p}.attn.rel_pos_w": (2 * span - 1, dim // heads),
                f"{p}.norm2.weight": (dim,),
                f"{p}.norm2.bias": (dim,),
                f"{p}.mlp.lin1.weight": (4 * dim, dim),
                f"{p}.mlp.lin1.bias": (4 * dim,),
                f"{p}.mlp.lin2.weight": (dim, 4 * dim),
                f"{p}.mlp.lin2.bias": (dim,),
            }
        )
    if neck:
        keys.update(
            {
                "neck.0.weight": (neck, dim, 1, 1),
                "neck.1.weight": (neck,),
                "neck.1.bias": (neck,),
                "neck.2.weight": (neck, neck, 3, 3),
                "neck.3.weight": (neck,),
                "neck.3.bias": (neck,),
            }
        )
    return keys


def _random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors of the given shapes (zeros would hide mistakes); BatchNorm variances positive,
    norm scales around 1, counters as torch keeps them (int64)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in shapes.items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(7, dtype=torch.long)
            continue
        value = torch.randn(shape, generator=gen) * 0.05
        if name.endswith("running_var"):
            value = value.abs() + 0.5
        elif re.search(r"(norm\d|neck\.[13]|bn\d|downsample\.1)\.weight$", name):
            value = value + 1.0
        state[name] = value
    return state


def test_tiny_layout_rules_reproduce_the_released_key_lists():
    """The tiny generators follow the same rules as the committed lists of the real files."""
    r50 = _torchvision_resnet_shapes((3, 4, 6, 3), (64, 128, 256, 512), True, 64, 1000)
    assert r50 == _released("lvmmed_resnet_torch.json") == _released("torchvision_resnet50.json")
    assert r50 == _released("timm_resnet50.json")
    vit_b = _sam_encoder_shapes(12, 768, 12, 16, 1024, 14, (2, 5, 8, 11), 256)
    assert vit_b == _released("lvmmed_vit_pth.json")


def _save(tmp_path: Path, state: dict, name: str) -> Path:
    path = tmp_path / name
    torch.save(state, path)
    return path


# ----------------------------------------------------------------------------------------------
# The real released layouts


def test_released_resnet50_converts_strictly():
    state = _random_state(_released("lvmmed_resnet_torch.json"))
    model, report = convert_state_dict(state)
    assert report.family == "cnn" and report.missing_keys == [] and report.unexpected_keys == []
    assert report.ignored_keys == ["fc.bias", "fc.weight"]
    config = model.config
    assert (config.depths, config.hidden_sizes, config.layer_type) == (
        [3, 4, 6, 3],
        [256, 512, 1024, 2048],
        "bottleneck",
    )
    own = model.state_dict()
    assert set(own) == {k for k in state if not k.startswith("fc.")}
    for key, tensor in own.items():
        assert torch.equal(tensor, state[key]), key
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert out.pooler_output.shape == (1, 2048) and out.last_hidden_state.shape == (1, 2048, 2, 2)


@pytest.mark.slow
def test_released_vit_b_converts_with_its_neck_and_serves_both_protocols():
    state = _random_state(_released("lvmmed_vit_pth.json"), seed=1)
    model, report = convert_state_dict(state)
    assert report.family == "vit" and report.is_complete
    config = model.config
    facts = dict(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        mlp_dim=3072,
        patch_size=16,
        image_size=1024,
        window_size=14,
        global_attn_indexes=[2, 5, 8, 11],
        use_rel_pos=True,
        use_abs_pos=False,
        use_neck=True,
        output_channels=256,
    )
    assert {k: getattr(config, k) for k in facts} == facts
    own = model.state_dict()
    assert set(own) == set(state)
    assert all(torch.equal(own[k], state[k]) for k in state)
    with torch.no_grad():  # 32 px (2 x 2 tokens) keeps the full-width model fast on CPU
        out = model(torch.randn(1, 3, 32, 32), output_hidden_states=True)
    # Classification protocol: the 768-channel map before the neck and its mean.
    assert out.last_hidden_state.shape == (1, 768, 2, 2) and out.pooler_output.shape == (1, 768)
    torch.testing.assert_close(out.pooler_output, out.hidden_states[-1].mean(dim=(2, 3)))
    # Segmentation protocol: the neck's 256-channel embeddings from the same model.
    assert out.neck_embeddings.shape == (1, 256, 2, 2)
    assert model.config.feature_dim == 768


@pytest.mark.slow
def test_timm_and_torchvision_exports_have_their_key_layouts(tmp_path):
    """The R50 export loads strictly where timm's / torchvision's resnet50 would: same names and shapes
    as their published definitions (committed lists), same values, plus a strict load into
    transformers' ResNetModel."""
    from safetensors.torch import load_file
    from transformers import ResNetModel

    from lvmmed_hf.models.conversion_cnn import (
        to_transformers_resnet_config,
        torchvision_to_transformers_resnet,
    )

    state = _random_state(_released("lvmmed_resnet_torch.json"), seed=2)
    ckpt = _save(tmp_path, state, "lvmmed_resnet.torch")
    for library, reference in (("timm", "timm_resnet50.json"), ("torchvision", "torchvision_resnet50.json")):
        out = tmp_path / library
        convert_checkpoint(ckpt, out, export=library)
        exported = load_file(str(out / "model.safetensors"))
        assert {k: tuple(v.shape) for k, v in exported.items()} == _released(reference)
        assert all(torch.equal(exported[k], state[k]) for k in state), library
        config = json.loads((out / "config.json").read_text())
        assert config["architecture"] == "resnet50" and config["num_classes"] == 1000
        card = (out / "README.md").read_text()
        assert "strict=True" in card and "import lvmmed_hf" not in card
        assert ('timm.create_model("resnet50"' in card) == (library == "timm")
        assert ("from torchvision.models import resnet50" in card) == (library == "torchvision")
    assert json.loads((tmp_path / "timm" / "config.json").read_text())["pretrained_cfg"]["input_size"] == [
        3,
        224,
        224,
    ]
    backbone = {k: v for k, v in exported.items() if not k.startswith("fc.")}
    stock = ResNetModel(to_transformers_resnet_config(LvmMedCnnConfig()))  # the R50 defaults
    stock.load_state_dict(torchvision_to_transformers_resnet(backbone), strict=True)


def test_timm_export_refuses_non_standard_resnets(tmp_path):
    ckpt = _save(tmp_path, _random_state(_torchvision_resnet_shapes()), "tiny.pth")
    with pytest.raises(ConversionError, match="No torchvision / timm counterpart"):
        convert_checkpoint(ckpt, tmp_path / "out", export="timm")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------
# Refusing, never crashing


def _tiny_r50_state() -> dict:
    return _random_state(_torchvision_resnet_shapes())


def _tiny_vit_state() -> dict:
    return _random_state(_sam_encoder_shapes(), seed=3)


def _without(state: dict, *keys: str) -> dict:
    return {k: v for k, v in state.items() if k not in keys}


def _with(state: dict, **changes) -> dict:
    return {**state, **{k.replace("__", "."): v for k, v in changes.items()}}


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: _without(_tiny_r50_state(), "layer2.0.conv3.weight"), "layer2.0.conv3.weight"),
        (lambda: _without(_tiny_r50_state(), "conv1.weight"), "conv1.weight"),
        (lambda: _without(_tiny_vit_state(), "patch_embed.proj.weight"), "patch_embed.proj.weight"),
        (lambda: _without(_tiny_vit_state(), "blocks.0.mlp.lin1.weight"), "blocks.0.mlp.lin1.weight"),
        (lambda: _without(_tiny_vit_state(), "blocks.2.attn.rel_pos_h"), "blocks.2.attn.rel_pos_h"),
        (
            lambda: _without(_tiny_vit_state(), "blocks.3.attn.rel_pos_h", "blocks.3.attn.rel_pos_w"),
            "blocks.3.attn.rel_pos_h",
        ),
        (
            lambda: {k: v for k, v in _tiny_vit_state().items() if not k.endswith("mlp.lin1.weight")},
            "blocks.0.mlp.lin1.weight",
        ),
        # Malformed shapes (a raw IndexError / ZeroDivisionError / KeyError before).
        (lambda: _with(_tiny_vit_state(), patch_embed__proj__weight=torch.zeros(32, 3)), "patch_embed.proj"),
        (lambda: _with(_tiny_vit_state(), blocks__0__attn__rel_pos_h=torch.zeros(7, 0)), "rel_pos"),
        (lambda: _with(_tiny_vit_state(), blocks__1__attn__rel_pos_h=torch.zeros(30, 16)), "rel_pos"),
        (lambda: _with(_tiny_r50_state(), conv1__weight=torch.zeros(8)), "conv1.weight"),
        (
            lambda: _with(_tiny_r50_state(), layer1__0__conv2__weight=torch.zeros(5, 5, 3, 3)),
            "layer1.0.conv2",
        ),
        (lambda: _with(_tiny_vit_state(), neck__0__weight=torch.zeros(16, 32)), "neck.0.weight"),
    ],
)
def test_structural_problems_are_conversion_errors_naming_the_keys(tmp_path, make, named):
    state = make()
    with pytest.raises(ConversionError) as info:
        convert_state_dict(state)
    assert named in str(info.value)
    ckpt = _save(tmp_path, state, "broken.pth")
    with pytest.raises(ConversionError):
        convert_checkpoint(ckpt, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written, not even an empty folder


def test_block_type_is_read_from_several_keys():
    """A missing layer1.0.conv3.weight must not turn a bottleneck ResNet into basic blocks."""
    state = _without(_tiny_r50_state(), "layer1.0.conv3.weight")
    with pytest.raises(ConversionError, match=r"layer1\.0\.conv3\.weight"):
        convert_state_dict(state)
    model, report = convert_state_dict(state, allow_partial=True)
    assert model.config.layer_type == "bottleneck" and model.config.hidden_sizes == [8, 16, 32, 64]
    assert report.missing_keys == ["layer1.0.conv3.weight"]


def test_timm_vit_is_refused_with_a_clear_error():
    # timm / DeiT ViT-B/16 names (vision_transformer.py): class token, 1-D pos_embed, mlp.fc1/fc2, head.
    timm_vit = {
        "cls_token": torch.zeros(1, 1, 32),
        "pos_embed": torch.zeros(1, 65, 32),
        "patch_embed.proj.weight": torch.zeros(32, 3, 8, 8),
        "patch_embed.proj.bias": torch.zeros(32),
        "blocks.0.norm1.weight": torch.ones(32),
        "blocks.0.attn.qkv.weight": torch.zeros(96, 32),
        "blocks.0.mlp.fc1.weight": torch.zeros(128, 32),
        "blocks.0.mlp.fc2.weight": torch.zeros(32, 128),
        "norm.weight": torch.ones(32),
        "head.weight": torch.zeros(10, 32),
    }
    with pytest.raises(ConversionError, match="timm") as info:
        convert_state_dict(timm_vit)
    assert "cls_token" in str(info.value) and "blocks.0.mlp.fc1.weight" in str(info.value)


def test_non_finite_weights_are_refused_unless_allowed(tmp_path):
    state = _tiny_r50_state()
    state["layer3.0.bn2.running_var"][0] = float("nan")
    state["conv1.weight"][0, 0, 0, 0] = float("inf")
    with pytest.raises(ConversionError, match="NaN or infinite") as info:
        convert_state_dict(state)
    assert "conv1.weight" in str(info.value) and "layer3.0.bn2.running_var" in str(info.value)
    ckpt = _save(tmp_path, state, "nan.pth")
    assert cli_main(["convert", str(ckpt), str(tmp_path / "refused")]) != 0
    assert not (tmp_path / "refused").exists()
    assert cli_main(["convert", str(ckpt), str(tmp_path / "kept"), "--allow-nonfinite"]) == 0
    report = json.loads((tmp_path / "kept" / "conversion_report.json").read_text())
    assert report["nonfinite_keys"] == ["conv1.weight", "layer3.0.bn2.running_var"]


def test_unreadable_files_are_called_what_they_are(tmp_path):
    random_bytes = tmp_path / "random.pth"
    random_bytes.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ConversionError, match="not a PyTorch checkpoint") as info:
        load_checkpoint(random_bytes)
    assert "weights_only=False" not in str(info.value) and "unsafe" not in str(info.value)
    ckpt = _save(tmp_path, _tiny_r50_state(), "good.torch")
    data = ckpt.read_bytes()
    truncated = tmp_path / "truncated.torch"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError, match="truncated or corrupt") as info:
        load_checkpoint(truncated)
    assert "weights_only=False" not in str(info.value)
    bad_safetensors = tmp_path / "bad.safetensors"
    bad_safetensors.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ConversionError, match="safetensors"):
        load_checkpoint(bad_safetensors)
    with pytest.raises(ConversionError, match="does not exist"):
        load_checkpoint(tmp_path / "absent.torch")
    assert cli_main(["convert", str(random_bytes), str(tmp_path / "bad_out")]) == 2  # one-line error
    assert not (tmp_path / "bad_out").exists()


class _Exploit:
    """A pickle payload that would create a file if it were ever unpickled with code execution."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_that_would_execute_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "payload": _Exploit(marker)}, path)
    with pytest.raises(ConversionError, match="Refusing to load") as info:
        load_checkpoint(path)
    assert "weights_only=False" not in str(info.value)
    assert not marker.exists()
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(_Exploit(marker), protocol=2))
    with pytest.raises(ConversionError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_failed_export_leaves_an_existing_folder_as_it_was(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    ckpt = _save(
        tmp_path,
        _without(_tiny_vit_state(), *[k for k in _tiny_vit_state() if k.startswith("neck")]),
        "v.pth",
    )
    with pytest.raises(ConversionError, match="neck"):
        convert_checkpoint(ckpt, out, export="stock")  # SamVisionModel needs a neck
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


# ----------------------------------------------------------------------------------------------
# Exports and what loads them


def test_wrapper_prefixes_are_stripped(tmp_path):
    state = _tiny_r50_state()
    wrapped = {"epoch": 3, "state_dict": {f"module.backbone.{k}": v for k, v in state.items()}}
    path = tmp_path / "wrapped.pth"
    torch.save(wrapped, path)
    report = convert_checkpoint(path, tmp_path / "out")
    assert report.stripped_prefixes == ["module.", "backbone."]
    assert report.is_complete


def test_full_sam_checkpoint_keeps_only_the_image_encoder():
    full = {f"image_encoder.{k}": v for k, v in _tiny_vit_state().items()}
    full["mask_decoder.iou_token.weight"] = torch.zeros(1, 256)
    full["prompt_encoder.no_mask_embed.weight"] = torch.zeros(1, 256)
    _, report = convert_state_dict(full)
    assert report.is_complete and report.family == "vit"
    assert report.stripped_prefixes == ["image_encoder."]


def test_vit_config_is_inferred_from_shapes():
    config = infer_vit_config(_tiny_vit_state())
    expected = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_dim=128, image_size=64)
    expected.update(
        patch_size=8, window_size=4, global_attn_indexes=[1, 3], use_neck=True, output_channels=16
    )
    assert {k: getattr(config, k) for k in expected} == expected
    assert config.use_abs_pos is False


def test_native_vit_folder_serves_classification_before_the_neck_and_sam_the_neck(tmp_path):
    """One converted folder, no flags: AutoModel gives both outputs, the classification head and the
    feature pipeline use the pre-neck map, the SAM recipe feeds the mask decoder the neck output."""
    from transformers import AutoModel, AutoModelForImageClassification, pipeline

    from lvmmed_hf.downstream.sam import build_sam_model

    state = _tiny_vit_state()
    out = tmp_path / "vit"
    convert_checkpoint(_save(tmp_path, state, "lvmmed_vit.pth"), out)
    model = AutoModel.from_pretrained(out).eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        outputs = model(x)
    assert outputs.last_hidden_state.shape == (2, 32, 8, 8) and outputs.pooler_output.shape == (2, 32)
    assert outputs.neck_embeddings.shape == (2, 16, 8, 8)
    clf = AutoModelForImageClassification.from_pretrained(out, num_labels=3).eval()
    assert clf.lvmmed.neck is None
    with torch.no_grad():
        logits = clf(x).logits
    torch.testing.assert_close(logits, clf.classifier(outputs.pooler_output), atol=1e-6, rtol=0)
    extractor = pipeline("image-feature-extraction", model=str(out), device="cpu")
    features = np.asarray(extractor(_real_dicom_images(1), pool=True))
    assert features.reshape(1, -1).shape == (1, 32)
    sam, trainable = build_sam_model(str(out))
    assert trainable == ["mask_decoder."]  # the release's own neck, frozen
    with torch.no_grad():
        torch.testing.assert_close(sam.get_image_embeddings(x), outputs.neck_embeddings, atol=1e-5, rtol=0)


def test_read_backbone_weights_is_the_one_loader(tmp_path):
    from transformers import AutoModelForImageClassification

    state = _tiny_r50_state()
    bare = tmp_path / "bare"
    convert_checkpoint(_save(tmp_path, state, "r.pth"), bare)
    backbone = {k: v for k, v in state.items() if not k.startswith("fc.")}
    for source in (bare, tmp_path / "r.pth"):
        weights = read_backbone_weights(source)
        assert set(weights) == set(backbone), source
        assert all(torch.equal(weights[k], backbone[k]) for k in backbone)
    head = AutoModelForImageClassification.from_pretrained(bare, num_labels=2)
    head.save_pretrained(tmp_path / "head")
    assert set(read_backbone_weights(tmp_path / "head")) == set(backbone)  # no classifier.*
    with pytest.raises(ConversionError, match="no .safetensors"):
        read_backbone_weights(tmp_path)


def _real_dicom_images(n: int = 2) -> list[Image.Image]:
    """Real CT/MR slices from pydicom-data, windowed to 8-bit for the pipelines."""
    import pydicom
    from pydicom.data import get_testdata_file

    images = []
    for name in ("CT_small.dcm", "MR_small.dcm")[:n]:
        ds = pydicom.dcmread(get_testdata_file(name))
        array = ds.pixel_array.astype(np.float32)
        array = (array - array.min()) / max(float(np.ptp(array)), 1.0) * 255
        images.append(Image.fromarray(array.astype(np.uint8)))
    return images


def test_stock_processor_matches_ours_on_8_bit_images(tmp_path):
    from transformers import AutoImageProcessor

    out = tmp_path / "stock"
    convert_checkpoint(_save(tmp_path, _tiny_r50_state(), "r.pth"), out, export="stock", image_size=32)
    config = json.loads((out / "preprocessor_config.json").read_text())
    assert config["image_processor_type"] == "ViTImageProcessor" and "auto_map" not in config
    stock = AutoImageProcessor.from_pretrained(out)
    ours = LvmMedImageProcessor(size={"height": 32, "width": 32})
    rng = np.random.default_rng(0)
    same_size = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    a = stock(same_size, return_tensors="pt")["pixel_values"]
    b = ours(same_size, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)  # same rescale, mean and std
    gray = Image.fromarray(rng.integers(0, 256, (48, 40), dtype=np.uint8))
    a = stock(gray, return_tensors="pt")["pixel_values"]
    b = ours(gray, return_tensors="pt")["pixel_values"]
    assert a.shape == b.shape == (1, 3, 32, 32)
    # Same bilinear antialiased filter; PIL resizes 8-bit data with fixed-point weights and rounds
    # to 8 bit: at most one grey level apart (1 / 255 / std), well under half a level on average.
    level = 1 / 255 / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert bool(((a - b).abs() <= level + 1e-4).all())
    assert float(((a - b).abs() / level).mean()) < 0.4


_NO_PACKAGE = textwrap.dedent(
    """
    import json, re, sys
    sys.modules["lvmmed_hf"] = None  # the package is not installed for this user
    try:
        import lvmmed_hf  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("lvmmed_hf should not be importable here")
    import numpy as np
    import torch
    from PIL import Image

    def check_card(folder, batch):
        # Run the card's own usage snippet and compare every commented shape with the real one.
        card = open(folder + "/README.md").read()
        code = card.split("```python")[1].split("```")[0]
        assert "lvmmed_hf" not in code, code
        rng = np.random.default_rng(0)
        scope = {"images": [Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))] * batch}
        statements, checks = [], []
        for line in code.splitlines():
            found = re.match(r"^(outputs[^#]*?)\\s*#\\s*\\(([^)]*)\\)", line)
            (checks if found else statements).append(found.groups() if found else line)
        exec("\\n".join(statements), scope)
        for expression, shape in checks:
            expected = tuple(batch if s.strip() == "B" else int(s) for s in shape.split(","))
            got = tuple(eval(expression, scope).shape)
            assert got == expected, (folder, expression, got, expected)
        return scope["outputs"]
    """
)


def _run_without_package(tmp_path: Path, body: str, *args: str) -> str:
    script = tmp_path / "no_package.py"
    script.write_text(_NO_PACKAGE + textwrap.dedent(body))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    env.pop("PYTHONPATH", None)  # the worktree's src/ must not leak in
    result = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


@pytest.mark.slow
def test_stock_and_remote_exports_load_where_lvmmed_hf_is_not_installed(tmp_path):
    """Stock: transformers' own model and processor classes, the feature pipeline, and the card's
    snippet with its shapes. Remote: AutoModel, AutoModelForImageClassification and AutoBackbone
    through auto_map with trust_remote_code=True."""
    r50 = _save(tmp_path, _tiny_r50_state(), "lvmmed_resnet.torch")
    vit = _save(tmp_path, _tiny_vit_state(), "lvmmed_vit.pth")
    folders = {}
    for name, ckpt, export in (
        ("stock_cnn", r50, "stock"),
        ("stock_vit", vit, "stock"),
        ("remote_cnn", r50, "remote"),
        ("remote_vit", vit, "remote"),
    ):
        folders[name] = tmp_path / name
        convert_checkpoint(ckpt, folders[name], export=export)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    torch.save(x, tmp_path / "x.pt")
    expected = {}
    with torch.no_grad():
        cnn = convert_state_dict(_tiny_r50_state())[0]
        expected["cnn"] = cnn(x).pooler_output
        vit_model = convert_state_dict(_tiny_vit_state())[0]
        vit_out = vit_model(x)
        expected["vit"], expected["vit_neck"] = vit_out.pooler_output, vit_out.neck_embeddings
    torch.save(expected, tmp_path / "expected.pt")
    for name in ("stock_cnn", "stock_vit"):
        card = (folders[name] / "README.md").read_text()
        assert "import lvmmed_hf" not in card and "trust_remote_code" not in card
    assert "has no `pooler_output`" in (folders["stock_vit"] / "README.md").read_text()
    for name in ("remote_cnn", "remote_vit"):
        card = (folders[name] / "README.md").read_text()
        assert "import lvmmed_hf" not in card and card.count("trust_remote_code=True") == 2
        auto_map = json.loads((folders[name] / "config.json").read_text())["auto_map"]
        assert set(auto_map) == {"AutoConfig", "AutoModel", "AutoModelForImageClassification", "AutoBackbone"}
    body = """
    from transformers import (
        AutoBackbone, AutoImageProcessor, AutoModel, AutoModelForImageClassification, pipeline,
    )
    from transformers.models.auto.auto_factory import _BaseAutoModelClass
    base, = sys.argv[1:]
    x = torch.load(base + "/x.pt", weights_only=True)
    expected = torch.load(base + "/expected.pt", weights_only=True)

    stock_cnn, stock_vit = base + "/stock_cnn", base + "/stock_vit"
    assert type(AutoModel.from_pretrained(stock_cnn)).__name__ == "ResNetModel"
    assert type(AutoModel.from_pretrained(stock_vit)).__name__ == "SamVisionModel"
    for folder in (stock_cnn, stock_vit):
        processor = AutoImageProcessor.from_pretrained(folder)
        assert type(processor).__name__.startswith("ViTImageProcessor"), type(processor)
    outputs = check_card(stock_cnn, 2)
    assert outputs.pooler_output.shape == (2, 64, 1, 1)
    check_card(stock_vit, 2)
    with torch.no_grad():
        got = AutoModel.from_pretrained(stock_cnn).eval()(x).pooler_output.flatten(1)
        torch.testing.assert_close(got, expected["cnn"], atol=1e-5, rtol=0)
        sam_out = AutoModel.from_pretrained(stock_vit).eval()(x, output_hidden_states=True)
        torch.testing.assert_close(sam_out.last_hidden_state, expected["vit_neck"], atol=1e-5, rtol=0)
        pre_neck = sam_out.hidden_states[-1].mean(dim=(1, 2))
        torch.testing.assert_close(pre_neck, expected["vit"], atol=1e-5, rtol=0)
    images = [Image.fromarray(np.full((50, 60, 3), 90, dtype=np.uint8))]
    for folder, width in ((stock_cnn, 64), (stock_vit, 16)):
        features = np.asarray(pipeline("image-feature-extraction", model=folder, device="cpu")(images))
        assert features.shape[0] == 1 and width in features.shape, (folder, features.shape)

    for family, folder in (("cnn", base + "/remote_cnn"), ("vit", base + "/remote_vit")):
        model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        with torch.no_grad():
            torch.testing.assert_close(model(x).pooler_output, expected[family], atol=1e-6, rtol=0)
        check_card(folder, 2)
        head = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True, num_labels=3)
        assert type(head).__name__.endswith("ForImageClassification")
        assert head.eval()(x).logits.shape == (2, 3)
        # AutoBackbone.from_pretrained asks the Hub about local folders in transformers 5.23+ (and
        # fails offline); its generic Auto loader is the same auto_map dispatch without that probe.
        load = _BaseAutoModelClass.from_pretrained.__func__
        backbone = load(AutoBackbone, folder, trust_remote_code=True, out_indices=[1])
        assert type(backbone).__name__.endswith("Backbone") and len(backbone(x).feature_maps) == 1
    print("NO_PACKAGE_OK")
    """
    assert "NO_PACKAGE_OK" in _run_without_package(tmp_path, body, str(tmp_path))


def test_stock_vit_export_at_another_input_size_keeps_the_outputs(tmp_path):
    """SamVisionModel accepts only its configured size: exporting at 32 px resizes the global tables
    exactly as the model does at run time, so the outputs at 32 px are unchanged."""
    model, _ = convert_state_dict(_tiny_vit_state())
    stock = to_stock_model(model, image_size=32)
    assert stock.config.image_size == 32
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        ours = model(x, output_hidden_states=True)
        theirs = stock(x, output_hidden_states=True)
    torch.testing.assert_close(theirs.last_hidden_state, ours.neck_embeddings, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        theirs.hidden_states[-1], ours.last_hidden_state.permute(0, 2, 3, 1), atol=1e-5, rtol=0
    )


def test_native_card_snippet_runs_with_the_shapes_it_states(tmp_path):
    out = tmp_path / "native"
    convert_checkpoint(_save(tmp_path, _tiny_vit_state(), "lvmmed_vit.pth"), out)
    card = (out / "README.md").read_text()
    assert "import lvmmed_hf" in card and "trust_remote_code" not in card
    for text in (
        "CC BY-NC-SA 4.0",
        "CC BY-NC-ND 2.0",
        "non-commercial research use",
        "no right to redistribute",
    ):
        assert text in card, text
    code = card.split("```python")[1].split("```")[0]
    scope = {"images": [Image.fromarray(np.zeros((30, 40), dtype=np.uint8))] * 2}
    lines = code.splitlines()
    checks = [re.match(r"^(outputs[^#]*?)\s*#\s*\(([^)]*)\)", line) for line in lines]
    exec("\n".join(line for line, c in zip(lines, checks) if not c), scope)
    stated = [c.groups() for c in checks if c]
    assert {e for e, _ in stated} == {
        "outputs.pooler_output",
        "outputs.last_hidden_state",
        "outputs.neck_embeddings",
    }
    for expression, shape in stated:
        expected = tuple(2 if s.strip() == "B" else int(s) for s in shape.split(","))
        assert tuple(eval(expression, scope).shape) == expected, expression


def test_convert_cli(tmp_path):
    ckpt = _save(tmp_path, _tiny_r50_state(), "lvmmed_resnet.torch")
    assert cli_main(["convert", str(ckpt), str(tmp_path / "cli_out")]) == 0
    assert (tmp_path / "cli_out" / "model.safetensors").is_file()
    report = json.loads((tmp_path / "cli_out" / "conversion_report.json").read_text())
    assert report["family"] == "cnn" and report["missing_keys"] == [] and report["export"] == "native"
    assert cli_main(["convert", str(ckpt), str(tmp_path / "tv"), "--export", "torchvision"]) != 0
    assert not (tmp_path / "tv").exists()  # a tiny ResNet has no torchvision counterpart


def test_remote_code_copies_the_package_modules_the_processor_imports(tmp_path):
    """Modules that import package siblings (``from ..constants import ...``) still load as flat
    remote code: the siblings are copied and the imports rewritten to ``from .name``."""
    from lvmmed_hf.models.conversion import _copy_remote_module

    package = tmp_path / "pkg"
    (package / "models").mkdir(parents=True)
    (package / "constants.py").write_text("MEAN = (0.5,)\n")
    (package / "models" / "helper.py").write_text("from ..constants import MEAN\nTWICE = MEAN * 2\n")
    (package / "models" / "proc.py").write_text("from .helper import TWICE\nfrom ..constants import MEAN\n")
    out = tmp_path / "remote"
    out.mkdir()
    _copy_remote_module(package / "models" / "proc.py", out)
    assert sorted(p.name for p in out.iterdir()) == ["constants.py", "helper.py", "proc.py"]
    assert (out / "proc.py").read_text() == "from .helper import TWICE\nfrom .constants import MEAN\n"
    assert (out / "helper.py").read_text().startswith("from .constants import MEAN")
    (package / "models" / "broken.py").write_text("from ..absent import X\n")
    with pytest.raises(ConversionError, match="absent"):
        _copy_remote_module(package / "models" / "broken.py", out)


def test_converted_card_is_titled_after_the_output_folder_not_the_staging_folder(tmp_path):
    # The card is built in a temporary staging folder before the files move to the output folder;
    # its title must name the folder the user asked for.
    out = tmp_path / "lvmmed-vit-b-converted"
    convert_checkpoint(_save(tmp_path, _tiny_vit_state(), "lvmmed_vit.pth"), out)
    card = (out / "README.md").read_text()
    assert "(lvmmed-vit-b-converted)" in card
    assert "lvmmed-convert-" not in card


def test_cli_refused_conversion_is_one_line_and_exit_code_2(tmp_path, capsys):
    # Issue 12: expected errors are one line on stderr with exit code 2, for every command.
    state = _tiny_r50_state()
    state["layer1.0.downsample.0.bias"] = torch.zeros(1)  # a key no ResNet has: partial load refused
    ckpt = _save(tmp_path, state, "extra_key.torch")
    assert cli_main(["convert", str(ckpt), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "layer1.0.downsample.0.bias" in err[0] and "--allow-partial" in err[0]
    assert not (tmp_path / "out").exists()
