"""LvmMedImageProcessor against closed forms and an independent PIL/NumPy computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor, pipeline

from lvmmed_hf import LvmMedCnnConfig, LvmMedCnnForImageClassification, LvmMedCnnModel, LvmMedImageProcessor

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float64)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float64)
TINY = dict(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic")


def _normalise(unit: np.ndarray) -> np.ndarray:
    """(H, W) gray or (3, H, W) values in [0, 1] -> ImageNet-normalised (3, H, W)."""
    if unit.ndim == 2:
        unit = np.broadcast_to(unit, (3, *unit.shape))
    return (unit - MEAN[:, None, None]) / STD[:, None, None]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_defaults_are_the_lvmmed_downstream_ones():
    processor = LvmMedImageProcessor()
    assert processor.size == {"height": 224, "width": 224}
    assert list(processor.image_mean) == [0.485, 0.456, 0.406]
    assert list(processor.image_std) == [0.229, 0.224, 0.225]
    out = processor(np.zeros((300, 200, 3), np.uint8), return_tensors="pt")
    assert out.pixel_values.shape == (1, 3, 224, 224) and out.pixel_values.dtype == torch.float32


def test_uint16_keeps_one_lsb_of_precision():
    processor = LvmMedImageProcessor(do_resize=False)
    image = _rng().integers(0, 65535, size=(16, 16), dtype=np.uint16)
    bumped = image.copy()
    bumped[3, 5] += 1
    a = processor(image, return_tensors="pt").pixel_values
    b = processor(bumped, return_tensors="pt").pixel_values
    diff = (b - a)[0, :, 3, 5].numpy()
    np.testing.assert_allclose(diff, 1 / 65535 / STD, rtol=1e-3)
    assert torch.count_nonzero(b - a) == 3  # one pixel, three channels
    # and the absolute values are the closed form x / 65535
    np.testing.assert_allclose(a[0].numpy(), _normalise(image / 65535.0), atol=1e-5)


def test_pil_16bit_image_is_not_clipped_to_8_bits():
    image = np.array([[0, 1000], [30000, 65535]], dtype=np.uint16)
    processor = LvmMedImageProcessor(do_resize=False)
    from_pil = processor(Image.fromarray(image), return_tensors="pt").pixel_values
    from_array = processor(image, return_tensors="pt").pixel_values
    torch.testing.assert_close(from_pil, from_array, rtol=0, atol=0)
    np.testing.assert_allclose(from_pil[0].numpy(), _normalise(image / 65535.0), atol=1e-5)
    # Pillow's 32-bit "I" mode holding 16-bit values is read as 16-bit as well
    as_int32 = processor(Image.fromarray(image.astype(np.int32)), return_tensors="pt").pixel_values
    torch.testing.assert_close(as_int32, from_array, rtol=0, atol=0)


def test_ct_windowing_closed_form():
    hu = np.array([[-1000, -160, 40], [140, 240, 3000]], dtype=np.int16)
    processor = LvmMedImageProcessor(do_resize=False, window_center=40, window_width=400)
    out = processor(hu, return_tensors="pt").pixel_values[0].numpy()
    # window [-160, 240]: below -> 0, above -> 1, linear in between
    expected_unit = np.array([[0.0, 0.0, 0.5], [0.75, 1.0, 1.0]])
    np.testing.assert_allclose(out, _normalise(expected_unit), atol=1e-6)
    # per-call override, on float HU values
    out = processor(hu.astype(np.float32), window_center=-600, window_width=1500, return_tensors="pt")
    expected_unit = np.clip((hu - (-600 - 750)) / 1500.0, 0, 1)
    np.testing.assert_allclose(out.pixel_values[0].numpy(), _normalise(expected_unit), atol=1e-6)


def test_float_inputs_in_unit_range_are_used_as_they_are():
    unit = _rng(1).random((3, 12, 10)).astype(np.float32)
    processor = LvmMedImageProcessor(do_resize=False)
    out = processor(unit, return_tensors="pt").pixel_values[0].numpy()
    np.testing.assert_allclose(out, _normalise(unit), atol=1e-6)


def test_float_inputs_on_the_8_bit_scale_are_rescaled_as_transformers_does(caplog):
    from transformers.image_transforms import rescale

    image = (_rng(11).random((12, 10, 3)) * 255).astype(np.float32)  # float in [0, 255]
    processor = LvmMedImageProcessor(do_resize=False)
    with caplog.at_level("WARNING"):
        out = processor(image, return_tensors="np").pixel_values[0]
    # transformers' own rescale (image * 1/255) is the reference; we also warn
    reference = np.moveaxis(rescale(image, 1 / 255), -1, 0).astype(np.float64)
    np.testing.assert_allclose(out, _normalise(reference), atol=1e-5)
    assert "8-bit scale" in caplog.text or "rescale_factor" in caplog.text
    # and the same image as uint8 gives the same tensor
    as_uint8 = processor(np.round(image).astype(np.uint8), return_tensors="np").pixel_values[0]
    np.testing.assert_allclose(as_uint8, _normalise(np.moveaxis(np.round(image), -1, 0) / 255.0), atol=1e-5)
    # do_rescale=False keeps the values (transformers' semantics)
    kept = processor(image, do_rescale=False, return_tensors="np").pixel_values[0]
    np.testing.assert_allclose(kept, _normalise(np.moveaxis(image, -1, 0).astype(np.float64)), rtol=1e-5)


def test_floats_beyond_the_8_bit_scale_and_unwindowed_signed_integers_are_refused():
    processor = LvmMedImageProcessor(do_resize=False)
    hu = np.array([[-1000.0, 40.0], [400.0, 3000.0]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"neither in \[0, 1\] nor on the 8-bit scale.*window_center"):
        processor(hu)
    with pytest.raises(ValueError, match="dtype int16.*window_center"):
        processor(hu.astype(np.int16))
    # with a window both are fine, and equal
    a = processor(hu, window_center=40, window_width=400, return_tensors="np").pixel_values
    b = processor(hu.astype(np.int16), window_center=40, window_width=400, return_tensors="np").pixel_values
    np.testing.assert_allclose(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("options", [{}, {"do_rescale": False}, {"window_center": 40, "window_width": 400}])
def test_nan_and_inf_are_refused(bad, options):
    image = np.full((6, 6), 0.5, dtype=np.float32)
    image[2, 3] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        LvmMedImageProcessor()(image, **options)


def test_uint16_ramp_keeps_its_absolute_scale():
    """Issue case: a uint16 ramp 0..30000 ends at 30000 / 65535 (0.458), not at 1 (no min-max)."""
    ramp = np.linspace(0, 30000, 64 * 64).reshape(64, 64).astype(np.uint16)
    out = LvmMedImageProcessor(do_resize=False)(ramp, return_tensors="np").pixel_values[0, 0]
    unit = out * STD[0] + MEAN[0]
    assert unit.max() == pytest.approx(30000 / 65535, abs=1e-5) and unit.min() == pytest.approx(0, abs=1e-5)


@pytest.mark.parametrize("height", [1, 3])
def test_pil_rgb_images_one_or_three_pixels_high_are_channels_last(height):
    """transformers reads a PIL image as (H, W, C) always: a 1- or 3-pixel-high RGB image is not
    channels-first (the array (1, W, 3) / (3, W, 3) alone is ambiguous)."""
    rgb = _rng(12).integers(0, 256, size=(height, 7, 3), dtype=np.uint8)
    out = LvmMedImageProcessor(do_resize=False)(Image.fromarray(rgb), return_tensors="np").pixel_values
    assert out.shape == (1, 3, height, 7)
    np.testing.assert_allclose(out[0], _normalise(np.moveaxis(rgb, -1, 0) / 255.0), atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 7, 3), (3, 7, 3)])
def test_ambiguous_arrays_follow_infer_channel_dimension_format_unless_overridden(shape):
    from transformers.image_utils import ChannelDimension, infer_channel_dimension_format

    array = _rng(13).integers(0, 256, size=shape, dtype=np.uint8)
    processor = LvmMedImageProcessor(do_resize=False)
    assert infer_channel_dimension_format(array, num_channels=(1, 3)) == ChannelDimension.FIRST
    inferred = processor(array, return_tensors="np").pixel_values[0]
    first = array / 255.0  # channels first, as transformers infers
    np.testing.assert_allclose(inferred, _normalise(first[0] if shape[0] == 1 else first), atol=1e-5)
    last = processor(array, input_data_format="channels_last", return_tensors="np").pixel_values[0]
    assert last.shape == (3, shape[0], 7)
    np.testing.assert_allclose(last, _normalise(np.moveaxis(array, -1, 0) / 255.0), atol=1e-5)
    # an explicit layout that contradicts the channel count is an error, not a guess
    with pytest.raises(ValueError, match="neither 1 nor 3 channels"):
        processor(np.zeros((5, 7, 3), np.uint8), input_data_format="channels_first")


@pytest.mark.parametrize(
    "make",
    [
        lambda g: g,
        lambda g: g[:, :, None],
        lambda g: g[None],
        lambda g: Image.fromarray(g),
        lambda g: torch.from_numpy(g),
        lambda g: np.stack([g, g, g], axis=-1),
        lambda g: Image.fromarray(np.stack([g, g, g], axis=-1)),
    ],
    ids=["HW", "HW1", "1HW", "PIL-L", "torch-HW", "HW3", "PIL-RGB"],
)
def test_grayscale_and_layouts_give_three_identical_channel_inputs(make):
    gray = _rng(2).integers(0, 256, size=(9, 11), dtype=np.uint8)
    out = LvmMedImageProcessor(do_resize=False)(make(gray), return_tensors="pt").pixel_values
    assert out.shape == (1, 3, 9, 11)
    np.testing.assert_allclose(out[0].numpy(), _normalise(gray / 255.0), atol=1e-5)


def test_channel_first_and_last_rgb_agree_with_torch_input():
    rgb = _rng(3).integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
    processor = LvmMedImageProcessor(do_resize=False)
    hwc = processor(rgb, return_tensors="pt").pixel_values
    chw = processor(np.moveaxis(rgb, -1, 0), return_tensors="pt").pixel_values
    tensor = processor(torch.from_numpy(np.moveaxis(rgb, -1, 0).copy()), return_tensors="pt").pixel_values
    torch.testing.assert_close(hwc, chw, rtol=0, atol=0)
    torch.testing.assert_close(hwc, tensor, rtol=0, atol=0)


@pytest.mark.parametrize(
    "shape", [(20, 20, 2), (5, 20, 20), (20, 20, 5), (2, 20, 20), (20, 20, 4), (4, 4, 4, 4, 4)]
)
def test_wrong_channel_counts_raise_a_clear_error(shape):
    with pytest.raises(ValueError, match=r"channels|shape"):
        LvmMedImageProcessor()(np.zeros(shape, np.uint8))


def test_bad_intensity_arguments_raise_clear_errors():
    processor = LvmMedImageProcessor()
    with pytest.raises(ValueError, match="window_center and window_width must be given together"):
        processor(np.zeros((8, 8), np.int16), window_center=40)
    with pytest.raises(ValueError, match="window_width must be positive"):
        processor(np.zeros((8, 8), np.int16), window_center=40, window_width=0)
    with pytest.raises(ValueError, match="dtype int32"):
        processor(np.zeros((8, 8), np.int32))
    with pytest.raises(TypeError, match="PIL images, numpy arrays or torch tensors"):
        processor("not-an-image")


def _pil_reference(image_u8: np.ndarray, height: int, width: int) -> np.ndarray:
    """Independent path: PIL's float ('F' mode) bilinear resize per channel, then NumPy normalisation."""
    channels = []
    for c in range(3):
        plane = Image.fromarray(image_u8[..., c].astype(np.float32) / 255.0, mode="F")
        channels.append(np.asarray(plane.resize((width, height), Image.BILINEAR), dtype=np.float64))
    return _normalise(np.stack(channels))


@pytest.mark.parametrize(
    "in_shape, out_size", [((60, 90), (32, 40)), ((17, 23), (40, 30)), ((224, 224), (96, 96))]
)
def test_resize_and_normalise_match_an_independent_pil_computation(in_shape, out_size):
    rgb = _rng(4).integers(0, 256, size=(*in_shape, 3), dtype=np.uint8)
    processor = LvmMedImageProcessor(size={"height": out_size[0], "width": out_size[1]})
    ours = processor(Image.fromarray(rgb), return_tensors="np").pixel_values[0]
    reference = _pil_reference(rgb, *out_size)
    # torch's antialiased bilinear filter is PIL's: they agree to float32 rounding (measured <= 1.3e-5)
    assert np.abs(ours - reference).max() < 5e-5
    assert np.abs(ours - reference).mean() < 5e-6


def test_shortest_edge_and_center_crop():
    rgb = _rng(5).integers(0, 256, size=(40, 80, 3), dtype=np.uint8)
    processor = LvmMedImageProcessor(
        size={"shortest_edge": 20}, do_center_crop=True, crop_size={"height": 16, "width": 16}
    )
    out = processor(rgb, return_tensors="np").pixel_values
    assert out.shape == (1, 3, 16, 16)
    full = LvmMedImageProcessor(size={"height": 20, "width": 40})(rgb, return_tensors="np").pixel_values[0]
    np.testing.assert_allclose(out[0], full[:, 2:18, 12:28], atol=1e-6)


def test_batches_lists_and_return_types():
    processor = LvmMedImageProcessor(size={"height": 8, "width": 8})
    batch = _rng(6).random((4, 3, 20, 20)).astype(np.float32)
    out = processor(batch, return_tensors="pt").pixel_values
    assert out.shape == (4, 3, 8, 8)
    mixed = [
        Image.fromarray(np.zeros((10, 10), np.uint8)),
        np.zeros((12, 9, 3), np.uint16),
        torch.zeros(3, 5, 5),
    ]
    assert processor(mixed, return_tensors="pt").pixel_values.shape == (3, 3, 8, 8)
    as_list = processor(mixed).pixel_values
    assert isinstance(as_list, list)
    assert all(isinstance(x, np.ndarray) and x.shape == (3, 8, 8) for x in as_list)
    with pytest.raises(ValueError, match="different sizes"):
        different = [np.zeros((10, 10), np.uint8), np.zeros((12, 12), np.uint8)]
        processor(different, do_resize=False, return_tensors="pt")


def test_save_and_load_through_autoimageprocessor(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    processor = LvmMedImageProcessor(size={"height": 32, "width": 48}, window_center=-600, window_width=1500)
    processor.save_pretrained(tmp_path)
    LvmMedCnnConfig(**TINY).save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is LvmMedImageProcessor
    assert loaded.window_center == -600 and loaded.window_width == 1500
    assert loaded.size == {"height": 32, "width": 48}
    hu = _rng(7).integers(-1024, 2000, size=(50, 50)).astype(np.int16)
    expected = processor(hu, return_tensors="pt").pixel_values
    torch.testing.assert_close(loaded(hu, return_tensors="pt").pixel_values, expected, rtol=0, atol=0)


def test_transformers_pipelines_accept_the_processor():
    processor = LvmMedImageProcessor(size={"height": 64, "width": 64})
    image = Image.fromarray(_rng(8).integers(0, 256, size=(40, 50, 3), dtype=np.uint8))
    torch.manual_seed(0)
    backbone = LvmMedCnnModel(LvmMedCnnConfig(**TINY)).eval()
    extractor = pipeline("image-feature-extraction", model=backbone, image_processor=processor)
    features = extractor(image, pool=True)
    with torch.no_grad():
        expected = backbone(**processor(image, return_tensors="pt")).pooler_output
    np.testing.assert_allclose(np.asarray(features), expected.numpy(), atol=1e-5)

    classifier = LvmMedCnnForImageClassification(LvmMedCnnConfig(**TINY, num_labels=3)).eval()
    predictions = pipeline("image-classification", model=classifier, image_processor=processor)(image)
    assert len(predictions) == 3 and abs(sum(p["score"] for p in predictions) - 1) < 1e-5
