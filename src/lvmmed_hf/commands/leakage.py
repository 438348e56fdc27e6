"""``lvmmed leakage``: downstream test images that also occur in a prepared pretraining corpus."""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)

EXIT_OVERLAP = 1  # downstream images found in the corpus
EXIT_ERROR = 2  # the check could not run (missing folder, crash); never confused with an overlap


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "leakage",
        help="report downstream test images whose pixels occur in the pretraining corpus",
        description="Compare decoded-pixel hashes (not file names) of a downstream folder or prepared source "
        "with a corpus prepared by `lvmmed prepare`. Exit code 0: no overlap; 1: overlap found; "
        "2: error. Files that cannot be decoded are skipped and listed in the report.",
    )
    p.add_argument("--corpus", required=True, help="folder prepared by `lvmmed prepare`")
    p.add_argument("--corpus-sources", nargs="+", default=None, help="only these sources of the corpus")
    p.add_argument(
        "--downstream", required=True, help="folder of downstream test images, or a prepared folder"
    )
    p.add_argument("--downstream-source", help="with a prepared --downstream folder: the source to check")
    p.add_argument("--report", help="write the overlap report as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmmed_hf.data.leakage import check_leakage
    from lvmmed_hf.errors import LvmMedUserError

    try:
        report = check_leakage(
            args.corpus,
            args.downstream,
            corpus_sources=args.corpus_sources,
            downstream_source=args.downstream_source,
            report_path=args.report,
        )
    except LvmMedUserError as e:
        logger.error("lvmmed leakage: %s", e)
        return EXIT_ERROR
    except Exception:
        logger.exception("lvmmed leakage: the check failed")
        return EXIT_ERROR
    return EXIT_OVERLAP if report.num_overlapping else 0
