"""RSNA Pediatric Bone Age Challenge 2017: 12,611 training hand radiographs with bone age (months) and sex.

Accepted layout (the Kaggle mirror kmader/rsna-bone-age, whose archive nests the folder twice,
or the RSNA download with the same names)::

    <data_dir>/boneage-training-dataset/[boneage-training-dataset/]<id>.png
    <data_dir>/boneage-training-dataset.csv      columns id, boneage (months), male (True/False)
    (boneage-test-dataset* is ignored)

Labels: a regression target, so ``label`` is left empty and the values go into typed extra
features ``boneage_months`` (float32) and ``male`` (bool); None where the CSV lacks the id.
Each image is one patient.
Verified: the doubly nested folder and the CSV (id, boneage, male) from public loaders of the Kaggle
mirror; ids from the LVM-Med list. Public sources: the Kaggle mirror
https://www.kaggle.com/datasets/kmader/rsna-bone-age (``boneage-training-dataset/
boneage-training-dataset/<id>.png`` and ``boneage-training-dataset.csv`` with ``id,boneage,male``,
as the README of github.com/josepablito16/RSNA-Bone-Age shows the tree).
"""

from pathlib import Path

import datasets

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import (
    LayoutError,
    find_dir,
    find_file,
    list_images,
    read_csv_rows,
    table_by,
)


class RsnaBoneAge(LvmMedSourceBuilder):
    source_name = "rsna_bone_age"
    pretty_name = "RSNA Pediatric Bone Age"
    description = (
        "Left-hand radiographs of children (Stanford, Colorado) with skeletal age in months and sex."
    )
    homepage = "https://www.rsna.org/rsnai/ai-image-challenge/rsna-pediatric-bone-age-challenge-2017"
    license = "RSNA challenge data terms (non-commercial research and education)"
    access = "RSNA AI challenge page or Kaggle mirror (Kaggle account)"
    citation = """@article{halabi2019rsna,
  title={The {RSNA} Pediatric Bone Age Machine Learning Challenge},
  author={Halabi, Safwan S and Prevedello, Luciano M and Kalpathy-Cramer, Jayashree and others},
  journal={Radiology}, volume={290}, number={2}, pages={498--503}, year={2019}
}"""
    modality = "X-ray"
    organ = "hand"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"
    layout = (
        "boneage-training-dataset/[boneage-training-dataset/]<id>.png + boneage-training-dataset.csv (id, "
        "boneage, male)"
    )
    label_names = None
    lvmmed_file_list = "RSNA-Bone-Age_X-ray_Bone"
    file_list_match = "path"
    extra_features = {"boneage_months": datasets.Value("float32"), "male": datasets.Value("bool")}

    def iter_records(self, data_dir: Path):
        images = find_dir(
            data_dir, ["boneage-training-dataset/boneage-training-dataset", "boneage-training-dataset"]
        )
        if images is None:
            return
        table = find_file(
            data_dir,
            [
                "boneage-training-dataset.csv",
                "boneage-training-dataset.csv/boneage-training-dataset.csv",
                "train.csv",
            ],
        )
        if table is None:
            raise self.missing_data_error(
                f"boneage-training-dataset.csv (id, boneage, male) is missing in '{data_dir}'"
            )
        try:
            rows = table_by(read_csv_rows(table, ("id", "boneage", "male")), "id")
        except LayoutError as e:
            raise self.missing_data_error(str(e)) from e
        for p in list_images(images, (".png",)):
            row = rows.get(p.stem)
            extras = (
                {
                    "boneage_months": float(row["boneage"]),
                    "male": row["male"].strip().lower() in ("true", "1"),
                }
                if row
                else {}
            )
            yield Record(paths=p, patient_id=p.stem, reader="image", extras=extras)
