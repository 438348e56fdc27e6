"""Kvasir v2 (Simula): 8,000 GI endoscopy images, 8 classes of 1,000.

Accepted layout (kvasir-dataset-v2.zip, unzipped)::

    <data_dir>/[kvasir-dataset-v2/]<class>/<uuid>.jpg
    classes: dyed-lifted-polyps, dyed-resection-margins, esophagitis, normal-cecum, normal-pylorus,
             normal-z-line, polyps, ulcerative-colitis

LVM-Med's list flattens names to ``<class>_<uuid>.jpg``; :meth:`list_keys` gives every file that
flattened name too, so an entry matches exactly the ``<class>/<uuid>.jpg`` it names (plain
``<uuid>.jpg`` entries and relative paths match as usual). No patient ids in the release; each
image is its own group.
Verified: class names and uuid naming from the LVM-Med list and the Kvasir page (datasets.simula.no/kvasir).
"""

from pathlib import Path

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import find_dir, iter_class_folders

CLASSES = [
    "dyed-lifted-polyps",
    "dyed-resection-margins",
    "esophagitis",
    "normal-cecum",
    "normal-pylorus",
    "normal-z-line",
    "polyps",
    "ulcerative-colitis",
]


class KvasirV2(LvmMedSourceBuilder):
    source_name = "kvasir_v2"
    pretty_name = "Kvasir v2"
    description = (
        "Gastrointestinal endoscopy images from Vestre Viken hospitals (Norway): anatomical landmarks, "
        "findings and polyp removal."
    )
    homepage = "https://datasets.simula.no/kvasir/"
    license = "research and educational use only, cite the paper (Kvasir terms of use)"
    access = "direct download (kvasir-dataset-v2.zip), no registration"
    citation = """@inproceedings{pogorelov2017kvasir,
  title={{KVASIR}: A Multi-Class Image Dataset for Computer Aided Gastrointestinal Disease Detection},
  author={Pogorelov, Konstantin and Randel, Kristin Ranheim and Griwodz, Carsten and others},
  booktitle={Proceedings of the 8th ACM Multimedia Systems Conference (MMSys)}, pages={164--169}, year={2017}
}"""
    modality = "endoscopy"
    organ = "GI tract"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"
    layout = "[kvasir-dataset-v2/]<class>/<uuid>.jpg (8 class folders)"
    label_names = CLASSES
    lvmmed_file_list = "Kvasir_Color_Colon"
    file_list_match = "path"

    def iter_records(self, data_dir: Path):
        root = find_dir(data_dir, ["kvasir-dataset-v2", "*/kvasir-dataset-v2", "."])
        for p, cls in iter_class_folders(root, CLASSES, (".jpg", ".jpeg")):
            yield Record(paths=p, patient_id=p.stem, label=cls, reader="image")

    def list_keys(self, record: Record, path: Path, data_dir: Path) -> set[str]:
        return super().list_keys(record, path, data_dir) | {f"{path.parent.name}_{path.name}"}
