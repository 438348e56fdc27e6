"""Model cards for LVM-Med checkpoints: Hub metadata + intended use, data, licence, usage, results.

One writer for every folder the package produces (converted releases, trained checkpoints): a
``huggingface_hub.ModelCard`` with the results as ``EvalResult`` metadata, rendered from
``templates/model_card.md`` (``model_cards/template.md`` links to it) and ``templates/card_pieces.md``.
"""

from __future__ import annotations

import json
import math
import os
import re
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers.utils import logging

logger = logging.get_logger(__name__)

AUTHORS_LICENSE = "cc-by-nc-sa-4.0"
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
# (substring of the config's architectures, pipeline tag), first match wins.
_PIPELINE_TAGS = (
    ("ForImageClassification", "image-classification"),
    ("Segmentation", "image-segmentation"),
    ("ObjectDetection", "object-detection"),
    ("SamModel", "mask-generation"),
)


class ModelCardError(ValueError):
    """The checkpoint or the results file cannot make a model card."""


def template_text(name: str = "model_card.md") -> str:
    """A template of ``templates/`` (Markdown with ``${placeholders}``), by default the card's."""
    return resources.files("lvmmed_hf.evaluation").joinpath(f"templates/{name}").read_text(encoding="utf-8")


def _pieces() -> dict[str, Template]:
    """The named pieces of ``templates/card_pieces.md`` (each after a ``<!-- name -->`` line)."""
    _, *parts = re.split(r"^<!-- (\w+) -->\n", template_text("card_pieces.md"), flags=re.MULTILINE)
    return {name: Template(body.removesuffix("\n")) for name, body in zip(parts[::2], parts[1::2])}


def load_results(
    results: str | os.PathLike | dict | list | None,
    task: str | None = None,
    dataset_name: str | None = None,
    split: str = "test",
) -> dict[str, Any]:
    """Normalise a results file or object to ``{"results": [...], ...}``.

    Accepted: ours, the ``results.json`` of the ``downstream/`` recipes (``{"results": [{"task",
    "dataset": {"name", "type", "split"}, "protocol", "metrics": {"accuracy": 0.91}}],
    "training_data", "base_model"}``; also one result object or a bare list of them), or a flat
    ``Trainer`` ``eval_results.json``: ``eval_`` prefix dropped, bookkeeping keys (loss, runtime,
    ...) left out, task and dataset from the arguments.
    """
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
    out = {k: v for k, v in results.items() if k != "results"} if "results" in results else {}
    if "results" in results:
        entries = results["results"]
    elif "metrics" in results:
        entries = [results]
    else:
        numbers = {
            k: v for k, v in results.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        metrics = {k.removeprefix("eval_"): v for k, v in numbers.items()}
        metrics = {k: v for k, v in metrics.items() if k not in _NON_METRIC_KEYS}
        if not metrics:
            raise ModelCardError("results: found neither 'results', 'metrics' nor numeric metric values")
        entries = [{"task": task, "dataset": {"name": dataset_name, "split": split}, "metrics": metrics}]
    out["results"] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("metrics"), dict) or not entry["metrics"]:
            raise ModelCardError(f"results[{i}]: expected an object with a non-empty 'metrics' mapping")
        dataset = entry.get("dataset") or {}
        dataset = {"name": dataset} if isinstance(dataset, str) else dataset
        out["results"].append(
            {
                "task": entry.get("task") or task or "image-classification",
                "dataset": {
                    "name": dataset.get("name") or dataset_name or "unspecified",
                    **{k: v for k, v in dataset.items() if k != "name"},
                },
                "protocol": entry.get("protocol", ""),
                "metrics": {str(k): float(v) for k, v in entry["metrics"].items()},
            }
        )
    return out


def detect_export(config: dict) -> str:
    """Which export a folder holds, from its ``config.json``: ``"native"`` (our classes),
    ``"remote"`` (our classes + code, ``auto_map``), ``"stock"`` (transformers' own classes),
    ``"timm"`` or ``"torchvision"`` (bare ResNet state dicts)."""
    if "pretrained_cfg" in config:
        return "timm"
    if config.get("library") == "torchvision":
        return "torchvision"
    if config.get("model_type", "").startswith("lvmmed"):
        return "remote" if config.get("auto_map") else "native"
    return "stock"


def _pipeline_tag(config: dict) -> str:
    archs = " ".join(config.get("architectures") or [])
    return next((tag for part, tag in _PIPELINE_TAGS if part in archs), "image-feature-extraction")


def _describe_architecture(config: dict) -> str:
    mt = config.get("model_type", "unknown")
    if mt in ("lvmmed_cnn", "resnet") or "pretrained_cfg" in config or config.get("library"):
        if "architecture" in config:
            return f"ResNet (`{config['architecture']}`, torchvision layout)"
        depths = config.get("depths", [])
        resnet50 = depths == [3, 4, 6, 3] and config.get("layer_type") == "bottleneck"
        kind = "ResNet-50" if resnet50 else "ResNet-style CNN"
        return f"{kind} (`{mt}`, depths {depths}, widths {config.get('hidden_sizes')})"
    if mt in ("lvmmed_vit", "sam_vision_model"):
        neck = config.get("use_neck", mt == "sam_vision_model")
        return (
            f"SAM-style ViT image encoder (`{mt}`, {config.get('num_hidden_layers')} layers, width "
            f"{config.get('hidden_size')}, patch {config.get('patch_size')}, native input "
            f"{config.get('image_size')} px"
            + (f", neck to {config.get('output_channels')} channels)" if neck else ", no neck)")
        )
    return f"`{mt}`"


def _input_size(folder: Path, config: dict) -> int:
    """Square input side the folder's preprocessing produces (224 by default)."""
    path = folder / "preprocessor_config.json"
    if path.is_file():
        size = json.loads(path.read_text(encoding="utf-8")).get("size") or {}
        if side := size.get("height") or size.get("shortest_edge"):
            return int(side)
    for key in ("pretrained_cfg", "preprocessing"):
        if key in config:
            return int(config[key]["input_size"][-1])
    return 224


def usage_snippet(folder: str | os.PathLike, repo_id: str | None = None) -> str:
    """The 'How to use' section of a folder's card: code matching its export and outputs, from the
    pieces of ``templates/card_pieces.md``."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    export, size = detect_export(config), _input_size(folder, config)
    vit = config.get("model_type") in ("lvmmed_vit", "sam_vision_model") or "patch_size" in config
    pieces = _pieces()
    patch, native = config.get("patch_size", 16), config.get("image_size", 1024)
    values = {
        "repo": repo_id or str(folder),
        "size": size,
        "grid": size // patch if vit else size // 32,
        "width": config.get("hidden_size", 768) if vit else (config.get("hidden_sizes") or [2048])[-1],
        "channels": config.get("output_channels", 256),
        "native": native,
        "native_grid": native // patch,
        "num_labels": config.get("num_labels", len(config.get("id2label") or {})),
        "arch": config.get("architecture", "resnet50"),
        "num_classes": int(config.get("num_classes", 0)),
    }
    if export in ("timm", "torchvision"):
        values["width"] = config.get("num_features", 2048)
        name = "torchvision_classifier" if export == "torchvision" and values["num_classes"] else export
        return f"{pieces[name].substitute(values)}\n\n{pieces['state_dict_inputs'].template}"
    stock, remote = export == "stock", export == "remote"
    classifier = not stock and _pipeline_tag(config) == "image-classification"
    family = "vit" if vit else "cnn"
    if stock:
        outputs = [f"outputs_stock_{family}"]
    elif classifier:
        outputs = ["outputs_logits"]
    elif vit and config.get("use_neck"):
        outputs = ["outputs_vit", "outputs_neck"]
    else:
        outputs = [f"outputs_{family}"]
    values.update(
        auto="AutoModelForImageClassification" if classifier else "AutoModel",
        trust=", trust_remote_code=True" if remote else "",
        import_package="" if stock or remote else pieces["import_package"].template + "\n",
        input_comment="" if stock else pieces["input_comment"].template + "\n",
        call_args=", output_hidden_states=True" if stock and vit else "",
        stock_class="SamVisionModel" if vit else "ResNetModel",
        outputs="\n".join(pieces[name].substitute(values) for name in outputs),
    )
    if stock:
        names = ["stock_intro", "auto"] + (["sam_note"] if vit else [])
    else:
        names = ["auto"] + ([] if remote else ["package_note"])
    return "\n\n".join(pieces[name].substitute(values) for name in names)


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
                f"| {r['task']} | {r['dataset']['name']} | {r['dataset'].get('split', '')} "
                f"| {r.get('protocol', '')} | {name} | {_fmt(value)} |"
            )
    return "\n".join(rows)


def _eval_results(results: list[dict]) -> list[EvalResult]:
    return [
        EvalResult(
            task_type=r["task"],
            task_name=TASK_NAMES.get(r["task"], r["task"]),
            dataset_type=r["dataset"].get("type", r["dataset"]["name"]),
            dataset_name=r["dataset"]["name"],
            dataset_split=r["dataset"].get("split"),
            dataset_config=r["dataset"].get("config"),
            metric_type=metric,
            metric_name=metric.replace("_", " "),
            metric_value=None if math.isnan(value) else round(value, 6),
        )
        for r in results
        for metric, value in r["metrics"].items()
    ]


def _conversion_section(report: dict, pieces: dict[str, Template]) -> str:
    values = {"export": report.get("export") or "native", "source": report.get("source") or "unknown"}
    for key in ("missing_keys", "unexpected_keys", "ignored_keys", "nonfinite_keys"):
        keys = report.get(key) or []
        values[key] = f"{len(keys)} {keys[:10]}" if keys else "0"
    values["stripped_prefixes"] = report.get("stripped_prefixes") or "none"
    return f"\n{pieces['conversion'].substitute(values)}\n"


def _license_text(license: str, derived: bool, pieces: dict[str, Template]) -> str:
    if not derived:
        return pieces["other_licence"].substitute(license=license)
    if license == AUTHORS_LICENSE:
        return pieces["authors_licence"].template
    logger.warning("licence %s given for weights derived from the authors' non-commercial release", license)
    return f"Declared licence: `{license}`. Note: " + pieces["authors_licence"].template


def build_model_card(
    checkpoint_dir: str | os.PathLike,
    results: str | os.PathLike | dict | list | None = None,
    model_name: str | None = None,
    repo_id: str | None = None,
    license: str | None = None,
    derived_from_authors_weights: bool | None = None,
    training_data: str | None = None,
    task: str | None = None,
    dataset_name: str | None = None,
) -> ModelCard:
    """The card of a folder holding ``config.json`` as a ``huggingface_hub.ModelCard``.

    `results`: file or object (:func:`load_results`). `license`: Hub licence id, by default the authors'
    CC BY-NC-SA 4.0 for weights derived from their release (`derived_from_authors_weights`, detected
    from ``conversion_report.json`` or a ``base_model``), else ``other``.
    """
    ckpt = Path(checkpoint_dir)
    if not (ckpt / "config.json").is_file():
        raise ModelCardError(f"{ckpt} has no config.json: expected a folder written by save_pretrained")
    config = json.loads((ckpt / "config.json").read_text(encoding="utf-8"))
    res = load_results(results, task=task, dataset_name=dataset_name)
    report_path = ckpt / "conversion_report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else None
    export, pieces = detect_export(config), _pieces()
    kind = config.get("model_type") or config.get("architecture") or "model"
    # a conversion builds the card in a staging folder: the title names the folder it is written to
    title = Path(repo_id).name if repo_id else ckpt.name
    name = model_name or res.get("model_name") or f"LVM-Med {kind} ({title})"
    derived = derived_from_authors_weights
    if derived is None:
        derived = report is not None or bool(res.get("base_model"))
    if license is None:
        license = AUTHORS_LICENSE if derived else "other"
    pipeline_tag = _pipeline_tag(config)
    card_data = ModelCardData(
        license=license,
        license_name="see-training-data" if license == "other" else None,
        library_name={"timm": "timm", "torchvision": "pytorch"}.get(export, "transformers"),
        pipeline_tag=pipeline_tag,
        tags=["medical-imaging", "lvm-med", "self-supervised-learning", kind]
        + (["torchvision"] if export == "torchvision" else []),
        base_model=res.get("base_model"),
        datasets=sorted({r["dataset"].get("type", r["dataset"]["name"]) for r in res["results"]}) or None,
        model_name=name,
        eval_results=_eval_results(res["results"]) or None,
    )
    architecture = _describe_architecture(config)
    details = [f"- Architecture: {architecture}."]
    if pipeline_tag == "image-classification":
        head = config.get("classifier_hidden_sizes") or []
        labels = ", ".join(str(v) for v in (config.get("id2label") or {}).values())
        details.append(
            f"- Head: {'linear (1-FCN)' if not head else 'MLP ' + str(head) + ' (multi-FCN)'}, "
            f"{config.get('num_labels', len(config.get('id2label') or {}))} classes: {labels}."
        )
        if config.get("freeze_backbone"):
            details.append("- Backbone frozen during training (linear evaluation).")
    use = "fine-tuned for " + pipeline_tag.replace("-", " ")
    if pipeline_tag == "image-feature-extraction":
        use = "usable as a feature extractor or backbone"
    if training_data is None:
        training_data = (
            res.get("training_data") or pieces["pretraining_data" if derived else "data_not_stated"].template
        )
    text = Template(template_text()).substitute(
        metadata=card_data.to_yaml().strip(),
        model_name=name,
        summary=f"A {architecture} checkpoint from the `lvmmed-hf` package, {use}.",
        model_details="\n".join(details),
        non_commercial="Non-commercial research use only (licence below). " if derived else "",
        training_data=training_data,
        results_table=results_table(res["results"]),
        usage=usage_snippet(ckpt, repo_id),
        license_text=_license_text(license, derived, pieces),
        conversion=_conversion_section(report, pieces) if report else "",
    )
    return ModelCard(text)


def render_model_card(checkpoint_dir: str | os.PathLike, **kwargs) -> str:
    """The card of ``checkpoint_dir`` as Markdown with a Hub YAML header (:func:`build_model_card`)."""
    return str(build_model_card(checkpoint_dir, **kwargs))


def write_model_card(
    checkpoint_dir: str | os.PathLike, output: str | os.PathLike | None = None, **kwargs
) -> Path:
    """Build the card (:func:`build_model_card`) and save it, by default as
    ``<checkpoint_dir>/README.md``."""
    path = Path(output) if output is not None else Path(checkpoint_dir) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    build_model_card(checkpoint_dir, **kwargs).save(path)
    logger.info("model card written to %s", path)
    return path


def parse_metadata(card_text: str) -> dict:
    """The YAML header of a card (between the first two ``---`` lines)."""
    if not card_text.startswith("---\n"):
        raise ModelCardError("model card does not start with a '---' YAML header")
    end = card_text.index("\n---", 4)
    return yaml.safe_load(card_text[4:end])
