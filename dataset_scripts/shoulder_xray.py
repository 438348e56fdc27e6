"""Shoulder X-ray (LVM-Med's "X-ray_Shoulder" source): shoulder radiographs sorted in class folders.

Accepted layout::

    <data_dir>/[train/]<class>/<name>.png|jpg          e.g. C1/CDJ+6.png, Others/HHM+30.png

LVM-Med's list names 841 images in the folders ``A1``, ``C1``, ``D1`` and ``Others``; the class
folder is kept as a string label (the meaning of the folder codes is not documented in the list).
Every image is its own group (no patient ids in the names).
Verified: only the folder/file naming from the LVM-Med list. The original distribution (the paper
credits a Sun Yat-sen hospital collection) could not be located, so its licence and download
page are NOT confirmed.
"""

from pathlib import Path

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import find_dir, iter_class_folders


class ShoulderXray(LvmMedSourceBuilder):
    source_name = "shoulder_xray"
    pretty_name = "Shoulder X-ray"
    description = "Shoulder radiographs in class folders, as used for LVM-Med pretraining."
    homepage = "https://github.com/duyhominhnguyen/LVM-Med"
    license = "unknown: the original distribution could not be identified; check with the data provider"
    access = "not publicly located; LVM-Med's repository lists the files (X-ray_Shoulder)"
    citation = """@inproceedings{nguyen2023lvmmed,
  title={{LVM-Med}: Learning Large-Scale Self-Supervised Vision Models for Medical Imaging via
    Second-order Graph Matching},
  author={Nguyen, Duy M H and Nguyen, Hoang and Diep, Nghiem T and others},
  booktitle={NeurIPS}, year={2023}
}"""
    modality = "X-ray"
    organ = "shoulder"
    dimensionality = "2d"
    split_rule = "official_train"
    layout = "[train/]<class>/<name>.png (class folders such as A1, C1, D1, Others)"
    label_names = None
    lvmmed_file_list = "X-ray_Shoulder"
    file_list_match = "path"

    def iter_records(self, data_dir: Path):
        root = find_dir(data_dir, ["train", "."])
        for p, cls in iter_class_folders(root, None, (".png", ".jpg", ".jpeg")):
            yield Record(paths=p, patient_id=f"{cls}/{p.stem}", label=cls, reader="image")
