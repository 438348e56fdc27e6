"""BCSS (Breast Cancer Semantic Segmentation): 151 H&E regions of TCGA breast slides with tissue masks.

Accepted layouts (the public Google Drive folder, or the repository's download script)::

    <data_dir>/[0_Public-data-Amgad2019_0.25MPP/]rgbs_colorNormalized/TCGA-A1-A0SK-DX1_xmin45749_ymin25055_MPP-0.2500.png
    <data_dir>/[0_Public-data-Amgad2019_0.25MPP/]masks/<same name>.png   (tissue codes -> feature "mask")
    or  <data_dir>/images/<name>.png + masks/<name>.png   (download script of PathologyDataScience/BCSS)

Patient = the TCGA case (``TCGA-A1-A0SK``), so the 20% sample is by patient. The class codes of the
masks are in ``meta/gtruth_codes.tsv`` of the release.
Verified: ROI names from the LVM-Med list; both folder forms from public loaders of the release
(``rgbs_colorNormalized`` + ``masks`` from Drive, ``images`` + ``masks`` from the git download script).
"""

from pathlib import Path

import datasets

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import find_dir, list_images, with_file_bytes


class Bcss(LvmMedSourceBuilder):
    source_name = "bcss"
    pretty_name = "BCSS (Breast Cancer Semantic Segmentation)"
    description = (
        "Regions of interest of TCGA breast-cancer H&E slides with crowdsourced tissue-type segmentations."
    )
    homepage = "https://github.com/PathologyDataScience/BCSS"
    license = "CC0 1.0"
    access = "Google Drive folder linked from the repository, or its download script; no registration"
    citation = """@article{amgad2019structured,
  title={Structured crowdsourcing enables convolutional segmentation of histology images},
  author={Amgad, Mohamed and Elfandy, Habiba and Hussein, Hagar and others},
  journal={Bioinformatics}, volume={35}, number={18}, pages={3461--3467}, year={2019}
}"""
    modality = "histopathology"
    organ = "breast"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"
    layout = (
        "[0_Public-data-Amgad2019_0.25MPP/]rgbs_colorNormalized/TCGA-*.png (or images/TCGA-*.png) + "
        "masks/TCGA-*.png"
    )
    label_names = None
    lvmmed_file_list = "BCSS_Color_Cells"
    file_list_match = "path"
    extra_features = {"mask": datasets.Image()}

    def iter_records(self, data_dir: Path):
        images = find_dir(data_dir, ["rgbs_colorNormalized", "*/rgbs_colorNormalized", "images", "*/images"])
        if images is None:
            return
        for p in list_images(images, (".png",)):
            if not p.name.startswith("TCGA-"):
                continue
            mask = images.parent / "masks" / p.name
            yield Record(
                paths=p,
                patient_id=p.name[:12],
                volume_id=p.stem,
                reader="image",
                extras={"mask": str(mask) if mask.is_file() else None},
            )

    def examples_from_record(self, record, report):
        for ex in super().examples_from_record(record, report):
            yield with_file_bytes(ex, ["mask"])
