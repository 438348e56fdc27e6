"""Preparation: run source builders and write Parquet shards plus a dataset card for ``load_dataset``.

Output (``out_dir``): ``README.md`` (one ``configs:`` entry per source) and per source the shards
``train-<i>-of-<n>.parquet``, ``lvmmed_report.json`` (files read, skips by reason, examples) and the
state folder ``.lvmmed/`` (``plan.json``, ``records.txt.gz``, ``task-<i>.json``, ``COMPLETE`` last).

Resumable: a task writes one shard under a temporary name, renames it (``os.replace``), then writes
its task report; the next run redoes exactly the tasks without a report, so a killed run leaves only
whole shards. A finished source with the same options and input records is skipped; other options or
records stop with an error naming ``overwrite=True`` (``--overwrite``). Workers exit when the main
process dies. Fault injection for tests: ``on_example(source, task_index, n)`` is called before each
example (in-process runs); ``LVMMED_PREPARE_EXIT_AT_EXAMPLE=N`` makes a worker ``os._exit`` at its
N-th example, mid-shard, as a killed process would.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gzip
import hashlib
import json
import logging
import math
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import DatasetInfo, Features
from filelock import FileLock
from huggingface_hub import DatasetCard, DatasetCardData
from tqdm.auto import tqdm

from ..errors import InvalidOptionError, LvmMedUserError, OutputError
from .builder import (
    OPTION_NAMES,
    LvmMedSourceBuilder,
    Record,
    SourceDataMissingError,
    SourceReport,
    _relpath,
    safe_text,
    validate_options,
)
from .registry import BuilderRef, get_ref

logger = logging.getLogger(__name__)

STATE_DIR = ".lvmmed"
COMPLETE = "COMPLETE"
REPORT_NAME = "lvmmed_report.json"
ROWS_PER_GROUP = 64
EXIT_ENV = "LVMMED_PREPARE_EXIT_AT_EXAMPLE"
RECORDS_PER_SHARD = {"2d": 2000, "3d": 2}
# Version of the output layout; 2 added the height/width columns and the record list to COMPLETE.
FORMAT_VERSION = 2
RECORDS_NAME = "records.txt.gz"  # in the state folder: one line per input record (resume check)
# errno values of a write that failed for lack of room or rights on the output device
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


class PrepareError(LvmMedUserError, RuntimeError):
    """The output folder holds the source prepared from other options or other input records
    (pass ``overwrite=True`` / ``--overwrite``)."""


class PrepareFailedError(PrepareError):
    """Some sources of a multi-source :func:`prepare` failed; the others are complete. ``reports``:
    the completed sources' reports; ``errors``: the exception of each failed one."""

    def __init__(self, reports: dict[str, SourceReport], errors: dict[str, BaseException]):
        self.reports, self.errors = reports, errors
        parts = "; ".join(f"{n}: {_one_line(e)}" for n, e in errors.items())
        done = ", ".join(reports) or "none"
        super().__init__(
            f"{len(errors)} of {len(errors) + len(reports)} sources failed ({parts}); completed: {done}"
        )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, LvmMedUserError) else text


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


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed to ``path`` when the block succeeds, else removed."""
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_json_atomic(path: Path, obj: Any) -> None:
    with _atomic(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str), encoding="utf-8")


def _saved_report(source_dir: Path) -> SourceReport:
    return SourceReport.from_dict(json.loads((source_dir / REPORT_NAME).read_text())["report"])


def _options_of(builder: LvmMedSourceBuilder) -> dict[str, Any]:
    values = {name: getattr(builder.config, name) for name in OPTION_NAMES}
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    if out["file_list"]:
        p = Path(out["file_list"])
        out["file_list_sha256"] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        out["file_list"] = str(p)
    return out


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _records_fingerprint(records: list[Record]) -> str:
    # extras: e.g. a label file added between runs
    return _fingerprint(
        [
            [[str(p) for p in r.paths], r.patient_id, r.volume_id, r.label, r.reader, r.reader_options]
            + [r.modality, sorted((k, str(v)) for k, v in r.extras.items())]
            for r in records
        ]
    )


def _make_builder(
    cls: type[LvmMedSourceBuilder], data_dir: str | os.PathLike, cache_dir: str, options: Mapping[str, Any]
) -> LvmMedSourceBuilder:
    # ct_window=None is passed on: the builder turns it into raw_hu=True (datasets drops Nones)
    kwargs = {k: v for k, v in options.items() if k in OPTION_NAMES and (v is not None or k == "ct_window")}
    return cls(cache_dir=cache_dir, data_dir=str(data_dir), **kwargs)


def _record_name(record: Record, data_dir: Path) -> str:
    """A readable name of a record for the resume check: its file, or its series folder."""
    name = safe_text(_relpath(record.location, data_dir))
    if "start" in record.reader_options:
        name += f"@{record.reader_options['start']}"
    return name if len(record.paths) == 1 else f"{name}/ ({len(record.paths)} files)"


def _changed_records_message(names_file: Path, new: list[str]) -> str:
    old = gzip.decompress(names_file.read_bytes()).decode().splitlines() if names_file.exists() else []
    old_set, new_set = set(old), set(new)
    added = [n for n in new if n not in old_set]
    gone = [n for n in old if n not in new_set]
    changes = ((added, "new record(s)"), (gone, "record(s) gone"))
    parts = [f"{len(names)} {what}, first: {', '.join(names[:3])}" for names, what in changes if names]
    return "; ".join(parts) or "the records changed (same names, other ids, labels or extras)"


@contextlib.contextmanager
def _output_errors(out_dir: Path) -> Iterator[None]:
    """A full disk (or read-only / quota-exceeded output) becomes a one-line :class:`OutputError`."""
    try:
        yield
    except OSError as e:
        if isinstance(e, LvmMedUserError) or e.errno not in _OUTPUT_ERRNOS:
            raise
        where = e.filename or out_dir
        raise OutputError(
            e.errno,
            f"cannot write the prepared data in {out_dir} ({os.strerror(e.errno)} while writing {where}); "
            "free space and run the same command again: finished shards are kept",
        ) from e


def _output_folder(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` and its state folder; a file or an uncreatable path is an :class:`OutputError`."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(errno.ENOTDIR, f"output folder {out} is a file, not a folder; choose another --out")
    try:
        (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(
            e.errno or errno.EIO, f"cannot create the output folder {out}: {e.strerror or e}"
        ) from e
    return out


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidOptionError(f"{name} must be an integer >= 1, got {value!r}")


def _worker_init(parent_pid: int) -> None:
    """Make a worker exit when the main process dies: a forked worker holds its task queue's write end
    itself and would wait forever. Linux: ``PR_SET_PDEATHSIG``; everywhere: a thread polls the ppid."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="lvmmed-parent-watch", daemon=True).start()


def _run_task(task: _Task, on_example: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Write one shard, then its task report (the task is done once the report exists)."""
    cls = task.ref.load()
    builder = _make_builder(cls, task.builder_kwargs["data_dir"], task.cache_dir, task.builder_kwargs)
    report = SourceReport(cls.source_name)
    features = cls.features()
    schema = features.arrow_schema
    source_dir = Path(task.source_dir)
    final = source_dir / shard_name(task.index, task.n_tasks)
    exit_at = int(os.environ.get(EXIT_ENV, "0") or 0)
    n = 0
    rows: list[dict[str, Any]] = []
    with _atomic(final) as tmp, pq.ParquetWriter(tmp, schema) as writer:
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
    d = {**report.to_dict(), "shard": final.name, "num_examples": n}
    _write_json_atomic(source_dir / STATE_DIR / f"task-{task.index:05d}.json", d)
    return d


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
    ``ct_window``, ...; ``ct_window=None`` = raw HU), validated before any work. ``num_proc`` worker
    processes write shards in parallel. Expected failures raise a one-line ``LvmMedUserError``.
    """
    options = validate_options(options)
    _check_positive_int("num_proc", num_proc)
    if records_per_shard is not None:
        _check_positive_int("records_per_shard", records_per_shard)
    if isinstance(source, str):
        ref = get_ref(source, tuple(scripts_dirs))
    else:
        ref = BuilderRef(source.source_name, None, source.__module__, source.__qualname__)
    cls = ref.load()
    out_dir = _output_folder(out_dir)
    # one preparation per source and output folder at a time (a second process waits, then skips)
    lock = FileLock(str(out_dir / STATE_DIR / f"{cls.source_name}.lock"))
    with _output_errors(out_dir), lock:
        report = _prepare_locked(
            ref, cls, data_dir, out_dir, num_proc, overwrite, records_per_shard, on_example, options
        )
        if write_card:
            write_dataset_card(out_dir)
        return report


def _prepare_locked(
    ref: BuilderRef,
    cls: type[LvmMedSourceBuilder],
    data_dir: str | os.PathLike,
    out_dir: Path,
    num_proc: int,
    overwrite: bool,
    records_per_shard: int | None,
    on_example: Callable[[str, int, int], None] | None,
    options: Mapping[str, Any],
) -> SourceReport:
    name = cls.source_name
    source_dir = out_dir / name
    state = source_dir / STATE_DIR
    cache_dir = str(out_dir / STATE_DIR / "cache")
    builder = _make_builder(cls, data_dir, cache_dir, options)
    opts = _options_of(builder)
    opts_fp = _fingerprint({"source": name, "options": opts, "data_dir": str(Path(data_dir).resolve())})
    data_root = Path(data_dir).expanduser()

    complete = state / COMPLETE
    done = json.loads(complete.read_text()) if complete.exists() and not overwrite else None
    if done is not None and done.get("format") != FORMAT_VERSION:
        raise PrepareError(
            f"{source_dir} holds source {name!r} prepared by an earlier version of lvmmed-hf (without the "
            "height/width columns); pass overwrite=True (--overwrite) to prepare it again"
        )
    if done is not None and done.get("options_fingerprint") != opts_fp:
        before = {k: v for k, v in done.get("options", {}).items() if opts.get(k) != v}
        now = {k: opts.get(k) for k in before}
        raise PrepareError(
            f"{source_dir} holds source {name!r} prepared with other options or another data folder "
            f"({json.dumps(before, sort_keys=True)} there, {json.dumps(now, sort_keys=True)} asked); "
            "pass overwrite=True (--overwrite) to replace it"
        )
    if overwrite and source_dir.exists():
        shutil.rmtree(source_dir)

    plan_report = SourceReport(name)
    t0 = time.time()
    try:
        records = builder.plan_records(plan_report)
    except SourceDataMissingError:
        if done is None:
            raise
        # the raw folder was moved or deleted after a completed preparation: keep what is there
        logger.warning(
            "%s: prepared in %s; its data folder %s is gone, not checked", name, source_dir, data_root
        )
        return _saved_report(source_dir)
    rec_fp = _records_fingerprint(records)
    names = [_record_name(r, data_root) for r in records]
    if done is not None:
        if done.get("records_fingerprint") != rec_fp:
            change = _changed_records_message(state / RECORDS_NAME, names)
            raise PrepareError(
                f"{source_dir} holds source {name!r} prepared from other input records than {data_root} "
                f"holds now ({change}); pass overwrite=True (--overwrite) to prepare it again"
            )
        logger.info("%s: already prepared in %s with the same options and records", name, source_dir)
        return _saved_report(source_dir)
    state.mkdir(parents=True, exist_ok=True)
    # what plan.json and COMPLETE record about this run
    base = {"source": name, "format": FORMAT_VERSION, "options": opts, "options_fingerprint": opts_fp}
    base["records_fingerprint"] = rec_fp
    plan_path = state / "plan.json"
    plan = json.loads(plan_path.read_text()) if plan_path.exists() else None
    if plan is not None and any(
        plan.get(k) != base[k] for k in ("options_fingerprint", "records_fingerprint", "format")
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
        plan = {**base, "n_tasks": n_tasks, "planning_report": plan_report.to_dict()}
        with _atomic(state / RECORDS_NAME) as tmp:  # one line per input record (resume check)
            tmp.write_bytes(gzip.compress("".join(n + "\n" for n in names).encode()))
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

    with tqdm(total=n_tasks, initial=n_tasks - len(tasks), desc=f"prepare {name}", unit="shard") as bar:
        if num_proc <= 1 or len(tasks) <= 1:
            for t in tasks:
                _run_task(t, on_example)
                bar.update(1)
        else:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            context, workers = multiprocessing.get_context(method), min(num_proc, len(tasks))
            with ProcessPoolExecutor(
                workers, mp_context=context, initializer=_worker_init, initargs=(os.getpid(),)
            ) as pool:
                for fut in as_completed([pool.submit(_run_task, t) for t in tasks]):
                    fut.result()
                    bar.update(1)

    report = SourceReport.from_dict(plan["planning_report"])
    shards = []
    for i in range(n_tasks):
        part = json.loads((state / f"task-{i:05d}.json").read_text())
        shards.append({"file": part.pop("shard"), "num_examples": part.pop("num_examples")})
        report.merge(SourceReport.from_dict(part))
    _write_json_atomic(
        source_dir / REPORT_NAME,
        {
            "source": name,
            "format": FORMAT_VERSION,
            "facts": cls.facts(),
            "options": opts,
            "report": report.to_dict(),
            "shards": shards,
            "seconds": time.time() - t0,
            "features": cls.features().to_dict(),
            "num_bytes": sum((source_dir / s["file"]).stat().st_size for s in shards),
        },
    )
    message = "%s: %d files read, %d examples written, skipped %s (report: %s)"
    skipped = dict(report.skipped) or "nothing"
    logger.info(message, name, report.files_read, report.examples_written, skipped, source_dir / REPORT_NAME)
    _write_json_atomic(complete, {**base, "num_examples": report.examples_written})
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
    """Prepare several sources (``{source_name: data_dir}``) into one corpus folder.

    Options, source names and file lists are checked before any work. A failing source does not
    stop the others (each completed one enters the dataset card at once); then
    :class:`PrepareFailedError` is raised at the end, or with a single source its own error.
    """
    options = validate_options(options)
    _check_positive_int("num_proc", num_proc)
    for name in sources:
        get_ref(name, tuple(scripts_dirs))  # unknown names fail here, before any work
    file_lists = file_lists or {}
    unknown = sorted(set(file_lists) - set(sources))
    if unknown:
        raise InvalidOptionError(f"file lists given for sources that are not prepared: {unknown}")
    per_source = {}
    for name in sources:
        listed = {"file_list": str(file_lists[name])} if name in file_lists else {}
        per_source[name] = validate_options({**options, **listed})  # a missing file list fails here
    out = _output_folder(out_dir)
    reports: dict[str, SourceReport] = {}
    errors: dict[str, BaseException] = {}
    common = {"num_proc": num_proc, "overwrite": overwrite, "scripts_dirs": scripts_dirs}
    for name, data_dir in sources.items():
        try:
            reports[name] = prepare_source(name, data_dir, out, **common, **per_source[name])
        except Exception as e:  # one failing source never stops the others
            errors[name] = e
            logger.error("%s failed: %s", name, _one_line(e), exc_info=not isinstance(e, LvmMedUserError))
    if errors:
        if len(sources) == 1:
            raise next(iter(errors.values()))
        raise PrepareFailedError(reports, errors)
    return reports


def completed_sources(out_dir: str | os.PathLike) -> list[str]:
    """Names of the sources of ``out_dir`` that finished preparing, sorted."""
    out = Path(out_dir)
    return sorted(p.parent.parent.name for p in out.glob(f"*/{STATE_DIR}/{COMPLETE}"))


def write_dataset_card(out_dir: str | os.PathLike) -> Path:
    """(Re)write ``<out_dir>/README.md`` (a ``huggingface_hub.DatasetCard``): ``configs:`` for every
    completed source, their facts and reports."""
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
    for n, i in infos.items():
        size, feats = i["num_bytes"], Features.from_dict(i["features"])
        splits = [{"name": "train", "num_bytes": size, "num_examples": i["report"]["examples_written"]}]
        info = DatasetInfo(
            features=feats, splits=splits, config_name=n, download_size=size, dataset_size=size
        )
        dataset_info.append(info._to_yaml_dict())
    card_data = DatasetCardData(
        configs=[
            {"config_name": n, "data_files": [{"split": "train", "path": f"{n}/train-*.parquet"}]}
            for n in names
        ],
        dataset_info=dataset_info,
        license="other",
        license_details="Each source keeps its own licence: "
        + "; ".join(f"{n}: {infos[n]['facts']['license']}" for n in names),
        tags=["medical", "lvm-med", "lvmmed-hf"],
        task_categories=["image-feature-extraction"],
        pretty_name="LVM-Med pretraining corpus (prepared with lvmmed-hf)",
    )
    lines = [
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
        listed = (
            f" (restricted to the file list {Path(opts['file_list']).name})" if opts.get("file_list") else ""
        )
        lines += ["", f"## {f['pretty_name']} (`{n}`)", "", f["description"], ""]
        lines += [
            f"- Homepage: {f['homepage']}",
            f"- Access: {f['access']}",
            f"- Licence: {f['license']}",
            f"- Modality / organ / dimensionality: {f['modality']} / {f['organ']} / {f['dimensionality']}",
            f"- Split taken: {f['split_rule']}{listed}",
            f"- Options: {json.dumps({k: v for k, v in opts.items() if k != 'file_list'}, sort_keys=True)}",
        ]
        if f.get("label_names"):
            lines.append(f"- Labels: {', '.join(f['label_names'])}")
        if f.get("citation"):
            lines += ["", "```bibtex", f["citation"].strip(), "```"]
    card = DatasetCard(f"---\n{card_data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")
    with _atomic(out / "README.md") as tmp:
        card.save(tmp)
    return out / "README.md"
