"""``lvmmed prepare``: raw dataset folder(s) -> Parquet shards + dataset card (thin over data.prepare)."""

from __future__ import annotations

import argparse
import json
import logging

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="turn raw dataset folders (or the embedded corpus) into Parquet for datasets.load_dataset",
        description=(
            "Prepare LVM-Med sources. Examples: `lvmmed prepare --embedded --out corpus/`; "
            "`lvmmed prepare --source pancreas_ct --data-dir /data/Pancreas-CT --out corpus/ --num-proc 8`; "
            "`lvmmed prepare --sources kits19=/data/kits19 lits2017=/data/lits --out corpus/`. "
            "Finished sources are skipped; an interrupted run resumes where it stopped."
        ),
    )
    p.add_argument("--out", required=True, help="output folder (one sub-folder of Parquet shards per source)")
    p.add_argument(
        "--embedded",
        action="store_true",
        help="prepare the embedded corpus (pydicom-data, nilearn, scikit-image)",
    )
    p.add_argument("--source", help="source name (see `lvmmed sources`)")
    p.add_argument("--data-dir", help="raw folder of --source, laid out as the dataset is distributed")
    p.add_argument(
        "--sources", nargs="+", default=[], metavar="NAME=DIR", help="several sources with their raw folders"
    )
    p.add_argument(
        "--file-list",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="LVM-Med's published file list (restricts the source to exactly those files)",
    )
    p.add_argument("--num-proc", type=int, default=1, help="worker processes (>= 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the 20%% sample by patient/volume")
    p.add_argument("--sample-fraction", type=float, default=0.2, help="fraction of patients kept, in (0, 1]")
    p.add_argument("--stride", type=int, default=1, help="keep every N-th axial slice (>= 1)")
    p.add_argument(
        "--ct-window", type=float, nargs=2, default=(40.0, 400.0), metavar=("CENTRE", "WIDTH"), help="HU"
    )
    p.add_argument(
        "--raw-hu",
        action="store_true",
        help="store CT as uint16(HU + 1024) instead of windowing (recorded as raw_hu in the report)",
    )
    p.add_argument(
        "--bits", type=int, choices=(8, 16), default=16, help="precision of windowed/scaled volumes"
    )
    p.add_argument(
        "--overwrite", action="store_true", help="redo sources that were prepared with other options"
    )
    p.add_argument("--scripts-dir", action="append", default=[], help="extra folder of source builders")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmmed_hf.data.builder import validate_options
    from lvmmed_hf.data.embedded import prepare_embedded
    from lvmmed_hf.data.prepare import prepare
    from lvmmed_hf.errors import InvalidOptionError

    options = {
        "seed": args.seed,
        "sample_fraction": args.sample_fraction,
        "stride": args.stride,
        "ct_window": None if args.raw_hu else tuple(args.ct_window),
        "raw_hu": bool(args.raw_hu),
        "bits": args.bits,
    }
    validate_options(options)  # before any work
    if args.num_proc < 1:
        raise InvalidOptionError(f"--num-proc must be >= 1, got {args.num_proc}")
    sources = {}
    for item in args.sources:
        if "=" not in item:
            raise InvalidOptionError(f"lvmmed prepare: --sources expects NAME=PATH, got {item!r}")
        name, path = item.split("=", 1)
        sources[name] = path
    if args.source:
        if not args.data_dir:
            raise InvalidOptionError(
                "lvmmed prepare: --source needs --data-dir (the raw folder of that dataset)"
            )
        sources[args.source] = args.data_dir
    file_lists = {}
    for item in args.file_list:  # NAME=PATH, or PATH with a single source
        if "=" not in item and len(sources) != 1:
            raise InvalidOptionError("lvmmed prepare: with several sources, give --file-list NAME=PATH")
        name, path = item.split("=", 1) if "=" in item else (next(iter(sources)), item)
        file_lists[name] = path
    if not sources and not args.embedded:
        raise InvalidOptionError(
            "lvmmed prepare: give --embedded, --source NAME --data-dir DIR, or --sources NAME=DIR ..."
        )
    run_options = {"num_proc": args.num_proc, "overwrite": args.overwrite, **options}
    reports = dict(prepare_embedded(args.out, **run_options)) if args.embedded else {}
    if sources:
        reports.update(
            prepare(sources, args.out, scripts_dirs=args.scripts_dir, file_lists=file_lists, **run_options)
        )
    summary = {
        n: {"examples": r.examples_written, "files_read": r.files_read, "skipped": dict(r.skipped)}
        for n, r in reports.items()
    }
    logger.info("prepared %s", json.dumps(summary, sort_keys=True))
    return 0
