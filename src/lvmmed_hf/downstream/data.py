"""Loading labelled image datasets for the recipes and making leakage-free splits."""

from __future__ import annotations

import logging
import os

import numpy as np
from datasets import DatasetDict, load_dataset
from sklearn.model_selection import GroupShuffleSplit

logger = logging.getLogger(__name__)


def load_image_dataset(
    dataset_dir: str | os.PathLike | None = None,
    dataset_config: str | None = None,
    image_folder: str | os.PathLike | None = None,
) -> DatasetDict:
    """A prepared dataset folder (``load_dataset(dir, config)``) or an image folder, offline.

    Exactly one of ``dataset_dir`` and ``image_folder`` must be given.
    """
    if (dataset_dir is None) == (image_folder is None):
        raise ValueError("give exactly one of dataset_dir (a prepared dataset folder) and image_folder")
    if dataset_dir is not None:
        if not os.path.isdir(dataset_dir):
            raise FileNotFoundError(f"dataset_dir {dataset_dir} is not a folder")
        ds = load_dataset(str(dataset_dir), dataset_config)
    else:
        if not os.path.isdir(image_folder):
            raise FileNotFoundError(f"image_folder {image_folder} is not a folder")
        ds = load_dataset("imagefolder", data_dir=str(image_folder))
    if not isinstance(ds, DatasetDict) or "train" not in ds:
        raise ValueError(
            "expected a dataset with a 'train' split, got splits "
            f"{list(ds) if isinstance(ds, DatasetDict) else type(ds)}"
        )
    return ds


def group_split_indices(groups: list, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held_out) with about ``fraction`` of the *groups* held out (scikit-learn's
    ``GroupShuffleSplit``), so no group (patient, volume, source file) appears on both sides. At
    least one group goes to each side. Both index arrays are sorted."""
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
