"""EyePACS (Kaggle Diabetic Retinopathy Detection 2015): 35,126 training fundus photographs graded 0-4.

Accepted layout (the Kaggle competition download, train.zip.00x joined and unzipped)::

    <data_dir>/train/<patient>_<left|right>.jpeg        e.g. 10_left.jpeg
    <data_dir>/trainLabels.csv                          columns image, level (0-4)
    (test/ is ignored: LVM-Med drew from the official training set)

What LVM-Med used: its list (EyePACS_Color_Retinopathy) names 7,737 of the 35,126 training images
(22%, ids 10-44349, mostly one eye per patient), i.e. a random sample of the training set rather
than all of it. Without a list the builder therefore keeps a seeded 20% of the training set by
patient (the numeric id, so both eyes of a patient stay together, unlike LVM-Med's per-image
draw); pass the list to get LVM-Med's exact images. The list prefixes the grade
(``0_10003_left.jpeg``); :meth:`list_entry_key` strips it.
Verified: names and columns from the competition data page; list naming from the LVM-Med list.
Public sources: https://www.kaggle.com/competitions/diabetic-retinopathy-detection/data
(``train/<id>_<left|right>.jpeg``, ``trainLabels.csv`` with columns ``image`` (the file stem)
and ``level`` 0-4), also read this way by TFDS' ``diabetic_retinopathy_detection`` builder and
by deepchem's ``load_images_DR`` (``DR/train/`` + ``DR/trainLabels.csv``).
"""

import re
from pathlib import Path

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import (
    LayoutError,
    find_dir,
    find_file,
    list_images,
    read_csv_rows,
    strip_list_prefix,
)

GRADES = ["no_dr", "mild", "moderate", "severe", "proliferative_dr"]
_PREFIX = re.compile(r"[0-4]_(?=\d+_(?:left|right)\.jpe?g$)")


class EyePacs(LvmMedSourceBuilder):
    source_name = "eyepacs"
    pretty_name = "EyePACS (Kaggle Diabetic Retinopathy Detection)"
    description = (
        "Colour fundus photographs from the EyePACS screening programme, graded 0-4 for diabetic retinopathy."
    )
    homepage = "https://www.kaggle.com/competitions/diabetic-retinopathy-detection"
    license = "Kaggle competition rules (non-commercial research use)"
    access = "Kaggle account, accept the competition rules"
    citation = """@misc{eyepacs2015,
  title={Diabetic Retinopathy Detection}, author={{EyePACS} and {California Healthcare Foundation}},
  howpublished={\\url{https://www.kaggle.com/competitions/diabetic-retinopathy-detection}}, year={2015}
}"""
    modality = "fundus"
    organ = "retina"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"  # within the official training set, see the docstring
    layout = "train/<id>_<left|right>.jpeg + trainLabels.csv (image, level)"
    label_names = GRADES
    lvmmed_file_list = "EyePACS_Color_Retinopathy"
    file_list_match = "path"

    def iter_records(self, data_dir: Path):
        images = find_dir(data_dir, ["train", "*/train"])
        if images is None:
            return
        table = find_file(
            data_dir, ["trainLabels.csv", "trainLabels.csv/trainLabels.csv", "*/trainLabels.csv"]
        )
        if table is None:
            raise self.missing_data_error(f"trainLabels.csv (image, level) is missing in '{data_dir}'")
        try:
            levels = {r["image"]: int(r["level"]) for r in read_csv_rows(table, ("image", "level"))}
        except LayoutError as e:
            raise self.missing_data_error(str(e)) from e
        for p in list_images(images, (".jpeg", ".jpg")):
            yield Record(paths=p, patient_id=p.stem.split("_")[0], label=levels.get(p.stem), reader="image")

    def list_entry_key(self, entry: str) -> str:
        return entry if "/" in entry else strip_list_prefix(entry, _PREFIX)
