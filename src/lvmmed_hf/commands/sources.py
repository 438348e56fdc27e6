"""``lvmmed sources``: list the source builders that ``lvmmed prepare`` can run."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("sources", help="list available source builders (modality, organ, licence)")
    p.add_argument("--json", action="store_true", help="print the builders' facts as JSON")
    p.add_argument("--scripts-dir", action="append", default=[], help="extra folder of source builders")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmmed_hf.data.registry import available_sources

    facts = [cls.facts() for cls in available_sources(args.scripts_dir).values()]
    if args.json:
        sys.stdout.write(json.dumps(facts, indent=2) + "\n")
        return 0
    cols = ("source", "modality", "organ", "dimensionality", "split_rule", "license")
    rows = [[str(f[c]) for c in cols] for f in facts]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
