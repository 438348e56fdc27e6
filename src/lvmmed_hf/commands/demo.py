"""``lvmmed demo`` (``lvmmed_hf.downstream.demo``); the defaults below mirror ``DemoConfig`` (tested)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="prepare the embedded corpus, pretrain with graph matching, linear-probe vs random init, "
        "write a report",
        description="Runs the whole pipeline on the real medical images shipped in installed packages "
        "and writes report.md, report.json, timings.json and learning_curve.png to --output-dir "
        "(about 10 minutes on an idle 2-core CPU). Same --seed and --num-threads: the same report.",
    )
    add = parser.add_argument
    add("--output-dir", default="demo_output")
    add("--corpus-dir", help="where to prepare the corpus (default: <output-dir>/embedded_corpus)")
    add("--max-steps", type=int, default=2000, help="pretraining steps (the budget)")
    add(
        "--max-minutes",
        type=float,
        default=90.0,
        help="wall-clock guard of pretraining: stop early (and say so in the report) past this",
    )
    add(
        "--num-threads",
        type=int,
        default=1,
        help="torch threads (default 1: the same report on any machine; 0 = torch's choice)",
    )
    add(
        "--model-preset",
        default="small_cnn",
        help="architecture preset of the pretraining (small_cnn, tiny_cnn, resnet18, ...)",
    )
    add("--view-size", type=int, default=64, help="side of the pretraining views (px)")
    add("--batch-size", type=int, default=32, help="images per step (multiple of 16)")
    add(
        "--gumbel-scale",
        type=float,
        default=0.05,
        help="scale of the Gumbel noise of the blackbox estimator (paper: 1.0; authors' later code: 0.05)",
    )
    add("--learning-rate", type=float, default=1e-2, help="Adam learning rate (constant)")
    add(
        "--view-augmentation",
        choices=["medical", "paper"],
        default="medical",
        help="photometric augmentation of the pretraining views: 'medical' (no hue/saturation/grayscale, "
        "brightness/contrast 0.2, blur scaled to the view) or 'paper' (VICRegL's)",
    )
    add(
        "--random-inits",
        type=int,
        default=5,
        help="random initialisations probed as the baseline (the pretraining start + fresh seeds)",
    )
    add("--seed", type=int, default=0)
    parser.set_defaults(func=_run)


def config_from_args(args: argparse.Namespace):
    """The ``DemoConfig`` of parsed ``lvmmed demo`` arguments."""
    for name in ("max_steps", "random_inits", "batch_size", "view_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.num_threads < 0:
        raise ValueError(f"--num-threads must be >= 0 (0: torch's choice), got {args.num_threads}")
    if args.max_minutes <= 0:
        raise ValueError(f"--max-minutes must be > 0, got {args.max_minutes}")
    from dataclasses import fields

    from lvmmed_hf.downstream.demo import DemoConfig

    given = {f.name: getattr(args, f.name) for f in fields(DemoConfig) if hasattr(args, f.name)}
    return DemoConfig(**{**given, "num_threads": args.num_threads or None})


def _run(args: argparse.Namespace) -> int:
    from lvmmed_hf.downstream.demo import run_demo

    report = run_demo(config_from_args(args))
    lp, rs = report["linear_probe"], report["random_init_summary"]
    print(
        f"linear probe accuracy: pretrained {lp['pretrained']['accuracy']:.3f}, random inits "
        f"{rs['accuracy']['mean']:.3f} +- {rs['accuracy']['std']:.3f} (n={rs['n']}); "
        f"verdict {report['verdict']}; {report['pretraining']['steps']} steps, "
        f"{report['config']['num_threads']} threads; report: {args.output_dir}/report.md"
    )
    return 0
