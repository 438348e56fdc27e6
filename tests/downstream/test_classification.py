"""Classification recipe end to end on a tiny image folder: train a few steps, save, reload, evaluate."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForImageClassification

import lvmmed_hf
from lvmmed_hf.downstream.classification import (
    ClassificationArguments,
    classification_metrics,
    run_classification,
)
from lvmmed_hf.downstream.data import group_split_indices
from lvmmed_hf.evaluation.model_card import parse_metadata

REPO = Path(__file__).resolve().parents[2]


# the classification tests take larger steps than the other recipes (as before: 4 x 8 images, lr 1e-2)
CLASSIFICATION_STEPS = dict(
    max_steps=4, batch_size=8, learning_rate=1e-2, eval_strategy="no", dataloader_num_workers=0
)


def test_finetune_multi_fcn_saves_reloads_and_evaluates(image_folder, tmp_path, tiny_training_args):
    args = ClassificationArguments(
        backbone="tiny-cnn", image_folder=str(image_folder), image_size=32, classifier_hidden_sizes=[16]
    )
    results = run_classification(args, tiny_training_args(tmp_path / "out", **CLASSIFICATION_STEPS))
    out = tmp_path / "out"
    saved = json.loads((out / "results.json").read_text())
    assert saved == json.loads(json.dumps(results, default=float))
    metrics = saved["results"][0]["metrics"]
    assert set(metrics) == {"accuracy", "macro_f1", "roc_auc"}
    # Reload and evaluate the test split independently of the Trainer: same accuracy.
    model = AutoModelForImageClassification.from_pretrained(out).eval()
    assert model.config.classifier_hidden_sizes == [16] and model.config.id2label == {0: "empty", 1: "square"}
    processor = lvmmed_hf.LvmMedImageProcessor.from_pretrained(out)
    images, labels = [], []
    for k, name in model.config.id2label.items():
        for p in sorted((image_folder / "test" / name).glob("*.png")):
            from PIL import Image

            images.append(Image.open(p).copy())
            labels.append(k)
    with torch.no_grad():
        logits = model(**processor(images, return_tensors="pt")).logits.numpy()
    assert np.mean(logits.argmax(-1) == np.array(labels)) == metrics["accuracy"]
    card = (out / "README.md").read_text()
    assert parse_metadata(card)["pipeline_tag"] == "image-classification"


def test_linear_eval_script_keeps_backbone_frozen(image_folder, tmp_path):
    # First save a "pretrained" backbone, then linear-evaluate it through the training/ script.
    backbone_dir = tmp_path / "backbone"
    cfg = lvmmed_hf.LvmMedCnnConfig(
        embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic"
    )
    torch.manual_seed(0)
    backbone = lvmmed_hf.LvmMedCnnModel(cfg)
    backbone.save_pretrained(backbone_dir)
    out = tmp_path / "lin"
    cmd = [
        sys.executable,
        str(REPO / "training" / "finetune_classification.py"),
        "--backbone",
        str(backbone_dir),
        "--image_folder",
        str(image_folder),
        "--image_size",
        "32",
        "--freeze_backbone",
        "--output_dir",
        str(out),
        "--max_steps",
        "3",
        "--per_device_train_batch_size",
        "8",
        "--learning_rate",
        "0.05",
        "--report_to",
        "none",
        "--save_strategy",
        "no",
        "--use_cpu",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trained = AutoModelForImageClassification.from_pretrained(out)
    # The backbone (weights and BatchNorm statistics) is bit-identical to the pretrained one; the head moved.
    ref = backbone.state_dict()
    for k, v in trained.lvmmed.state_dict().items():
        assert torch.equal(v, ref[k]), k
    assert trained.config.freeze_backbone
    results = json.loads((out / "results.json").read_text())
    assert results["results"][0]["protocol"] == "linear evaluation, 1-FCN"


def test_classification_metrics_with_absent_class_and_kappa():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 2.0, 0.0]])
    labels = np.array([0, 1, 1])  # class 2 never present: AUC undefined -> NaN, accuracy still 1
    m = classification_metrics(logits, labels, 3, ordinal=True)
    assert m["accuracy"] == 1.0 and np.isnan(m["roc_auc"]) and m["quadratic_kappa"] == 1.0


def test_group_split_never_straddles():
    groups = ["a"] * 3 + ["b"] * 2 + ["c"] * 4 + ["d"]
    keep, held = group_split_indices(groups, 0.5, seed=1)
    assert {groups[i] for i in keep}.isdisjoint({groups[i] for i in held})
    assert len(keep) + len(held) == len(groups)


def test_prepared_dataset_dir_with_config(tmp_path, tiny_training_args):
    # A prepared folder as `lvmmed prepare` writes it: Parquet per config + README configs.
    from datasets import ClassLabel, Dataset, Features, Value
    from datasets import Image as ImageFeature
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = {"image": [], "label": [], "patient_id": []}
    for i in range(24):
        arr = rng.integers(0, 40, (32, 32), dtype=np.uint8)
        if i % 2:
            arr[8:24, 8:24] = 230
        rows["image"].append(Image.fromarray(arr))
        rows["label"].append(i % 2)
        rows["patient_id"].append(f"p{i // 2}")
    feats = Features(
        {
            "image": ImageFeature(),
            "label": ClassLabel(names=["empty", "square"]),
            "patient_id": Value("string"),
        }
    )
    root = tmp_path / "prepared"
    (root / "toy").mkdir(parents=True)
    Dataset.from_dict(rows, features=feats).to_parquet(str(root / "toy" / "train-00000-of-00001.parquet"))
    (root / "README.md").write_text(
        "---\nconfigs:\n- config_name: toy\n  data_files:\n  - split: train\n"
        "    path: toy/train-*.parquet\n---\n"
    )
    args = ClassificationArguments(
        backbone="tiny-cnn",
        dataset_dir=str(root),
        dataset_config="toy",
        image_size=32,
        group_column="patient_id",
    )
    results = run_classification(args, tiny_training_args(tmp_path / "out", **CLASSIFICATION_STEPS))
    entry = results["results"][0]
    assert entry["dataset"]["config"] == "toy" and entry["dataset"]["split"] == "validation"
    model = AutoModelForImageClassification.from_pretrained(tmp_path / "out")
    assert model.config.id2label == {0: "empty", 1: "square"}


def test_same_seed_same_run(image_folder, tmp_path, tiny_training_args):
    # The new head is initialised from the run's seed, not from whatever the global random state
    # was when the recipe started: two runs in one process with one seed train the same weights.
    from safetensors.torch import load_file

    args = ClassificationArguments(
        backbone="tiny-cnn", image_folder=str(image_folder), image_size=32, classifier_hidden_sizes=[16]
    )
    runs = []
    for name in ("first", "second"):
        torch.manual_seed(len(name))  # a different global state before each run
        run_classification(args, tiny_training_args(tmp_path / name, **CLASSIFICATION_STEPS))
        runs.append(load_file(str(tmp_path / name / "model.safetensors")))
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
