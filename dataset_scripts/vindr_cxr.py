"""VinDr-CXR (VinBigData): 18,000 postero-anterior chest radiographs, of which the 15,000 training images are
used.

Accepted layouts (the ``train`` folder is found up to four levels down)::

    PhysioNet (vindr-cxr/1.0.0, DICOM originals):
        train/<image_id>.dicom                       (32 hex digits; test/ is not read)
        annotations/image_labels_train.csv           image_id, rad_ID, <28 label columns of 0/1> (3 rows per
        image)
        annotations/annotations_train.csv            image_id, rad_id, class_name, x_min, y_min, x_max, y_max
    Kaggle competition "vinbigdata-chest-xray-abnormalities-detection" (DICOM):
        train/<image_id>.dicom, train.csv            image_id, class_name, class_id, rad_id, x_min, ...
    PNG/JPEG re-exports of the Kaggle set (what LVM-Med's list names):
        train/<image_id>.png (or .jpg), train.csv

When both a DICOM and a re-exported PNG of one image are present, the DICOM original is read
(16-bit, MONOCHROME1 inverted by the reader) and the PNG is ignored. ``label`` is the set of findings
any radiologist marked, sorted and joined by ``|`` (``"No finding"`` for normal images), from
image_labels_train.csv when present, else from the ``class_name`` column of annotations_train.csv /
train.csv; None when no label file is found. There are no patient IDs in the release: each image is
its own group.

Split: LVM-Med's list 0_SSL_VinBigData_X-ray_Lung.txt has 15,000 entries, which is the whole official
training set (VinDr-CXR: 15,000 train + 3,000 test, Nguyen et al. 2022), so the rule here is
``official_train`` (docs/sources.md says 20%; the list shows otherwise).

Verified: the list names ``<image_id>.png`` (e.g. ``9043e39c8e52843751e7cc9edc2c02e6.png``), matched by
stem against ``.dicom`` originals or PNG exports; ``train/<image_id>.dicom`` and
``annotations/image_labels_train.csv`` (one row per radiologist) were confirmed in public loaders of
the PhysioNet release, the Kaggle ``train.csv`` columns in public competition notebooks; the split
sizes on the VinDr and PhysioNet pages.
"""

import csv
import re

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.tcia import find_named_dirs

_ID = re.compile(r"[0-9a-f]{32}")
_SUFFIX_RANK = {".dicom": 0, ".dcm": 1, ".png": 2, ".jpg": 3, ".jpeg": 3}  # DICOM originals first


def _read_labels(data_dir):
    """image_id -> sorted findings, from the first label file found (None when there is none)."""
    for name in ("image_labels_train.csv", "annotations_train.csv", "train.csv"):
        hits = sorted(data_dir.rglob(name), key=lambda p: (len(p.parts), str(p)))
        if not hits:
            continue
        found: dict[str, set[str]] = {}
        with open(hits[0], newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            if "image_id" not in fields:
                continue
            label_cols = [c for c in fields if c.lower() not in ("image_id", "rad_id")]
            by_name = "class_name" in fields
            for row in reader:
                s = found.setdefault(row["image_id"], set())
                if by_name:
                    s.add(row["class_name"].strip())
                else:
                    s.update(c for c in label_cols if row[c] not in ("", "0", "0.0"))
        return {k: "|".join(sorted(v)) if v else "No finding" for k, v in found.items()}
    return None


class VindrCxr(LvmMedSourceBuilder):
    source_name = "vindr_cxr"
    pretty_name = "VinDr-CXR"
    description = (
        "Postero-anterior chest X-rays from Hospital 108 and Hanoi Medical University Hospital (Vietnam), "
        "each "
        "training image labelled by 3 radiologists with 22 local findings (boxes) and 6 global diagnoses."
    )
    homepage = "https://physionet.org/content/vindr-cxr/1.0.0/"
    license = (
        "PhysioNet Credentialed Health Data License 1.5.0 (DICOM release); Kaggle competition rules for the "
        "Kaggle copy"
    )
    access = (
        "PhysioNet credentialed access (account, CITI training, data use agreement), or the Kaggle "
        "competition "
        "'vinbigdata-chest-xray-abnormalities-detection' after accepting its rules"
    )
    citation = """@article{nguyen2022vindr,
  title={VinDr-CXR: An open dataset of chest X-rays with radiologist's annotations},
  author={Nguyen, Ha Q. and Lam, Khanh and Le, Linh T. and Pham, Hieu H. and Tran, Dat Q. and others},
  journal={Scientific Data}, volume={9}, pages={429}, year={2022}
}"""
    modality = "X-ray"
    organ = "chest"
    dimensionality = "2d"
    split_rule = "official_train"
    layout = (
        "train/<image_id>.dicom (+ annotations/image_labels_train.csv or train.csv), or PNG exports "
        "train/<image_id>.png"
    )
    lvmmed_file_list = "0_SSL_VinBigData_X-ray_Lung"
    file_list_match = "stem"  # the list names <image_id>.png; the stem matches .dicom originals too

    def iter_records(self, data_dir):
        train_dirs = (
            [data_dir] if data_dir.name == "train" else find_named_dirs(data_dir, "train", max_depth=4)
        )
        best: dict[str, object] = {}
        for d in train_dirs:
            for p in sorted(d.iterdir()):
                suffix = p.suffix.lower()
                if suffix in _SUFFIX_RANK and _ID.fullmatch(p.stem) and p.is_file():
                    cur = best.get(p.stem)
                    if cur is None or _SUFFIX_RANK[suffix] < _SUFFIX_RANK[cur.suffix.lower()]:
                        best[p.stem] = p
        if not best:
            return
        labels = _read_labels(data_dir)
        for image_id in sorted(best):
            p = best[image_id]
            yield Record(
                paths=p,
                patient_id=image_id,
                label=None if labels is None else labels.get(image_id),
                reader="dicom" if p.suffix.lower() in (".dicom", ".dcm") else "image",
            )
