"""Plumbing shared by the recipes: datasets, leakage-free splits, batching, training, saving results."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import DatasetDict, load_dataset
from sklearn.model_selection import GroupShuffleSplit
from torch.utils.data import default_collate
from tqdm.auto import tqdm
from transformers import Trainer, TrainingArguments

logger = logging.getLogger(__name__)

# Palette / alpha / CMYK images go to RGB; grayscale and 16-bit stay as they are (the processor
# keeps their range and replicates them to 3 channels).
_TO_RGB_MODES = ("P", "PA", "RGBA", "LA", "CMYK", "YCbCr")


def load_image_dataset(
    dataset_dir: str | os.PathLike | None = None,
    dataset_config: str | None = None,
    image_folder: str | os.PathLike | None = None,
) -> DatasetDict:
    """Exactly one of a prepared dataset folder (``load_dataset(dir, config)``) and an image folder."""
    if (dataset_dir is None) == (image_folder is None):
        raise ValueError("give exactly one of dataset_dir (a prepared dataset folder) and image_folder")
    name, folder = ("dataset_dir", dataset_dir) if dataset_dir is not None else ("image_folder", image_folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{name} {folder} is not a folder")
    if dataset_dir is not None:
        ds = load_dataset(str(dataset_dir), dataset_config)
    else:
        ds = load_dataset("imagefolder", data_dir=str(image_folder))
    if "train" not in ds:
        raise ValueError(f"expected a dataset with a 'train' split, got splits {list(ds)}")
    return ds


def group_split_indices(groups: list, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices (kept, held_out) with about ``fraction`` of the *groups* held out
    (``GroupShuffleSplit``): no group is on both sides, and each side has at least one group."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    keys = [str(g) for g in groups]
    n_groups = len(set(keys))
    if n_groups < 2:
        raise ValueError(f"cannot split {n_groups} group(s) into two disjoint sides")
    n_out = min(max(1, int(round(fraction * n_groups))), n_groups - 1)
    splitter = GroupShuffleSplit(n_splits=1, test_size=n_out, random_state=seed)
    keep, held = next(splitter.split(np.zeros(len(keys)), groups=keys))
    return np.sort(keep), np.sort(held)


def ensure_splits(
    ds: DatasetDict, validation_fraction: float = 0.2, group_column: str | None = None, seed: int = 0
) -> DatasetDict:
    """Add a ``validation`` split carved from ``train`` when there is none (by group when given)."""
    if "validation" in ds:
        return ds
    train = ds["train"]
    if group_column is not None:
        if group_column not in train.column_names:
            raise ValueError(
                f"group_column {group_column!r} is not a column of the dataset ({train.column_names})"
            )
        keep, held = group_split_indices(train[group_column], validation_fraction, seed)
    else:
        order = np.random.default_rng(seed).permutation(len(train))
        n_out = min(max(1, int(round(validation_fraction * len(train)))), len(train) - 1)
        keep, held = np.sort(order[n_out:]), np.sort(order[:n_out])
    logger.info("no validation split: holding out %d of %d training examples", len(held), len(train))
    out = DatasetDict(dict(ds))
    out["train"] = train.select(keep)
    out["validation"] = train.select(held)
    return out


def pixel_values(processor, images: Sequence[Any]) -> list[torch.Tensor]:
    """The processor's pixel values, one tensor per image (palette / alpha / CMYK images as RGB)."""
    images = [im.convert("RGB") if getattr(im, "mode", "L") in _TO_RGB_MODES else im for im in images]
    return list(processor(images, return_tensors="pt")["pixel_values"])


def stack_batch(
    batch: list[dict[str, Any]], keys: Sequence[str] = ("pixel_values", "labels")
) -> dict[str, torch.Tensor]:
    """Collate: the tensors (or numbers) under ``keys`` of every example, stacked."""
    return default_collate([{k: example[k] for k in keys} for example in batch])


def batches(
    dataset, batch_size: int, collate: Callable = stack_batch, desc: str | None = None
) -> Iterator[dict[str, Any]]:
    """Collated batches of ``dataset`` (a length and integer indexing), in order; a bar given ``desc``."""
    starts = range(0, len(dataset), batch_size)
    for start in tqdm(starts, desc=desc, leave=False, disable=desc is None):
        yield collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])


def train(
    model,
    training_args: TrainingArguments,
    train_dataset,
    collate: Callable = stack_batch,
    trainer_class=Trainer,
    **kwargs,
) -> Trainer:
    """Train ``model`` with a ``trainer_class`` (the dataset's columns are kept for its transform)."""
    training_args.remove_unused_columns = False
    trainer = trainer_class(
        model=model, args=training_args, train_dataset=train_dataset, data_collator=collate, **kwargs
    )
    trainer.train()
    return trainer


def recipe_results(task: str, dataset: dict, protocol: str, metrics: dict, **extra) -> dict[str, Any]:
    """The results object of a recipe (``results.json``; the model card's input)."""
    return {
        "results": [{"task": task, "dataset": dataset, "protocol": protocol, "metrics": metrics}],
        **extra,
    }


def save_run(
    trainer: Trainer, processor, results: dict[str, Any], strict_json: bool = True
) -> dict[str, Any]:
    """Save the model, processor, ``results.json`` (NaN written as null when ``strict_json``) and,
    when there are metrics, the model card to the output folder; returns ``results``."""
    from ..evaluation.model_card import write_model_card

    out_dir = Path(trainer.args.output_dir)
    trainer.save_model(out_dir)
    processor.save_pretrained(out_dir)
    if trainer.is_world_process_zero():
        payload = _finite(results) if strict_json else results
        (out_dir / "results.json").write_text(json.dumps(payload, indent=2, default=float))
        if results["results"][0]["metrics"]:
            write_model_card(out_dir, results=results)
    return results


def _finite(obj):
    """NaN -> None and NumPy scalars -> Python numbers, recursively."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
