"""APTOS 2019 Blindness Detection (Kaggle): 3,662 labelled fundus photographs, diabetic retinopathy 0-4.

Accepted layout (the Kaggle competition download)::

    <data_dir>/train_images/<id_code>.png       e.g. 014508ccb9cb.png
    <data_dir>/train.csv                        columns id_code, diagnosis (0-4)
    (test_images/ and test.csv are unlabelled and ignored)

Labels: 0 no DR, 1 mild, 2 moderate, 3 severe, 4 proliferative DR. LVM-Med's list prefixes the
grade (``0_014508ccb9cb.png``); :meth:`list_entry_key` strips it. Each image is its own group
(no patient ids are published).
Verified: file and column names from the competition data page; list naming from the LVM-Med list.
Public source: https://www.kaggle.com/competitions/aptos2019-blindness-detection/data
(``train_images/<id_code>.png``, ``train.csv`` with columns ``id_code,diagnosis``; public
PyTorch loaders of the competition read exactly these two columns).
"""

import re
from pathlib import Path

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import (
    LayoutError,
    find_file,
    list_images,
    read_csv_rows,
    strip_list_prefix,
)

GRADES = ["no_dr", "mild", "moderate", "severe", "proliferative_dr"]
_PREFIX = re.compile(r"[0-4]_(?=[0-9a-f]+\.png$)")


class Aptos2019(LvmMedSourceBuilder):
    source_name = "aptos2019"
    pretty_name = "APTOS 2019 Blindness Detection"
    description = (
        "Colour fundus photographs from Aravind Eye Hospital (India) graded for diabetic retinopathy "
        "severity."
    )
    homepage = "https://www.kaggle.com/competitions/aptos2019-blindness-detection"
    license = "Kaggle competition rules (non-commercial research use)"
    access = "Kaggle account, accept the competition rules"
    citation = """@misc{aptos2019,
  title={{APTOS} 2019 Blindness Detection}, author={{Asia Pacific Tele-Ophthalmology Society}},
  howpublished={\\url{https://www.kaggle.com/competitions/aptos2019-blindness-detection}}, year={2019}
}"""
    modality = "fundus"
    organ = "retina"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"
    layout = "train_images/<id_code>.png + train.csv (id_code, diagnosis)"
    label_names = GRADES
    lvmmed_file_list = "APTOS2019_Color_Retinopathy"
    file_list_match = "path"

    def iter_records(self, data_dir: Path):
        images = data_dir / "train_images"
        if not images.is_dir():
            return
        table = find_file(data_dir, ["train.csv", "train_1.csv"])
        if table is None:
            raise self.missing_data_error(f"train.csv (id_code, diagnosis) is missing in '{data_dir}'")
        try:
            grades = {
                r["id_code"]: int(r["diagnosis"]) for r in read_csv_rows(table, ("id_code", "diagnosis"))
            }
        except LayoutError as e:
            raise self.missing_data_error(str(e)) from e
        for p in list_images(images, (".png",)):
            yield Record(paths=p, patient_id=p.stem, label=grades.get(p.stem), reader="image")

    def list_entry_key(self, entry: str) -> str:
        return entry if "/" in entry else strip_list_prefix(entry, _PREFIX)
