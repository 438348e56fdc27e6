"""NuCLS: breast-cancer H&E fields of view (TCGA) with crowdsourced nucleus boxes, classes and masks.

Accepted layout (the official single-rater release, e.g. NuCLS_corrected_single_rater.zip)::

    <data_dir>/[<release folder>/]rgb/TCGA-A2-A04P-DX1_id-<objectid>_left-<x>_top-<y>_bottom-<y>_right-<x>.png
    <data_dir>/[<release folder>/]mask/<same name>.png      (class / instance mask -> feature "mask")
    <data_dir>/[<release folder>/]train_test_splits/fold_<k>_train.csv   (optional)
    (csv/ and visualization/ are ignored)

LVM-Med used the training part (1,481 of ~1,744 FOVs). When ``train_test_splits/fold_1_train.csv``
exists, FOVs whose slide (``TCGA-XX-XXXX-DX1``) it names are kept; otherwise every FOV is yielded
(pass LVM-Med's list to reproduce it exactly). Patient = ``TCGA-XX-XXXX``.
Verified: FOV names from the LVM-Med list; rgb/csv/mask/visualization folders from the NuCLS site
and public re-organisations of the release; ``fold_1_train.csv`` with a ``slide_name`` column
(``TCGA-A2-A04P-DX1``, the FOV name before the first ``_``) from public loaders of the release (the
builder reads every slide name in the file, so it does not depend on the column order).
"""

import logging
import re
from pathlib import Path

import datasets

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import list_images, with_file_bytes

logger = logging.getLogger(__name__)
_SLIDE = re.compile(r"TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}-DX\d")


class Nucls(LvmMedSourceBuilder):
    source_name = "nucls"
    pretty_name = "NuCLS"
    description = (
        "Fields of view of breast-cancer H&E slides (TCGA) with nucleus locations, classes and segmentations."
    )
    homepage = "https://sites.google.com/view/nucls"
    license = "CC0 1.0"
    access = "direct download from the NuCLS site (Google Drive), no registration"
    citation = """@article{amgad2022nucls,
  title={{NuCLS}: A scalable crowdsourcing approach and dataset for nucleus classification and
    segmentation in breast cancer},
  author={Amgad, Mohamed and Atteya, Lamees A and Hussein, Hagar and others},
  journal={GigaScience}, volume={11}, pages={giac037}, year={2022}
}"""
    modality = "histopathology"
    organ = "breast nuclei"
    dimensionality = "2d"
    split_rule = "official_train"
    layout = (
        "[<release>/]rgb/TCGA-<...>_id-<id>_left-<x>_top-<y>_bottom-<y>_right-<x>.png [+ mask/, "
        "train_test_splits/]"
    )
    label_names = None
    lvmmed_file_list = "NuCLS_Color_Nucleus"
    file_list_match = "path"
    extra_features = {"mask": datasets.Image()}

    def iter_records(self, data_dir: Path):
        roots = [data_dir] + sorted(d for d in data_dir.iterdir() if d.is_dir())
        root = next((r for r in roots if (r / "rgb").is_dir()), None)
        if root is None:
            return
        keep = None
        split = root / "train_test_splits" / "fold_1_train.csv"
        if split.is_file():
            keep = set(_SLIDE.findall(split.read_text(errors="replace")))
        else:
            logger.info("nucls: no train_test_splits/fold_1_train.csv under %s; yielding every FOV", root)
        for p in list_images(root / "rgb", (".png",)):
            m = _SLIDE.match(p.name)
            slide = m.group(0) if m else p.stem.split("_")[0]
            if keep is not None and slide not in keep:
                continue
            mask = root / "mask" / p.name
            yield Record(
                paths=p,
                patient_id=slide[:12],
                reader="image",
                extras={"mask": str(mask) if mask.is_file() else None},
            )

    def examples_from_record(self, record, report):
        for ex in super().examples_from_record(record, report):
            yield with_file_bytes(ex, ["mask"])
