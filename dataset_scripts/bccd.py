"""BCCD: 364 blood smear images (640x480) with VOC boxes of RBC, WBC and platelets.

Accepted layout (the GitHub repository Shenggan/BCCD_Dataset; ``<data_dir>`` may be the
repository root or its ``BCCD`` folder)::

    <data_dir>/BCCD/JPEGImages/BloodImage_<nnnnn>.jpg
    <data_dir>/BCCD/Annotations/BloodImage_<nnnnn>.xml          (VOC boxes -> feature "objects")
    <data_dir>/BCCD/ImageSets/Main/{train,val,trainval,test}.txt

LVM-Med's list has 292 images = the official ``trainval`` set (205 train + 87 val), so the builder
yields ``trainval`` (from trainval.txt, else train.txt + val.txt; without ImageSets every image).
The boxes go into the ``objects`` feature (``bbox`` = [xmin, ymin, xmax, ymax] px, ``category``).
Verified: names from the LVM-Med list; BCCD/JPEGImages, Annotations and ImageSets/Main (train, val,
trainval, test .txt) from public loaders of the repository. Public sources: the repository
https://github.com/Shenggan/BCCD_Dataset (``BCCD/{JPEGImages,Annotations,ImageSets/Main}``, VOC
format) and VOC-style loaders that read ``ImageSets/Main/<split>.txt`` under that folder with
classes rbc, wbc, platelets (e.g. chainercv's ``BCCDBboxDataset``).
"""

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import datasets

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import find_dir, list_images

logger = logging.getLogger(__name__)
CATEGORIES = ["RBC", "WBC", "Platelets"]


def read_voc_objects(xml_path: Path) -> dict[str, list]:
    """VOC ``<object>`` entries -> ``{"bbox": [[xmin, ymin, xmax, ymax], ...], "category": [name, ...]}``.

    Boxes in pixels; objects with names outside :data:`CATEGORIES` are dropped.
    """
    root = ET.parse(xml_path).getroot()
    out: dict[str, list] = {"bbox": [], "category": []}
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        box = obj.find("bndbox")
        if name not in CATEGORIES or box is None:
            continue
        out["bbox"].append([float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")])
        out["category"].append(name)
    return out


class Bccd(LvmMedSourceBuilder):
    source_name = "bccd"
    pretty_name = "BCCD (Blood Cell Count and Detection)"
    description = "Peripheral blood smear images with bounding boxes of red cells, white cells and platelets."
    homepage = "https://github.com/Shenggan/BCCD_Dataset"
    license = "MIT"
    access = "clone or download the GitHub repository, no registration"
    citation = """@misc{bccd2017,
  title={{BCCD} Dataset: a small-scale dataset for blood cells detection},
  author={Shenggan}, howpublished={\\url{https://github.com/Shenggan/BCCD_Dataset}}, year={2017}
}"""
    modality = "microscopy"
    organ = "blood cells"
    dimensionality = "2d"
    split_rule = "official_train"
    layout = (
        "BCCD/JPEGImages/BloodImage_<nnnnn>.jpg + BCCD/Annotations/*.xml + BCCD/ImageSets/Main/trainval.txt"
    )
    label_names = None
    lvmmed_file_list = "BCCD-Dataset_Color_Bloodcells"
    file_list_match = "path"
    extra_features = {
        "objects": datasets.Sequence(
            {
                "bbox": datasets.Sequence(datasets.Value("float32"), length=4),
                "category": datasets.ClassLabel(names=CATEGORIES),
            }
        )
    }

    def iter_records(self, data_dir: Path):
        root = find_dir(data_dir, ["BCCD", "BCCD_Dataset/BCCD", "BCCD_Dataset-master/BCCD", "."])
        images = root / "JPEGImages" if root is not None else None
        if images is None or not images.is_dir():
            return
        sets = root / "ImageSets" / "Main"
        keep = None
        if (sets / "trainval.txt").is_file():
            keep = set((sets / "trainval.txt").read_text().split())
        elif (sets / "train.txt").is_file():
            keep = set((sets / "train.txt").read_text().split())
            if (sets / "val.txt").is_file():
                keep |= set((sets / "val.txt").read_text().split())
        else:
            logger.warning("bccd: no ImageSets/Main split files under %s; yielding every image", root)
        for p in list_images(images, (".jpg", ".jpeg")):
            if keep is not None and p.stem not in keep:
                continue
            xml = root / "Annotations" / f"{p.stem}.xml"
            objects = read_voc_objects(xml) if xml.is_file() else {"bbox": [], "category": []}
            yield Record(paths=p, patient_id=p.stem, reader="image", extras={"objects": objects})
