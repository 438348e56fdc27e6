"""Tiny data for the recipe tests, produced here (no downloads)."""

import numpy as np
import pytest
from PIL import Image


def _image(rng, bright: bool, size: int = 32) -> Image.Image:
    arr = rng.integers(0, 60, (size, size), dtype=np.uint8)
    if bright:
        arr[8:24, 8:24] = 220
    return Image.fromarray(arr, mode="L")


@pytest.fixture
def image_folder(tmp_path):
    """<split>/<class>/<n>.png, two visually separable classes, grayscale 32 px."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for split, n in (("train", 12), ("test", 6)):
        for label in ("empty", "square"):
            d = root / split / label
            d.mkdir(parents=True)
            for i in range(n):
                _image(rng, label == "square").save(d / f"{label}_{i}.png")
    return root
