"""The ``lvmmed`` command line: each ``lvmmed_hf.commands.<name>`` has ``register(subparsers)``,
which adds its parser with ``func`` (parsed namespace -> exit code); heavy libraries are imported
inside functions only, so ``lvmmed --help`` answers at once. An expected error is one line on stderr
and exit code 2 (``--debug``: the traceback); any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .errors import LvmMedUserError

# In the order shown by ``lvmmed --help``.
SUBCOMMANDS = ("convert", "prepare", "sources", "leakage", "card", "demo", "evaluate")

USER_ERROR_EXIT_CODE = 2  # as argparse's usage errors

# Errors that describe the user's input, paths or machine, not a bug.
_EXPECTED_ERRORS = (
    LvmMedUserError,
    ValueError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)
_EXPECTED_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENAMETOOLONG)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lvmmed", description="LVM-Med tools for the Hugging Face ecosystem"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)"
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of an error (and debug logging)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"lvmmed_hf.commands.{name}").register(subparsers)
    return parser


def is_expected_error(err: BaseException) -> bool:
    """Whether ``err`` is a user's error (shown as one line) rather than a bug (traceback)."""
    return isinstance(err, _EXPECTED_ERRORS) or (isinstance(err, OSError) and err.errno in _EXPECTED_ERRNOS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lvmmed`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    # Long-running commands report progress through tqdm and INFO logs.
    if args.command in {"prepare", "demo", "convert", "evaluate"}:
        level = min(level, logging.INFO)
    if args.debug:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return USER_ERROR_EXIT_CODE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if args.debug:
            raise
        sys.stderr.write(f"lvmmed {args.command}: interrupted\n")
        return 130
    except Exception as err:
        if args.debug or not is_expected_error(err):
            raise
        message = " ".join(str(err).split()) or type(err).__name__  # one line
        sys.stderr.write(f"lvmmed {args.command}: error: {message}\n")
        return USER_ERROR_EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
