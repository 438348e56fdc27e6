"""Mixture: realised proportions match the weights, determinism per seed, disjoint nodes."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from lvmmed_hf.data.mixture import load_mixture, mixture_weights, source_stats

N = 3000


@pytest.fixture(autouse=True)
def _short_stream_shutdown(monkeypatch):
    """datasets sleeps 5 s whenever a streamed Parquet iterator is closed early; these tests close many."""
    import datasets

    monkeypatch.setattr(datasets.config, "SLEEP_TIME_ON_THREADS_SHUTDOWN", 0.05)


def _sources(stream, n=N):
    return [ex["source"] for ex in itertools.islice(stream, n)]


def test_weights_closed_forms(mix_corpus):
    stats = source_stats(mix_corpus)
    assert {n: s["num_examples"] for n, s in stats.items()} == {"mix_a": 40, "mix_b": 80, "mix_c": 120}
    assert mixture_weights(stats, "uniform") == pytest.approx(
        {"mix_a": 1 / 3, "mix_b": 1 / 3, "mix_c": 1 / 3}
    )
    assert mixture_weights(stats, "size") == pytest.approx(
        {"mix_a": 40 / 240, "mix_b": 80 / 240, "mix_c": 120 / 240}
    )
    # two modalities get half each; the X-ray half is shared 40:120
    assert mixture_weights(stats, "modality_balanced") == pytest.approx(
        {"mix_a": 0.125, "mix_b": 0.5, "mix_c": 0.375}
    )
    assert mixture_weights(stats, {"mix_a": 2, "mix_b": 1}) == pytest.approx(
        {"mix_a": 2 / 3, "mix_b": 1 / 3, "mix_c": 0}
    )
    with pytest.raises(ValueError, match="unknown sources"):
        mixture_weights(stats, {"nope": 1.0})
    with pytest.raises(ValueError, match="weights must be one of"):
        mixture_weights(stats, "by_vibes")


def test_mixed_source_split_by_example_modality():
    stats = {
        "s": {"num_examples": 30, "modalities": {"CT": 10, "MRI": 20}},
        "t": {"num_examples": 10, "modalities": {"MRI": 10}},
    }
    assert mixture_weights(stats, "modality_balanced") == pytest.approx(
        {"s[CT]": 0.5, "s[MRI]": 0.5 * 20 / 30, "t": 0.5 * 10 / 30}
    )


@pytest.mark.parametrize("streaming, n", [(True, N), (False, 400)])
def test_realised_proportions_match_weights(mix_corpus, streaming, n):
    """Streaming: an endless stream (every source repeats); map-style: the first 400 of the finite mixture."""
    weights = {"mix_a": 0.5, "mix_b": 0.3, "mix_c": 0.2}
    mix = load_mixture(
        mix_corpus,
        weights=weights,
        seed=1,
        streaming=streaming,
        stopping_strategy="infinite" if streaming else "all_exhausted",
    )
    counts = Counter(_sources(mix, n))
    assert sum(counts.values()) == n
    for name, p in weights.items():
        sigma = (n * p * (1 - p)) ** 0.5
        assert abs(counts[name] - n * p) < 4 * sigma, (name, counts)


def test_same_seed_same_order_other_seed_other_order(mix_corpus):
    def order(seed):
        mix = load_mixture(
            mix_corpus,
            weights="uniform",
            seed=seed,
            streaming=True,
            shuffle_buffer=50,
            stopping_strategy="infinite",
        )
        return [(ex["source"], ex["original_path"]) for ex in itertools.islice(mix, 600)]

    assert order(7) == order(7)
    assert order(7) != order(8)


@pytest.mark.parametrize("streaming", [True, False])
def test_two_nodes_get_disjoint_parts(mix_corpus, streaming):
    parts = []
    for rank in (0, 1):
        mix = load_mixture(mix_corpus, weights="size", seed=0, streaming=streaming, rank=rank, world_size=2)
        parts.append({(ex["source"], ex["original_path"]) for ex in mix})
    assert not parts[0] & parts[1]
    assert len(parts[0] | parts[1]) == 240  # together they cover the corpus
    with pytest.raises(ValueError, match="rank"):
        load_mixture(mix_corpus, rank=2, world_size=2)
