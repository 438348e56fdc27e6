"""Two-view augmentation and collator: crop geometry, flips, photometric ops, input formats."""

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter

from lvmmed_hf.training import (
    GraphMatchingCollator,
    TwoViewAugmentation,
    ViewAugmentationConfig,
    image_to_tensor,
)
from lvmmed_hf.training.views import IMAGENET_MEAN, IMAGENET_STD, gaussian_blur, sample_crop_boxes


def _coordinate_images(b, h, w):
    """Channel 0 = normalised x of the pixel centre, channel 1 = normalised y, channel 2 = 0.5."""
    x = ((torch.arange(w) + 0.5) / w).expand(h, w)
    y = ((torch.arange(h) + 0.5) / h).unsqueeze(1).expand(h, w)
    return torch.stack([x, y, torch.full((h, w), 0.5)]).expand(b, 3, h, w).contiguous()


def _unnormalise(v):
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return v * std + mean


def test_boxes_describe_where_each_view_pixel_comes_from_including_flips():
    cfg = ViewAugmentationConfig(size=32, jitter_p=0.0, grayscale_p=(0.0, 0.0), blur_p=(0.0, 0.0), flip_p=0.5)
    images = _coordinate_images(64, 96, 80)
    out = TwoViewAugmentation(cfg)(images, generator=torch.Generator().manual_seed(0))
    flipped = 0
    for view, boxes in ((out["pixel_values_s"], out["boxes_s"]), (out["pixel_values_t"], out["boxes_t"])):
        v = _unnormalise(view)
        t = (torch.arange(32) + 0.5) / 32
        x_exp = boxes[:, 0:1] + t * (boxes[:, 2:3] - boxes[:, 0:1])  # (B, 32)
        y_exp = boxes[:, 1:2] + t * (boxes[:, 3:4] - boxes[:, 1:2])
        # bilinear sampling of a linear ramp is exact away from the image border
        inner = (x_exp > 1 / 80) & (x_exp < 1 - 1 / 80)
        torch.testing.assert_close(v[:, 0, 16, :][inner], x_exp[inner], atol=1e-4, rtol=0)
        inner_y = (y_exp > 1 / 96) & (y_exp < 1 - 1 / 96)
        torch.testing.assert_close(v[:, 1, :, 16][inner_y], y_exp[inner_y], atol=1e-4, rtol=0)
        flipped += int((boxes[:, 0] > boxes[:, 2]).sum())
    assert 30 < flipped < 98  # about half of 128 views are mirrored


def test_crop_boxes_respect_scale_and_ratio():
    sizes = torch.tensor([[300, 400]]).expand(500, 2)
    boxes = sample_crop_boxes(sizes, (0.2, 1.0), (3 / 4, 4 / 3), torch.Generator().manual_seed(0))
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    area = w * h / (300 * 400)
    assert (
        torch.all(boxes[:, 0] >= 0)
        and torch.all(boxes[:, 2] <= 400 + 1e-3)
        and torch.all(boxes[:, 3] <= 300 + 1e-3)
    )
    assert area.min() >= 0.2 - 1e-4 and area.max() <= 1 + 1e-4
    assert (w / h).min() >= 3 / 4 - 1e-4 and (w / h).max() <= 4 / 3 + 1e-4
    # an image far outside the ratio range falls back to a centred crop inside it
    fb = sample_crop_boxes(torch.tensor([[10, 1000]]), (0.9, 1.0), (3 / 4, 4 / 3))
    assert fb[0, 3] - fb[0, 1] == pytest.approx(10) and (fb[0, 2] - fb[0, 0]) / 10 == pytest.approx(4 / 3)


def test_deterministic_views_are_the_whole_image():
    images = _coordinate_images(4, 32, 32)
    out = TwoViewAugmentation(ViewAugmentationConfig.deterministic(32))(images)
    torch.testing.assert_close(out["boxes_s"], torch.tensor([[0.0, 0.0, 1.0, 1.0]]).expand(4, 4))
    torch.testing.assert_close(_unnormalise(out["pixel_values_s"]), images, atol=1e-5, rtol=0)
    again = TwoViewAugmentation(ViewAugmentationConfig.deterministic(32))(images)
    torch.testing.assert_close(again["pixel_values_t"], out["pixel_values_t"])
    t = _unnormalise(out["pixel_values_t"])
    assert torch.allclose(t[:, 0], t[:, 2], atol=1e-5) and not torch.allclose(t, images, atol=1e-3)


def test_gaussian_blur_matches_scipy():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 40, 40, dtype=torch.float64)
    sig = torch.tensor([0.8, 1.7], dtype=torch.float64)
    out = gaussian_blur(x, sig, 23)
    for b in range(2):
        ref = gaussian_filter(
            x[b, 0].numpy(), sigma=float(sig[b]), truncate=11 / float(sig[b]), mode="mirror"
        )
        np.testing.assert_allclose(out[b, 0].numpy()[12:-12, 12:-12], ref[12:-12, 12:-12], atol=1e-10)


def test_photometric_ops_change_colours_but_not_geometry():
    images = _coordinate_images(8, 32, 32)
    cfg = ViewAugmentationConfig(
        size=32, scale=(1, 1), ratio=(1, 1), flip_p=0, jitter_p=0, grayscale_p=(1.0, 0.0), blur_p=(0, 0)
    )
    out = TwoViewAugmentation(cfg)(images)
    s = _unnormalise(out["pixel_values_s"])
    assert torch.allclose(s[:, 0], s[:, 1], atol=1e-5) and torch.allclose(
        s[:, 1], s[:, 2], atol=1e-5
    )  # grayscale
    torch.testing.assert_close(_unnormalise(out["pixel_values_t"]), images, atol=1e-5, rtol=0)
    jit = TwoViewAugmentation(
        ViewAugmentationConfig(
            size=32, scale=(1, 1), ratio=(1, 1), flip_p=0, jitter_p=1.0, grayscale_p=(0, 0), blur_p=(0, 0)
        )
    )(images)
    j = _unnormalise(jit["pixel_values_s"])
    assert not torch.allclose(j, images, atol=1e-3)
    assert j.min() >= -1e-5 and j.max() <= 1 + 1e-5


def test_image_to_tensor_formats():
    u8 = Image.fromarray(np.array([[0, 255], [51, 102]], dtype=np.uint8))
    torch.testing.assert_close(image_to_tensor(u8), torch.tensor([[[0.0, 1.0], [0.2, 0.4]]]))
    arr16 = np.array([[1000, 1001], [1002, 1003]], dtype=np.uint16)
    im16 = Image.fromarray(arr16)
    assert im16.mode == "I;16"
    # 16-bit values one unit apart stay distinct (an 8-bit conversion would clip them all to 255)
    torch.testing.assert_close(image_to_tensor(im16), torch.tensor([[[0.0, 1 / 3], [2 / 3, 1.0]]]))
    rgb = Image.fromarray(np.zeros((5, 7, 3), dtype=np.uint8))
    assert image_to_tensor(rgb).shape == (3, 5, 7)
    assert image_to_tensor(np.zeros((5, 7), dtype=np.float32)).shape == (1, 5, 7)
    with pytest.raises(ValueError, match="NaN"):
        image_to_tensor(np.array([[np.nan, 1.0]], dtype=np.float32))
    with pytest.raises(ValueError, match="2-D grayscale or 3-channel"):
        image_to_tensor(np.zeros((2, 3, 4, 5)))


def test_collator_mixes_modes_and_sizes():
    rng = np.random.default_rng(0)
    rows = [
        {"image": Image.fromarray((rng.random((40, 50)) * 65535).astype(np.uint16)), "label": 0},
        {"image": Image.fromarray((rng.random((64, 30)) * 255).astype(np.uint8)), "label": 1},
        {"image": Image.fromarray((rng.random((20, 20, 3)) * 255).astype(np.uint8)), "label": 2},
    ]
    out = GraphMatchingCollator(ViewAugmentationConfig(size=16))(rows)
    assert set(out) == {"pixel_values_s", "pixel_values_t", "boxes_s", "boxes_t"}
    assert out["pixel_values_s"].shape == (3, 3, 16, 16) and out["boxes_t"].shape == (3, 4)
    assert torch.isfinite(out["pixel_values_s"]).all()
    raw = GraphMatchingCollator(on_device=True, max_size=32)(rows)
    assert raw["images"].shape == (3, 3, 32, 32)
    assert raw["image_sizes"].tolist() == [[26, 32], [32, 15], [20, 20]]
    with pytest.raises(KeyError, match="no image column 'img'"):
        GraphMatchingCollator(image_column="img")(rows)
