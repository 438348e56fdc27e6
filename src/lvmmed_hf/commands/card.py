"""``lvmmed card``: write the model card of a checkpoint folder from its config and results."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "card",
        help="write a model card (Hub metadata + results table) for a checkpoint folder",
        description="Render README.md for a save_pretrained folder from its config.json and a results JSON "
        "(the results.json the training/ recipes write, or a Trainer eval_results.json).",
    )
    parser.add_argument("checkpoint_dir", help="folder holding config.json")
    parser.add_argument("--results", default=None, help="results JSON file")
    parser.add_argument(
        "--output", default=None, help="where to write the card (default: <checkpoint_dir>/README.md)"
    )
    parser.add_argument("--model-name", default=None)
    parser.add_argument("--repo-id", default=None, help="Hub id used in the usage snippet")
    parser.add_argument(
        "--license",
        default=None,
        help="Hub licence id (default: cc-by-nc-sa-4.0 for weights derived from the authors' release)",
    )
    parser.add_argument(
        "--derived-from-authors-weights",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether the weights derive from the authors' release (default: detect)",
    )
    parser.add_argument("--training-data", default=None, help="free text describing the training data")
    parser.add_argument(
        "--task", default=None, help="task of a flat Trainer results file, e.g. image-classification"
    )
    parser.add_argument("--dataset-name", default=None, help="dataset of a flat Trainer results file")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from lvmmed_hf.evaluation.model_card import write_model_card

    path = write_model_card(
        args.checkpoint_dir,
        output=args.output,
        results=args.results,
        model_name=args.model_name,
        repo_id=args.repo_id,
        license=args.license,
        derived_from_authors_weights=args.derived_from_authors_weights,
        training_data=args.training_data,
        task=args.task,
        dataset_name=args.dataset_name,
    )
    print(path)
    return 0
