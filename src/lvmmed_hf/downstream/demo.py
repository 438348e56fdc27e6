"""``lvmmed demo``: prepare the embedded corpus (DICOM, NIfTI and 2D images of installed packages),
pretrain a small CNN with graph matching for a fixed number of CPU steps, linear-probe it and
``random_inits`` random initialisations (the start of pretraining, then fresh seeds) on the imaging
modality by grouped, nested cross-validation (:mod:`.linear_probe`), write the report. Same seed
and thread count: the same report. :class:`DemoConfig`'s defaults follow docs/pretraining.md.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, TrainerCallback

from ..data.embedded import load_embedded, prepare_embedded
from ..evaluation.model_card import write_model_card
from .data import recipe_results
from .linear_probe import DEFAULT_C_GRID, extract_features, grouped_cv_probe_scores

logger = logging.getLogger(__name__)


@dataclass
class DemoConfig:
    """Options of :func:`run_demo` (each is a ``lvmmed demo`` flag)."""

    output_dir: str = "demo_output"
    corpus_dir: str | None = None  # default: <output_dir>/embedded_corpus
    # A step budget, so the result does not depend on the machine's load (about 10 min on an idle
    # 2-core CPU); ``max_minutes`` only guards against a far slower machine.
    max_steps: int = 2000
    max_minutes: float = 90.0
    # One thread: as fast as two for this CNN, the same report on any machine, and no
    # oversubscription when other jobs hold the cores. None: torch's choice.
    num_threads: int | None = 1
    model_preset: str = "small_cnn"
    view_size: int = 64
    batch_size: int = 32
    learning_rate: float = 1e-2
    gumbel_scale: float = 0.05
    gcn_residual: bool = True
    crop_scale_min: float = 0.5
    view_augmentation: str = "medical"  # ViewAugmentationConfig.medical; "paper": VICRegL's
    probe_image_size: int = 64
    probe_pooling: str = "stages"
    # scikit-learn's C (inverse L2 strength), one chosen per outer fold by the inner grouped CV.
    probe_c_grid: tuple[float, ...] = DEFAULT_C_GRID
    probe_folds: int = 5
    probe_inner_folds: int = 3
    # Random initialisations in the baseline: the pretraining start + fresh ones (seed + i).
    random_inits: int = 5
    max_per_group: int = 24
    min_image_size: int = 32
    seed: int = 0


class StepBudgetCallback(TrainerCallback):
    """A progress bar with the latest loss and matching accuracy, a wall-clock guard, and a copy of
    the backbone's weights at the start of training (the baseline's random initialisation)."""

    shows_progress = True  # run_pretraining drops the Trainer's own progress printer

    def __init__(self, max_steps: int, max_seconds: float):
        self.max_steps, self.max_seconds = max_steps, max_seconds
        self.start, self.guard_fired, self.bar = 0.0, False, None
        self.initial_state: dict[str, torch.Tensor] | None = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.start = time.monotonic()
        if model is not None and hasattr(model, "lvmmed"):
            self.initial_state = copy.deepcopy(model.lvmmed.state_dict())
        if state.is_world_process_zero:
            self.bar = tqdm(total=self.max_steps, desc="pretraining", unit="step")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(
                loss=f"{logs['loss']:.3g}", match=f"{logs.get('matching_accuracy', math.nan):.3f}"
            )

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)
        if time.monotonic() - self.start >= self.max_seconds and state.global_step < self.max_steps:
            self.guard_fired = True
            control.should_training_stop = True
            logger.warning(
                "wall-clock guard: stopping pretraining after %d of %d steps (%.1f min)",
                state.global_step,
                self.max_steps,
                self.max_seconds / 60,
            )
        return control

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()


def verdict(pretrained: dict[str, float], random_summary: dict[str, dict[str, float]]) -> str:
    """``beats`` (every metric of ``METRICS`` above the random initialisations' mean + 1 std),
    ``does_not_beat`` (every metric below their mean) or ``inconclusive``."""
    above = [pretrained[m] > random_summary[m]["mean"] + random_summary[m]["std"] for m in METRICS]
    below = [pretrained[m] < random_summary[m]["mean"] for m in METRICS]
    return "beats" if all(above) else ("does_not_beat" if all(below) else "inconclusive")


METRICS = ("accuracy", "study_accuracy", "macro_f1")
# Log fields kept in the report: the others (solver time) depend on the machine.
LOG_FIELDS = ("step", "loss", "matching_accuracy", "grad_norm", "learning_rate")


def _probe_subset(ds, min_size: int, max_per_group: int):
    """Indices of images with shorter side >= min_size, at most max_per_group evenly spaced per group."""
    by_group: dict[str, list[int]] = {}
    for i, (image, group) in enumerate(zip(ds["image"], ds["patient_id"])):
        if min(image.size) >= min_size:
            by_group.setdefault(group, []).append(i)
    keep = []
    for idx in by_group.values():
        if len(idx) > max_per_group:
            idx = [idx[int(j)] for j in np.linspace(0, len(idx) - 1, max_per_group).round()]
        keep.extend(idx)
    return sorted(keep)


def plot_learning_curve(log_history: list[dict], path: Path) -> None:
    """Loss and matching accuracy against the step (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in log_history if "loss" in r and "step" in r]
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.plot(steps, [r["loss"] for r in rows], color="tab:blue", marker="o", ms=3, label="Hamming loss")
    ax.set_xlabel("step")
    ax.set_ylabel("graph-matching (Hamming) loss", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(
        steps, [r.get("matching_accuracy", math.nan) for r in rows], color="tab:orange", marker="s", ms=3
    )
    ax2.axhline(1 / 16, color="tab:orange", linestyle=":", linewidth=1)  # chance for 16-node graphs
    ax2.set_ylabel("matching accuracy (dotted: chance)", color="tab:orange")
    ax2.set_ylim(0, 1)
    ax.set_title("LVM-Med graph-matching pretraining (embedded corpus)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _pretrain(cfg: DemoConfig, corpus: Path, out: Path):
    """Graph-matching pretraining for ``cfg.max_steps`` steps; returns (trainer, budget callback)."""
    from ..training import pretraining

    data_args = pretraining.DataArguments(
        embedded=True,
        embedded_dir=str(corpus),
        view_size=cfg.view_size,
        max_image_size=256,
        min_image_size=cfg.min_image_size,
        crop_scale_min=cfg.crop_scale_min,
        view_augmentation=cfg.view_augmentation,
    )
    train_args = pretraining.PretrainingArguments(
        output_dir=str(out / "pretraining"),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        lr_halvings=-1,
        lr_scheduler_type="constant",
        logging_steps=max(1, min(10, cfg.max_steps // 5)),
        save_strategy="no",
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        seed=cfg.seed,
        gpu_monitor=False,
        disable_tqdm=True,
        report_to="none",
    )
    budget = StepBudgetCallback(cfg.max_steps, cfg.max_minutes * 60)
    gm_args = pretraining.GraphMatchingArguments(gumbel_scale=cfg.gumbel_scale, gcn_residual=cfg.gcn_residual)
    model_args = pretraining.ModelArguments(model_preset=cfg.model_preset)
    trainer = pretraining.run_pretraining(model_args, data_args, gm_args, train_args, callbacks=[budget])
    return trainer, budget


def _probe_all(cfg: DemoConfig, corpus: Path, backbone_dir: Path, initial_state: dict) -> dict[str, Any]:
    """Probe scores of the pretrained backbone and of ``cfg.random_inits`` random initialisations."""
    pretrained = AutoModel.from_pretrained(backbone_dir)
    models = {"pretrained": pretrained}
    for i in range(max(1, cfg.random_inits)):
        torch.manual_seed(cfg.seed + i)
        m = AutoModel.from_config(pretrained.config)
        if i == 0:
            m.load_state_dict(initial_state)
        models[f"random_init_{i}"] = m
    ds = load_embedded(corpus)
    ds = ds.select(_probe_subset(ds, cfg.min_image_size, cfg.max_per_group))
    labels, groups = np.asarray(ds["label"]), ds["patient_id"]
    probes, fit_seconds = {}, 0.0
    for k, m in tqdm(models.items(), desc="linear probes", unit="backbone"):
        f = extract_features(
            m, ds, size=cfg.probe_image_size, desc=f"features ({k})", pooling=cfg.probe_pooling
        )
        t = time.monotonic()
        probes[k] = grouped_cv_probe_scores(
            f, labels, groups, cfg.probe_c_grid, cfg.probe_folds, cfg.probe_inner_folds, progress=False
        )
        fit_seconds += time.monotonic() - t
    names = ds.features["label"].names
    return dict(probes=probes, labels=labels, groups=groups, names=names, fit_seconds=fit_seconds)


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run the whole pipeline (module docstring); returns the report written to ``report.json``
    (wall-clock timings go to ``timings.json`` and the log, so that the report is reproducible)."""
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = Path(cfg.corpus_dir or out / "embedded_corpus")
    backbone_dir = out / "pretraining" / "backbone"
    logger.info("[1/4] preparing the embedded corpus in %s", corpus)
    t_start = time.monotonic()
    prepare_embedded(corpus)
    t_prepared = time.monotonic()
    logger.info("[2/4] graph-matching pretraining of %s for %d steps", cfg.model_preset, cfg.max_steps)
    trainer, budget = _pretrain(cfg, corpus, out)
    t_pretrained = time.monotonic()
    logger.info("[3/4] linear probes: pretrained vs random initialisations")
    probed = _probe_all(cfg, corpus, backbone_dir, budget.initial_state)
    timings = {
        "prepare_s": t_prepared - t_start,
        "pretrain_s": t_pretrained - t_prepared,
        "probe_s": time.monotonic() - t_pretrained,  # features of every backbone + the probes
        "probe_fit_s": probed["fit_seconds"],  # the scikit-learn probes alone
    }

    logger.info("[4/4] writing the report")
    history = [{k: r[k] for k in LOG_FIELDS if k in r} for r in trainer.state.log_history if "loss" in r]
    plot_learning_curve(history, out / "learning_curve.png")
    report = build_report(cfg, history, trainer.state.global_step, budget.guard_fired, probed)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=float))
    (out / "report.md").write_text(render_report_md(report))
    results = recipe_results(
        "image-classification",
        {
            "name": "lvmmed-hf embedded corpus (imaging modality)",
            "type": "lvmmed-embedded",
            "split": "grouped held-out",
        },
        "linear probe on frozen features, leave-one-study-out",
        {m: report["linear_probe"]["pretrained"][m] for m in ("accuracy", "macro_f1")},
    )
    write_model_card(
        backbone_dir,
        results=results,
        license="other",
        derived_from_authors_weights=False,
        model_name="LVM-Med demo backbone (small CNN, embedded corpus)",
        training_data="A few minutes of LVM-Med graph-matching pretraining from random initialisation on "
        "the lvmmed-hf embedded corpus: DICOM test images of pydicom/pydicom-data, the MNI152 templates "
        "of nilearn and scikit-image's medical images. A demonstration checkpoint, not a useful backbone.",
    )
    timings["total_s"] = time.monotonic() - t_start
    (out / "timings.json").write_text(json.dumps(timings, indent=2))
    logger.info(
        "report written to %s (prepare %.0f s, pretrain %.0f s, features + probes %.0f s of which "
        "probes %.0f s, total %.0f s)",
        out / "report.md",
        *(timings[k] for k in ("prepare_s", "pretrain_s", "probe_s", "probe_fit_s", "total_s")),
    )
    return report


def build_report(
    cfg: DemoConfig, history: list[dict], steps: int, guard_fired: bool, probed: dict[str, Any]
) -> dict[str, Any]:
    """The report of :func:`run_demo` (``report.json``) from the pretraining log and probe scores."""
    probes, labels, groups, names = (probed[k] for k in ("probes", "labels", "groups", "names"))
    random_keys = [k for k in probes if k.startswith("random_init_")]
    random_summary = {}
    for m in METRICS:
        values = [probes[k][m] for k in random_keys]
        random_summary[m] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values}
    probes["random_init"] = probes["random_init_0"]
    kept = probes["pretrained"]["classes"]
    counts = {names[c]: int((labels == c).sum()) for c in kept}
    group_counts = {names[c]: len({g for g, lab in zip(groups, labels) if lab == c}) for c in kept}
    first, last = history[0] if history else {}, history[-1] if history else {}
    diff = np.subtract(probes["pretrained"]["group_accuracy"], probes["random_init"]["group_accuracy"])
    config = {k: v for k, v in asdict(cfg).items() if k not in ("output_dir", "corpus_dir")}
    report = {
        "config": {**config, "num_threads": torch.get_num_threads()},
        "backbone_dir": "pretraining/backbone",
        "pretraining": {
            "steps": steps,
            "max_steps": cfg.max_steps,
            "stopped_by": f"wall-clock guard ({cfg.max_minutes:g} min)" if guard_fired else "step budget",
            "images_seen": steps * cfg.batch_size,
            "first_log": {k: first.get(k) for k in ("step", "loss", "matching_accuracy")},
            "last_log": {k: last.get(k) for k in ("step", "loss", "matching_accuracy")},
            "matching_accuracy_last": last.get("matching_accuracy"),
            "matching_accuracy_chance": 1 / 16,
            "log_history": history,
        },
        "probe_task": {
            "label": "imaging modality",
            "classes": [names[c] for c in kept],
            "images_per_class": counts,
            "groups_per_class": group_counts,
            "group_column": "patient_id",
            "n_images": int(sum(counts.values())),
            "n_groups": len(probes["pretrained"]["group_ids"]),
            "protocol": f"grouped {cfg.probe_folds}-fold cross-validation",
        },
        "linear_probe": {
            k: {m: v[m] for m in (*METRICS, "group_ids", "group_accuracy", "c_per_fold")}
            for k, v in probes.items()
        },
        "random_init_summary": {"n": len(random_keys), **random_summary},
        "pretrained_minus_random_accuracy": {
            "mean": float(diff.mean()),
            "wins": int((diff > 0).sum()),
            "ties": int((diff == 0).sum()),
            "losses": int((diff < 0).sum()),
        },
    }
    report["verdict"] = verdict(probes["pretrained"], random_summary)
    report["pretrained_beats_random"] = report["verdict"] == "beats"
    return report


def _fmt(x: float | None, pct: bool = True) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


VERDICT_TEXT = {
    "beats": "The pretrained backbone **beats** its random initialisations",
    "does_not_beat": "The pretrained backbone does **not** beat its random initialisations",
    "inconclusive": "**No clear winner** between the pretrained backbone and its random "
    "initialisations (not all three metrics above the random mean + 1 std, nor all below the "
    "random mean)",
}


def render_report_md(r: dict) -> str:
    """The Markdown report of :func:`run_demo`."""
    lp, pt, task, cfg = r["linear_probe"], r["pretraining"], r["probe_task"], r["config"]
    rs, d = r["random_init_summary"], r["pretrained_minus_random_accuracy"]
    class_text = ", ".join(
        f"{c} ({task['images_per_class'][c]} images / {task['groups_per_class'][c]} groups)"
        for c in task["classes"]
    )
    stop = (
        "the step budget"
        if pt["stopped_by"] == "step budget"
        else f"the **{pt['stopped_by']}**, before the step budget: this run is not comparable"
    )
    vals = lp["pretrained"].get("c_per_fold", [])
    c_choices = ", ".join(f"C = {c:g} in {vals.count(c)} folds" for c in sorted(set(vals))) or "n/a"
    features = (
        "pooled stem + every stage, concatenated" if cfg["probe_pooling"] == "stages" else "pooled last stage"
    )
    lines = [
        "# lvmmed demo: graph-matching pretraining on the embedded corpus",
        "",
        f"{VERDICT_TEXT[r['verdict']]} on the linear probe ({_fmt(lp['pretrained']['accuracy'])} vs "
        f"{_fmt(rs['accuracy']['mean'])} ± {_fmt(rs['accuracy']['std'])} image accuracy over "
        f"{rs['n']} random initialisations; {task['protocol']} over {task['n_groups']} studies; "
        f"against its own start the pretrained backbone is better on {d['wins']}, equal on "
        f"{d['ties']}, worse on {d['losses']} studies).",
        "",
        "## Pretraining",
        "",
        f"- Backbone: `{cfg['model_preset']}`, {pt['steps']} of {pt['max_steps']} steps (stopped by "
        f"{stop}) of {cfg['batch_size']} images ({cfg['view_size']}-px views), seed {cfg['seed']}, "
        f"{cfg['num_threads']} torch threads.",
        f"- Matching accuracy (share of the 16 images per graph matched to their own second view): "
        f"{_fmt(pt['first_log'].get('matching_accuracy'))} at step {pt['first_log'].get('step')} -> "
        f"{_fmt(pt['last_log'].get('matching_accuracy'))} at step {pt['last_log'].get('step')} "
        f"(chance {_fmt(pt['matching_accuracy_chance'])}).",
        f"- Loss: {_fmt(pt['first_log'].get('loss'), False)} -> {_fmt(pt['last_log'].get('loss'), False)}.",
        "- Learning curve: ![learning curve](learning_curve.png)",
        f"- Backbone saved to `{r['backbone_dir']}` (`AutoModel.from_pretrained`).",
        "",
        "## Linear probe: imaging modality",
        "",
        f"{task['n_images']} images, classes {class_text}. {task['protocol'].capitalize()} by "
        f"`{task['group_column']}`: each study / volume is predicted by a class-balanced logistic "
        "regression (scikit-learn) trained on the frozen, standardised pooled features of other "
        "studies only (classes with a single study cannot be tested and are left out).",
        "",
        "| Backbone | Accuracy (images) | Accuracy (studies, each counted once) | Macro-F1 |",
        "|---|---|---|---|",
    ]
    for name, label in (
        ("pretrained", "graph-matching pretrained"),
        ("random_init", "random initialisation (same weights before pretraining)"),
    ):
        row = " | ".join(_fmt(lp[name][m]) for m in METRICS)
        lines.append(f"| {label} | {row} |")
    spread = " | ".join(f"{_fmt(rs[m]['mean'])} ± {_fmt(rs[m]['std'])}" for m in METRICS)
    lines += [
        f"| random initialisations, mean ± std over {rs['n']} seeds | {spread} |",
        "",
        f"Probe features: {features}, standardised on the training studies. C (inverse L2 strength) "
        f"chosen per outer fold from {list(cfg['probe_c_grid'])} by an inner grouped "
        f"{cfg['probe_inner_folds']}-fold cross-validation on that fold's training studies only "
        f"(pretrained: {c_choices}). Verdict rule: *beats* needs all three metrics "
        "above the random mean + 1 std, *does not beat* all three below the random mean.",
        "",
        "## Caveats",
        "",
        "The embedded corpus is small (a few hundred images from a few dozen studies), so one study "
        "more or less correctly predicted moves the accuracy by several points, and a few minutes of "
        "CPU pretraining is a smoke test of the pipeline, not a reproduction of the paper (100 epochs "
        f"on 1.3 M images, 16 A100 GPUs). Views: `{cfg['view_augmentation']}` augmentation (see "
        "docs/downstream.md); the paper's colour jitter, random grayscale and strong blur teach the "
        "backbone to ignore colour and intensity statistics, which are strong cues of the imaging "
        "modality in this corpus. Wall-clock timings of this run are in `timings.json`.",
        "",
    ]
    return "\n".join(lines)
