"""Options, presets, data checks and checkpoint validation of the pretraining entry point."""

import dataclasses
import io
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import HfArgumentParser

from lvmmed_hf.graph_matching.loss import GraphMatchingLossConfig
from lvmmed_hf.training.pretraining import (
    DataArguments,
    GraphMatchingArguments,
    ModelArguments,
    PretrainingArguments,
    build_model,
    check_dataset_size,
    checkpoint_problem,
    filter_by_image_size,
    last_complete_checkpoint,
    run_pretraining,
    validate_arguments,
)

TINY = dict(model_preset="tiny_cnn", projection_dim=16)


def _args(tmp_path, **training):
    options = dict(per_device_train_batch_size=16, use_cpu=True, gpu_monitor=False)
    return PretrainingArguments(output_dir=str(tmp_path / "out"), **{**options, **training})


# -- one declaration of the loss options -------------------------------------------------------


def test_loss_options_are_the_loss_config_itself():
    assert GraphMatchingArguments is GraphMatchingLossConfig
    parser = HfArgumentParser((ModelArguments, DataArguments, GraphMatchingLossConfig, PretrainingArguments))
    model_args, data_args, gm, training = parser.parse_args_into_dataclasses(
        ["--output_dir", "x", "--k", "3", "--gumbel_scale", "0.05", "--no_second_order", "--use_cpu", "True"]
    )
    assert isinstance(gm, GraphMatchingLossConfig)
    assert (gm.k, gm.gumbel_scale, gm.second_order) == (3, 0.05, False)
    # every field of the loss config is an option, declared once
    names = {a.dest for a in parser._actions}
    assert {f.name for f in dataclasses.fields(GraphMatchingLossConfig)} <= names


def test_model_config_stores_the_loss_options_as_given_and_the_model_reads_them():
    gm = GraphMatchingLossConfig(k=3, gcn_hidden_dim=16, gumbel=False)
    model = build_model(ModelArguments(**TINY), gm)
    stored = model.config.graph_matching
    assert stored == dataclasses.asdict(dataclasses.replace(gm, embedding_dim=16))
    assert model.graph_matching.config.k == 3 and model.graph_matching.config.embedding_dim == 16
    before = json.dumps(model.config.graph_matching, sort_keys=True)
    # building a second model from the config does not rewrite the stored options
    type(model)(model.config)
    assert json.dumps(model.config.graph_matching, sort_keys=True) == before
    with pytest.raises(ValueError, match="differs from projection_dim"):
        type(model)(type(model.config)(**{**model.config.to_dict(), "graph_matching": {"embedding_dim": 8}}))


# -- presets -----------------------------------------------------------------------------------


def test_one_preset_table_with_both_spellings():
    from lvmmed_hf.downstream import backbones
    from lvmmed_hf.models import presets

    assert backbones.PRESETS is presets.PRESETS
    for a, b in [("tiny-cnn", "tiny_cnn"), ("vit-b", "vit_b"), ("Tiny-ViT", "tiny_vit")]:
        assert presets.get_preset(a) == presets.get_preset(b)
        assert backbones.backbone_config(a).to_dict() == backbones.backbone_config(b).to_dict()
    # the pretraining entry accepts the downstream spelling, and the two build the same network
    torch.manual_seed(0)
    a = build_model(ModelArguments(model_preset="tiny-cnn", projection_dim=16), GraphMatchingLossConfig())
    assert a.config.hidden_sizes == [8, 16, 32, 64] and a.config.layer_type == "basic"
    assert backbones.model_type_of("tiny_vit") == "lvmmed_vit"
    with pytest.raises(ValueError, match="unknown model preset 'nope'"):
        presets.get_preset("nope")


# -- validation before any work ------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (("gm", "gumbel_scale", -1.0), "--gumbel_scale must be >= 0"),
        (("gm", "blackbox_lambda", -80.0), "--blackbox_lambda must be a positive"),
        (("gm", "k", 16), "--k must satisfy"),
        (("gm", "alpha", 1.5), "--alpha must lie in"),
        (("model", "model_preset", "resnet99"), "--model_preset 'resnet99'"),
        (("data", "view_augmentation", "strong"), "--view_augmentation must be"),
        (("data", "crop_scale_min", 0.0), "--crop_scale_min"),
        (("data", "max_train_samples", 0), "--max_train_samples"),
    ],
)
def test_every_option_is_checked_before_any_work(tmp_path, change, message):
    kind, name, value = change
    model_args, data_args = (
        ModelArguments(**TINY),
        DataArguments(embedded=True, embedded_dir=str(tmp_path / "c")),
    )
    gm = GraphMatchingLossConfig(gcn_hidden_dim=16)
    target = {"gm": gm, "model": model_args, "data": data_args}[kind]
    setattr(target, name, value)
    with pytest.raises(ValueError, match=message):
        run_pretraining(model_args, data_args, gm, _args(tmp_path))
    # nothing was prepared or written
    assert not (tmp_path / "c").exists() and not (tmp_path / "out" / "backbone").exists()


def test_all_problems_are_listed_at_once(tmp_path):
    gm = GraphMatchingLossConfig()
    gm.gumbel_scale = -1.0  # set after construction: the loss config may refuse it when built
    with pytest.raises(ValueError) as err:
        validate_arguments(ModelArguments(**TINY), DataArguments(), gm, _args(tmp_path, learning_rate=-1.0))
    text = str(err.value)
    assert "--gumbel_scale" in text and "exactly one data source" in text and "--learning_rate" in text


def test_a_training_set_smaller_than_one_global_batch_is_refused(tmp_path):
    args = _args(tmp_path, gradient_accumulation_steps=2)
    with pytest.raises(ValueError, match=r"has 31 images.*needs: 32 = per_device_train_batch_size 16"):
        check_dataset_size(31, args)
    check_dataset_size(32, args)


@pytest.mark.slow
def test_pretraining_on_too_few_images_stops_before_training(tmp_path, embedded_corpus):
    """On the old code this trained 0 steps, exited 0 and saved an untrained backbone."""
    with pytest.raises(ValueError, match=r"has 20 images after filtering.*needs: 32"):
        run_pretraining(
            ModelArguments(**TINY),
            DataArguments(
                embedded=True, embedded_dir=str(embedded_corpus), max_train_samples=20, view_size=32
            ),
            GraphMatchingLossConfig(gcn_hidden_dim=16),
            _args(tmp_path, per_device_train_batch_size=32, max_steps=2, save_strategy="no"),
        )
    assert not (tmp_path / "out" / "backbone").exists()


# -- image-size filter from the stored columns ----------------------------------------------------


def _png(h, w):
    buf = io.BytesIO()
    Image.fromarray(np.zeros((h, w), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_size_filter_reads_the_stored_columns_without_decoding():
    import datasets

    sizes = [(40, 60), (20, 300), (31, 31), (32, 32), (500, 33)]
    # the image bytes are NOT images: decoding any of them would raise
    rows = {
        "image": [{"bytes": b"not an image", "path": None} for _ in sizes],
        "height": [h for h, _ in sizes],
        "width": [w for _, w in sizes],
    }
    features = datasets.Features(
        {"image": datasets.Image(), "height": datasets.Value("int32"), "width": datasets.Value("int32")}
    )
    ds = datasets.Dataset.from_dict(rows, features=features)
    kept = filter_by_image_size(ds, 32)
    expected = [i for i, (h, w) in enumerate(sizes) if min(h, w) >= 32]  # by hand: 0, 3, 4
    assert expected == [0, 3, 4]
    assert list(zip(kept["height"], kept["width"], strict=True)) == [sizes[i] for i in expected]


def test_size_filter_decodes_old_corpora_once_with_a_warning(caplog):
    import datasets

    sizes = [(40, 60), (20, 300), (32, 32)]
    ds = datasets.Dataset.from_dict(
        {"image": [{"bytes": _png(h, w), "path": None} for h, w in sizes]},
        features=datasets.Features({"image": datasets.Image()}),
    )
    with caplog.at_level(logging.WARNING):
        kept = filter_by_image_size(ds, 32)
    assert [im.size[::-1] for im in kept["image"]] == [(40, 60), (32, 32)]
    assert "no 'height'/'width' columns" in caplog.text and "lvmmed prepare" in caplog.text


# -- checkpoints ------------------------------------------------------------------------------------


def _fake_checkpoint(folder: Path, step: int):
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    save_file({"w": torch.zeros(64, 64)}, str(folder / "model.safetensors"))
    torch.save({"state": {}}, folder / "optimizer.pt")
    torch.save({"last_epoch": step}, folder / "scheduler.pt")
    torch.save({"cpu": torch.get_rng_state()}, folder / "rng_state.pth")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}))


@pytest.mark.parametrize("damage", ["no_state", "truncated_weights", "truncated_optimizer", "wrong_step"])
def test_incomplete_checkpoints_are_detected_and_skipped(tmp_path, damage):
    _fake_checkpoint(tmp_path / "checkpoint-3", 3)
    shutil.copytree(tmp_path / "checkpoint-3", tmp_path / "checkpoint-6")
    (tmp_path / "checkpoint-6" / "trainer_state.json").write_text(json.dumps({"global_step": 6}))
    assert checkpoint_problem(tmp_path / "checkpoint-6") is None
    bad = tmp_path / "checkpoint-6"
    if damage == "no_state":
        (bad / "trainer_state.json").unlink()
    elif damage == "truncated_weights":
        data = (bad / "model.safetensors").read_bytes()
        (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "truncated_optimizer":
        data = (bad / "optimizer.pt").read_bytes()
        (bad / "optimizer.pt").write_bytes(data[: len(data) - 30])
    else:
        (bad / "trainer_state.json").write_text(json.dumps({"global_step": 5}))
    assert checkpoint_problem(bad) is not None
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-3")


@pytest.mark.slow
def test_entry_point_reports_bad_options_in_one_message_with_exit_code_2(tmp_path):
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(repo / "training" / "pretrain.py"), "--embedded", "--output_dir"]
        + [str(tmp_path / "out"), "--gumbel_scale", "-1", "--model_preset", "tiny-cnn", "--use_cpu", "True"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert result.returncode == 2, result.stderr[-2000:]
    # the loss config refuses it on construction (its own wording), before any work
    assert "gumbel_scale" in result.stderr and "-1.0" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "embedded_corpus").exists()
