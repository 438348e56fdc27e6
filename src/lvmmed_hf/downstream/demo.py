"""The main job, end to end on the embedded real images (``lvmmed demo``).

1. Prepare the embedded corpus (DICOM, NIfTI and 2D medical images shipped in installed packages).
2. Pretrain a small CNN with the graph-matching loss for a fixed wall-clock budget on the CPU.
3. Save the backbone (``save_pretrained``) with its image processor and model card.
4. Linear-probe the pretrained backbone and ``random_inits`` random initialisations of the same
   network (the first is the exact start of pretraining, the others fresh seeds, so the spread of
   random features is measured) on the imaging modality of each image, leave-one-group-out: every
   study (``patient_id``: a DICOM StudyInstanceUID, a NIfTI volume, a 2D image) is predicted by a
   probe trained on all the other studies, so slices of one volume and codec variants of one image
   never straddle train and test. Probe features: pooled stem + every stage, concatenated and
   standardised; the L2 strength is chosen per outer fold by a grouped CV inside its training
   studies (nested), never by the held-out study.
5. Write ``report.md``, ``report.json`` and ``learning_curve.png``.

Choices for a few-minute CPU run from a random initialisation (all options of
:class:`DemoConfig`), following the findings in docs/pretraining.md: the ``small_cnn`` preset
(ResNet-style, widths 16-128), 64-px views with crop scale 0.5-1, 32 images per step (two 16-node
graphs), Adam at a constant lr 1e-2, Gumbel scale 0.05 (the authors' later code; the paper's 1.0
drowns the affinities in a short run) and residual message passing (the paper's plain GCN
over-smooths from a random start), and views with the ``medical`` photometric augmentation
(``ViewAugmentationConfig.medical``). Images whose shorter side is below 32 px (1-pixel-wide DICOM test slices) are left
out of pretraining and of the probe; each group contributes at most ``max_per_group`` evenly spaced
images to the probe, so one 3D template does not outweigh the 2D images.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import TrainerCallback

from .linear_probe import extract_features, leave_one_group_out_scores

logger = logging.getLogger(__name__)


@dataclass
class DemoConfig:
    output_dir: str = "demo_output"
    corpus_dir: str | None = None  # default: <output_dir>/embedded_corpus
    pretrain_minutes: float = 6.0
    max_steps: int | None = None  # stop earlier than the time budget (tests)
    model_preset: str = "small_cnn"
    view_size: int = 64
    batch_size: int = 32
    learning_rate: float = 1e-2
    gumbel_scale: float = 0.05
    gcn_residual: bool = True
    crop_scale_min: float = 0.5
    # Views for grayscale medical images (module docstring): no hue / saturation jitter, no random
    # grayscale, milder brightness / contrast, blur sigma scaled to the view size. "paper": VICRegL's.
    view_augmentation: str = "medical"
    probe_image_size: int = 64
    probe_pooling: str = "stages"
    # L2 strengths of the probe, one chosen per outer fold by an inner leave-one-study-out.
    probe_weight_decays: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
    # Random initialisations in the baseline: the pretraining start + fresh ones (seed + i).
    random_inits: int = 5
    max_per_group: int = 24
    min_image_size: int = 32
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class TimeBudgetCallback(TrainerCallback):
    """Stops training after ``seconds`` of wall-clock time; shows a progress bar in minutes.

    Also keeps a copy of the backbone's weights at the start of training (the random initialisation).
    """

    def __init__(self, seconds: float, max_steps: int | None = None):
        self.seconds, self.max_steps = seconds, max_steps
        self.start = None
        self.initial_state: dict[str, torch.Tensor] | None = None
        self.bar = None
        self.last_logs: dict[str, float] = {}

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.start = time.monotonic()
        if model is not None and hasattr(model, "lvmmed"):
            self.initial_state = copy.deepcopy(model.lvmmed.state_dict())
        if state.is_world_process_zero:
            self.bar = tqdm(total=round(self.seconds), desc="pretraining (s)", unit="s")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.last_logs = logs
            if self.bar is not None:
                self.bar.set_postfix(
                    step=state.global_step, loss=logs["loss"], match=logs.get("matching_accuracy")
                )

    def on_step_end(self, args, state, control, **kwargs):
        elapsed = time.monotonic() - self.start
        if self.bar is not None:
            self.bar.n = min(round(elapsed), self.bar.total)
            self.bar.refresh()
        if elapsed >= self.seconds or (self.max_steps is not None and state.global_step >= self.max_steps):
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()


def _probe_subset(ds, min_size: int, max_per_group: int):
    """Indices of images with shorter side >= min_size, at most max_per_group evenly spaced per group."""
    sizes = [min(im.size) for im in ds["image"]]
    groups = ds["patient_id"]
    by_group: dict[str, list[int]] = {}
    for i, (s, g) in enumerate(zip(sizes, groups)):
        if s >= min_size:
            by_group.setdefault(g, []).append(i)
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


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run the whole pipeline (module docstring); returns the report written to ``report.json``."""
    from ..data.embedded import load_embedded, prepare_embedded
    from ..training.pretraining import (
        DataArguments,
        GraphMatchingArguments,
        ModelArguments,
        PretrainingArguments,
        run_pretraining,
    )

    t_start = time.monotonic()
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = Path(cfg.corpus_dir or out / "embedded_corpus")
    timings: dict[str, float] = {}

    logger.info("[1/4] preparing the embedded corpus in %s", corpus)
    t = time.monotonic()
    prepare_embedded(corpus)
    timings["prepare_s"] = time.monotonic() - t

    logger.info("[2/4] graph-matching pretraining of %s for %.1f min", cfg.model_preset, cfg.pretrain_minutes)
    t = time.monotonic()
    model_args = ModelArguments(model_preset=cfg.model_preset)
    gm_args = GraphMatchingArguments(gumbel_scale=cfg.gumbel_scale, gcn_residual=cfg.gcn_residual)
    data_args = DataArguments(
        embedded=True,
        embedded_dir=str(corpus),
        view_size=cfg.view_size,
        max_image_size=256,
        min_image_size=cfg.min_image_size,
        crop_scale_min=cfg.crop_scale_min,
        view_augmentation=cfg.view_augmentation,
    )
    horizon = 10_000
    train_args = PretrainingArguments(
        output_dir=str(out / "pretraining"),
        max_steps=horizon,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        lr_halvings=-1,
        lr_scheduler_type="constant",
        logging_steps=min(5, cfg.max_steps or 5),
        save_strategy="no",
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        seed=cfg.seed,
        gpu_monitor=False,
        disable_tqdm=True,
        report_to="none",
    )
    budget = TimeBudgetCallback(cfg.pretrain_minutes * 60, cfg.max_steps)
    callbacks: list = [budget]
    torch.manual_seed(cfg.seed)
    trainer = run_pretraining(model_args, data_args, gm_args, train_args, callbacks=callbacks)
    timings["pretrain_s"] = time.monotonic() - t
    history = [r for r in trainer.state.log_history if "loss" in r]
    backbone_dir = Path(train_args.output_dir) / "backbone"

    logger.info("[3/4] linear probes: pretrained vs random initialisation")
    t = time.monotonic()
    from transformers import AutoModel

    import lvmmed_hf  # noqa: F401

    pretrained = AutoModel.from_pretrained(backbone_dir)
    if budget.initial_state is None:
        raise RuntimeError("the pretraining start weights were not captured")
    # The baseline: the exact start of pretraining plus fresh initialisations of the same network
    # (seeds seed+1, ...), so the spread of random features is measured, not assumed.
    randoms = []
    for i in range(max(1, cfg.random_inits)):
        torch.manual_seed(cfg.seed + i)
        m = AutoModel.from_config(pretrained.config)
        if i == 0:
            m.load_state_dict(budget.initial_state)
        randoms.append(m)
    ds = load_embedded(corpus)
    idx = _probe_subset(ds, cfg.min_image_size, cfg.max_per_group)
    ds = ds.select(idx)
    labels = np.asarray(ds["label"])
    groups = ds["patient_id"]
    names = ds.features["label"].names
    models = {"pretrained": pretrained, **{f"random_init_{i}": m for i, m in enumerate(randoms)}}
    probes = {}
    for k, m in tqdm(models.items(), desc="linear probes", unit="backbone"):
        f = extract_features(
            m, ds, size=cfg.probe_image_size, desc=f"features ({k})", pooling=cfg.probe_pooling
        )
        probes[k] = leave_one_group_out_scores(f, labels, groups, list(cfg.probe_weight_decays))
    metric_names = ("accuracy", "study_accuracy", "macro_f1")
    random_keys = [k for k in probes if k.startswith("random_init_")]
    random_summary = {
        m: {
            "mean": float(np.mean([probes[k][m] for k in random_keys])),
            "std": float(np.std([probes[k][m] for k in random_keys])),
            "values": [probes[k][m] for k in random_keys],
        }
        for m in metric_names
    }
    probes["random_init"] = probes["random_init_0"]
    timings["probe_s"] = time.monotonic() - t

    logger.info("[4/4] writing the report")
    plot_learning_curve(trainer.state.log_history, out / "learning_curve.png")
    classes = [names[c] for c in probes["pretrained"]["classes"]]
    counts = {names[c]: int((labels == c).sum()) for c in probes["pretrained"]["classes"]}
    group_counts = {
        names[c]: len({g for g, lab in zip(groups, labels) if lab == c})
        for c in probes["pretrained"]["classes"]
    }
    first, last = history[0] if history else {}, history[-1] if history else {}
    diff = np.array(probes["pretrained"]["group_accuracy"]) - np.array(
        probes["random_init"]["group_accuracy"]
    )
    report = {
        "config": asdict(cfg),
        "backbone_dir": str(backbone_dir),
        "pretraining": {
            "steps": trainer.state.global_step,
            "images_seen": trainer.state.global_step * cfg.batch_size,
            "first_log": {k: first.get(k) for k in ("step", "loss", "matching_accuracy")},
            "last_log": {k: last.get(k) for k in ("step", "loss", "matching_accuracy")},
            "matching_accuracy_last": last.get("matching_accuracy"),
            "matching_accuracy_chance": 1 / gm_args.graph_size,
            "log_history": history,
        },
        "probe_task": {
            "label": "imaging modality",
            "classes": classes,
            "images_per_class": counts,
            "groups_per_class": group_counts,
            "group_column": "patient_id",
            "n_images": int(sum(counts.values())),
            "n_groups": len(probes["pretrained"]["group_ids"]),
            "protocol": "leave-one-group-out",
        },
        "linear_probe": {
            k: {m: v[m] for m in (*metric_names, "group_ids", "group_accuracy", "weight_decay_per_fold")}
            for k, v in probes.items()
        },
        "random_init_summary": {"n": len(random_keys), **random_summary},
        "pretrained_minus_random_accuracy": {
            "mean": float(diff.mean()),
            "wins": int((diff > 0).sum()),
            "ties": int((diff == 0).sum()),
            "losses": int((diff < 0).sum()),
        },
        "timings_s": {**timings, "total_s": time.monotonic() - t_start},
    }
    # Against the spread of random initialisations, not one draw: "beats" needs all three metrics
    # above the random mean + 1 std, "does not beat" all three below the random mean.
    above = [
        probes["pretrained"][m] > random_summary[m]["mean"] + random_summary[m]["std"] for m in metric_names
    ]
    below = [probes["pretrained"][m] < random_summary[m]["mean"] for m in metric_names]
    report["verdict"] = "beats" if all(above) else ("does_not_beat" if all(below) else "inconclusive")
    report["pretrained_beats_random"] = report["verdict"] == "beats"
    (out / "report.json").write_text(json.dumps(report, indent=2, default=float))
    (out / "report.md").write_text(render_report_md(report))
    _write_backbone_card(backbone_dir, report)
    logger.info("report written to %s", out / "report.md")
    return report


def _write_backbone_card(backbone_dir: Path, report: dict) -> None:
    from ..evaluation.model_card import write_model_card

    results = {
        "results": [
            {
                "task": "image-classification",
                "dataset": {
                    "name": "lvmmed-hf embedded corpus (imaging modality)",
                    "type": "lvmmed-embedded",
                    "split": "grouped held-out",
                },
                "protocol": "linear probe on frozen features, leave-one-study-out",
                "metrics": {
                    "accuracy": report["linear_probe"]["pretrained"]["accuracy"],
                    "macro_f1": report["linear_probe"]["pretrained"]["macro_f1"],
                },
            }
        ]
    }
    write_model_card(
        backbone_dir,
        results=results,
        license="other",
        derived_from_authors_weights=False,
        model_name="LVM-Med demo backbone (small CNN, embedded corpus)",
        training_data="A few minutes of LVM-Med graph-matching pretraining from random initialisation on the "
        "lvmmed-hf embedded corpus: DICOM test images of pydicom/pydicom-data, the MNI152 templates of nilearn and "
        "scikit-image's medical images. A demonstration checkpoint, not a useful backbone.",
    )


def _fmt(x: float | None, pct: bool = True) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def _choices(probe: dict) -> str:
    vals = probe.get("weight_decay_per_fold", [])
    return ", ".join(f"{w:g} in {vals.count(w)} folds" for w in sorted(set(vals))) or "n/a"


def render_report_md(r: dict) -> str:
    """The Markdown report of :func:`run_demo`."""
    lp, pt, task = r["linear_probe"], r["pretraining"], r["probe_task"]
    verdict = {
        "beats": "The pretrained backbone **beats** its random initialisations",
        "does_not_beat": "The pretrained backbone does **not** beat its random initialisations",
        "inconclusive": "**No clear winner** between the pretrained backbone and its random initialisations "
        "(not all three metrics above the random mean + 1 std, nor all below the random mean)",
    }[r["verdict"]]
    d = r["pretrained_minus_random_accuracy"]
    class_text = ", ".join(
        f"{c} ({task['images_per_class'][c]} images / {task['groups_per_class'][c]} groups)"
        for c in task["classes"]
    )
    lines = [
        "# lvmmed demo: graph-matching pretraining on the embedded corpus",
        "",
        f"{verdict} on the linear probe ({_fmt(lp['pretrained']['accuracy'])} vs {_fmt(lp['random_init']['accuracy'])} "
        f"accuracy; random initialisations {_fmt(r['random_init_summary']['accuracy']['mean'])} ± "
        f"{_fmt(r['random_init_summary']['accuracy']['std'])} over {r['random_init_summary']['n']} seeds; "
        f"leave-one-study-out over {task['n_groups']} studies; against its own start the pretrained backbone is "
        f"better on {d['wins']}, equal on {d['ties']}, worse on {d['losses']} held-out studies).",
        "",
        "## Pretraining",
        "",
        f"- Backbone: `{r['config']['model_preset']}`, {pt['steps']} steps of {r['config']['batch_size']} images "
        f"({r['config']['view_size']}-px views), {r['timings_s']['pretrain_s'] / 60:.1f} min.",
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
        f"{task['n_images']} images, classes {class_text}. "
        f"Leave-one-group-out by `{task['group_column']}`: each study / volume is predicted by a "
        "class-balanced logistic regression trained on the frozen, standardised pooled features of all "
        "other studies (classes with a single study cannot be tested and are left out).",
        "",
        "| Backbone | Accuracy (images) | Accuracy (studies, each counted once) | Macro-F1 |",
        "|---|---|---|---|",
    ]
    for name, label in (
        ("pretrained", "graph-matching pretrained"),
        ("random_init", "random initialisation (same weights before pretraining)"),
    ):
        v = lp[name]
        lines.append(
            f"| {label} | {_fmt(v['accuracy'])} | {_fmt(v['study_accuracy'])} | {_fmt(v['macro_f1'])} |"
        )
    rs = r["random_init_summary"]
    lines.append(
        f"| random initialisations, mean ± std over {rs['n']} seeds | "
        + " | ".join(
            f"{_fmt(rs[m]['mean'])} ± {_fmt(rs[m]['std'])}"
            for m in ("accuracy", "study_accuracy", "macro_f1")
        )
        + " |"
    )
    lines += [
        "",
        f"Probe features: {'pooled stem + every stage, concatenated' if r['config']['probe_pooling'] == 'stages' else 'pooled last stage'}"
        f", standardised on the training studies. L2 strength chosen per fold from "
        f"{list(r['config']['probe_weight_decays'])} by an inner grouped 4-fold cross-validation on the training studies only "
        f"(pretrained: {_choices(lp['pretrained'])}). Verdict rule: *beats* needs all three metrics above the "
        "random mean + 1 std, *does not beat* all three below the random mean.",
        "",
        "## Caveats",
        "",
        "The embedded corpus is small (a few hundred images from a few dozen studies), so one study "
        "more or less correctly predicted moves the accuracy by several points, and a few minutes of CPU pretraining "
        "is a smoke test of the pipeline, not a reproduction of the paper (100 epochs on 1.3 M images, 16 A100 "
        f"GPUs). Views: `{r['config']['view_augmentation']}` augmentation (see docs/downstream.md); the paper's "
        "colour jitter, random grayscale and strong blur teach the backbone to ignore colour and intensity "
        "statistics, which are strong cues of the imaging modality in this corpus.",
        "",
        f"Timings: prepare {r['timings_s']['prepare_s']:.0f} s, pretrain {r['timings_s']['pretrain_s']:.0f} s, "
        f"probe {r['timings_s']['probe_s']:.0f} s, total {r['timings_s']['total_s']:.0f} s.",
        "",
    ]
    return "\n".join(lines)
