"""C-NMC 2019 (ISBI leukemia challenge): segmented lymphoblast (ALL) and normal (hem) cells, 450x450 BMP.

Accepted layout (the TCIA C-NMC_2019 / Kaggle "leukemia-classification" download)::

    <data_dir>/[C-NMC_Leukemia/]training_data/fold_<0|1|2>/{all,hem}/UID_<subj>_<img>_<cell>_<all|hem>.bmp
    <data_dir>/["C-NMC 2019 (PKG)"/]C-NMC_training_data/fold_<k>/{all,hem}/...      (the TCIA package)
    (validation_data/ and testing_data/ are ignored: LVM-Med used the official training folds)

Label = the class folder (``all`` = acute lymphoblastic leukemia blast, ``hem`` = normal);
patient = the subject token (``UID_44`` for ALL subjects, ``UID_H15`` for healthy ones).
Verified: file names from the LVM-Med list (10,661 = the full training set); both folder forms
(Kaggle ``C-NMC_Leukemia/training_data``, TCIA ``C-NMC_training_data``) from public loaders.
Public sources: the Kaggle mirror https://www.kaggle.com/datasets/andrewmvd/leukemia-classification
(``C-NMC_Leukemia/training_data/fold_<k>/{all,hem}/*.bmp``) and the TCIA collection page
(https://www.cancerimagingarchive.net/collection/c-nmc-2019/).
"""

import re
from pathlib import Path

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import find_dir, list_images


class CNmcLeukemia(LvmMedSourceBuilder):
    source_name = "c_nmc_leukemia"
    pretty_name = "C-NMC 2019 Leukemia"
    description = (
        "Microscopic images of segmented white blood cells: B-lineage ALL blasts and normal B cells (ISBI "
        "2019 C-NMC challenge)."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/c-nmc-2019/"
    license = "CC BY 3.0 (TCIA)"
    access = (
        "TCIA download, no registration (Kaggle mirror andrewmvd/leukemia-classification needs a Kaggle "
        "account)"
    )
    citation = """@misc{gupta2019cnmc,
  title={{ALL} Challenge dataset of {ISBI} 2019 ({C-NMC} 2019)},
  author={Gupta, Anubha and Gupta, Ritu}, publisher={The Cancer Imaging Archive}, year={2019},
  doi={10.7937/tcia.2019.dc64i46r}
}"""
    modality = "microscopy"
    organ = "blood cells"
    dimensionality = "2d"
    split_rule = "official_train"
    layout = "[C-NMC_]training_data/fold_<k>/{all,hem}/UID_<subject>_<image>_<cell>_<all|hem>.bmp"
    label_names = ["all", "hem"]
    lvmmed_file_list = "C-NMC_Leukemia_Color_Cells"
    file_list_match = "path"

    def iter_records(self, data_dir: Path):
        train = find_dir(
            data_dir,
            [
                "training_data",
                "C-NMC_training_data",
                "*/training_data",
                "*/C-NMC_training_data",
                "*/*/C-NMC_training_data",
                ".",
            ],
        )
        if train is None:
            return
        for fold in sorted(train.glob("fold_*")):
            for cls in ("all", "hem"):
                if not (fold / cls).is_dir():
                    continue
                for p in list_images(fold / cls, (".bmp",)):
                    m = re.match(r"(UID_H?\d+)_", p.name)
                    yield Record(paths=p, patient_id=m.group(1) if m else p.stem, label=cls, reader="image")
