"""``lvmmed sources``: list the source builders that ``lvmmed prepare`` can run."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser("sources", help="list available source builders (modality, organ, licence)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the builders' facts as JSON")
    fmt.add_argument("--markdown", action="store_true", help="the Markdown table of docs/sources.md")
    p.add_argument(
        "--out", type=Path, default=None, help="with --markdown: write to this file instead of stdout"
    )
    p.add_argument("--check", action="store_true", help="with --markdown --out: exit 1 if the file is stale")
    p.add_argument("--scripts-dir", action="append", default=[], help="extra folder of source builders")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmmed_hf.data.sources_table import collect_facts, render_sources_markdown

    facts = collect_facts(args.scripts_dir)
    if args.json:
        sys.stdout.write(json.dumps(facts, indent=2) + "\n")
        return 0
    if args.markdown:
        text = render_sources_markdown(facts)
        if args.out is None:
            sys.stdout.write(text)
            return 0
        if args.check:
            current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
            if current == text:
                return 0
            logger.error("%s is out of date; run `lvmmed sources --markdown --out %s`", args.out, args.out)
            return 1
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        sys.stderr.write(f"wrote {args.out} ({len(facts)} sources)\n")
        return 0
    cols = ("source", "modality", "organ", "dimensionality", "split_rule", "license")
    rows = [list(cols)] + [[str(f[c]) for c in cols] for f in facts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    sys.stdout.write("".join("  ".join(v.ljust(w) for v, w in zip(r, widths)) + "\n" for r in rows))
    return 0
