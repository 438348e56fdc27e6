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


@pytest.fixture
def seg_folders(tmp_path):
    """images/ and masks/ named <volume>_<slice>.png: 4 volumes x 4 slices, a bright square = class 1."""
    rng = np.random.default_rng(1)
    img_dir, mask_dir = tmp_path / "seg" / "images", tmp_path / "seg" / "masks"
    img_dir.mkdir(parents=True)
    mask_dir.mkdir(parents=True)
    for v in range(4):
        for s in range(4):
            arr = rng.integers(0, 50, (32, 32), dtype=np.uint8)
            mask = np.zeros((32, 32), dtype=np.uint8)
            if s > 0:  # the first slice of every volume is empty: exercises the empty-mask convention
                x, y = rng.integers(2, 16, 2)
                arr[y : y + 12, x : x + 12] = 200
                mask[y : y + 12, x : x + 12] = 1
            Image.fromarray(arr, mode="L").save(img_dir / f"vol{v}_{s}.png")
            Image.fromarray(mask, mode="L").save(mask_dir / f"vol{v}_{s}.png")
    return img_dir, mask_dir


@pytest.fixture
def coco_folder(tmp_path):
    """12 RGB 64-px images with 1-2 squares each (category 7 = bright, 9 = dark) + COCO JSON."""
    import json

    rng = np.random.default_rng(2)
    root = tmp_path / "det"
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for i in range(12):
        arr = np.full((64, 64, 3), 120, dtype=np.uint8)
        for k in range(1 + i % 2):
            x, y = rng.integers(0, 40, 2)
            s = int(rng.integers(12, 24))
            cat = 7 if k == 0 else 9
            arr[y : y + s, x : x + s] = 250 if cat == 7 else 10
            anns.append(
                {
                    "id": len(anns),
                    "image_id": i,
                    "category_id": cat,
                    "bbox": [int(x), int(y), s, s],
                    "area": s * s,
                    "iscrowd": 0,
                }
            )
        Image.fromarray(arr).save(root / "images" / f"{i}.png")
        images.append({"id": i, "file_name": f"{i}.png", "width": 64, "height": 64})
    coco = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": 9, "name": "dark"}, {"id": 7, "name": "bright"}],
    }
    (root / "train.json").write_text(json.dumps(coco))
    return root


def _tiny_training_args(out, max_steps: int = 3, batch_size: int = 4, learning_rate: float = 1e-3, **kw):
    """TrainingArguments of the recipe tests: a few CPU steps, no saving, no reporting."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(out),
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        learning_rate=learning_rate,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        seed=0,
        **kw,
    )


@pytest.fixture
def tiny_training_args():
    return _tiny_training_args
