"""``lvmmed evaluate``: run one of the paper's downstream protocols, or list them."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="run a paper protocol (classification, segmentation, SAM, detection) and compare with the paper",
        description="Run PROTOCOL with the backbone in --backbone on the dataset in --data-dir (its public "
        "layout), N times as the paper does, and write results.md / results.json with the paper's figure "
        "beside the mean ± std. `lvmmed evaluate --list` shows every protocol. For several GPUs: "
        "`accelerate launch -m lvmmed_hf.cli evaluate ...`.",
    )
    parser.add_argument("protocol", nargs="?", help="protocol name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the protocols with the paper's figures")
    parser.add_argument(
        "--backbone", help="checkpoint folder (or preset: resnet50, vit-b, tiny-cnn, tiny-vit)"
    )
    parser.add_argument("--data-dir", help="the dataset as downloaded (see the protocol's layout)")
    parser.add_argument("--output-dir", default=None, help="default: evaluate_output/<protocol>")
    parser.add_argument("--runs", type=int, default=None, help="number of runs (default: the paper's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split-file", default=None, help="the authors' files_split/<dataset>.json")
    parser.add_argument("--sam-checkpoint", default=None, help="SamModel folder (SAM protocols)")
    parser.add_argument("--no-card", action="store_true", help="do not add model-index entries to the card")
    quick = parser.add_argument_group("quick checks (the results then say they are not the paper's protocol)")
    quick.add_argument("--epochs", type=float, default=None)
    quick.add_argument("--max-steps", type=int, default=None)
    quick.add_argument("--batch-size", type=int, default=None)
    quick.add_argument("--image-size", type=int, default=None)
    quick.add_argument("--learning-rate", type=float, default=None)
    quick.add_argument("--cpu", action="store_true", help="train on the CPU")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from lvmmed_hf.downstream.protocols import PROTOCOLS, get_protocol, protocol_table

    if args.list:
        print(protocol_table())  # the command's output, on stdout
        print(
            f"\n{len(PROTOCOLS)} protocols. GPU hours are estimates (see Protocol.gpu_hours), "
            "not measurements."
        )
        return 0
    from lvmmed_hf.errors import InvalidOptionError

    if not args.protocol:
        raise InvalidOptionError("give a PROTOCOL (or --list to see them)")
    try:
        get_protocol(args.protocol)  # unknown names fail before any work
    except KeyError as err:
        raise InvalidOptionError(err.args[0]) from None
    if not args.backbone or not args.data_dir:
        raise InvalidOptionError("--backbone and --data-dir are required")
    from lvmmed_hf.downstream.run_protocol import run_protocol

    result = run_protocol(
        args.protocol,
        backbone=args.backbone,
        data_dir=args.data_dir,
        output_dir=args.output_dir or f"evaluate_output/{args.protocol}",
        runs=args.runs,
        seed=args.seed,
        split_file=args.split_file,
        update_card=not args.no_card,
        **{k: getattr(args, k) for k in ("epochs", "max_steps", "batch_size", "image_size", "learning_rate")},
        sam_checkpoint=args.sam_checkpoint,
        use_cpu=args.cpu or None,
    )
    print(result.markdown())
    return 0
