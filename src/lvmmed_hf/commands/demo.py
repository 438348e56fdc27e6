"""``lvmmed demo``: the main job end to end on the embedded real images.

See ``lvmmed_hf.downstream.demo``; heavy imports happen inside ``_run`` so ``lvmmed --help`` stays
fast. The defaults below mirror ``DemoConfig`` (checked by the tests).
"""

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
    parser.add_argument("--output-dir", default="demo_output")
    parser.add_argument(
        "--corpus-dir",
        default=None,
        help="where to prepare the corpus (default: <output-dir>/embedded_corpus)",
    )
    parser.add_argument("--max-steps", type=int, default=2000, help="pretraining steps (the budget)")
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=90.0,
        help="wall-clock guard of pretraining: stop early (and say so in the report) past this",
    )
    parser.add_argument(
        "--num-threads",
        type=int,
        default=1,
        help="torch threads (default 1: the same report on any machine; 0 = torch's choice)",
    )
    parser.add_argument(
        "--model-preset",
        default="small_cnn",
        help="architecture preset of the pretraining (small_cnn, tiny_cnn, resnet18, ...)",
    )
    parser.add_argument("--view-size", type=int, default=64, help="side of the pretraining views (px)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step (multiple of 16)")
    parser.add_argument(
        "--gumbel-scale",
        type=float,
        default=0.05,
        help="scale of the Gumbel noise of the blackbox estimator (paper: 1.0; authors' later code: 0.05)",
    )
    parser.add_argument("--learning-rate", type=float, default=1e-2, help="Adam learning rate (constant)")
    parser.add_argument(
        "--view-augmentation",
        choices=["medical", "paper"],
        default="medical",
        help="photometric augmentation of the pretraining views: 'medical' (no hue/saturation/grayscale, "
        "brightness/contrast 0.2, blur scaled to the view) or 'paper' (VICRegL's)",
    )
    parser.add_argument(
        "--random-inits",
        type=int,
        default=5,
        help="random initialisations probed as the baseline (the pretraining start + fresh seeds)",
    )
    parser.add_argument("--seed", type=int, default=0)
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
    from lvmmed_hf.downstream.demo import DemoConfig

    return DemoConfig(
        output_dir=args.output_dir,
        corpus_dir=args.corpus_dir,
        max_steps=args.max_steps,
        max_minutes=args.max_minutes,
        num_threads=args.num_threads or None,
        model_preset=args.model_preset,
        view_size=args.view_size,
        batch_size=args.batch_size,
        gumbel_scale=args.gumbel_scale,
        learning_rate=args.learning_rate,
        view_augmentation=args.view_augmentation,
        random_inits=args.random_inits,
        seed=args.seed,
    )


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
