"""``lvmmed demo``: the main job end to end on the embedded real images (see lvmmed_hf.downstream.demo)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from lvmmed_hf.downstream.demo import DemoConfig

    d = DemoConfig()
    parser = subparsers.add_parser(
        "demo",
        help="prepare the embedded corpus, pretrain with graph matching, linear-probe vs random init, write a report",
        description="Runs the whole pipeline on the real medical images shipped in installed packages and writes "
        "report.md, report.json and learning_curve.png to --output-dir (about 10 minutes on 2 CPU cores).",
    )
    parser.add_argument("--output-dir", default=d.output_dir)
    parser.add_argument(
        "--corpus-dir",
        default=None,
        help="where to prepare the corpus (default: <output-dir>/embedded_corpus)",
    )
    parser.add_argument(
        "--pretrain-minutes", type=float, default=d.pretrain_minutes, help="wall-clock budget of pretraining"
    )
    parser.add_argument(
        "--max-steps", type=int, default=None, help="stop pretraining after this many steps (if earlier)"
    )
    parser.add_argument(
        "--model-preset",
        default=d.model_preset,
        help="architecture preset of the pretraining (small_cnn, resnet18, ...)",
    )
    parser.add_argument(
        "--view-size", type=int, default=d.view_size, help="side of the pretraining views (px)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=d.batch_size, help="images per step (multiple of 16)"
    )
    parser.add_argument(
        "--gumbel-scale",
        type=float,
        default=d.gumbel_scale,
        help="scale of the Gumbel noise of the blackbox estimator (paper: 1.0; authors' later code: 0.05)",
    )
    parser.add_argument(
        "--learning-rate", type=float, default=d.learning_rate, help="Adam learning rate (constant)"
    )
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from lvmmed_hf.downstream.demo import DemoConfig, run_demo

    report = run_demo(
        DemoConfig(
            output_dir=args.output_dir,
            corpus_dir=args.corpus_dir,
            pretrain_minutes=args.pretrain_minutes,
            max_steps=args.max_steps,
            model_preset=args.model_preset,
            view_size=args.view_size,
            batch_size=args.batch_size,
            gumbel_scale=args.gumbel_scale,
            learning_rate=args.learning_rate,
            seed=args.seed,
        )
    )
    lp = report["linear_probe"]
    print(
        f"linear probe accuracy: pretrained {lp['pretrained']['accuracy']:.3f}, random init {lp['random_init']['accuracy']:.3f}; "
        f"matching accuracy {report['pretraining']['matching_accuracy_last']}; report: {args.output_dir}/report.md"
    )
    return 0
