"""Model cards for LVM-Med checkpoints: Hub metadata + intended use, data, licence, usage, results.

One writer for every folder the package produces: a converted release (any export of ``lvmmed
convert``) and a trained or fine-tuned checkpoint (``lvmmed card``, the recipes). The metadata is
``huggingface_hub``'s ``ModelCardData`` (results as ``EvalResult`` entries, i.e. the Hub's
``model-index``) and the card a ``huggingface_hub.ModelCard``. The usage snippet follows the export
found in the folder: our classes (``import lvmmed_hf``), remote code (``trust_remote_code=True``),
transformers' stock ``ResNetModel`` / ``SamVisionModel``, timm or torchvision, with the output
fields and shapes each really returns.

Accepted results layouts (``load_results``):

- ours (what the recipes in ``downstream/`` write as ``results.json``)::

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
import math
import os
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers.utils import logging

logger = logging.get_logger(__name__)

AUTHORS_LICENSE = "cc-by-nc-sa-4.0"
AUTHORS_LICENSE_TEXT = (
    "LVM-Med's authors published their code and weights under two different licences: the "
    "repository's `License.txt` says **CC BY-NC-SA 4.0** (Attribution-NonCommercial-ShareAlike), "
    "its README says **CC BY-NC-ND 2.0** (Attribution-NonCommercial-NoDerivs). Both allow "
    "non-commercial use only: these weights, and models converted or fine-tuned from them, are for "
    "**non-commercial research use**. The NoDerivs terms would forbid sharing converted or modified "
    "copies, so this card claims **no right to redistribute the converted weights**: obtain the "
    "original files from the authors, convert them yourself (`lvmmed convert`), and ask the authors "
    "before publishing a converted or fine-tuned copy. The `lvmmed-hf` code itself is Apache-2.0."
)
LVMMED_URL = "https://github.com/duyhominhnguyen/LVM-Med"
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


def detect_export(config: dict) -> str:
    """Which export a folder holds, from its ``config.json``: ``"native"`` (our classes),
    ``"remote"`` (our classes + code, ``auto_map``), ``"stock"`` (transformers' own classes),
    ``"timm"`` or ``"torchvision"`` (bare ResNet state dicts)."""
    if "pretrained_cfg" in config:
        return "timm"
    if config.get("library") == "torchvision":
        return "torchvision"
    model_type = config.get("model_type", "")
    if model_type.startswith("lvmmed"):
        return "remote" if config.get("auto_map") else "native"
    return "stock"


def _family(config: dict) -> str:
    model_type = config.get("model_type", "")
    if model_type in ("lvmmed_vit", "sam_vision_model") or "patch_size" in config:
        return "vit"
    return "cnn"


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


def _describe_architecture(config: dict) -> str:
    mt = config.get("model_type", "unknown")
    if mt in ("lvmmed_cnn", "resnet") or "pretrained_cfg" in config or config.get("library"):
        if "architecture" in config:
            return f"ResNet (`{config['architecture']}`, torchvision layout)"
        depths = config.get("depths", [])
        kind = (
            "ResNet-50"
            if depths == [3, 4, 6, 3] and config.get("layer_type") == "bottleneck"
            else "ResNet-style CNN"
        )
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
        side = size.get("height") or size.get("shortest_edge")
        if side:
            return int(side)
    if "pretrained_cfg" in config:
        return int(config["pretrained_cfg"]["input_size"][-1])
    if "preprocessing" in config:
        return int(config["preprocessing"]["input_size"][-1])
    return 224


def _ours_snippet(config: dict, export: str, repo: str, pipeline_tag: str, size: int) -> str:
    remote = export == "remote"
    trust = ", trust_remote_code=True" if remote else ""
    auto = "AutoModelForImageClassification" if pipeline_tag == "image-classification" else "AutoModel"
    lines = ["```python", "import torch"]
    if not remote:
        lines.append("import lvmmed_hf  # registers the LVM-Med classes with the Auto* factories")
    lines += [
        f"from transformers import AutoImageProcessor, {auto}",
        "",
        f'model = {auto}.from_pretrained("{repo}"{trust}).eval()',
        f'processor = AutoImageProcessor.from_pretrained("{repo}"{trust})',
        "# PIL images or arrays, 8/16-bit or float; CT in HU: add window_center=..., window_width=...",
        'inputs = processor(images, return_tensors="pt")',
        "with torch.no_grad():",
        "    outputs = model(**inputs)",
    ]
    if auto != "AutoModel":
        lines.append(f"outputs.logits  # (B, {config.get('num_labels', len(config.get('id2label') or {}))})")
    elif _family(config) == "cnn":
        width, grid = (config.get("hidden_sizes") or [2048])[-1], size // 32
        lines += [
            f"outputs.pooler_output  # (B, {width}): global average, the features of the probes",
            f"outputs.last_hidden_state  # (B, {width}, {grid}, {grid}) at {size} px",
        ]
    else:
        width, patch = config.get("hidden_size", 768), config.get("patch_size", 16)
        grid = size // patch
        lines += [
            f"outputs.pooler_output  # (B, {width}): mean of the map before the neck (classification)",
            f"outputs.last_hidden_state  # (B, {width}, {grid}, {grid}) at {size} px, before the neck",
        ]
        if config.get("use_neck"):
            native = config.get("image_size", 1024)
            channels, native_grid = config.get("output_channels", 256), native // patch
            lines.append(
                f"outputs.neck_embeddings  # (B, {channels}, {grid}, {grid}): SAM's image embeddings "
                f"((B, {channels}, {native_grid}, {native_grid}) at {native} px, box-prompted segmentation)"
            )
    lines.append("```")
    if not remote:
        lines.append(
            "\nNeeds the `lvmmed-hf` package (`pip install` from its source); where it is not "
            "installed use a remote-code export (`lvmmed convert --export remote`)."
        )
    return "\n".join(lines)


def _stock_snippet(config: dict, repo: str, size: int) -> str:
    lines = [
        "No extra package is needed: the model is transformers' own "
        + ("`SamVisionModel`" if _family(config) == "vit" else "`ResNetModel`")
        + " and the processor its `ViTImageProcessor` (resize to "
        f"{size} x {size}, bilinear; 1/255; ImageNet mean and std). It expects 8-bit images (PIL, "
        "or `(H, W, 3)` arrays): window CT / MR intensities to 8 bit yourself before it.",
        "",
        "```python",
        "import torch",
        "from transformers import AutoImageProcessor, AutoModel",
        "",
        f'model = AutoModel.from_pretrained("{repo}").eval()',
        f'processor = AutoImageProcessor.from_pretrained("{repo}")',
        'inputs = processor(images, return_tensors="pt")',
        "with torch.no_grad():",
    ]
    if _family(config) == "vit":
        width, patch = config.get("hidden_size", 768), config.get("patch_size", 16)
        grid, channels = size // patch, config.get("output_channels", 256)
        lines += [
            "    outputs = model(**inputs, output_hidden_states=True)",
            f"outputs.last_hidden_state  # (B, {channels}, {grid}, {grid}): the neck's output, SAM's image "
            "embeddings",
            f"outputs.hidden_states[-1]  # (B, {grid}, {grid}, {width}): channels-last map before the neck",
            f"outputs.hidden_states[-1].mean(dim=(1, 2))  # (B, {width}): LVM-Med's classification features",
            "```",
            "",
            "`SamVisionModel` has no `pooler_output` and accepts only "
            f"{config.get('image_size')} x {config.get('image_size')} px inputs; "
            '`pipeline("image-feature-extraction")` returns its `last_hidden_state` (the neck output).',
        ]
    else:
        width, grid = (config.get("hidden_sizes") or [2048])[-1], size // 32
        lines += [
            "    outputs = model(**inputs)",
            f"outputs.pooler_output  # (B, {width}, 1, 1): global average; .flatten(1) gives (B, {width})",
            f"outputs.last_hidden_state  # (B, {width}, {grid}, {grid}) at {size} px",
            "```",
        ]
    return "\n".join(lines)


def _state_dict_snippet(config: dict, export: str, repo: str) -> str:
    arch, classes = config.get("architecture", "resnet50"), int(config.get("num_classes", 0))
    width = config.get("num_features", 2048)
    lines = ["```python", "import torch", "from safetensors.torch import load_file"]
    if export == "timm":
        lines += [
            "import timm",
            "",
            f'model = timm.create_model("{arch}", pretrained=False, num_classes={classes})',
            f'model.load_state_dict(load_file("{repo}/model.safetensors"), strict=True)',
            "model.eval()",
            f"features = model.forward_head(model.forward_features(x), pre_logits=True)  # (B, {width})",
        ]
    else:
        lines += ["from torchvision.models import " + arch, "", f"model = {arch}(weights=None)"]
        if classes:
            lines[-1] = f"model = {arch}(weights=None, num_classes={classes})"
            lines.append(f'model.load_state_dict(load_file("{repo}/model.safetensors"), strict=True)')
            lines.append("model.fc = torch.nn.Identity()  # features instead of the original classifier")
        else:
            lines.append("model.fc = torch.nn.Identity()  # the file has no classifier")
            lines.append(f'model.load_state_dict(load_file("{repo}/model.safetensors"), strict=True)')
        lines.append(f"features = model.eval()(x)  # (B, {width})")
    lines += [
        "```",
        "",
        "`x`: `(B, 3, H, W)` float images resized to 224 x 224 (bilinear), scaled to [0, 1] and "
        "normalised with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225); "
        "window CT / MR intensities yourself first. `config.json` holds these settings.",
    ]
    return "\n".join(lines)


def usage_snippet(folder: str | os.PathLike, repo_id: str | None = None) -> str:
    """The 'How to use' section of a folder's card: code matching its export and outputs."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    export, repo = detect_export(config), repo_id or str(folder)
    size = _input_size(folder, config)
    if export in ("timm", "torchvision"):
        return _state_dict_snippet(config, export, repo)
    if export == "stock":
        return _stock_snippet(config, repo, size)
    return _ours_snippet(config, export, repo, _pipeline_tag(config), size)


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
    entries = []
    for r in results:
        for metric, value in r["metrics"].items():
            entries.append(
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
            )
    return entries


def _conversion_section(report: dict) -> str:
    lines = [
        "",
        "## Conversion",
        "",
        f"Converted with `lvmmed convert` (export `{report.get('export') or 'native'}`) from the "
        f"authors' file `{report.get('source') or 'unknown'}` ({LVMMED_URL}).",
        "",
    ]
    for label, key in (
        ("missing keys", "missing_keys"),
        ("unexpected keys", "unexpected_keys"),
        ("ignored classifier keys", "ignored_keys"),
        ("non-finite tensors (converted with --allow-nonfinite)", "nonfinite_keys"),
    ):
        values = report.get(key) or []
        lines.append(f"- {label}: {len(values)}" + (f" {values[:10]}" if values else ""))
    lines.append(f"- stripped wrapper prefixes: {report.get('stripped_prefixes') or 'none'}")
    return "\n".join(lines) + "\n"


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
    """The card of ``checkpoint_dir`` as a ``huggingface_hub.ModelCard``.

    Args:
        checkpoint_dir: folder holding ``config.json`` (``save_pretrained`` output or any export of
            ``lvmmed convert``; its ``conversion_report.json`` adds a conversion section).
        results: results file or object (module docstring); None for a card without results.
        license: Hub licence id; default CC BY-NC-SA 4.0 (the authors' `License.txt`, the README's
            CC BY-NC-ND 2.0 stated beside it) when the weights derive from the authors' release,
            else ``other`` (the licence then follows the user's training data).
        derived_from_authors_weights: None = detect (``conversion_report.json`` in the folder, or
            the results file names a ``base_model``).
    """
    ckpt = Path(checkpoint_dir)
    cfg_path = ckpt / "config.json"
    if not cfg_path.is_file():
        raise ModelCardError(f"{ckpt} has no config.json: expected a folder written by save_pretrained")
    config = json.loads(cfg_path.read_text(encoding="utf-8"))
    res = load_results(results, task=task, dataset_name=dataset_name)
    report_path = ckpt / "conversion_report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else None
    export = detect_export(config)
    kind = config.get("model_type") or config.get("architecture") or "model"
    name = model_name or res.get("model_name") or f"LVM-Med {kind} ({ckpt.name})"
    if derived_from_authors_weights is None:
        derived_from_authors_weights = report is not None or bool(res.get("base_model"))
    if license is None:
        license = AUTHORS_LICENSE if derived_from_authors_weights else "other"
    if license == AUTHORS_LICENSE and derived_from_authors_weights:
        license_text = AUTHORS_LICENSE_TEXT
    elif derived_from_authors_weights:
        logger.warning(
            "licence %s given for weights derived from the authors' non-commercial release", license
        )
        license_text = f"Declared licence: `{license}`. Note: " + AUTHORS_LICENSE_TEXT
    else:
        license_text = (
            f"Declared licence: `{license}`. These weights were not derived from the authors' "
            "release; their terms follow the licences of the data they were trained on. The "
            "`lvmmed-hf` code is Apache-2.0."
        )
    pipeline_tag = _pipeline_tag(config)
    datasets_ids = sorted({r["dataset"].get("type", r["dataset"]["name"]) for r in res["results"]})
    library = {"timm": "timm", "torchvision": "pytorch"}.get(export, "transformers")
    card_data = ModelCardData(
        license=license,
        license_name="see-training-data" if license == "other" else None,
        library_name=library,
        pipeline_tag=pipeline_tag,
        tags=["medical-imaging", "lvm-med", "self-supervised-learning", kind]
        + (["torchvision"] if export == "torchvision" else []),
        base_model=res.get("base_model"),
        datasets=datasets_ids or None,
        model_name=name,
        eval_results=_eval_results(res["results"]) or None,
    )
    labels = config.get("id2label") or {}
    details = [f"- Architecture: {_describe_architecture(config)}."]
    if pipeline_tag == "image-classification":
        head = config.get("classifier_hidden_sizes") or []
        details.append(
            f"- Head: {'linear (1-FCN)' if not head else 'MLP ' + str(head) + ' (multi-FCN)'}, "
            f"{config.get('num_labels', len(labels))} classes: "
            f"{', '.join(str(v) for v in labels.values())}."
        )
        if config.get("freeze_backbone"):
            details.append("- Backbone frozen during training (linear evaluation).")
    details.append(
        "- Method: LVM-Med, self-supervised second-order graph matching (Nguyen et al., NeurIPS 2023)."
    )
    use = (
        "fine-tuned for " + pipeline_tag.replace("-", " ")
        if pipeline_tag != "image-feature-extraction"
        else "usable as a feature extractor or backbone"
    )
    summary = f"A {_describe_architecture(config)} checkpoint from the `lvmmed-hf` package, {use}."
    intended = (
        "Research on medical image analysis: a backbone or initialisation for classification, "
        "segmentation and detection of medical images, or a feature extractor. "
        + ("Non-commercial research use only (licence below). " if derived_from_authors_weights else "")
        + "It is not a medical device and must not be used for diagnosis or treatment decisions."
    )
    if training_data is None:
        training_data = res.get("training_data") or (
            "Self-supervised pretraining (LVM-Med): about 1.3 million 2D images from 55 public medical "
            "datasets (CT, MRI, X-ray, ultrasound, endoscopy, microscopy, fundus, OCT), volumes "
            "sliced to 2D."
            if derived_from_authors_weights
            else "Not stated: describe the data this checkpoint was trained on."
        )
    limitations = "\n".join(
        [
            "- Evaluated only on the tasks and splits listed above; performance on other scanners, "
            "sites, populations or modalities is unknown and may be much worse.",
            "- Public medical datasets carry selection and labelling biases; scores are not "
            "clinical validation.",
            "- Inputs must be preprocessed as in training (ImageNet mean/std, grayscale replicated "
            "to 3 channels, CT windowing where configured).",
            "- 3D data is handled slice by slice; no inter-slice context is modelled.",
        ]
    )
    text = Template(template_text()).substitute(
        metadata=card_data.to_yaml().strip(),
        model_name=name,
        summary=summary,
        model_details="\n".join(details),
        intended_use=intended,
        training_data=training_data,
        results_table=results_table(res["results"]),
        usage=usage_snippet(ckpt, repo_id),
        license_text=license_text,
        limitations=limitations,
        conversion=_conversion_section(report) if report else "",
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
