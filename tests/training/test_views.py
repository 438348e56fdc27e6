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
from lvmmed_hf.training.collator import make_views, resolve_views_on_device
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


@pytest.mark.parametrize("batched", [False, True])
def test_gaussian_blur_matches_scipy(batched):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 40, 36, dtype=torch.float64)
    sig = torch.tensor([0.8, 1.7], dtype=torch.float64)
    out = gaussian_blur(x, sig, 23, batched=batched)
    for b in range(2):
        for c in range(3):
            ref = gaussian_filter(
                x[b, c].numpy(), sigma=float(sig[b]), truncate=11 / float(sig[b]), mode="mirror"
            )
            np.testing.assert_allclose(out[b, c].numpy()[12:-12, 12:-12], ref[12:-12, 12:-12], atol=1e-10)
    # the borders too: numpy's "reflect" padding without repeating the edge is scipy's "mirror"
    padded = np.pad(x[0, 0].numpy(), 11, mode="reflect")
    ref = gaussian_filter(padded, sigma=0.8, truncate=11 / 0.8, mode="mirror")[11:-11, 11:-11]
    np.testing.assert_allclose(out[0, 0].numpy(), ref, atol=1e-10)


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
    # the stored 16-bit value / 65535 (no per-image min-max): one unit apart stays one unit apart
    expected = torch.from_numpy(arr16.astype(np.float64) / 65535).float()[None]
    torch.testing.assert_close(image_to_tensor(im16), expected, rtol=0, atol=1e-7)
    rgb = Image.fromarray(np.zeros((5, 7, 3), dtype=np.uint8))
    assert image_to_tensor(rgb).shape == (3, 5, 7)
    assert image_to_tensor(np.zeros((5, 7), dtype=np.float32)).shape == (1, 5, 7)
    with pytest.raises(ValueError, match="NaN"):
        image_to_tensor(np.array([[np.nan, 1.0]], dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \(H, W\), \(H, W, C\) or \(C, H, W\)"):
        image_to_tensor(np.zeros((2, 3, 4, 5)))


def test_collator_keeps_the_absolute_16_bit_scale():
    """Issue case: a uint16 ramp 0..30000 reaches 30000 / 65535 = 0.458 in the views, as in the
    image processor (the old collator min-max scaled it to 1.0)."""
    ramp = np.linspace(0, 30000, 32 * 32).reshape(32, 32).astype(np.uint16)
    out = GraphMatchingCollator(ViewAugmentationConfig.identity(32), max_size=None)(
        [{"image": Image.fromarray(ramp)}]
    )
    unit = _unnormalise(out["pixel_values_s"])
    torch.testing.assert_close(unit[0, 0], torch.from_numpy(ramp / 65535.0).float(), rtol=0, atol=1e-6)
    assert unit.max().item() == pytest.approx(30000 / 65535, abs=1e-6)


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
    assert raw["images"].shape == (3, 3, 32, 32) and raw["images"].dtype == torch.uint16
    assert raw["image_sizes"].tolist() == [[26, 32], [32, 15], [20, 20]]
    # 16-bit codes: 8-bit values x 257 (exact); a gray image of a colour batch is repeated
    rgb8 = np.asarray(rows[2]["image"]).astype(np.uint16)
    np.testing.assert_array_equal(raw["images"][2, :, :20, :20].numpy(), np.moveaxis(rgb8, -1, 0) * 257)
    assert torch.equal(raw["images"][0, 0], raw["images"][0, 1]) and torch.equal(
        raw["images"][0, 0], raw["images"][0, 2]
    )
    assert raw["images"][2, :, 20:, :].sum() == 0 and raw["images"][2, :, :, 20:].sum() == 0
    gray_only = GraphMatchingCollator(on_device=True, max_size=None)(rows[:2])
    assert gray_only["images"].shape == (2, 1, 64, 50)  # all grayscale: one channel travels
    np.testing.assert_array_equal(gray_only["images"][0, 0, :40].numpy(), np.asarray(rows[0]["image"]))
    with pytest.raises(KeyError, match="no image column 'img'"):
        GraphMatchingCollator(image_column="img")(rows)
    with pytest.raises(ValueError, match="row 1 of the batch.*NaN"):
        GraphMatchingCollator()([rows[0], {"image": np.full((8, 8), np.nan, np.float32)}])


def _rows(seed=0):
    """A mixed batch: 16-bit and 8-bit gray, 8-bit RGB, a float image in [0, 1], different sizes."""
    rng = np.random.default_rng(seed)
    return [
        {"image": Image.fromarray((rng.random((40, 50)) * 65535).astype(np.uint16))},
        {"image": Image.fromarray((rng.random((64, 30)) * 255).astype(np.uint8))},
        {"image": Image.fromarray((rng.random((20, 36, 3)) * 255).astype(np.uint8))},
        {"image": rng.random((33, 33)).astype(np.float32)},
    ]


@pytest.mark.parametrize("config", ["identity", "deterministic", "paper", "medical"])
def test_views_on_the_device_equal_views_in_the_collator(config):
    """The device path (collator on_device=True + make_views, here with device=cpu) gives the
    collator path's views: bitwise with the same random draws, every configuration."""
    cfg = {
        "identity": ViewAugmentationConfig.identity(24),
        "deterministic": ViewAugmentationConfig.deterministic(24),
        "paper": ViewAugmentationConfig(size=24),
        "medical": ViewAugmentationConfig.medical(24),
    }[config]
    rows = _rows()
    on_cpu = GraphMatchingCollator(cfg, max_size=48, generator=torch.Generator().manual_seed(5))(rows)
    raw = GraphMatchingCollator(cfg, max_size=48, on_device=True)(rows)
    raw["label"] = torch.arange(4)
    on_device = make_views(
        raw, TwoViewAugmentation(cfg), device="cpu", generator=torch.Generator().manual_seed(5)
    )
    assert set(on_device) == {"pixel_values_s", "pixel_values_t", "boxes_s", "boxes_t", "label"}
    for key in on_cpu:
        torch.testing.assert_close(on_device[key], on_cpu[key], rtol=0, atol=0)
    assert make_views(on_cpu, TwoViewAugmentation(cfg)) is on_cpu  # views already made: unchanged


def test_batched_device_code_equals_the_per_image_cpu_code():
    """The code that runs on accelerators (whole canvas at once, torch.where selections, blur as
    matrix products) and the CPU code (per-image regions, selected subsets, depthwise
    convolution) draw the same numbers and give the same views up to float rounding."""
    raw = GraphMatchingCollator(max_size=48, on_device=True)(_rows(1))
    for cfg in (ViewAugmentationConfig(size=24), ViewAugmentationConfig.identity(24)):
        a = TwoViewAugmentation(cfg, batched=True)(
            raw["images"], raw["image_sizes"], torch.Generator().manual_seed(2)
        )
        b = TwoViewAugmentation(cfg, batched=False)(
            raw["images"], raw["image_sizes"], torch.Generator().manual_seed(2)
        )
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=2e-5)


def test_random_views_have_the_same_distribution_on_both_paths():
    """Independent seeds: the two paths' crop areas, flips and photometric statistics agree."""
    rows = _rows(2) * 8  # 32 images
    cfg = ViewAugmentationConfig(size=16)
    torch.manual_seed(0)
    cpu = GraphMatchingCollator(cfg, max_size=48)(rows)
    torch.manual_seed(1)
    dev = make_views(
        GraphMatchingCollator(cfg, max_size=48, on_device=True)(rows), TwoViewAugmentation(cfg, batched=True)
    )
    for out in (cpu, dev):
        assert out["pixel_values_s"].shape == out["pixel_values_t"].shape == (32, 3, 16, 16)
    for key in ("boxes_s", "boxes_t"):
        area = lambda b: ((b[:, 2] - b[:, 0]).abs() * (b[:, 3] - b[:, 1])).mean()  # noqa: E731
        assert abs(area(cpu[key]) - area(dev[key])) < 0.15
    for key in ("pixel_values_s", "pixel_values_t"):
        assert abs(cpu[key].mean() - dev[key].mean()) < 0.25 and abs(cpu[key].std() - dev[key].std()) < 0.25


def test_a_small_image_gets_the_same_view_alone_and_next_to_a_larger_one():
    """The zero padding of the canvas never bleeds into a view (the old crop sampled it at the
    right and bottom borders of upsampled smaller images)."""
    rng = np.random.default_rng(3)
    small = {"image": Image.fromarray((rng.random((10, 12)) * 255).astype(np.uint8) | 128)}
    large = {"image": Image.fromarray((rng.random((40, 40)) * 255).astype(np.uint8))}
    collator = GraphMatchingCollator(ViewAugmentationConfig.identity(32), max_size=None)
    alone = collator([small])["pixel_values_s"][0]
    together = collator([large, small])["pixel_values_s"][1]
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)
    # and it is the processor's resize of that image (upsampling: the same bilinear samples)
    from lvmmed_hf import LvmMedImageProcessor

    expected = LvmMedImageProcessor(size={"height": 32, "width": 32})(small["image"], return_tensors="pt")
    torch.testing.assert_close(alone, expected.pixel_values[0], rtol=0, atol=1e-5)


def test_where_the_views_are_made_by_default():
    assert resolve_views_on_device(None, "cuda") is True
    assert resolve_views_on_device(None, torch.device("cuda", 1)) is True
    assert resolve_views_on_device(None, "cpu") is False
    assert resolve_views_on_device(False, "cuda") is False and resolve_views_on_device(True, "cpu") is True


@pytest.mark.parametrize("mode", ["I;16", "L", "RGB"])
def test_size_cap_is_the_antialiased_bilinear_resize(mode):
    """Images above max_size are resized by Pillow in the collator: the same filter as torch's
    antialiased bilinear resize of the [0, 1] values (16-bit exact to a 16-bit step, 8-bit to
    about one 8-bit step: Pillow resamples 8-bit images in fixed point)."""
    import torch.nn.functional as F

    rng = np.random.default_rng(4)
    shape = (90, 120, 3) if mode == "RGB" else (90, 120)
    full = 65535 if mode == "I;16" else 255
    array = (rng.random(shape) * full).astype(np.uint16 if mode == "I;16" else np.uint8)
    image = Image.fromarray(array)
    assert image.mode == mode
    codes = GraphMatchingCollator(max_size=40, on_device=True)([{"image": image}])["images"][0]
    assert codes.shape[-2:] == (30, 40)
    unit = torch.from_numpy(array.astype(np.float64) / full)
    unit = unit.permute(2, 0, 1) if unit.ndim == 3 else unit[None]
    reference = F.interpolate(
        unit[None], size=(30, 40), mode="bilinear", antialias=True, align_corners=False
    )[0]
    error = (codes.double() / 65535 - reference).abs().max().item()
    assert error < (2 / 65535 if mode == "I;16" else 1.5 / 255)
