"""The corpus mixture: prepared sources interleaved with sampling weights, split by node. LVM-Med
balanced modalities by oversampling the minority datasets (paper, Sec. 4); here a sampling
distribution over sources for ``datasets.interleave_datasets``, deterministic for a seed (docs/data.md)."""

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
from .builder import LvmMedSourceBuilder
from .prepare import REPORT_NAME, completed_sources

logger = logging.getLogger(__name__)

# Columns shared by every source: all but ``label``, which differs between sources. ``height`` and
# ``width`` (stored at prepare time) filter by size without decoding.
COMMON_COLUMNS = tuple(name for name in LvmMedSourceBuilder.features() if name != "label")
WEIGHT_SCHEMES = ("uniform", "size", "modality_balanced")


class CorpusFormatError(LvmMedUserError, ValueError):
    """A prepared source lacks columns the caller needs (prepared by an earlier version)."""


def _read_report(corpus: Path, name: str) -> dict[str, Any]:
    return json.loads((corpus / name / REPORT_NAME).read_text())


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
        info = _read_report(corpus, n)
        num, facts = int(info["report"]["examples_written"]), info["facts"]
        out[n] = {
            "num_examples": num,
            "modality": facts["modality"],
            "organ": facts["organ"],
            "modalities": info["report"].get("examples_by_modality") or {facts["modality"]: num},
        }
    return out


def mixture_weights(
    stats: Mapping[str, Mapping[str, Any]], weights: str | Mapping[str, float] = "modality_balanced"
) -> dict[str, float]:
    """Sampling probability per mixture component (sums to 1); ``stats`` as from :func:`source_stats`.

    ``weights``: ``"uniform"``, ``"size"`` (number of examples), a dict ``{source: weight}``, or
    ``"modality_balanced"``: every modality (counted per example) equally often, shared among its
    sources by size; a source with several modalities becomes ``"source[modality]"`` components.
    """
    names = list(stats)
    if not names:
        raise ValueError("no sources to mix")
    if isinstance(weights, Mapping):
        if unknown := set(weights) - set(names):
            raise ValueError(f"weights name unknown sources {sorted(unknown)}; sources: {names}")
        raw = {n: float(weights.get(n, 0.0)) for n in names}
    elif weights in ("uniform", "size"):
        raw = {n: 1.0 if weights == "uniform" else float(stats[n]["num_examples"]) for n in names}
    elif weights == "modality_balanced":
        parts: dict[str, list[tuple[str, int]]] = {}
        for n in names:
            mods = {m: c for m, c in stats[n]["modalities"].items() if c > 0}
            for m, c in mods.items():
                key = f"{n}[{m}]" if len(mods) > 1 else n  # a mixed source's modality, or the source
                parts.setdefault(m, []).append((key, c))
        raw = {}
        for members in parts.values():
            total = sum(c for _, c in members)
            raw.update({key: (c / total) / len(parts) for key, c in members})
    else:
        raise ValueError(
            f"weights must be one of {WEIGHT_SCHEMES} or a dict of source weights, got {weights!r}"
        )
    if any(v < 0 for v in raw.values()) or sum(raw.values()) <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {raw}")
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


def _load_source(corpus_dir: str | os.PathLike, name: str, columns: list[str], streaming: bool) -> Any:
    """One prepared source holding only ``columns``; :class:`CorpusFormatError` if it lacks some."""
    missing = [c for c in columns if c not in _read_report(Path(corpus_dir), name).get("features", {})]
    if missing:
        old = {"height", "width"} & set(missing)
        sizes = " (image sizes are stored since lvmmed-hf's format 2)" if old else ""
        raise CorpusFormatError(
            f"source {name!r} in {Path(corpus_dir)} has no column(s) {missing}{sizes}; prepare it again "
            f"with `lvmmed prepare --overwrite` (same options), or ask for other columns"
        )
    ds = datasets.load_dataset(str(corpus_dir), name, split="train", streaming=streaming)
    return ds.select_columns(columns)


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
    """Interleave prepared sources with the weights of :func:`mixture_weights`, seeded by ``seed``.

    ``rank``/``world_size``: every source is split by node before mixing, so ranks get disjoint
    examples in the same proportions, even where small sources are oversampled. ``shuffle_buffer``
    shuffles each stream (or the whole source, map-style) before mixing. ``stopping_strategy``: one
    of ``interleave_datasets``' (``"all_exhausted"`` oversamples small sources), or ``"infinite"``
    (streaming only): every component repeats forever, for training by steps.
    """
    stats = source_stats(corpus_dir, sources)
    probs = {k: p for k, p in mixture_weights(stats, weights).items() if p > 0}
    columns = list(columns)
    names = sorted({key.partition("[")[0] for key in probs})  # keys: "source" or "source[modality]"
    parts = {n: _load_source(corpus_dir, n, columns, streaming) for n in names}
    distributed = world_size is not None and world_size > 1
    if distributed and (rank is None or not 0 <= rank < world_size):
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    infinite = stopping_strategy == "infinite"
    if infinite and not streaming:
        raise ValueError("stopping_strategy='infinite' needs streaming=True")
    dsets = []
    for key in probs:
        source, _, modality = key.partition("[")
        ds = parts[source]
        if modality:
            ds = ds.filter(lambda m, _want=modality[:-1]: m == _want, input_columns="modality")
        if shuffle_buffer:
            ds = ds.shuffle(seed=seed, buffer_size=shuffle_buffer) if streaming else ds.shuffle(seed=seed)
        if distributed:
            ds = split_dataset_by_node(ds, rank=rank, world_size=world_size)
        dsets.append(ds.repeat(None) if infinite else ds)
    rounded = {k: round(p, 4) for k, p in probs.items()}
    logger.info("mixture of %d components, probabilities %s", len(probs), rounded)
    if len(dsets) == 1:
        return dsets[0]
    return datasets.interleave_datasets(
        dsets,
        probabilities=list(probs.values()),
        seed=seed,
        stopping_strategy="first_exhausted" if infinite else stopping_strategy,
    )
