"""Model cards for LVM-Med checkpoints: Hub metadata (YAML) + intended use, data, licence, results.

The card is written from a checkpoint folder's ``config.json`` and a results JSON. Accepted
results layouts (``load_results``):

- ours (what the recipes in ``training/`` write as ``results.json``)::

    {"results": [{"task": "image-classification",
                  "dataset": {"name": "Brain tumour MRI", "type": "brain-tumor-mri", "split": "test"},
                  "protocol": "linear evaluation, 1-FCN",
                  "metrics": {"accuracy": 0.91, "macro_f1": 0.90}}],
     "training_data": "optional free text", "base_model": "optional id"}

  (a single result object or a bare list of them is accepted too);
- a flat ``Trainer`` ``eval_results.json`` (``{"eval_accuracy": 0.9, "eval_loss": ...}``): the
  ``eval_`` prefix is dropped, bookkeeping keys (loss, runtime, ...) are left out, and task and
  dataset come from the arguments.

The template lives in the package (``templates/model_card.md``, package data) so an installed
package can render it; ``model_cards/template.md`` in the repository is a link to that file.
"""

from __future__ import annotations

import json
import logging
import math
import os
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import yaml

logger = logging.getLogger(__name__)

AUTHORS_LICENSE = "cc-by-nc-sa-4.0"
AUTHORS_LICENSE_TEXT = (
    "The LVM-Med weights were released by their authors under the Creative Commons "
    "Attribution-NonCommercial-ShareAlike 4.0 licence (CC BY-NC-SA 4.0). Converted weights, and "
    "models fine-tuned from them, keep that licence: non-commercial use only, attribution, and "
    "derivatives shared under the same terms. The `lvmmed-hf` code itself is Apache-2.0."
)
TASK_NAMES = {
    "image-classification": "Image Classification",
    "image-segmentation": "Image Segmentation",
    "object-detection": "Object Detection",
    "mask-generation": "Mask Generation",
    "image-feature-extraction": "Image Feature Extraction",
}
# Keys of a Trainer eval dict that are bookkeeping, not metrics.
_NON_METRIC_KEYS = {
    "loss",
    "runtime",
    "samples_per_second",
    "steps_per_second",
    "epoch",
    "model_preparation_time",
}


class ModelCardError(ValueError):
    """The checkpoint or the results file cannot make a model card."""


def template_text() -> str:
    """The card template (Markdown with ``${placeholders}``)."""
    return (
        resources.files("lvmmed_hf.evaluation")
        .joinpath("templates/model_card.md")
        .read_text(encoding="utf-8")
    )


def load_results(
    results: str | os.PathLike | dict | list | None,
    task: str | None = None,
    dataset_name: str | None = None,
    split: str = "test",
) -> dict[str, Any]:
    """Normalise a results file or object to ``{"results": [...], ...}`` (module docstring)."""
    if results is None:
        return {"results": []}
    if isinstance(results, (str, os.PathLike)):
        path = Path(results)
        if not path.is_file():
            raise ModelCardError(f"results file {path} does not exist")
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ModelCardError(f"results file {path} is not valid JSON: {err}") from err
    if isinstance(results, list):
        results = {"results": results}
    if not isinstance(results, dict):
        raise ModelCardError(f"results: expected a JSON object or list, got {type(results).__name__}")
    if "results" in results:
        entries = results["results"]
    elif "metrics" in results:
        entries = [results]
    else:
        metrics = {
            (k[5:] if k.startswith("eval_") else k): v
            for k, v in results.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        metrics = {k: v for k, v in metrics.items() if k not in _NON_METRIC_KEYS}
        if not metrics:
            raise ModelCardError("results: found neither 'results', 'metrics' nor numeric metric values")
        entries = [
            {
                "task": task,
                "dataset": {"name": dataset_name or "unspecified", "split": split},
                "metrics": metrics,
            }
        ]
    out = {k: v for k, v in results.items() if k != "results"} if "results" in results else {}
    normalised = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("metrics"), dict) or not entry["metrics"]:
            raise ModelCardError(f"results[{i}]: expected an object with a non-empty 'metrics' mapping")
        ds = entry.get("dataset") or {}
        if isinstance(ds, str):
            ds = {"name": ds}
        normalised.append(
            {
                "task": entry.get("task") or task or "image-classification",
                "dataset": {
                    "name": ds.get("name") or dataset_name or "unspecified",
                    **{k: v for k, v in ds.items() if k != "name"},
                },
                "protocol": entry.get("protocol", ""),
                "metrics": {str(k): float(v) for k, v in entry["metrics"].items()},
            }
        )
    out["results"] = normalised
    return out


def _pipeline_tag(config: dict) -> str:
    archs = " ".join(config.get("architectures") or [])
    if "ForImageClassification" in archs:
        return "image-classification"
    if "Segmentation" in archs:
        return "image-segmentation"
    if "ObjectDetection" in archs:
        return "object-detection"
    if "SamModel" in archs:
        return "mask-generation"
    return "image-feature-extraction"


def _auto_class(pipeline_tag: str) -> str:
    return {"image-classification": "AutoModelForImageClassification"}.get(pipeline_tag, "AutoModel")


def _describe_architecture(config: dict) -> str:
    mt = config.get("model_type", "unknown")
    if mt == "lvmmed_cnn":
        depths = config.get("depths", [])
        kind = (
            "ResNet-50"
            if depths == [3, 4, 6, 3] and config.get("layer_type") == "bottleneck"
            else "ResNet-style CNN"
        )
        return f"{kind} (`lvmmed_cnn`, depths {depths}, widths {config.get('hidden_sizes')})"
    if mt == "lvmmed_vit":
        return (
            f"SAM-style ViT image encoder (`lvmmed_vit`, {config.get('num_hidden_layers')} layers, width "
            f"{config.get('hidden_size')}, patch {config.get('patch_size')}, native input {config.get('image_size')} px)"
        )
    return f"`{mt}`"


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def results_table(results: list[dict]) -> str:
    """Markdown table: one row per (task, dataset, protocol, metric)."""
    if not results:
        return "No evaluation results were provided for this checkpoint."
    rows = ["| Task | Dataset | Split | Protocol | Metric | Value |", "|---|---|---|---|---|---|"]
    for r in results:
        for name, value in r["metrics"].items():
            rows.append(
                f"| {r['task']} | {r['dataset']['name']} | {r['dataset'].get('split', '')} | {r.get('protocol', '')} "
                f"| {name} | {_fmt(value)} |"
            )
    return "\n".join(rows)


def _model_index(name: str, results: list[dict]) -> list[dict]:
    entries = []
    for r in results:
        ds = {"name": r["dataset"]["name"], "type": r["dataset"].get("type", r["dataset"]["name"])}
        for key in ("split", "config"):
            if r["dataset"].get(key):
                ds[key] = r["dataset"][key]
        entries.append(
            {
                "task": {"type": r["task"], "name": TASK_NAMES.get(r["task"], r["task"])},
                "dataset": ds,
                "metrics": [
                    {"type": k, "value": None if math.isnan(v) else round(v, 6), "name": k.replace("_", " ")}
                    for k, v in r["metrics"].items()
                ],
            }
        )
    return [{"name": name, "results": entries}]


def render_model_card(
    checkpoint_dir: str | os.PathLike,
    results: str | os.PathLike | dict | list | None = None,
    model_name: str | None = None,
    repo_id: str | None = None,
    license: str | None = None,
    derived_from_authors_weights: bool | None = None,
    training_data: str | None = None,
    task: str | None = None,
    dataset_name: str | None = None,
) -> str:
    """The card of ``checkpoint_dir`` as Markdown with a Hub YAML header.

    Args:
        checkpoint_dir: folder holding ``config.json`` (``save_pretrained`` output).
        results: results file or object (module docstring); None for a card without results.
        license: Hub licence id; default CC BY-NC-SA 4.0 when the weights derive from the authors'
            release, else ``other`` (the licence then follows the user's training data).
        derived_from_authors_weights: None = detect (``conversion_report.json`` in the folder, or
            the results file names a ``base_model``).
    """
    ckpt = Path(checkpoint_dir)
    cfg_path = ckpt / "config.json"
    if not cfg_path.is_file():
        raise ModelCardError(f"{ckpt} has no config.json: expected a folder written by save_pretrained")
    config = json.loads(cfg_path.read_text(encoding="utf-8"))
    res = load_results(results, task=task, dataset_name=dataset_name)
    name = model_name or res.get("model_name") or f"LVM-Med {config.get('model_type', 'model')} ({ckpt.name})"
    if derived_from_authors_weights is None:
        derived_from_authors_weights = (ckpt / "conversion_report.json").is_file() or bool(
            res.get("base_model")
        )
    if license is None:
        license = AUTHORS_LICENSE if derived_from_authors_weights else "other"
    if license == AUTHORS_LICENSE:
        license_text = AUTHORS_LICENSE_TEXT
    elif derived_from_authors_weights:
        logger.warning(
            "licence %s given for weights derived from the authors' CC BY-NC-SA 4.0 release", license
        )
        license_text = f"Declared licence: `{license}`. Note: " + AUTHORS_LICENSE_TEXT
    else:
        license_text = (
            f"Declared licence: `{license}`. These weights were not derived from the authors' release; "
            "their terms follow the licences of the data they were trained on. The `lvmmed-hf` code is Apache-2.0."
        )
    pipeline_tag = _pipeline_tag(config)
    datasets_ids = sorted({r["dataset"].get("type", r["dataset"]["name"]) for r in res["results"]})
    metadata: dict[str, Any] = {
        "license": license,
        "library_name": "transformers",
        "pipeline_tag": pipeline_tag,
        "tags": [
            "medical-imaging",
            "lvm-med",
            "self-supervised-learning",
            config.get("model_type", "unknown"),
        ],
    }
    if license == "other":
        metadata["license_name"] = "see-training-data"
    if res.get("base_model"):
        metadata["base_model"] = res["base_model"]
    if datasets_ids:
        metadata["datasets"] = datasets_ids
    if res["results"]:
        metadata["model-index"] = _model_index(name, res["results"])
    labels = config.get("id2label") or {}
    details = [f"- Architecture: {_describe_architecture(config)}."]
    if pipeline_tag == "image-classification":
        head = config.get("classifier_hidden_sizes") or []
        details.append(
            f"- Head: {'linear (1-FCN)' if not head else 'MLP ' + str(head) + ' (multi-FCN)'}, "
            f"{config.get('num_labels', len(labels))} classes: {', '.join(str(v) for v in labels.values())}."
        )
        if config.get("freeze_backbone"):
            details.append("- Backbone frozen during training (linear evaluation).")
    details.append(
        "- Method: LVM-Med, self-supervised second-order graph matching (Nguyen et al., NeurIPS 2023)."
    )
    summary = (
        f"A {_describe_architecture(config)} checkpoint from the `lvmmed-hf` package, "
        f"{'fine-tuned for ' + pipeline_tag.replace('-', ' ') if pipeline_tag != 'image-feature-extraction' else 'usable as a feature extractor or backbone'}."
    )
    intended = (
        "Research on medical image analysis: a backbone or initialisation for classification, "
        "segmentation and detection of medical images, or a feature extractor. "
        + ("Non-commercial use only (licence below). " if license == AUTHORS_LICENSE else "")
        + "It is not a medical device and must not be used for diagnosis or treatment decisions."
    )
    if training_data is None:
        training_data = res.get("training_data") or (
            "Self-supervised pretraining (LVM-Med): about 1.3 million 2D images from 55 public medical "
            "datasets (CT, MRI, X-ray, ultrasound, endoscopy, microscopy, fundus, OCT), volumes sliced to 2D."
            if derived_from_authors_weights
            else "Not stated: describe the data this checkpoint was trained on."
        )
    limitations = "\n".join(
        [
            "- Evaluated only on the tasks and splits listed above; performance on other scanners, "
            "sites, populations or modalities is unknown and may be much worse.",
            "- Public medical datasets carry selection and labelling biases; scores are not clinical validation.",
            "- Inputs must be preprocessed as in training (the saved image processor: ImageNet mean/std, "
            "grayscale replicated to 3 channels, CT windowing where configured).",
            "- 3D data is handled slice by slice; no inter-slice context is modelled.",
        ]
    )
    body = Template(template_text()).substitute(
        metadata=yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True).strip(),
        model_name=name,
        summary=summary,
        model_details="\n".join(details),
        intended_use=intended,
        training_data=training_data,
        results_table=results_table(res["results"]),
        auto_class=_auto_class(pipeline_tag),
        repo_id=repo_id or str(ckpt),
        license_text=license_text,
        limitations=limitations,
    )
    return body


def write_model_card(
    checkpoint_dir: str | os.PathLike, output: str | os.PathLike | None = None, **kwargs
) -> Path:
    """Render the card (:func:`render_model_card`) and write it, by default to ``<checkpoint_dir>/README.md``."""
    path = Path(output) if output is not None else Path(checkpoint_dir) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_model_card(checkpoint_dir, **kwargs), encoding="utf-8")
    logger.info("model card written to %s", path)
    return path


def parse_metadata(card_text: str) -> dict:
    """The YAML header of a card (between the first two ``---`` lines)."""
    if not card_text.startswith("---\n"):
        raise ModelCardError("model card does not start with a '---' YAML header")
    end = card_text.index("\n---", 4)
    return yaml.safe_load(card_text[4:end])
