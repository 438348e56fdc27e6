"""Osteosarcoma-UT (TCIA Osteosarcoma-Tumor-Assessment): 1,144 H&E tiles (1024x1024) of 4 patients.

Accepted layout (the TCIA download, unzipped)::

    <data_dir>/Training-Set-1/set<k>/<Case-3-A10-17206-19249>.jpg
    <data_dir>/Training-Set-2/set<k>/<P9-B28-26096-29717>.jpg
    <data_dir>/ML_Features_1144.csv   (optional labels: columns image.name, classification)

The CSV names tiles with spaces (``Case 3 A10 - 17206 - 19249``); spaces and repeated hyphens are
collapsed to match the file names. Classes: Non-Tumor, Viable, Non-Viable-Tumor and the mixed
``viable: non-viable``.
Sampling unit: the tile. The release has only 4 patients (name prefixes ``Case-3``, ``Case-4``,
``Case-48``, ``P9``) and LVM-Med's list keeps tiles of all four (547 of 1,144), so it sampled tiles,
not patients; ``patient_id`` is therefore the tile name (the patient is its prefix).
Verified: tile names from the LVM-Med list; folders and CSV columns from public loaders of the
TCIA download (Training-Set-1/set*, ML_Features_1144.csv with image.name / classification).
"""

import re
from pathlib import Path

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import find_file, list_images, read_csv_rows

CLASS_OF = {
    "non-tumor": "non_tumor",
    "viable": "viable_tumor",
    "non-viable-tumor": "non_viable_tumor",
    "viable: non-viable": "viable_non_viable",
}


def tile_name(csv_name: str) -> str:
    """``Case 3 A10 - 17206 - 19249`` -> ``Case-3-A10-17206-19249`` (the file stem)."""
    return re.sub("-+", "-", re.sub(" +", "-", csv_name.strip()))


class OsteosarcomaUt(LvmMedSourceBuilder):
    source_name = "osteosarcoma_ut"
    pretty_name = "Osteosarcoma-UT (Osteosarcoma Tumor Assessment)"
    description = (
        "H&E tiles of osteosarcoma resections (UT Southwestern / UT Dallas), non-tumour, viable and necrotic "
        "tumour."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/osteosarcoma-tumor-assessment/"
    license = "CC BY 3.0 (TCIA)"
    access = "TCIA download, no registration; cite the data and the TCIA papers"
    citation = """@misc{leavey2019osteosarcoma,
  title={Osteosarcoma data from {UT} Southwestern/{UT} Dallas for Viable and Necrotic Tumor Assessment},
  author={Leavey, Patrick and Sengupta, Anita and Rakheja, Dinesh and Daescu, Ovidiu
    and Arunachalam, Harish Babu and Mishra, Rashika},
  publisher={The Cancer Imaging Archive}, year={2019}, doi={10.7937/tcia.2019.bvhjhdas}
}"""
    modality = "histopathology"
    organ = "bone"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"
    layout = "Training-Set-<1|2>/set<k>/<Case-3-A10-17206-19249>.jpg [+ ML_Features_1144.csv]"
    label_names = list(CLASS_OF.values())
    lvmmed_file_list = "0_SSL_Osteosarcoma-UT_Color_Cells"
    file_list_match = "path"

    def iter_records(self, data_dir: Path):
        cands = [data_dir] + sorted(d for d in data_dir.iterdir() if d.is_dir())
        root = next((c for c in cands if any(c.glob("Training-Set-*"))), None)
        if root is None:
            return
        labels = {}
        table = find_file(root, ["ML_Features_1144.csv", "*.csv"])
        if table is not None:
            for row in read_csv_rows(table, required=("image.name", "classification")):
                cls = CLASS_OF.get(row["classification"].strip().lower())
                if cls:
                    labels[tile_name(row["image.name"])] = cls
        for part in sorted(root.glob("Training-Set-*")):
            for p in list_images(part, (".jpg", ".jpeg"), recursive=True):
                yield Record(paths=p, patient_id=p.stem, label=labels.get(p.stem), reader="image")
