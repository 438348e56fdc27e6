"""Conversion of the authors' checkpoint layouts into Hugging Face folders."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lvmmed_hf  # noqa: F401  (registers the Auto classes)
from lvmmed_hf import LvmMedCnnConfig, LvmMedCnnModel, LvmMedViTConfig, LvmMedViTModel
from lvmmed_hf.models.conversion import (
    ConversionError,
    convert_checkpoint,
    convert_state_dict,
    infer_vit_config,
    load_checkpoint,
)

TINY_CNN = dict(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 2, 1, 1], layer_type="bottleneck")
TINY_VIT = dict(
    hidden_size=32,
    num_hidden_layers=4,
    num_attention_heads=2,
    mlp_dim=64,
    image_size=64,
    patch_size=8,
    window_size=4,
    global_attn_indexes=[1, 3],
)


def _randomised(model: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in the authors' layout with every tensor random (zeros would hide mistakes)."""
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for name, tensor in model.state_dict().items():
        if tensor.dtype.is_floating_point:
            value = torch.randn(tensor.shape, generator=gen) * 0.1
            if name.endswith("running_var"):
                value = value.abs() + 0.5
            sd[name] = value
        else:
            sd[name] = tensor.clone()
    return sd


def _authors_cnn_checkpoint(tmp_path: Path, config_kwargs=TINY_CNN) -> tuple[Path, dict]:
    sd = _randomised(LvmMedCnnModel(LvmMedCnnConfig(**config_kwargs)))
    # The released file is a torchvision resnet state dict: it carries the ImageNet classifier too.
    sd["fc.weight"] = torch.randn(1000, _last_width(sd))
    sd["fc.bias"] = torch.randn(1000)
    path = tmp_path / "lvmmed_resnet.torch"
    torch.save(sd, path)
    return path, sd


def _last_width(sd: dict) -> int:
    key = "layer4.0.conv3.weight" if "layer4.0.conv3.weight" in sd else "layer4.0.conv2.weight"
    return sd[key].shape[0]


def _authors_vit_checkpoint(tmp_path: Path) -> tuple[Path, dict]:
    sd = _randomised(LvmMedViTModel(LvmMedViTConfig(**TINY_VIT)), seed=1)
    assert not any(k.startswith("pos_embed") for k in sd)
    path = tmp_path / "lvmmed_vit.pth"
    torch.save(sd, path)
    return path, sd


def _reference_output(model_cls, config, sd, pixel_values):
    model = model_cls(config).eval()
    model.load_state_dict({k: v for k, v in sd.items() if not k.startswith("fc.")}, strict=True)
    with torch.no_grad():
        return model(pixel_values).pooler_output


def test_cnn_checkpoint_converts_and_reloads_with_automodel(tmp_path):
    from transformers import AutoImageProcessor, AutoModel

    ckpt, sd = _authors_cnn_checkpoint(tmp_path)
    out = tmp_path / "hf"
    report = convert_checkpoint(ckpt, out)
    assert report.family == "cnn"
    assert report.missing_keys == [] and report.unexpected_keys == []
    assert report.ignored_keys == ["fc.bias", "fc.weight"]
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md"):
        assert (out / name).is_file(), name
    card = (out / "README.md").read_text()
    assert "cc-by-nc-sa-4.0" in card and "Intended use" in card

    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "lvmmed_cnn"
    assert config["depths"] == TINY_CNN["depths"] and config["hidden_sizes"] == TINY_CNN["hidden_sizes"]

    pixel_values = torch.randn(2, 3, 64, 64)
    expected = _reference_output(LvmMedCnnModel, LvmMedCnnConfig(**TINY_CNN), sd, pixel_values)
    loaded = AutoModel.from_pretrained(out).eval()
    assert isinstance(loaded, LvmMedCnnModel)
    with torch.no_grad():
        got = loaded(pixel_values).pooler_output
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    processor = AutoImageProcessor.from_pretrained(out)
    assert type(processor).__name__ == "LvmMedImageProcessor"


def test_full_resnet50_layout_loads_with_zero_missing_keys(tmp_path):
    ckpt, _ = _authors_cnn_checkpoint(tmp_path, config_kwargs={})
    model, report = convert_state_dict(load_checkpoint(ckpt))
    assert report.missing_keys == [] and report.unexpected_keys == []
    assert model.config.depths == [3, 4, 6, 3]
    assert model.config.hidden_sizes == [256, 512, 1024, 2048]
    assert model.config.layer_type == "bottleneck"


def test_vit_checkpoint_config_is_inferred_from_shapes(tmp_path):
    ckpt, sd = _authors_vit_checkpoint(tmp_path)
    config = infer_vit_config(load_checkpoint(ckpt))
    for key, value in TINY_VIT.items():
        assert getattr(config, key) == value, key
    assert config.use_abs_pos is False and config.use_neck is False

    out = tmp_path / "hf"
    report = convert_checkpoint(ckpt, out)
    assert report.family == "vit" and report.is_complete
    from transformers import AutoModel

    pixel_values = torch.randn(1, 3, 64, 64)
    expected = _reference_output(LvmMedViTModel, LvmMedViTConfig(**TINY_VIT), sd, pixel_values)
    with torch.no_grad():
        got = AutoModel.from_pretrained(out).eval()(pixel_values).pooler_output
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_wrapper_prefixes_are_stripped(tmp_path):
    _, sd = _authors_cnn_checkpoint(tmp_path)
    wrapped = {"epoch": 3, "state_dict": {f"module.backbone.{k}": v for k, v in sd.items()}}
    path = tmp_path / "wrapped.pth"
    torch.save(wrapped, path)
    model, report = convert_state_dict(load_checkpoint(path))
    assert report.stripped_prefixes == ["module.", "backbone."]
    assert report.is_complete
    torch.testing.assert_close(model.state_dict()["conv1.weight"], sd["conv1.weight"])


def test_full_sam_checkpoint_keeps_only_the_image_encoder(tmp_path):
    _, sd = _authors_vit_checkpoint(tmp_path)
    full = {f"image_encoder.{k}": v for k, v in sd.items()}
    full["mask_decoder.iou_token.weight"] = torch.zeros(1, 256)
    full["prompt_encoder.no_mask_embed.weight"] = torch.zeros(1, 256)
    model, report = convert_state_dict(full)
    assert report.is_complete and report.family == "vit"
    assert report.stripped_prefixes == ["image_encoder."]


def test_partial_checkpoint_is_refused_unless_allowed(tmp_path):
    _, sd = _authors_cnn_checkpoint(tmp_path)
    del sd["layer2.1.conv2.weight"]
    sd["layer9.extra.weight"] = torch.zeros(3)
    with pytest.raises(ConversionError, match="Partial load refused") as info:
        convert_state_dict(sd)
    assert "layer2.1.conv2.weight" in str(info.value)
    _, report = convert_state_dict(sd, allow_partial=True)
    assert report.missing_keys == ["layer2.1.conv2.weight"]
    assert report.unexpected_keys == ["layer9.extra.weight"]


def test_shape_mismatch_is_reported(tmp_path):
    _, sd = _authors_cnn_checkpoint(tmp_path)
    sd["layer1.0.conv2.weight"] = torch.zeros(5, 5, 3, 3)
    with pytest.raises(ConversionError, match="layer1.0.conv2.weight"):
        convert_state_dict(sd, allow_partial=True)


def test_wrong_architecture_is_a_clear_error(tmp_path):
    bert_like = {
        "embeddings.word_embeddings.weight": torch.zeros(10, 4),
        "encoder.layer.0.output.dense.weight": torch.zeros(4, 4),
    }
    with pytest.raises(ConversionError, match="neither a torchvision-layout ResNet"):
        convert_state_dict(bert_like)
    _, vit_sd = _authors_vit_checkpoint(tmp_path)
    with pytest.raises(ConversionError, match="Expected a cnn checkpoint"):
        convert_state_dict(vit_sd, family="cnn")


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    ckpt, _ = _authors_cnn_checkpoint(tmp_path)
    data = ckpt.read_bytes()
    truncated = tmp_path / "truncated.torch"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError, match="truncated or corrupt"):
        load_checkpoint(truncated)
    with pytest.raises(ConversionError, match="does not exist"):
        load_checkpoint(tmp_path / "absent.torch")


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
    with pytest.raises(ConversionError, match="Refusing to load"):
        load_checkpoint(path)
    assert not marker.exists()
    # A bare pickle (not a torch zip archive) is refused too.
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(ConversionError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_stock_export_of_cnn_matches_our_model(tmp_path):
    from transformers import AutoModel, ResNetModel

    ckpt, sd = _authors_cnn_checkpoint(tmp_path)
    out = tmp_path / "stock"
    convert_checkpoint(ckpt, out, export="stock")
    stock = AutoModel.from_pretrained(out).eval()
    assert isinstance(stock, ResNetModel)
    pixel_values = torch.randn(2, 3, 64, 64)
    expected = _reference_output(LvmMedCnnModel, LvmMedCnnConfig(**TINY_CNN), sd, pixel_values)
    with torch.no_grad():
        got = stock(pixel_values).pooler_output.flatten(1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_stock_export_of_vit_requires_a_neck_and_matches_with_one(tmp_path):
    from transformers import SamVisionModel

    from lvmmed_hf.models.conversion import to_stock_model

    with pytest.raises(ConversionError, match="neck"):
        to_stock_model(LvmMedViTModel(LvmMedViTConfig(**TINY_VIT)))
    ours = LvmMedViTModel(LvmMedViTConfig(**TINY_VIT, use_neck=True)).eval()
    ours.load_state_dict(_randomised(ours, seed=4))
    stock = to_stock_model(ours)
    assert isinstance(stock, SamVisionModel)
    pixel_values = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = ours(pixel_values).last_hidden_state
        got = stock(pixel_values).last_hidden_state
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


_REMOTE_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["lvmmed_hf"] = None  # the package is not installed for this user
    import torch
    from transformers import AutoConfig, AutoImageProcessor, AutoModel
    folder, inputs, expected = sys.argv[1:4]
    try:
        import lvmmed_hf  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("lvmmed_hf should not be importable here")
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
    assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
    with torch.no_grad():
        got = model(torch.load(inputs, weights_only=True)).pooler_output
    torch.testing.assert_close(got, torch.load(expected, weights_only=True), rtol=0, atol=1e-6)
    print("REMOTE_OK", type(model).__name__, type(processor).__name__)
    """
)


@pytest.mark.parametrize("family", ["cnn", "vit"])
def test_remote_code_export_loads_without_the_package(tmp_path, family):
    if family == "cnn":
        ckpt, sd = _authors_cnn_checkpoint(tmp_path)
        expected_fn = lambda x: _reference_output(LvmMedCnnModel, LvmMedCnnConfig(**TINY_CNN), sd, x)  # noqa: E731
    else:
        ckpt, sd = _authors_vit_checkpoint(tmp_path)
        expected_fn = lambda x: _reference_output(LvmMedViTModel, LvmMedViTConfig(**TINY_VIT), sd, x)  # noqa: E731
    out = tmp_path / "remote"
    convert_checkpoint(ckpt, out, export="remote")
    assert "auto_map" in json.loads((out / "config.json").read_text())
    pixel_values = torch.randn(1, 3, 64, 64)
    torch.save(pixel_values, tmp_path / "x.pt")
    torch.save(expected_fn(pixel_values), tmp_path / "y.pt")
    script = tmp_path / "remote.py"
    script.write_text(_REMOTE_SCRIPT)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run(
        [sys.executable, str(script), str(out), str(tmp_path / "x.pt"), str(tmp_path / "y.pt")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REMOTE_OK" in result.stdout


def test_fresh_process_loads_converted_folder_offline(tmp_path):
    ckpt, _ = _authors_cnn_checkpoint(tmp_path)
    out = tmp_path / "hf"
    convert_checkpoint(ckpt, out)
    code = (
        "import lvmmed_hf, torch; from transformers import AutoModel; "
        f"m = AutoModel.from_pretrained({str(out)!r}); "
        "print('SHAPE', tuple(m(torch.zeros(1, 3, 64, 64)).pooler_output.shape))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "SHAPE (1, 64)" in result.stdout


def _real_dicom_images(n: int = 2) -> list[Image.Image]:
    """Real CT/MR slices from pydicom-data, windowed to 8-bit for the pipeline."""
    import pydicom
    from pydicom.data import get_testdata_file

    images = []
    for name in ("CT_small.dcm", "MR_small.dcm")[:n]:
        ds = pydicom.dcmread(get_testdata_file(name))
        array = ds.pixel_array.astype(np.float32)
        array = (array - array.min()) / max(float(np.ptp(array)), 1.0) * 255
        images.append(Image.fromarray(array.astype(np.uint8)))
    return images


def test_feature_extraction_pipeline_on_converted_folder(tmp_path):
    from transformers import pipeline

    ckpt, _ = _authors_cnn_checkpoint(tmp_path)
    out = tmp_path / "hf"
    convert_checkpoint(ckpt, out)
    extractor = pipeline("image-feature-extraction", model=str(out), device="cpu")
    features = extractor(_real_dicom_images(), pool=True)
    array = np.asarray(features)
    assert array.reshape(2, -1).shape == (2, 64)
    assert np.isfinite(array).all()


def test_image_classification_pipeline_on_converted_folder(tmp_path):
    from transformers import AutoModelForImageClassification, pipeline

    ckpt, _ = _authors_cnn_checkpoint(tmp_path)
    out = tmp_path / "hf"
    convert_checkpoint(ckpt, out)
    labels = {0: "CT", 1: "MR", 2: "US"}
    model = AutoModelForImageClassification.from_pretrained(
        out, id2label=labels, label2id={v: k for k, v in labels.items()}
    )
    assert type(model).__name__ == "LvmMedCnnForImageClassification"
    model.save_pretrained(out / "cls")
    from transformers import AutoImageProcessor

    AutoImageProcessor.from_pretrained(out).save_pretrained(out / "cls")
    classifier = pipeline("image-classification", model=str(out / "cls"), device="cpu")
    predictions = classifier(_real_dicom_images(1), top_k=3)
    assert sorted(p["label"] for p in predictions[0]) == ["CT", "MR", "US"]
    assert abs(sum(p["score"] for p in predictions[0]) - 1.0) < 1e-4


def test_convert_cli(tmp_path):
    ckpt, _ = _authors_cnn_checkpoint(tmp_path)
    from lvmmed_hf.cli import main

    assert main(["convert", str(ckpt), str(tmp_path / "cli_out")]) == 0
    assert (tmp_path / "cli_out" / "model.safetensors").is_file()
    report = json.loads((tmp_path / "cli_out" / "conversion_report.json").read_text())
    assert report["family"] == "cnn" and report["missing_keys"] == []
    bad = tmp_path / "bad.torch"
    bad.write_bytes(b"not a checkpoint at all")
    assert main(["convert", str(bad), str(tmp_path / "bad_out")]) == 1
