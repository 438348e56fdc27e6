"""One pixel path: what the backbone sees in pretraining is what its saved image processor gives.

For stored images of the embedded corpus (real images from installed packages, prepared into
Parquet as ``lvmmed prepare`` does): 8-bit RGB, 8-bit gray, 16-bit windowed CT, 16-bit
percentile-scaled MR, and float images (in [0, 1], and on the 8-bit scale), the views of the
pretraining collator with every random transform off equal the output of the image processor
that ``run_pretraining`` saves next to the backbone (``LvmMedImageProcessor.from_pretrained``):
exactly (float rounding) where both resizes are the same bilinear samples (no downsampling), and
up to the resize filter at the training size (antialiased resize in the processor, bilinear
sampling in the views).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from filelock import FileLock

from lvmmed_hf import LvmMedImageProcessor
from lvmmed_hf.training import GraphMatchingCollator, TwoViewAugmentation, ViewAugmentationConfig

VIEW_SIZE = 32  # the size of the pretraining run below, saved in its processor


def _no_random_views(size: int) -> ViewAugmentationConfig:
    """Every random transform off: the whole image (crop scale 1 and any aspect ratio), no flip,
    no colour jitter, no grayscale, no blur."""
    return ViewAugmentationConfig(
        size=size,
        scale=(1.0, 1.0),
        ratio=(1e-6, 1e6),
        flip_p=0.0,
        jitter_p=0.0,
        grayscale_p=(0.0, 0.0),
        blur_p=(0.0, 0.0),
    )


@pytest.fixture(scope="session")
def embedded_corpus(run_tmp) -> Path:
    """The embedded corpus prepared as Parquet (same folder and lock as tests/training)."""
    from lvmmed_hf.data.embedded import prepare_embedded

    out = run_tmp / "embedded_corpus"
    with FileLock(str(run_tmp / "embedded_corpus.lock")):
        if not (out / ".complete").exists():
            prepare_embedded(out)
            (out / ".complete").write_text("ok")
    return out


@pytest.fixture(scope="module")
def stored_images(embedded_corpus) -> dict:
    """One stored image per kind, decoded as the training dataset yields it (PIL)."""
    from lvmmed_hf.data.embedded import load_embedded

    ds = load_embedded(embedded_corpus)

    def below_full_scale(image) -> bool:
        # a slice that does not reach the top of its window / percentile range: per-image min-max
        # would stretch it, the stored value / 65535 does not
        return min(image.size) >= 64 and np.asarray(image).max() < 60000

    wanted = {
        "8-bit RGB": lambda r: r["source"] == "embedded_skimage" and r["modality"] == "histopathology",
        "8-bit gray": lambda r: r["source"] == "embedded_skimage" and r["modality"] == "microscopy",
        "16-bit windowed CT": lambda r: r["modality"] == "CT",
        "16-bit MR": lambda r: r["source"] == "embedded_nilearn" and "_t1_" in r["original_path"],
    }
    needs_headroom = {"16-bit windowed CT", "16-bit MR"}
    picked = {}
    meta = ds.remove_columns("image")
    for index, row in enumerate(meta):
        for kind, match in wanted.items():
            if kind not in picked and match(row):
                image = ds[index]["image"]
                if kind not in needs_headroom or below_full_scale(image):
                    picked[kind] = image
    assert set(picked) == set(wanted), f"embedded corpus lacks {set(wanted) - set(picked)}"
    assert picked["8-bit RGB"].mode == "RGB" and picked["8-bit gray"].mode == "L"
    assert picked["16-bit windowed CT"].mode == picked["16-bit MR"].mode == "I;16"
    mr = np.asarray(picked["16-bit MR"])
    picked["float in [0, 1]"] = (mr / 65535.0).astype(np.float32)
    picked["float on the 8-bit scale"] = np.asarray(picked["8-bit gray"]).astype(np.float32)
    return picked


@pytest.fixture(scope="module")
def saved_processor_dir(tmp_path_factory, embedded_corpus) -> Path:
    """The backbone folder of a real (one-step) pretraining run."""
    from lvmmed_hf.training.pretraining import (
        DataArguments,
        GraphMatchingArguments,
        ModelArguments,
        PretrainingArguments,
        run_pretraining,
    )

    out = tmp_path_factory.mktemp("pixel_path_run")
    run_pretraining(
        ModelArguments(model_preset="tiny_cnn"),
        DataArguments(
            embedded=True, embedded_dir=str(embedded_corpus), view_size=VIEW_SIZE, max_train_samples=16
        ),
        GraphMatchingArguments(),
        PretrainingArguments(
            output_dir=str(out),
            per_device_train_batch_size=16,
            max_steps=1,
            save_strategy="no",
            use_cpu=True,
            dataloader_num_workers=0,
            gpu_monitor=False,
            report_to="none",
        ),
    )
    backbone = out / "backbone"
    assert (backbone / "preprocessor_config.json").is_file()
    return backbone


KINDS = [
    "8-bit RGB",
    "8-bit gray",
    "16-bit windowed CT",
    "16-bit MR",
    "float in [0, 1]",
    "float on the 8-bit scale",
]


def _side(image) -> int:
    shape = np.asarray(image).shape
    return max(shape[:2])


@pytest.mark.parametrize("kind", KINDS)
def test_pretraining_views_equal_the_saved_processor_without_downsampling(
    kind, stored_images, saved_processor_dir
):
    """At the image's own larger side both resizes sample the same bilinear points: equal."""
    image = stored_images[kind]
    side = _side(image)
    processor = LvmMedImageProcessor.from_pretrained(saved_processor_dir)
    expected = processor(image, size={"height": side, "width": side}, return_tensors="pt").pixel_values[0]
    views = GraphMatchingCollator(_no_random_views(side), max_size=None)([{"image": image}])
    for key in ("pixel_values_s", "pixel_values_t"):
        torch.testing.assert_close(views[key][0], expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_pretraining_views_equal_the_saved_processor_at_the_training_size(
    kind, stored_images, saved_processor_dir
):
    """At the saved size (downsampling) only the resize filter differs: the same intensities."""
    image = stored_images[kind]
    processor = LvmMedImageProcessor.from_pretrained(saved_processor_dir)
    assert processor.size == {"height": VIEW_SIZE, "width": VIEW_SIZE}
    expected = processor(image, return_tensors="pt").pixel_values[0]
    # the collator as run_pretraining builds it (longer side capped at 512 first)
    views = GraphMatchingCollator(_no_random_views(VIEW_SIZE))([{"image": image}])["pixel_values_s"][0]
    assert views.shape == expected.shape == (3, VIEW_SIZE, VIEW_SIZE)
    # Channel means agree (a resize filter keeps them; measured <= 0.02 when written, while a
    # different intensity scale moves them by tenths), and the pictures are the same up to the
    # aliasing of the views' bilinear sampling (correlation measured >= 0.92).
    torch.testing.assert_close(views.mean((1, 2)), expected.mean((1, 2)), rtol=0, atol=0.05)
    assert np.corrcoef(views.flatten().numpy(), expected.flatten().numpy())[0, 1] > 0.85


@pytest.mark.parametrize("kind", KINDS)
def test_views_made_on_the_device_equal_the_saved_processor(kind, stored_images, saved_processor_dir):
    """The on-device path (decode + codes on the CPU, views batch-wise on the device: here the
    accelerator code run on the CPU) gives the same tensor."""
    from lvmmed_hf.training import make_views

    image = stored_images[kind]
    side = _side(image)
    processor = LvmMedImageProcessor.from_pretrained(saved_processor_dir)
    expected = processor(image, size={"height": side, "width": side}, return_tensors="pt").pixel_values[0]
    raw = GraphMatchingCollator(_no_random_views(side), max_size=None, on_device=True)([{"image": image}])
    views = make_views(raw, TwoViewAugmentation(_no_random_views(side), batched=True), device="cpu")
    torch.testing.assert_close(views["pixel_values_s"][0], expected, rtol=0, atol=1e-4)
