"""Run a paper protocol end to end (``lvmmed evaluate``): read the data, train and test N times.

Writes ``<output>/data/`` (the splits as Parquet), ``<output>/run-<k>/`` (each run's model and
``results.json``), ``<output>/results.{json,md}`` (mean ± population std over the runs, the paper's
figure and the difference) and ``model-index`` entries in the backbone's model card. Under
``accelerate launch`` each recipe's Trainer distributes.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .protocols import Protocol, get_protocol

logger = logging.getLogger(__name__)

__all__ = ["ProtocolResult", "run_protocol", "update_model_card"]

# Hub task of each protocol task; the segmentation tasks (2-D, 3-D, multi-site) are image-segmentation.
_TASK_TYPE = {
    "classification": "image-classification",
    "sam": "mask-generation",
    "detection": "object-detection",
}
_FAMILIES = {"lvmmed_cnn": "cnn", "lvmmed_vit": "vit"}  # model_type -> backbone family
# The recipe's result key of each protocol metric.
_RESULT_KEY = {"accuracy": "accuracy", "dice": "mean_dice", "iou3d": "volume_mean_iou", "map50": "map50"}


@dataclass
class ProtocolResult:
    protocol: str
    family: str
    metric: str
    scores: list[float]  # percent, one per run
    site_scores: dict[str, list[float]]  # multisite: per test site
    paper: float | None
    paper_std: float | None
    baseline: str | None

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores))

    @property
    def difference(self) -> float | None:
        return None if self.paper is None else self.mean - self.paper

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "family": self.family,
            "metric": self.metric,
            "scores": self.scores,
            "mean": self.mean,
            "std": self.std,
            "site_scores": self.site_scores,
            "paper": self.paper,
            "paper_std": self.paper_std,
            "difference": self.difference,
            "strongest_other_in_paper": self.baseline,
        }

    def markdown(self) -> str:
        paper = "-" if self.paper is None else f"{self.paper:.2f}"
        if self.paper is not None and self.paper_std is not None:
            paper += f" ± {self.paper_std:.2f}"
        diff = "-" if self.difference is None else f"{self.difference:+.2f}"
        rows = [
            "| protocol | backbone | metric | ours (mean ± std, n) | paper | difference "
            "| strongest other (paper) |",
            "|---|---|---|---:|---:|---:|---|",
            f"| {self.protocol} | {self.family} | {self.metric} | {self.mean:.2f} ± {self.std:.2f} "
            f"({len(self.scores)}) | {paper} | {diff} | {self.baseline or '-'} |",
        ]
        for site, vals in self.site_scores.items():
            rows.append(
                f"| {self.protocol} [{site}] | {self.family} | {self.metric} | "
                f"{np.mean(vals):.2f} ± {np.std(vals):.2f} ({len(vals)}) | | | |"
            )
        return "\n".join(rows) + "\n"


def _family(backbone: str) -> str:
    from .backbones import model_type_of

    mt = model_type_of(backbone)
    if mt not in _FAMILIES:
        raise ValueError(f"{backbone}: model type {mt!r} is neither an LVM-Med CNN nor ViT")
    return _FAMILIES[mt]


def _save_splits(ds, folder: Path) -> Path:
    """Parquet shards + a card naming every split, for ``load_dataset(folder)``. The shard names carry
    a token of the splits' fingerprints: ``datasets`` caches a local folder by its name, config and
    relative file patterns, so two ``data`` folders would otherwise load each other's cached copy."""
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    token = hashlib.sha256("".join(d._fingerprint for d in ds.values()).encode()).hexdigest()[:12]
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split, d in ds.items():
        name = f"{split}-{token}.parquet"
        d.to_parquet(str(folder / name))
        lines += [f"  - split: {split}", f"    path: {name}"]
    (folder / "README.md").write_text("\n".join(lines + ["---", ""]))
    return folder


def _training_args(out: Path, p: Protocol, family: str, seed: int, overrides: dict[str, Any]):
    from transformers import TrainingArguments

    h = p.settings[family]
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return TrainingArguments(
        output_dir=str(out),
        learning_rate=overrides.get("learning_rate") or h.learning_rate,
        num_train_epochs=overrides.get("epochs") or h.epochs,
        # The paper's batch is global: split it over the processes of an `accelerate launch`.
        per_device_train_batch_size=max(1, (overrides.get("batch_size") or h.batch_size) // world),
        per_device_eval_batch_size=overrides.get("eval_batch_size") or 8,
        seed=seed,
        optim="adamw_torch",  # Adam: AdamW with weight decay 0 (the authors' yaml: weight_decay 0)
        weight_decay=0.0,
        lr_scheduler_type="constant",
        max_grad_norm=1.0,  # appendix B: gradient norm clipped at 1
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        logging_steps=50,
        dataloader_num_workers=overrides.get("num_workers", 0),
        use_cpu=bool(overrides.get("use_cpu")),
        max_steps=overrides.get("max_steps") or -1,  # -1: TrainingArguments' default, epochs decide
    )


def _metric_value(p: Protocol, results: dict[str, Any]) -> float:
    metrics = results["results"][0]["metrics"]
    key = _RESULT_KEY[p.metric]
    if p.task == "sam" or (p.task == "multisite" and "dice" in metrics):
        key = "dice"
    if key not in metrics:
        raise RuntimeError(f"{p.name}: the recipe reported no {key!r} (got {sorted(metrics)})")
    return 100.0 * float(metrics[key])


_DETECTOR_SIZES = ("num_queries", "d_model", "encoder_layers", "decoder_layers", "attention_heads", "ffn_dim")


def _run_once(p: Protocol, family: str, backbone: str, data: Path, out: Path, seed: int, o: dict[str, Any]):
    targs = _training_args(out, p, family, seed, o)
    common = dict(
        backbone=backbone,
        dataset_dir=str(data),
        image_size=o.get("image_size") or p.settings[family].image_size,
        test_split="test",
        dataset_name=f"{p.dataset} ({p.name})",
    )
    if p.task == "classification":
        from .classification import ClassificationArguments, run_classification

        args = ClassificationArguments(
            freeze_backbone=p.freeze_backbone, classifier_hidden_sizes=list(p.hidden_sizes), **common
        )
        return run_classification(args, targs)
    if p.task == "detection":
        from .detection import DetectionArguments, run_detection

        sizes = {k: o[k] for k in _DETECTOR_SIZES if o.get(k)}
        return run_detection(DetectionArguments(**common, **sizes), targs)
    if p.task == "sam" or (p.task == "multisite" and family == "vit"):
        from .sam import SamArguments, run_sam

        return run_sam(SamArguments(sam_checkpoint=o.get("sam_checkpoint"), **common), targs)
    from .segmentation import SegmentationArguments, run_segmentation

    architecture = "unet" if family == "cnn" else "upernet"
    args = SegmentationArguments(architecture=architecture, num_labels=p.num_labels, **common)
    return run_segmentation(args, targs)


def _site_scores(
    p: Protocol, family: str, backbone: str, data: Path, run_dir: Path, size: int
) -> dict[str, float]:
    """Dice of the trained model on every other site's cases (multi-site protocol)."""
    from datasets import load_dataset

    from .backbones import image_processor_for

    ds = load_dataset(str(data))
    processor = image_processor_for(backbone, size)
    out = {}
    for site in p.sites:
        test = ds[f"test_{site}"]
        if family == "vit":
            from transformers import SamModel

            from .sam import SamArguments, evaluate_sam, make_sam_transform

            model = SamModel.from_pretrained(str(run_dir))
            transform = make_sam_transform(processor, SamArguments(backbone=backbone, image_size=size), False)
            nonempty = test.filter(lambda ex: bool((np.asarray(ex["mask"]) > 0).any()))
            score = evaluate_sam(model, nonempty.with_transform(transform))["dice"]
        else:
            from . import segmentation as seg

            model = seg.LvmMedUNetForSemanticSegmentation.from_pretrained(str(run_dir))
            transform = seg.make_transform(processor, "image", "mask", size)
            preds, refs = seg.predict_label_maps(model, test.with_transform(transform))
            score = seg.segmentation_scores(preds, refs, p.num_labels)["mean_dice"]
        out[site] = 100.0 * float(score)
    return out


def update_model_card(folder: str | os.PathLike, p: Protocol, result: ProtocolResult) -> Path:
    """Add (or replace) this protocol's ``model-index`` entry in ``folder/README.md``."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    path = Path(folder) / "README.md"
    card = ModelCard.load(path) if path.is_file() else ModelCard(f"---\n---\n# {Path(folder).name}\n")
    data: ModelCardData = card.data
    if not getattr(data, "model_name", None):
        data.model_name = Path(folder).name
    metric_name = f"{p.metric} ({p.name}, mean of {len(result.scores)} runs)"
    entry = EvalResult(
        task_type=_TASK_TYPE.get(p.task, "image-segmentation"),
        dataset_type=p.layout,
        dataset_name=p.dataset,
        dataset_split="test",
        metric_type=p.metric,
        metric_value=round(result.mean, 4),
        metric_name=metric_name,
    )
    kept = [
        e
        for e in (data.eval_results or [])
        if not (e.dataset_type == p.layout and (e.metric_name or "").startswith(f"{p.metric} ({p.name},"))
    ]
    data.eval_results = kept + [entry]
    card.save(path)
    return path


def run_protocol(
    protocol: str | Protocol,
    backbone: str,
    data_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    runs: int | None = None,
    seed: int = 0,
    split_file: str | None = None,
    update_card: bool = True,
    **overrides: Any,
) -> ProtocolResult:
    """Run ``protocol`` with ``backbone`` (a checkpoint folder or a preset) on the data in ``data_dir``.

    ``overrides`` (``epochs``, ``max_steps``, ``batch_size``, ``image_size``, ``learning_rate``,
    ``sam_checkpoint``, ``use_cpu``, detector sizes): quick checks, not the paper's protocol."""
    from .protocol_data import load_protocol_data

    p = protocol if isinstance(protocol, Protocol) else get_protocol(protocol)
    family = _family(backbone)
    if family not in p.settings:
        raise ValueError(
            f"protocol {p.name} runs with a {' or '.join(p.families)} backbone; {backbone} is a {family}"
        )
    n_runs = runs or p.runs
    if n_runs < 1:
        raise ValueError(f"runs must be >= 1, got {n_runs}")
    # The data is read (and checked) before anything is written: a failed run leaves no output folder.
    ds = load_protocol_data(p, data_dir, seed=seed, split_file=split_file)
    logger.info("%s: splits %s", p.name, {k: len(v) for k, v in ds.items()})
    out = Path(output_dir)
    data = _save_splits(ds, out / "data")

    scores: list[float] = []
    sites: dict[str, list[float]] = {}
    for k in range(n_runs):
        run_dir = out / f"run-{k}"
        logger.info("%s: run %d of %d", p.name, k + 1, n_runs)
        results = _run_once(p, family, backbone, data, run_dir, seed + k, overrides)
        score = _metric_value(p, results)
        if p.sites:
            # Table 4 reports the training site's held-out cases and every other site, and their average.
            size = overrides.get("image_size") or p.settings[family].image_size
            per_site = {
                "held-out training site": score,
                **_site_scores(p, family, backbone, data, run_dir, size),
            }
            for site, v in per_site.items():
                sites.setdefault(site, []).append(v)
            score = float(np.mean(list(per_site.values())))
        scores.append(score)

    fig = p.paper.get("r50" if family == "cnn" else "vit")
    base = p.paper.get("baseline")
    result = ProtocolResult(
        protocol=p.name,
        family=family,
        metric=p.metric,
        scores=scores,
        site_scores=sites,
        paper=fig.value if fig else None,
        paper_std=fig.std if fig else None,
        baseline=f"{base.method} {base.value:.2f}" if base else None,
    )
    meta = {
        **result.to_dict(),
        "backbone": str(backbone),
        "runs": n_runs,
        "overrides": {k: v for k, v in overrides.items() if v is not None},
        "is_paper_protocol": not any(v is not None for v in overrides.values()) and n_runs == p.runs,
        "split_rule": p.split_rule,
    }
    (out / "results.json").write_text(json.dumps(meta, indent=2))
    note = ""
    if not meta["is_paper_protocol"]:
        given = ", ".join(f"{k}={v}" for k, v in meta["overrides"].items())
        note = f"\nOverrides were given ({given}, runs={n_runs}): this is not the paper's protocol.\n"
    (out / "results.md").write_text(result.markdown() + note)
    if update_card and (Path(backbone) / "config.json").is_file():
        update_model_card(backbone, p, result)
    return result
