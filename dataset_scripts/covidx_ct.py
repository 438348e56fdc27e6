"""COVIDx CT (COVID-Net): 2D CT slices (PNG) labelled normal / pneumonia / COVID-19, with lung boxes.

Accepted layout (the Kaggle dataset hgunraj/covidxct, any of the 2A / 3A releases)::

    <data_dir>/<2A|3A>_images/<file>.png            e.g. NCP_96_1328_0032.png
    <data_dir>/train_COVIDx_CT-<2A|3A>.txt          "<file> <class> <xmin> <ymin> <xmax> <ymax>"
    (val_/test_ label files are ignored: LVM-Med used the official training split)

Class ids: 0 Normal, 1 Pneumonia, 2 COVID-19. The box (px) goes into the ``bbox`` feature.
Patient/volume = the file stem without its trailing slice number (``NCP_96_1328``). When several
releases are present the newest label file (by name) is used.
LVM-Med's list ("Default split: <kaggle url>") is accepted as a file list and keeps every
training image.
Verified: the label-file format and image folder from the Kaggle page and public loaders that read
``train_COVIDx_CT-2A.txt`` / ``2A_images``; LVM-Med's list only says "Default split".
"""

import logging
from pathlib import Path

import datasets

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import DEFAULT_SPLIT_KEY, is_default_split_entry

logger = logging.getLogger(__name__)


class CovidxCt(LvmMedSourceBuilder):
    source_name = "covidx_ct"
    pretty_name = "COVIDx CT"
    description = (
        "Chest CT slices from several public collections, labelled normal, non-COVID pneumonia or COVID-19 "
        "(COVID-Net CT)."
    )
    homepage = "https://www.kaggle.com/datasets/hgunraj/covidxct"
    license = "CC BY-NC-SA 4.0 (constituent collections keep their own terms)"
    access = "Kaggle download (Kaggle account), non-commercial research use"
    citation = """@article{gunraj2020covidnet,
  title={{COVIDNet-CT}: A Tailored Deep Convolutional Neural Network Design for Detection of {COVID-19}
    Cases From Chest {CT} Images},
  author={Gunraj, Hayden and Wang, Linda and Wong, Alexander},
  journal={Frontiers in Medicine}, volume={7}, pages={608525}, year={2020}
}"""
    modality = "CT"
    organ = "lung"
    dimensionality = "2d"
    split_rule = "official_train"
    layout = "<2A|3A>_images/<file>.png + train_COVIDx_CT-<2A|3A>.txt"
    label_names = ["Normal", "Pneumonia", "COVID-19"]
    lvmmed_file_list = "COVIDx_CT_Lung"
    file_list_match = "path"
    extra_features = {"bbox": datasets.Sequence(datasets.Value("float32"), length=4)}

    def iter_records(self, data_dir: Path):
        label_files = sorted(data_dir.glob("train_COVIDx_CT-*.txt")) or sorted(
            data_dir.glob("*/train_COVIDx_CT-*.txt")
        )
        if not label_files:
            raise self.missing_data_error(f"no train_COVIDx_CT-<version>.txt label file in '{data_dir}'")
        labels = label_files[-1]
        if len(label_files) > 1:
            logger.info("covidx_ct: several releases found, using %s", labels.name)
        root = labels.parent
        version = labels.stem.split("-", 1)[1]
        folders = [root / f"{version}_images"] + sorted(p for p in root.glob("*_images") if p.is_dir())
        by_name = {}
        for folder in folders:
            if folder.is_dir():
                for p in folder.iterdir():
                    by_name.setdefault(p.name, p)
        if not by_name:
            raise self.missing_data_error(f"no <version>_images folder next to {labels.name}")
        missing = 0
        for line in labels.read_text().splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            p = by_name.get(parts[0])
            if p is None:
                missing += 1
                continue
            box = [float(v) for v in parts[2:6]] if len(parts) >= 6 else None
            volume = p.stem.rsplit("_", 1)[0]
            yield Record(
                paths=p,
                patient_id=volume,
                volume_id=volume,
                label=int(parts[1]),
                reader="image",
                extras={"bbox": box},
            )
        if missing:
            logger.warning("covidx_ct: %d images named in %s are missing", missing, labels.name)

    # LVM-Med's list for this source is one line "Default split: <url>" (the whole official training
    # partition): that entry matches every record, while ordinary lists of file names still work.
    def list_entry_key(self, entry: str) -> str:
        return DEFAULT_SPLIT_KEY if is_default_split_entry(entry) else super().list_entry_key(entry)

    def list_keys(self, record, path, data_dir):
        return super().list_keys(record, path, data_dir) | {DEFAULT_SPLIT_KEY}
