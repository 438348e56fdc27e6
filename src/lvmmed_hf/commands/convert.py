"""``lvmmed convert``: not implemented yet (placeholder owned by the issue that builds it)."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("convert", help="(not implemented yet)")
    parser.set_defaults(func=lambda args: parser.error("'lvmmed convert' is not implemented yet"))
