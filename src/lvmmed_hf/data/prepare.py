"""Preparation: run source builders and write Parquet shards plus a dataset card for ``load_dataset``.

Output layout (``out_dir``)::

    README.md                                  YAML ``configs:`` (one per source) + per-source card
    <source>/train-00000-of-00004.parquet      shards (features in the Parquet schema metadata)
    <source>/lvmmed_report.json                files read, skipped by reason, examples written
    <source>/.lvmmed/plan.json                 the work plan (options + record fingerprint, shard count)
    <source>/.lvmmed/task-00000.json           per-shard report, written after the shard is in place
    <source>/.lvmmed/COMPLETE                  written last: the source is finished

Resumability: a source's records are split into a fixed number of tasks (one shard each). A shard is
written under a hidden temporary name and atomically renamed (``os.replace``); its task report is
written after the rename, and a task counts as done only when its report exists. An interrupted run
therefore leaves only whole shards, and the next run redoes exactly the unfinished tasks (a stale
shard of an unfinished task is overwritten, never duplicated). A finished source (``COMPLETE`` with
the same options) is skipped; other options need ``overwrite=True``.

Fault injection for tests: ``on_example(source, task_index, n)`` is called before each example is
written (in-process runs), and the environment variable ``LVMMED_PREPARE_EXIT_AT_EXAMPLE=N`` makes a
worker process exit abruptly (``os._exit``) at its N-th example, mid-shard, as a killed process would.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from datasets import DatasetInfo, Features
from datasets.splits import SplitDict, SplitInfo
from filelock import FileLock
from tqdm.auto import tqdm

from .builder import OPTION_NAMES, LvmMedSourceBuilder, Record, SourceReport
from .registry import BuilderRef, discover_refs, get_ref

logger = logging.getLogger(__name__)

STATE_DIR = ".lvmmed"
COMPLETE = "COMPLETE"
REPORT_NAME = "lvmmed_report.json"
ROWS_PER_GROUP = 64
EXIT_ENV = "LVMMED_PREPARE_EXIT_AT_EXAMPLE"
RECORDS_PER_SHARD = {"2d": 2000, "3d": 2}


class PrepareError(RuntimeError):
    """Preparation cannot proceed (conflicting existing output, failed worker)."""


@dataclass
class _Task:
    ref: BuilderRef
    builder_kwargs: dict[str, Any]
    records: list[Record]
    index: int
    n_tasks: int
    source_dir: str
    cache_dir: str


def shard_name(index: int, n_tasks: int) -> str:
    return f"train-{index:05d}-of-{n_tasks:05d}.parquet"


# --------------------------------------------------------------------------------------------
# helpers


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _options_of(builder: LvmMedSourceBuilder) -> dict[str, Any]:
    c = builder.config
    out = {}
    for name in OPTION_NAMES:
        v = getattr(c, name)
        out[name] = list(v) if isinstance(v, tuple) else v
    if out["file_list"]:
        p = Path(out["file_list"])
        out["file_list_sha256"] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        out["file_list"] = str(p)
    return out


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _records_fingerprint(records: list[Record]) -> str:
    return _fingerprint(
        [
            (
                [str(p) for p in r.paths],
                r.patient_id,
                r.volume_id,
                r.label,
                r.reader,
                r.reader_options,
                r.modality,
                sorted((k, str(v)) for k, v in r.extras.items()),  # e.g. a label file added between runs
            )
            for r in records
        ]
    )


def _make_builder(
    cls: type[LvmMedSourceBuilder], data_dir: str | os.PathLike, cache_dir: str, options: Mapping[str, Any]
) -> LvmMedSourceBuilder:
    kwargs = {k: v for k, v in options.items() if k in OPTION_NAMES and v is not None or k == "ct_window"}
    return cls(cache_dir=cache_dir, data_dir=str(data_dir), **kwargs)


# --------------------------------------------------------------------------------------------
# one task = one shard


def _run_task(task: _Task, on_example: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    cls = task.ref.load()
    builder = _make_builder(cls, task.builder_kwargs["data_dir"], task.cache_dir, task.builder_kwargs)
    report = SourceReport(cls.source_name)
    features = cls.features()
    schema = features.arrow_schema
    source_dir = Path(task.source_dir)
    final = source_dir / shard_name(task.index, task.n_tasks)
    tmp = source_dir / f".tmp-{final.name}.{os.getpid()}"
    exit_at = int(os.environ.get(EXIT_ENV, "0") or 0)
    n = 0
    writer = pq.ParquetWriter(tmp, schema)
    try:
        rows: list[dict[str, Any]] = []
        for rec in task.records:
            for ex in builder.examples_from_record(rec, report):
                n += 1
                if on_example is not None:
                    on_example(cls.source_name, task.index, n)
                if exit_at and n >= exit_at:
                    os._exit(3)  # simulated crash: no cleanup, half-written temporary shard
                rows.append(features.encode_example(ex))
                if len(rows) >= ROWS_PER_GROUP:
                    writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                    rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
        writer.close()
        writer = None
        os.replace(tmp, final)
    finally:
        if writer is not None:
            writer.close()
        if tmp.exists():
            tmp.unlink()
    d = report.to_dict()
    d["shard"] = final.name
    d["num_examples"] = n
    _write_json_atomic(source_dir / STATE_DIR / f"task-{task.index:05d}.json", d)
    return d


def _task_entry(task: _Task) -> dict[str, Any]:
    return _run_task(task)


# --------------------------------------------------------------------------------------------
# one source


def prepare_source(
    source: str | type[LvmMedSourceBuilder],
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    num_proc: int = 1,
    overwrite: bool = False,
    records_per_shard: int | None = None,
    scripts_dirs: Iterable[str | os.PathLike] = (),
    on_example: Callable[[str, int, int], None] | None = None,
    write_card: bool = True,
    **options: Any,
) -> SourceReport:
    """Prepare one source into ``<out_dir>/<source>/`` (see the module docstring); returns its report.

    ``options`` are :class:`~.builder.LvmMedSourceConfig` fields (``file_list``, ``seed``, ``stride``,
    ``ct_window``, ...). ``num_proc`` worker processes write shards in parallel.
    """
    if isinstance(source, str):
        ref = get_ref(source, tuple(scripts_dirs))
    else:
        ref = BuilderRef(source.source_name, None, source.__module__, source.__qualname__)
    cls = ref.load()
    out_dir = Path(out_dir)
    (out_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
    # one preparation per source and output folder at a time (a second process waits, then skips)
    with FileLock(str(out_dir / STATE_DIR / f"{cls.source_name}.lock")):
        return _prepare_locked(
            ref,
            cls,
            data_dir,
            out_dir,
            num_proc,
            overwrite,
            records_per_shard,
            on_example,
            write_card,
            options,
        )


def _prepare_locked(
    ref: BuilderRef,
    cls: type[LvmMedSourceBuilder],
    data_dir: str | os.PathLike,
    out_dir: Path,
    num_proc: int,
    overwrite: bool,
    records_per_shard: int | None,
    on_example: Callable[[str, int, int], None] | None,
    write_card: bool,
    options: Mapping[str, Any],
) -> SourceReport:
    name = cls.source_name
    source_dir = out_dir / name
    state = source_dir / STATE_DIR
    cache_dir = str(out_dir / STATE_DIR / "cache")
    builder = _make_builder(cls, data_dir, cache_dir, options)
    opts = _options_of(builder)
    opts_fp = _fingerprint({"source": name, "options": opts, "data_dir": str(Path(data_dir).resolve())})

    complete = state / COMPLETE
    if complete.exists() and not overwrite:
        done = json.loads(complete.read_text())
        if done.get("options_fingerprint") == opts_fp:
            logger.info(
                "%s: already prepared in %s (delete it or pass overwrite=True to redo)", name, source_dir
            )
            if write_card:
                write_dataset_card(out_dir)
            return SourceReport.from_dict(json.loads((source_dir / REPORT_NAME).read_text())["report"])
        raise PrepareError(
            f"{source_dir} holds source {name!r} prepared with other options or data "
            f"({done.get('options')}); pass overwrite=True (--overwrite) to replace it"
        )
    if overwrite and source_dir.exists():
        shutil.rmtree(source_dir)

    plan_report = SourceReport(name)
    t0 = time.time()
    records = builder.plan_records(plan_report)
    rec_fp = _records_fingerprint(records)
    state.mkdir(parents=True, exist_ok=True)
    plan_path = state / "plan.json"
    plan = json.loads(plan_path.read_text()) if plan_path.exists() else None
    if plan is not None and (
        plan.get("options_fingerprint") != opts_fp or plan.get("records_fingerprint") != rec_fp
    ):
        logger.warning(
            "%s: the unfinished preparation in %s used other options or data; starting over", name, source_dir
        )
        shutil.rmtree(source_dir)
        state.mkdir(parents=True)
        plan = None
    if plan is None:
        per = records_per_shard or cls.records_per_shard or RECORDS_PER_SHARD[cls.dimensionality]
        n_tasks = max(1, math.ceil(len(records) / per))
        plan = {
            "source": name,
            "n_tasks": n_tasks,
            "options": opts,
            "options_fingerprint": opts_fp,
            "records_fingerprint": rec_fp,
            "planning_report": plan_report.to_dict(),
        }
        _write_json_atomic(plan_path, plan)
    n_tasks = int(plan["n_tasks"])
    bounds = [round(i * len(records) / n_tasks) for i in range(n_tasks + 1)]
    kwargs = {**{k: v for k, v in opts.items() if k in OPTION_NAMES}, "data_dir": str(data_dir)}
    tasks = [
        _Task(ref, kwargs, records[bounds[i] : bounds[i + 1]], i, n_tasks, str(source_dir), cache_dir)
        for i in range(n_tasks)
        if not (state / f"task-{i:05d}.json").exists()
    ]
    # leftovers of a killed run: temporary shards, and shards whose report never got written
    for p in source_dir.glob(".tmp-*"):
        p.unlink()
    for t in tasks:
        (source_dir / shard_name(t.index, n_tasks)).unlink(missing_ok=True)
    if len(tasks) < n_tasks:
        logger.info("%s: resuming, %d of %d shards already written", name, n_tasks - len(tasks), n_tasks)

    bar = tqdm(total=n_tasks, initial=n_tasks - len(tasks), desc=f"prepare {name}", unit="shard")
    try:
        if num_proc <= 1 or len(tasks) <= 1:
            for t in tasks:
                _run_task(t, on_example)
                bar.update(1)
        else:
            ctx = multiprocessing.get_context(
                "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            )
            with ProcessPoolExecutor(max_workers=min(num_proc, len(tasks)), mp_context=ctx) as pool:
                futures = [pool.submit(_task_entry, t) for t in tasks]
                for fut in as_completed(futures):
                    fut.result()
                    bar.update(1)
    finally:
        bar.close()

    report = SourceReport.from_dict(plan["planning_report"])
    shards = []
    for i in range(n_tasks):
        part = json.loads((state / f"task-{i:05d}.json").read_text())
        report.merge(
            SourceReport.from_dict(
                {
                    k: part[k]
                    for k in (
                        "source",
                        "files_read",
                        "examples_written",
                        "skipped",
                        "details",
                        "examples_by_modality",
                    )
                }
            )
        )
        shards.append({"file": part["shard"], "num_examples": part["num_examples"]})
    seconds = time.time() - t0
    _write_json_atomic(
        source_dir / REPORT_NAME,
        {
            "source": name,
            "facts": cls.facts(),
            "options": opts,
            "report": report.to_dict(),
            "shards": shards,
            "seconds": seconds,
            "features": cls.features().to_dict(),
            "num_bytes": sum((source_dir / s["file"]).stat().st_size for s in shards),
        },
    )
    logger.info(
        "%s: %d files read, %d examples written, skipped %s (report: %s)",
        name,
        report.files_read,
        report.examples_written,
        dict(report.skipped) or "nothing",
        source_dir / REPORT_NAME,
    )
    _write_json_atomic(
        complete,
        {
            "source": name,
            "options": opts,
            "options_fingerprint": opts_fp,
            "num_examples": report.examples_written,
        },
    )
    if write_card:
        write_dataset_card(out_dir)
    return report


def prepare(
    sources: Mapping[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    num_proc: int = 1,
    overwrite: bool = False,
    scripts_dirs: Iterable[str | os.PathLike] = (),
    file_lists: Mapping[str, str | os.PathLike] | None = None,
    **options: Any,
) -> dict[str, SourceReport]:
    """Prepare several sources (``{source_name: data_dir}``) into one corpus folder; one card for all."""
    reports = {}
    for name, data_dir in sources.items():
        opts = dict(options)
        if file_lists and name in file_lists:
            opts["file_list"] = str(file_lists[name])
        reports[name] = prepare_source(
            name,
            data_dir,
            out_dir,
            num_proc=num_proc,
            overwrite=overwrite,
            scripts_dirs=scripts_dirs,
            write_card=False,
            **opts,
        )
    write_dataset_card(out_dir)
    return reports


# --------------------------------------------------------------------------------------------
# dataset card


def completed_sources(out_dir: str | os.PathLike) -> list[str]:
    """Names of the sources of ``out_dir`` that finished preparing, sorted."""
    out = Path(out_dir)
    return sorted(p.parent.parent.name for p in out.glob(f"*/{STATE_DIR}/{COMPLETE}"))


def write_dataset_card(out_dir: str | os.PathLike) -> Path:
    """(Re)write ``<out_dir>/README.md``: ``configs:`` for every completed source + their facts and reports."""
    out = Path(out_dir)
    (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
    # sources finishing at the same time in other processes must not drop each other from the card
    with FileLock(str(out / STATE_DIR / "README.lock")):
        return _write_card_locked(out)


def _write_card_locked(out: Path) -> Path:
    names = completed_sources(out)
    infos = {n: json.loads((out / n / REPORT_NAME).read_text()) for n in names}
    licences = sorted({i["facts"]["license"] for i in infos.values()})
    # dataset_info (features, example and byte counts) also keys datasets' cache: a re-prepared
    # source gets a new cache entry instead of silently loading the old Arrow cache.
    dataset_info = []
    for n in names:
        splits = SplitDict()
        splits.add(
            SplitInfo(
                name="train",
                num_bytes=infos[n]["num_bytes"],
                num_examples=infos[n]["report"]["examples_written"],
            )
        )
        info = DatasetInfo(
            features=Features.from_dict(infos[n]["features"]),
            splits=splits,
            config_name=n,
            download_size=infos[n]["num_bytes"],
            dataset_size=infos[n]["num_bytes"],
        )
        dataset_info.append(info._to_yaml_dict())
    front = {
        "configs": [
            {"config_name": n, "data_files": [{"split": "train", "path": f"{n}/train-*.parquet"}]}
            for n in names
        ],
        "dataset_info": dataset_info,
        "license": "other",
        "license_details": "Each source keeps its own licence: "
        + "; ".join(f"{n}: {infos[n]['facts']['license']}" for n in names),
        "tags": ["medical", "lvm-med", "lvmmed-hf"],
        "task_categories": ["image-feature-extraction"],
        "pretty_name": "LVM-Med pretraining corpus (prepared with lvmmed-hf)",
    }
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        "# LVM-Med pretraining corpus",
        "",
        "Prepared with `lvmmed prepare` (lvmmed-hf). Load one source with",
        '`datasets.load_dataset("<this folder>", "<source>", split="train")`; mix several with',
        "`lvmmed_hf.data.mixture.load_mixture`. Each source keeps its own licence and terms of use",
        f"(here: {', '.join(licences) if licences else 'none yet'}); check them before redistributing.",
        "",
        "| source | modality | organ | dim | examples | files read | skipped | licence |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in names:
        f, r = infos[n]["facts"], infos[n]["report"]
        skipped = ", ".join(f"{k} {v}" for k, v in r["skipped"].items()) or "-"
        lines.append(
            f"| {n} | {f['modality']} | {f['organ']} | {f['dimensionality']} | {r['examples_written']} | "
            f"{r['files_read']} | {skipped} | {f['license']} |"
        )
    for n in names:
        f, opts = infos[n]["facts"], infos[n]["options"]
        lines += [
            "",
            f"## {f['pretty_name']} (`{n}`)",
            "",
            f["description"],
            "",
            f"- Homepage: {f['homepage']}",
            f"- Access: {f['access']}",
            f"- Licence: {f['license']}",
            f"- Modality / organ / dimensionality: {f['modality']} / {f['organ']} / {f['dimensionality']}",
            f"- Split taken: {f['split_rule']}"
            + (
                f" (restricted to the file list {Path(opts['file_list']).name})"
                if opts.get("file_list")
                else ""
            ),
            f"- Options: {json.dumps({k: v for k, v in opts.items() if k != 'file_list'}, sort_keys=True)}",
        ]
        if f.get("label_names"):
            lines.append(f"- Labels: {', '.join(f['label_names'])}")
        if f.get("citation"):
            lines += ["", "```bibtex", f["citation"].strip(), "```"]
    path = out / "README.md"
    tmp = out / f".tmp-README.md.{os.getpid()}"
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def known_sources(scripts_dirs: Iterable[str | os.PathLike] = ()) -> list[str]:
    return sorted(discover_refs(tuple(scripts_dirs)))
