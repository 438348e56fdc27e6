"""BCSS and Dental panoramic X-rays: images + same-named masks in a sibling folder, 20% by patient.

Shared shape, parametrised (BCSS groups ROIs by TCGA case; dental radiographs are one per patient).
"""

from collections import Counter

import numpy as np
import pytest
from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    assert_sampled_by_patient,
    noise,
    paths_of,
    write_image,
    write_list,
)
from PIL import Image

BCSS = [
    "TCGA-A1-A0SK-DX1_xmin45749_ymin25055_MPP-0.2500.png",
    "TCGA-A1-A0SK-DX1_xmin1_ymin2_MPP-0.2500.png",
    "TCGA-A1-A0SP-DX1_xmin6798_ymin53719_MPP-0.2500.png",
    "TCGA-A2-A04P-DX1_xmin104246_ymin48517_MPP-0.2500.png",
    "TCGA-A2-A04Q-DX1_xmin20868_ymin17804_MPP-0.2500.png",
    "TCGA-A8-A07O-DX1_xmin11777_ymin16227_MPP-0.2500.png",
    "TCGA-A8-A08R-DX1_xmin14220_ymin13782_MPP-0.2500.png",
    "TCGA-AR-A0TS-DX1_xmin1_ymin1_MPP-0.2500.png",
    "TCGA-BH-A0BW-DX1_xmin2_ymin2_MPP-0.2500.png",
    "TCGA-E2-A14R-DX1_xmin3_ymin3_MPP-0.2500.png",
    "TCGA-E2-A14R-DX1_xmin4_ymin4_MPP-0.2500.png",
]
CASES = {
    "bcss": dict(
        images="0_Public-data-Amgad2019_0.25MPP/rgbs_colorNormalized",
        masks="0_Public-data-Amgad2019_0.25MPP/masks",
        names=BCSS,
        group=lambda n: n[:12],
        modality="histopathology",
        organ="breast",
        shape=(20, 24, 3),
    ),
    "dental_panoramic": dict(
        images="Images",
        masks="Segmentation1",
        names=[f"{i}.png" for i in (1, 2, 79, 80, 100, 101, 102, 103, 115, 116)],
        group=lambda n: n[:-4],
        modality="X-ray",
        organ="teeth",
        shape=(20, 24),
    ),
}


def make(root, source):
    c = CASES[source]
    masks = {}
    for i, n in enumerate(c["names"]):
        write_image(root / c["images"] / n, i, shape=c["shape"])
        m = noise(50 + i, (20, 24)) % 7
        (root / c["masks"]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(m).save(root / c["masks"] / n)
        masks[f"{c['images']}/{n}"] = m
    return masks


@pytest.mark.parametrize("source", sorted(CASES))
def test_sample_by_patient_with_masks(tmp_path, prepare_load, source):
    masks = make(tmp_path / "raw", source)
    c = CASES[source]
    ds, _ = prepare_load(source, tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, source, c["modality"], c["organ"])
    assert_sampled_by_patient(ds, Counter(c["group"](n) for n in c["names"]))
    for ex in ds:
        np.testing.assert_array_equal(np.asarray(ex["mask"]), masks[ex["original_path"]])


@pytest.mark.parametrize("source", sorted(CASES))
def test_file_list(tmp_path, prepare_load, source):
    masks = make(tmp_path / "raw", source)
    chosen = sorted(masks)[::4]
    ds, _ = prepare_load(
        source,
        tmp_path / "raw",
        tmp_path / "out",
        file_list=str(write_list(tmp_path / "l.txt", [p.rsplit("/", 1)[1] for p in chosen])),
    )
    assert paths_of(ds) == chosen


def test_bcss_git_script_layout(tmp_path, prepare_load):
    write_image(tmp_path / "raw" / "images" / BCSS[0], 0)
    ds, _ = prepare_load("bcss", tmp_path / "raw", tmp_path / "out", sample_fraction=1.0)
    assert paths_of(ds) == [f"images/{BCSS[0]}"] and ds[0]["mask"] is None


@pytest.mark.parametrize("source", sorted(CASES))
def test_wrong_layout(tmp_path, source):
    write_image(tmp_path / "raw" / "masks" / "1.png", 0)
    assert_missing(source, tmp_path / "raw", tmp_path / "out")
