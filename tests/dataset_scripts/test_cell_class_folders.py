"""AML-Cytomorphology (TIFF) and MLL bone marrow (JPEG, range sub-folders): class folders, 20% by image.

Both sources share the shape <CLASS>/[<range>/]<CLASS>_<n>.<ext>; the cases are parametrised.
"""

import numpy as np
import pytest
from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    assert_sampled_by_patient,
    labels_by_path,
    noise,
    paths_of,
    write_image,
    write_list,
)

CASES = {
    "aml_cytomorphology": dict(
        top="AML-Cytomorphology",
        ext=".tiff",
        n_classes=15,
        files=[
            "BAS/BAS_0002.tiff",
            "BAS/BAS_0024.tiff",
            "EOS/EOS_0001.tiff",
            "LYT/LYT_0100.tiff",
            "MON/MON_0003.tiff",
            "MYO/MYO_0007.tiff",
            "NGS/NGS_0010.tiff",
            "NGS/NGS_0011.tiff",
            "PMO/PMO_0033.tiff",
            "PMO/PMO_0063.tiff",
        ],
        modality="microscopy",
        organ="blood cells",
    ),
    "mll_bone_marrow": dict(
        top="BM_cytomorphology_data",
        ext=".jpg",
        n_classes=21,
        files=[
            "ABE/ABE_00002.jpg",
            "ABE/ABE_00008.jpg",
            "ART/0001-1000/ART_00002.jpg",
            "ART/0001-1000/ART_00011.jpg",
            "BLA/9001-10000/BLA_09522.jpg",
            "EBO/EBO_00001.jpg",
            "NGS/18001-19000/NGS_18642.jpg",
            "OTH/OTH_00001.jpg",
            "PMO/11001-12000/PMO_11988.jpg",
            "PMO/11001-12000/PMO_11991.jpg",
        ],
        modality="microscopy",
        organ="bone marrow",
    ),
}


def make(root, case):
    c = CASES[case]
    for i, rel in enumerate(c["files"]):
        write_image(root / c["top"] / rel, i)
    write_image(root / c["top"] / "not_a_class" / f"X_1{c['ext']}", 99)
    return {f"{c['top']}/{rel}": rel.split("/")[0] for rel in c["files"]}


@pytest.mark.parametrize("source", sorted(CASES))
def test_sample_and_labels(tmp_path, prepare_load, source):
    truth = make(tmp_path / "raw", source)
    ds, report = prepare_load(source, tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, source, CASES[source]["modality"], CASES[source]["organ"])
    assert report.records_found == 10  # the unknown folder is not a class
    assert len(ds.features["label"].names) == CASES[source]["n_classes"]
    assert_sampled_by_patient(ds, {p.rsplit("/", 1)[1].rsplit(".", 1)[0]: 1 for p in truth})
    got = labels_by_path(ds)
    assert got == {p: truth[p] for p in got}


@pytest.mark.parametrize("source", sorted(CASES))
def test_file_list(tmp_path, prepare_load, source):
    truth = make(tmp_path / "raw", source)
    chosen = sorted(truth)[1::3]
    ds, _ = prepare_load(
        source,
        tmp_path / "raw",
        tmp_path / "out",
        file_list=str(write_list(tmp_path / "l.txt", [p.rsplit("/", 1)[1] for p in chosen])),
    )
    assert paths_of(ds) == chosen


def test_aml_tiff_pixels(tmp_path, prepare_load):
    make(tmp_path / "raw", "aml_cytomorphology")
    ds, _ = prepare_load(
        "aml_cytomorphology",
        tmp_path / "raw",
        tmp_path / "out",
        file_list=str(write_list(tmp_path / "l.txt", ["BAS_0024.tiff"])),
    )
    np.testing.assert_array_equal(np.asarray(ds[0]["image"]), noise(1))  # TIFF pixels kept exactly


@pytest.mark.parametrize("source", sorted(CASES))
def test_wrong_layout(tmp_path, source):
    write_image(tmp_path / "raw" / "cells" / f"BAS_0001{CASES[source]['ext']}", 0)
    assert_missing(source, tmp_path / "raw", tmp_path / "out", "<CLASS>_")
