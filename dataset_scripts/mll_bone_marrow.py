"""Bone-Marrow-Cytomorphology_MLL_Helmholtz_Fraunhofer (TCIA): 171,374 bone-marrow cell images in 21 classes.

Accepted layout (the TCIA download)::

    <data_dir>/[BM_cytomorphology_data/]<CLASS>/[<range>/]<CLASS>_<nnnnn>.jpg
    e.g. ABE/ABE_00002.jpg, ART/0001-1000/ART_00011.jpg   (large classes are split in 1000-image folders)

Classes (folder names): ABE, ART, BAS, BLA, EBO, EOS, FGC, HAC, KSC, LYI, LYT, MMZ, MON, MYB, NGB,
NGS, NIF, OTH, PEB, PLM, PMO. No patient ids in the release; each image is its own group.
Verified: file names and the 21 codes from the LVM-Med list; ``BM_cytomorphology_data/<CLASS>/
<range>/`` from public loaders of the TCIA download.
"""

from pathlib import Path

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import iter_class_folders

CLASSES = [
    "ABE",
    "ART",
    "BAS",
    "BLA",
    "EBO",
    "EOS",
    "FGC",
    "HAC",
    "KSC",
    "LYI",
    "LYT",
    "MMZ",
    "MON",
    "MYB",
    "NGB",
    "NGS",
    "NIF",
    "OTH",
    "PEB",
    "PLM",
    "PMO",
]


class MllBoneMarrow(LvmMedSourceBuilder):
    source_name = "mll_bone_marrow"
    pretty_name = "Bone Marrow Cytomorphology (MLL / Helmholtz / Fraunhofer)"
    description = (
        "May-Gruenwald-Giemsa stained bone-marrow smear cells of 945 patients (MLL Munich Leukemia "
        "Laboratory), 21 classes."
    )
    homepage = (
        "https://www.cancerimagingarchive.net/collection/bone-marrow-cytomorphology_mll_helmholtz_fraunhofer/"
    )
    license = "CC BY 4.0 (TCIA)"
    access = "TCIA download (IBM Aspera), no registration"
    citation = """@article{matek2021highly,
  title={Highly accurate differentiation of bone marrow cell morphologies using deep neural networks
    on a large image data set},
  author={Matek, Christian and Krappe, Sebastian and M{\\\"u}nzenmayer, Christian and Haferlach, Torsten
    and Marr, Carsten},
  journal={Blood}, volume={138}, number={20}, pages={1917--1927}, year={2021},
  note={Data: doi:10.7937/TCIA.AXH3-T579}
}"""
    modality = "microscopy"
    organ = "bone marrow"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"
    layout = "[BM_cytomorphology_data/]<CLASS>/[<nnnn-nnnn>/]<CLASS>_<nnnnn>.jpg (21 class folders)"
    label_names = CLASSES
    lvmmed_file_list = "MLL_Color_BoneMarrow"
    file_list_match = "path"

    def iter_records(self, data_dir: Path):
        root = next(
            (
                r
                for r in [data_dir, data_dir / "BM_cytomorphology_data"]
                + sorted(data_dir.glob("*/BM_cytomorphology_data"))
                if r.is_dir() and any((r / k).is_dir() for k in CLASSES)
            ),
            None,
        )
        if root is None:
            return
        for p, cls in iter_class_folders(root, CLASSES, (".jpg", ".jpeg"), recursive=True):
            yield Record(paths=p, patient_id=p.stem, label=cls, reader="image")
