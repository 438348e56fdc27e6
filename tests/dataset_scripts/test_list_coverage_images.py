"""LVM-Med's lists of the 2D image sources: every entry selects exactly one image file.

For each source the fixture tree is generated from the list's own names, placed where the public
distribution puts them (the layout named in each builder's docstring, with its source), with the
smallest valid file of the entry's format. Where the public layout needs a label table or a split
file beside the images, it is written from what the list says (LVM-Med's class prefixes) or lists
every listed image. The mapping is checked through the builder's record planning with the list as
``file_list`` (see ``_coverage.py``); ``test_isic2019.py`` covers ISIC 2019 (with labels) and the
per-source tests prepare each layout end to end.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from _coverage import TreeWriter, assert_full_coverage, list_coverage, list_lines, reference_list


def _class_prefix(e: str) -> tuple[str, str]:
    cls, name = e.split("_", 1)
    return cls, name


def _csv(header: str, rows: list[str]) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def aptos(lines):
    # train_images/<id_code>.png + train.csv (id_code, diagnosis); the list prefixes the grade
    files = {f"train_images/{_class_prefix(e)[1]}": None for e in lines}
    rows = [f"{_class_prefix(e)[1][:-4]},{_class_prefix(e)[0]}" for e in lines]
    return files, {"train.csv": _csv("id_code,diagnosis", rows)}


def eyepacs(lines):
    # train/<id>_<left|right>.jpeg + trainLabels.csv (image, level); the list prefixes the level
    files = {f"train/{_class_prefix(e)[1]}": None for e in lines}
    rows = [f"{_class_prefix(e)[1].rsplit('.', 1)[0]},{_class_prefix(e)[0]}" for e in lines]
    return files, {"trainLabels.csv": _csv("image,level", rows)}


def bccd(lines):
    # BCCD/JPEGImages/<name>.jpg + BCCD/ImageSets/Main/trainval.txt (the training partition)
    files = {f"BCCD/JPEGImages/{e}": None for e in lines}
    trainval = "\n".join(e.rsplit(".", 1)[0] for e in lines) + "\n"
    return files, {"BCCD/ImageSets/Main/trainval.txt": trainval.encode()}


def rsna(lines):
    # boneage-training-dataset/<id>.png + boneage-training-dataset.csv (id, boneage, male)
    files = {f"boneage-training-dataset/{e}": None for e in lines}
    rows = [f"{e[:-4]},120,True" for e in lines]
    return files, {"boneage-training-dataset.csv": _csv("id,boneage,male", rows)}


def c_nmc(lines):
    # [C-NMC_]training_data/fold_<k>/{all,hem}/UID_..._<all|hem>.bmp (the fold is not in the name)
    return {f"C-NMC_training_data/fold_0/{e.rsplit('_', 1)[1][:-4]}/{e}": None for e in lines}, {}


def saras(lines):
    # train/set<k>/real<k>_frame_<n>.jpg
    out = {}
    for e in lines:
        k = re.match(r"real(\d+)_", e)
        out[f"train/set{k.group(1) if k else 0}/{e}"] = None
    return out, {}


def simple(fmt: str) -> Callable:
    return lambda lines: (
        {fmt.format(e=e, cls=e.split("_", 1)[0], rest=e.split("_", 1)[-1]): None for e in lines},
        {},
    )


# source -> (LVM-Med's list, tree generator)
SOURCES: dict[str, tuple[str, Callable]] = {
    "aml_cytomorphology": ("AML-Cytomorphology_Color_Cells", simple("AML-Cytomorphology/{cls}/{e}")),
    "aptos2019": ("APTOS2019_Color_Retinopathy", aptos),
    "bccd": ("BCCD-Dataset_Color_Bloodcells", bccd),
    "bcss": ("BCSS_Color_Cells", simple("0_Public-data-Amgad2019_0.25MPP/rgbs_colorNormalized/{e}")),
    "c_nmc_leukemia": ("C-NMC_Leukemia_Color_Cells", c_nmc),
    "dental_panoramic": ("DentalPanoramicXrays_X-ray_Tooth", simple("Images/{e}")),
    "eyepacs": ("EyePACS_Color_Retinopathy", eyepacs),
    "hc18": ("HC18_Ultrasound_Fetus", simple("training_set/{e}")),
    "hyperkvasir": ("0_SSL_HyperKvasir_Color_Colon", simple("unlabeled-images/images/{e}")),
    "kvasir_v2": ("Kvasir_Color_Colon", simple("kvasir-dataset-v2/{cls}/{rest}")),
    "m2caiseg": ("m2caiSeg_Color_Laparoscopic", simple("m2caiSeg dataset/train/images/{e}")),
    "mll_bone_marrow": ("MLL_Color_BoneMarrow", simple("BM_cytomorphology_data/{cls}/{e}")),
    # the class folder (Parasitized / Uninfected) is not in the name: all go to one folder
    "nih_malaria": ("LHNCBC-Malaria_Color_Blood-Smear", simple("cell_images/Parasitized/{e}")),
    "nucls": ("NuCLS_Color_Nucleus", simple("rgb/{e}")),
    "osteosarcoma_ut": ("0_SSL_Osteosarcoma-UT_Color_Cells", simple("Training-Set-1/set1/{e}")),
    "rsna_bone_age": ("RSNA-Bone-Age_X-ray_Bone", rsna),
    "saras_mesad": ("SARAS-MESAD_Color_Surgery", saras),
    "shenzhen_cxr": ("Shenzhen_X-ray_Lung", simple("ChinaSet_AllFiles/CXR_png/{e}")),
    "shoulder_xray": ("X-ray_Shoulder", simple("train/{e}")),
    "vindr_cxr": ("0_SSL_VinBigData_X-ray_Lung", simple("train/{e}")),
}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_list_entry_maps_to_one_image(list_tmp, source):
    list_name, make = SOURCES[source]
    lines = list_lines(list_name)
    files, extra = make(lines)
    raw = list_tmp / "raw"
    w = TreeWriter(raw)
    for rel in files:
        w.write(rel)
    for rel, data in extra.items():
        w.write(rel, data)
    cov = list_coverage(source, raw, reference_list(list_name), list_tmp / "cache")
    assert_full_coverage(cov)
    assert cov.mapped == len(lines) and not cov.excluded
    # each distinct listed file is one record (duplicate lines select the same file)
    assert len(cov.records) == len(files)
