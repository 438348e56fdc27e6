"""OCT2017 (Kermany et al., the "Heidelberg OCT" source of LVM-Med): retinal OCT B-scans in 4 classes.

Accepted layout (Mendeley Data rscbjbr9sj, or the Kaggle mirror with its extra top folder)::

    <data_dir>/[OCT2017/|CellData/OCT/|"OCT2017 "/]train/{CNV,DME,DRUSEN,NORMAL}/<CLASS>-<patient>-<n>.jpeg
    (test/ and val/ are ignored: LVM-Med used the official training partition, "Default split")

True modality: optical coherence tomography (Spectralis, Heidelberg Engineering). Patient = the
middle token of the file name.
LVM-Med's list ("Default split") is accepted as a file list and keeps every training image.
Verified: folder and file naming from the Mendeley description and the Kaggle mirror
(paultimothymooney/kermany2018); LVM-Med's list only says "Default split".
"""

from pathlib import Path

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import (
    DEFAULT_SPLIT_KEY,
    find_dir,
    is_default_split_entry,
    iter_class_folders,
)

CLASSES = ["CNV", "DME", "DRUSEN", "NORMAL"]


class Oct2017(LvmMedSourceBuilder):
    source_name = "oct2017"
    pretty_name = "OCT2017 (Kermany retinal OCT)"
    description = (
        "Retinal optical coherence tomography B-scans: choroidal neovascularisation, diabetic macular oedema,"
        " drusen, normal."
    )
    homepage = "https://data.mendeley.com/datasets/rscbjbr9sj/2"
    license = "CC BY 4.0"
    access = "direct download from Mendeley Data, no registration (Kaggle mirror needs an account)"
    citation = """@article{kermany2018identifying,
  title={Identifying Medical Diagnoses and Treatable Diseases by Image-Based Deep Learning},
  author={Kermany, Daniel S and Goldbaum, Michael and Cai, Wenjia and others},
  journal={Cell}, volume={172}, number={5}, pages={1122--1131}, year={2018}
}"""
    modality = "OCT"
    organ = "retina"
    dimensionality = "2d"
    split_rule = "official_train"
    layout = "[OCT2017/]train/{CNV,DME,DRUSEN,NORMAL}/<CLASS>-<patient>-<n>.jpeg"
    label_names = CLASSES
    lvmmed_file_list = "Heidelberg_OCT_Eye"
    file_list_match = "path"

    def iter_records(self, data_dir: Path):
        train = find_dir(
            data_dir, ["train", "OCT2017/train", "CellData/OCT/train", "OCT/train", "*/train", "*/*/train"]
        )
        if train is None:
            return
        for p, cls in iter_class_folders(train, CLASSES, (".jpeg", ".jpg")):
            parts = p.stem.split("-")
            yield Record(
                paths=p, patient_id=parts[1] if len(parts) >= 3 else p.stem, label=cls, reader="image"
            )

    # LVM-Med's list for this source is one line "Default split: <url>" (the whole official training
    # partition): that entry matches every record, while ordinary lists of file names still work.
    def list_entry_key(self, entry: str) -> str:
        return DEFAULT_SPLIT_KEY if is_default_split_entry(entry) else super().list_entry_key(entry)

    def list_keys(self, record, path, data_dir):
        return super().list_keys(record, path, data_dir) | {DEFAULT_SPLIT_KEY}
