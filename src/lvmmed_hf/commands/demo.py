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
        "report.md, report.json and learning_curve.png to --output-dir (about 7 minutes on 2 CPU cores).",
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
    parser.add_argument(
        "--view-augmentation",
        choices=["medical", "paper"],
        default=d.view_augmentation,
        help="photometric augmentation of the pretraining views: 'medical' (no hue/saturation/grayscale, "
        "brightness/contrast 0.2, blur scaled to the view) or 'paper' (VICRegL's)",
    )
    parser.add_argument(
        "--random-inits",
        type=int,
        default=d.random_inits,
        help="random initialisations probed as the baseline (the pretraining start + fresh seeds)",
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
            view_augmentation=args.view_augmentation,
            random_inits=args.random_inits,
            seed=args.seed,
        )
    )
    lp, rs = report["linear_probe"], report["random_init_summary"]
    print(
        f"linear probe accuracy: pretrained {lp['pretrained']['accuracy']:.3f}, random inits "
        f"{rs['accuracy']['mean']:.3f} +- {rs['accuracy']['std']:.3f} (n={rs['n']}); verdict {report['verdict']}; "
        f"matching accuracy {report['pretraining']['matching_accuracy_last']}; report: {args.output_dir}/report.md"
    )
    return 0
