"""Model card generation: valid Hub YAML header, results in the table, licence logic, CLI."""

import json
import os
from pathlib import Path

import pytest
import yaml

from lvmmed_hf import LvmMedCnnConfig
from lvmmed_hf.cli import main as cli_main
from lvmmed_hf.evaluation.model_card import ModelCardError, parse_metadata, render_model_card, template_text

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ckpt(tmp_path):
    cfg = LvmMedCnnConfig(
        embedding_size=8,
        hidden_sizes=[8, 16, 32, 64],
        depths=[1, 1, 1, 1],
        layer_type="basic",
        num_labels=3,
        id2label={0: "glioma", 1: "meningioma", 2: "no_tumor"},
        label2id={"glioma": 0, "meningioma": 1, "no_tumor": 2},
    )
    cfg.architectures = ["LvmMedCnnForImageClassification"]
    cfg.save_pretrained(tmp_path)
    return tmp_path


RESULTS = {
    "base_model": "lvm-med/resnet50",
    "results": [
        {
            "task": "image-classification",
            "dataset": {"name": "Brain Tumor MRI", "type": "brain-tumor-mri", "split": "test"},
            "protocol": "linear evaluation, 1-FCN",
            "metrics": {"accuracy": 0.8123, "macro_f1": 0.7988},
        }
    ],
}


def test_card_header_is_valid_hub_yaml_with_results(ckpt, tmp_path):
    results_file = tmp_path / "results.json"
    results_file.write_text(json.dumps(RESULTS))
    text = render_model_card(ckpt, results=results_file)
    meta = parse_metadata(text)
    # Parse the header independently of our helper too.
    assert yaml.safe_load(text.split("---\n")[1]) == meta
    for key in ("license", "library_name", "tags", "datasets", "pipeline_tag", "model-index"):
        assert key in meta, key
    assert meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "image-classification"
    assert meta["license"] == "cc-by-nc-sa-4.0"  # derived from the authors' weights (base_model given)
    assert meta["datasets"] == ["brain-tumor-mri"]
    res = meta["model-index"][0]["results"][0]
    assert res["task"]["type"] == "image-classification"
    assert {m["type"]: m["value"] for m in res["metrics"]} == {"accuracy": 0.8123, "macro_f1": 0.7988}
    # The results table holds the numbers.
    assert (
        "| image-classification | Brain Tumor MRI | test | linear evaluation, 1-FCN | accuracy | 0.8123 |"
        in text
    )
    assert "| macro_f1 | 0.7988 |" in text
    assert "CC BY-NC-SA 4.0" in text and "glioma" in text and "${" not in text


def test_flat_trainer_results_and_no_provenance(ckpt, tmp_path):
    flat = tmp_path / "eval_results.json"
    flat.write_text(json.dumps({"eval_accuracy": 0.5, "eval_loss": 1.2, "eval_runtime": 3.0, "epoch": 2.0}))
    text = render_model_card(ckpt, results=flat, dataset_name="toy", task="image-classification")
    meta = parse_metadata(text)
    metrics = meta["model-index"][0]["results"][0]["metrics"]
    assert [m["type"] for m in metrics] == ["accuracy"]  # loss/runtime/epoch are not metrics
    assert meta["license"] == "other"  # no conversion report, no base model
    # A conversion report marks the weights as the authors'.
    (ckpt / "conversion_report.json").write_text("{}")
    assert parse_metadata(render_model_card(ckpt))["license"] == "cc-by-nc-sa-4.0"


def test_card_errors(tmp_path, ckpt):
    with pytest.raises(ModelCardError, match="config.json"):
        render_model_card(tmp_path / "nowhere")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"results": [{"task": "x"}]}))
    with pytest.raises(ModelCardError, match="metrics"):
        render_model_card(ckpt, results=bad)


def test_cli_writes_readme(ckpt, tmp_path, capsys):
    results_file = tmp_path / "r.json"
    results_file.write_text(json.dumps(RESULTS))
    assert cli_main(["card", str(ckpt), "--results", str(results_file)]) == 0
    text = (ckpt / "README.md").read_text()
    assert parse_metadata(text)["model-index"][0]["results"][0]["dataset"]["split"] == "test"


def test_repository_template_is_the_packaged_one():
    # model_cards/template.md is a link to the package data file: one copy, never diverging.
    repo_template = REPO / "model_cards" / "template.md"
    assert repo_template.read_text() == template_text()
    assert os.path.realpath(repo_template) == os.path.realpath(
        REPO / "src" / "lvmmed_hf" / "evaluation" / "templates" / "model_card.md"
    )


def test_card_is_a_huggingface_hub_model_card_with_both_licences(ckpt, tmp_path):
    import inspect

    from huggingface_hub import ModelCard

    from lvmmed_hf.evaluation.model_card import write_model_card

    results_file = tmp_path / "results.json"
    results_file.write_text(json.dumps(RESULTS))
    path = write_model_card(ckpt, results=results_file)
    card = ModelCard.load(path)  # huggingface_hub parses and validates the metadata
    assert card.data.license == "cc-by-nc-sa-4.0" and card.data.library_name == "transformers"
    result = card.data.eval_results[0]
    assert (result.task_type, result.dataset_type, result.dataset_split) == (
        "image-classification",
        "brain-tumor-mri",
        "test",
    )
    assert (result.metric_type, result.metric_value) == ("accuracy", 0.8123)
    # Both published licences, non-commercial research use, no redistribution right claimed.
    for text in (
        "CC BY-NC-SA 4.0",
        "CC BY-NC-ND 2.0",
        "non-commercial research use",
        "no right to redistribute",
    ):
        assert text in card.text, text
    # The usage snippet of a native classification checkpoint: our package, the head's output.
    assert "import lvmmed_hf" in card.text and "AutoModelForImageClassification" in card.text
    assert "outputs.logits  # (B, 3)" in card.text and "trust_remote_code" not in card.text
    # One writer: the converter's own card writer and its dead `family` parameter are gone.
    from lvmmed_hf.models import conversion

    assert not hasattr(conversion, "write_model_card")
    assert "family" not in inspect.signature(write_model_card).parameters


def test_remote_code_folder_gets_a_trust_remote_code_snippet(ckpt):
    config = json.loads((ckpt / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_lvmmed_cnn.LvmMedCnnModel"}
    (ckpt / "config.json").write_text(json.dumps(config))
    text = render_model_card(ckpt, repo_id="someone/lvmmed-r50")
    assert 'from_pretrained("someone/lvmmed-r50", trust_remote_code=True)' in text
    assert "import lvmmed_hf" not in text
