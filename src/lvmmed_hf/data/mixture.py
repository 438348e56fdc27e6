"""The corpus mixture: several prepared sources interleaved with sampling weights, split by node.

LVM-Med balanced modalities by oversampling the minority datasets (paper, Sec. 4). Here that is a
sampling distribution over sources for ``datasets.interleave_datasets``:

- ``"uniform"``: every source equally often;
- ``"size"``: proportional to the number of examples (plain concatenation, shuffled);
- ``"modality_balanced"``: every modality equally often, shared among its sources in proportion to
  their sizes (the paper's balancing);
- a dict ``{source: weight}`` (normalised).

With ``stopping_strategy="all_exhausted"`` (default) small sources are repeated until every source
has been seen once, which is the oversampling; ``"infinite"`` repeats every source forever (streaming
pretraining by steps).

Note: ``datasets`` sleeps ``datasets.config.SLEEP_TIME_ON_THREADS_SHUTDOWN`` (5 s) each time a
streamed Parquet iterator is closed early (a guard against an Arrow crash at shutdown), so
re-starting short streams many times is slow; long-running training iterators are unaffected.
The stream is deterministic for a seed. For distributed training each source is split by node
(``split_dataset_by_node``) before mixing, so ranks see disjoint examples with the same
proportions.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import datasets
from datasets.distributed import split_dataset_by_node

from ..errors import LvmMedUserError
from .prepare import REPORT_NAME, completed_sources

logger = logging.getLogger(__name__)

# Columns shared by every source (``label`` differs between sources and is dropped from mixtures).
COMMON_COLUMNS = (
    "image",
    "source",
    "modality",
    "organ",
    "patient_id",
    "volume_id",
    "slice_index",
    "original_path",
    "height",  # image size stored at prepare time: filter by size without decoding
    "width",
)
SIZE_COLUMNS = ("height", "width")
WEIGHT_SCHEMES = ("uniform", "size", "modality_balanced")


class CorpusFormatError(LvmMedUserError, ValueError):
    """A prepared source lacks columns the caller needs (prepared by an earlier version)."""


def check_columns(corpus_dir: str | os.PathLike, names: Iterable[str], columns: Iterable[str]) -> None:
    """Raise :class:`CorpusFormatError` if a prepared source of ``corpus_dir`` lacks one of
    ``columns`` (read from its preparation report, nothing is decoded)."""
    corpus = Path(corpus_dir)
    for n in names:
        info = json.loads((corpus / n / REPORT_NAME).read_text())
        missing = [c for c in columns if c not in info.get("features", {})]
        if missing:
            sizes = (
                " (image sizes are stored since lvmmed-hf's format 2)"
                if set(missing) & set(SIZE_COLUMNS)
                else ""
            )
            raise CorpusFormatError(
                f"source {n!r} in {corpus} has no column(s) {missing}{sizes}; prepare it again with "
                f"`lvmmed prepare --overwrite` (same options), or ask for other columns"
            )


def source_stats(
    corpus_dir: str | os.PathLike, sources: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Per prepared source: ``num_examples``, declared ``modality``, ``organ`` and ``modalities``
    (examples per modality; several for ``"mixed"`` sources), from its preparation report."""
    corpus = Path(corpus_dir)
    done = completed_sources(corpus)
    names = list(sources) if sources is not None else done
    missing = [n for n in names if n not in done]
    if missing:
        raise FileNotFoundError(
            f"sources {missing} are not prepared in {corpus} (prepared: {done or 'none'})"
        )
    out = {}
    for n in names:
        info = json.loads((corpus / n / REPORT_NAME).read_text())
        num = int(info["report"]["examples_written"])
        out[n] = {
            "num_examples": num,
            "modality": info["facts"]["modality"],
            "organ": info["facts"]["organ"],
            "modalities": info["report"].get("examples_by_modality") or {info["facts"]["modality"]: num},
        }
    return out


def component_key(source: str, modality: str | None) -> str:
    """Key of a mixture component: a whole source, or the examples of one modality of a mixed source."""
    return source if modality is None else f"{source}[{modality}]"


def mixture_weights(
    stats: Mapping[str, Mapping[str, Any]], weights: str | Mapping[str, float] = "modality_balanced"
) -> dict[str, float]:
    """Sampling probability per mixture component (sums to 1); ``stats`` as from :func:`source_stats`.

    Components are whole sources, except for ``"modality_balanced"``, where a source holding several
    modalities is split into ``"source[modality]"`` components so that every modality (counted per
    example) gets the same share, divided among its components in proportion to their sizes.
    """
    names = list(stats)
    if not names:
        raise ValueError("no sources to mix")
    if isinstance(weights, Mapping):
        unknown = set(weights) - set(names)
        if unknown:
            raise ValueError(f"weights name unknown sources {sorted(unknown)}; sources: {names}")
        raw = {n: float(weights.get(n, 0.0)) for n in names}
    elif weights == "uniform":
        raw = {n: 1.0 for n in names}
    elif weights == "size":
        raw = {n: float(stats[n]["num_examples"]) for n in names}
    elif weights == "modality_balanced":
        parts: dict[str, list[tuple[str, int]]] = {}
        for n in names:
            mods = {m: c for m, c in stats[n]["modalities"].items() if c > 0}
            for m, c in mods.items():
                parts.setdefault(m, []).append((component_key(n, m if len(mods) > 1 else None), c))
        raw = {}
        for members in parts.values():
            total = sum(c for _, c in members)
            for key, c in members:
                raw[key] = (c / total) / len(parts)
    else:
        raise ValueError(
            f"weights must be one of {WEIGHT_SCHEMES} or a dict of source weights, got {weights!r}"
        )
    if any(v < 0 for v in raw.values()) or sum(raw.values()) <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {raw}")
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


def load_sources(
    corpus_dir: str | os.PathLike,
    sources: Iterable[str] | None = None,
    *,
    streaming: bool = False,
    columns: Iterable[str] = COMMON_COLUMNS,
) -> dict[str, datasets.Dataset | datasets.IterableDataset]:
    """Each prepared source as a ``datasets`` object holding only ``columns``."""
    names = list(source_stats(corpus_dir, sources))
    columns = list(columns)
    check_columns(corpus_dir, names, columns)
    out = {}
    for n in names:
        ds = datasets.load_dataset(str(corpus_dir), n, split="train", streaming=streaming)
        ds = ds.select_columns(columns)
        out[n] = ds
    return out


def load_mixture(
    corpus_dir: str | os.PathLike,
    sources: Iterable[str] | None = None,
    *,
    weights: str | Mapping[str, float] = "modality_balanced",
    seed: int = 0,
    streaming: bool = True,
    rank: int | None = None,
    world_size: int | None = None,
    stopping_strategy: str = "all_exhausted",
    shuffle_buffer: int | None = None,
    columns: Iterable[str] = COMMON_COLUMNS,
) -> datasets.Dataset | datasets.IterableDataset:
    """Interleave prepared sources with sampling weights; deterministic for ``seed``.

    ``rank``/``world_size``: this process's part of the data. Every source is split by node before
    mixing, so ranks get disjoint examples even where small sources are oversampled, with the same
    proportions; streaming ranks read only their own shards where the shard count allows.
    ``shuffle_buffer`` shuffles each stream (streaming) or the whole source (map-style) with ``seed``
    before mixing. ``stopping_strategy``: those of ``interleave_datasets``, or ``"infinite"``
    (streaming only): every component repeats forever, for training by steps (``max_steps``); the
    proportions then hold over any stream length.
    """
    stats = source_stats(corpus_dir, sources)
    probs = {k: p for k, p in mixture_weights(stats, weights).items() if p > 0}
    keys = list(probs)
    split_keys = {
        k: (k.split("[", 1)[0], k[len(k.split("[", 1)[0]) + 1 : -1]) if k not in stats else (k, None)
        for k in keys
    }
    parts = load_sources(
        corpus_dir, sorted({src for src, _ in split_keys.values()}), streaming=streaming, columns=columns
    )
    distributed = world_size is not None and world_size > 1
    if distributed and (rank is None or not 0 <= rank < world_size):
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    infinite = stopping_strategy == "infinite"
    if infinite and not streaming:
        raise ValueError("stopping_strategy='infinite' needs streaming=True")
    dsets = []
    for k in keys:
        src, modality = split_keys[k]
        ds = parts[src]
        if modality is not None:
            ds = ds.filter(lambda m, _want=modality: m == _want, input_columns="modality")
        if shuffle_buffer:
            ds = ds.shuffle(seed=seed, buffer_size=shuffle_buffer) if streaming else ds.shuffle(seed=seed)
        if distributed:
            ds = split_dataset_by_node(ds, rank=rank, world_size=world_size)
        if infinite:
            ds = ds.repeat(None)
        dsets.append(ds)
    logger.info(
        "mixture of %d components, probabilities %s", len(keys), {k: round(probs[k], 4) for k in keys}
    )
    if len(dsets) == 1:
        mixed = dsets[0]
    else:
        mixed = datasets.interleave_datasets(
            dsets,
            probabilities=[probs[k] for k in keys],
            seed=seed,
            stopping_strategy="first_exhausted" if infinite else stopping_strategy,
        )
    return mixed
