"""Orientation, slicing and intensity transforms, checked against brute force and closed forms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lvmmed_hf.data.readers import ImageData
from lvmmed_hf.data.volumes import (
    SliceOptions,
    axial_axis,
    hu_to_uint16,
    is_near_constant,
    iter_slices,
    percentile_scale,
    quantize,
    to_axial_stack,
    window_ct,
)


def _permuted_affine(perm, signs, spacing=(0.9, 1.3, 2.7), origin=(5.0, -7.0, 11.0)):
    aff = np.eye(4)
    aff[:3, :3] = 0
    for voxel_axis, (world, sign, sp) in enumerate(zip(perm, signs, spacing)):
        aff[world, voxel_axis] = sign * sp
    aff[:3, 3] = origin
    return aff


@pytest.mark.parametrize("perm", list(itertools.permutations(range(3))))
@pytest.mark.parametrize("signs", [(1, 1, 1), (-1, 1, -1), (1, -1, -1)])
def test_axial_stack_brute_force(perm, signs):
    """Every output voxel holds the input voxel at the same world position; axes point +z, +y, +x."""
    vol = np.arange(4 * 5 * 6, dtype=np.int32).reshape(4, 5, 6)
    aff = _permuted_affine(perm, signs)
    assert axial_axis(aff) == perm.index(2)
    stack, new_aff = to_axial_stack(vol, aff)
    assert new_aff[2, 0] > 0 and new_aff[1, 1] > 0 and new_aff[0, 2] > 0
    inv = np.linalg.inv(aff)
    for idx in itertools.product(*(range(n) for n in stack.shape)):
        world = new_aff @ np.array([*idx, 1.0])
        src = np.rint(inv @ world).astype(int)[:3]
        assert stack[idx] == vol[tuple(src)]


def test_axial_axis_oblique():
    a = np.deg2rad(20)
    aff = np.eye(4)
    aff[:3, 0] = [np.cos(a), 0, np.sin(a)]  # mostly x
    aff[:3, 1] = [0, 1, 0]
    aff[:3, 2] = [-np.sin(a) * 3, 0, np.cos(a) * 3]  # mostly z, larger spacing
    assert axial_axis(aff) == 2


def test_window_ct_closed_form():
    hu = np.array([-1000, -160, 40, 240, 3000], dtype=np.float32)
    np.testing.assert_allclose(window_ct(hu, 40, 400), [0, 0, 0.5, 1, 1])
    np.testing.assert_allclose(window_ct(np.array([-600.0]), -600, 1500), [0.5])
    with pytest.raises(ValueError):
        window_ct(hu, 40, 0)


def test_percentile_scale_against_sorted_values():
    rng = np.random.default_rng(0)
    v = rng.normal(100, 30, size=(20, 30, 30)).astype(np.float32)
    out = percentile_scale(v, 0.5, 99.5)
    flat = np.sort(v.ravel())
    n = flat.size
    lo = flat[int(round(0.005 * (n - 1)))]
    hi = flat[int(round(0.995 * (n - 1)))]
    ref = np.clip((v - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(out, ref, atol=2e-3)
    assert abs((out == 0).mean() - 0.005) < 0.002 and abs((out == 1).mean() - 0.005) < 0.002


def test_quantize_and_raw_hu():
    np.testing.assert_array_equal(quantize(np.array([0, 0.5, 1.0]), 8), [0, 128, 255])
    np.testing.assert_array_equal(quantize(np.array([0, 1.0]), 16), [0, 65535])
    np.testing.assert_array_equal(hu_to_uint16(np.array([-2000, -1024, 0, 3071.4])), [0, 0, 1024, 4095])


def test_near_constant():
    flat = np.full((20, 20), 1000, np.uint16)
    assert is_near_constant(flat)
    speck = flat.copy()
    speck[0, 0] = 1010
    assert is_near_constant(speck)
    assert not is_near_constant(np.random.default_rng(0).integers(0, 65535, (20, 20)).astype(np.uint16))


def test_iter_slices_ct_window_stride_and_empty_counting():
    hu = np.full((6, 16, 16), -1000.0, np.float32)  # air
    hu[1:5, 2:6, 2:6] = np.linspace(-100, 200, 16).reshape(4, 4)  # body in slices 1-4
    aff = np.diag([0.7, 0.7, 2.0, 1.0])  # voxel axis 2 is z
    data = ImageData(np.transpose(hu, (1, 2, 0)), "volume", affine=aff, modality="CT", is_hu=True)
    out = list(iter_slices(data, "CT", SliceOptions(stride=1, bits=16)))
    assert [i for i, img in out if img is None] == [0, 5]
    img = dict(out)[2]
    assert img.dtype == np.uint16
    # axial slice laid out (row = y, col = x): transpose of hu[k] (x, y) -> here hu indices were (z, x, y)
    expected = quantize(window_ct(np.transpose(hu, (1, 2, 0))[:, :, 2].T, 40, 400), 16)
    np.testing.assert_array_equal(img, expected)
    strided = list(iter_slices(data, "CT", SliceOptions(stride=2)))
    assert [i for i, _ in strided] == [0, 2, 4]


def test_iter_slices_2d_keeps_dtype_and_colour():
    g16 = np.random.default_rng(0).integers(0, 65535, (9, 9)).astype(np.uint16)
    [(idx, img)] = list(iter_slices(ImageData(g16, "image"), "X-ray", SliceOptions()))
    assert idx == -1 and img is g16
    rgb16 = (np.random.default_rng(1).integers(0, 65535, (9, 9, 3))).astype(np.uint16)
    [(_, img)] = list(iter_slices(ImageData(rgb16, "image", color=True), "fundus", SliceOptions()))
    assert img.dtype == np.uint8 and img.shape == (9, 9, 3)
    np.testing.assert_array_equal(img, (rgb16 >> 8).astype(np.uint8))


@pytest.mark.parametrize(
    "arr",
    [
        np.random.default_rng(0).integers(0, 65536, (7, 13)).astype(np.uint16),
        np.random.default_rng(1).integers(0, 256, (5, 3)).astype(np.uint8),
        np.random.default_rng(2).integers(0, 256, (4, 6, 3)).astype(np.uint8),
    ],
)
def test_png_writer_round_trips_through_pillow_and_datasets(arr):
    import io

    import datasets
    from PIL import Image

    from lvmmed_hf.data.builder import encode_png

    data = encode_png(arr)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), arr)
    feat = datasets.Image()
    decoded = feat.decode_example(feat.encode_example({"bytes": data, "path": None}))
    np.testing.assert_array_equal(np.asarray(decoded), arr)
    with pytest.raises(ValueError, match="cannot store"):
        encode_png(arr.astype(np.float32))
