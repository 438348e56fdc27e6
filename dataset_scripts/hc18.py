"""HC18 (grand-challenge): 999 fetal head ultrasound images with head-circumference annotations.

Accepted layout (the Zenodo / grand-challenge download)::

    <data_dir>/training_set/<nnn>_HC.png, <nnn>_<k>HC.png          (k = 2, 3, ... further images of a subject)
    <data_dir>/training_set/<name>_Annotation.png     (ellipse outline -> feature "mask"; never an image)
    <data_dir>/training_set_pixel_size_and_HC.csv     filename, pixel size(mm), head circumference (mm)
    (test_set/ is ignored)

Subject = the leading number, so ``010_HC`` and ``010_2HC`` stay together in the 20% sample. The
head circumference is a regression target: ``label`` stays empty and typed extra features
``head_circumference_mm`` / ``pixel_size_mm`` hold the CSV values.
Verified: names and CSV columns from the challenge page and public loaders (``_2HC`` variants,
``_Annotation`` masks); image names from the LVM-Med list. Public sources: the Zenodo record
https://zenodo.org/record/1327317 linked from https://hc18.grand-challenge.org/
(``training_set/`` with ``<nnn>_HC.png`` and ``<nnn>_HC_Annotation.png``, and
``training_set_pixel_size_and_HC.csv`` with ``filename``, ``pixel size(mm)``,
``head circumference (mm)``).
"""

import re
from pathlib import Path

import datasets

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import find_dir, find_file, read_csv_rows, table_by, with_file_bytes

_NAME = re.compile(r"(\d+)_(\d*)HC$")


class Hc18(LvmMedSourceBuilder):
    source_name = "hc18"
    pretty_name = "HC18 fetal head circumference"
    description = (
        "2D ultrasound images of the fetal head (standard plane, Radboud UMC) with head-circumference ellipse"
        " annotations."
    )
    homepage = "https://hc18.grand-challenge.org/"
    license = "CC BY 4.0"
    access = "direct download from Zenodo (doi:10.5281/zenodo.1327317), no registration"
    citation = """@article{vandenheuvel2018automated,
  title={Automated measurement of fetal head circumference using 2D ultrasound images},
  author={van den Heuvel, Thomas L A and de Bruijn, Dagmar and de Korte, Chris L and van Ginneken, Bram},
  journal={PLoS ONE}, volume={13}, number={8}, pages={e0200412}, year={2018}
}"""
    modality = "ultrasound"
    organ = "fetal head"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"
    layout = "training_set/<nnn>_HC.png (+ <nnn>_HC_Annotation.png) + training_set_pixel_size_and_HC.csv"
    label_names = None
    lvmmed_file_list = "HC18_Ultrasound_Fetus"
    file_list_match = "path"
    extra_features = {
        "mask": datasets.Image(),
        "head_circumference_mm": datasets.Value("float32"),
        "pixel_size_mm": datasets.Value("float32"),
    }

    def iter_records(self, data_dir: Path):
        train = find_dir(data_dir, ["training_set", "*/training_set"])
        if train is None:
            return
        table = find_file(
            data_dir, ["training_set_pixel_size_and_HC.csv", "*/training_set_pixel_size_and_HC.csv"]
        )
        rows = table_by(read_csv_rows(table, ("filename",)), "filename") if table else {}
        for p in sorted(train.glob("*.png")):
            m = _NAME.match(p.stem)
            if m is None:  # *_Annotation.png and anything else
                continue
            ann = p.with_name(f"{p.stem}_Annotation.png")
            row = rows.get(p.name, {})
            yield Record(
                paths=p,
                patient_id=m.group(1),
                volume_id=p.stem,
                reader="image",
                extras={
                    "mask": str(ann) if ann.is_file() else None,
                    "head_circumference_mm": _float(row.get("head circumference (mm)")),
                    "pixel_size_mm": _float(row.get("pixel size(mm)")),
                },
            )

    def examples_from_record(self, record, report):
        for ex in super().examples_from_record(record, report):
            yield with_file_bytes(ex, ["mask"])


def _float(v: str | None) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except ValueError:
        return None
