"""HyperKvasir (Simula): GI endoscopy images, 99,417 unlabelled and 10,662 labelled in 23 classes.

Accepted layout (the two image archives of the official download, unzipped side by side; the
``hyper-kvasir-`` folder prefix some mirrors keep is accepted too)::

    <data_dir>/unlabeled-images/images/<uuid>.jpg
    <data_dir>/labeled-images/<lower-gi-tract|upper-gi-tract>/<category>/<class>/<uuid>.jpg
    (e.g. labeled-images/lower-gi-tract/pathological-findings/polyps/<uuid>.jpg;
     labeled-images/image-labels.csv and the segmented-images / videos archives are ignored)

LVM-Med's list (0_SSL_HyperKvasir_Color_Colon, 99,355 bare ``<uuid>.jpg`` names) is the
unlabelled set; both parts are yielded here so the builder also serves the labelled classes
(``label`` = class folder name, None for unlabelled images); pass the list to reproduce LVM-Med.
Verified: the list's naming; the 23 class folder names and the ``labeled-images/<tract>/<category>/
<class>`` tree from public loaders of the release (e.g. ``lower-gi-tract/pathological-findings/polyps``).
"""

import logging
from pathlib import Path

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import find_dir, list_images

logger = logging.getLogger(__name__)

CLASSES = [
    # lower GI tract
    "cecum",
    "ileum",
    "retroflex-rectum",
    "hemorrhoids",
    "polyps",
    "ulcerative-colitis-grade-0-1",
    "ulcerative-colitis-grade-1",
    "ulcerative-colitis-grade-1-2",
    "ulcerative-colitis-grade-2",
    "ulcerative-colitis-grade-2-3",
    "ulcerative-colitis-grade-3",
    "bbps-0-1",
    "bbps-2-3",
    "impacted-stool",
    "dyed-lifted-polyps",
    "dyed-resection-margins",
    # upper GI tract
    "pylorus",
    "retroflex-stomach",
    "z-line",
    "barretts",
    "barretts-short-segment",
    "esophagitis-a",
    "esophagitis-b-d",
]


class HyperKvasir(LvmMedSourceBuilder):
    source_name = "hyperkvasir"
    pretty_name = "HyperKvasir"
    description = (
        "Gastrointestinal endoscopy images (colonoscopy and gastroscopy) from Baerum Hospital, Norway; "
        "unlabelled and 23 labelled classes."
    )
    homepage = "https://datasets.simula.no/hyper-kvasir/"
    license = "CC BY 4.0"
    access = (
        "direct download (hyper-kvasir-unlabeled-images.zip, hyper-kvasir-labeled-images.zip), no "
        "registration; also on OSF (mh9sj)"
    )
    citation = """@article{borgli2020hyperkvasir,
  title={HyperKvasir, a comprehensive multi-class image and video dataset for gastrointestinal endoscopy},
  author={Borgli, Hanna and Thambawita, Vajira and Smedsrud, Pia H and Hicks, Steven and Jha, Debesh
    and others},
  journal={Scientific Data}, volume={7}, number={1}, pages={283}, year={2020},
  doi={10.1038/s41597-020-00622-y}
}"""
    modality = "endoscopy"
    organ = "GI tract"
    dimensionality = "2d"
    split_rule = "official_train"
    layout = (
        "unlabeled-images/images/<uuid>.jpg and/or labeled-images/<lower|upper>-gi-"
        "tract/<category>/<class>/<uuid>.jpg"
    )
    label_names = CLASSES
    lvmmed_file_list = "0_SSL_HyperKvasir_Color_Colon"
    file_list_match = "path"

    def iter_records(self, data_dir: Path):
        unlabeled = find_dir(
            data_dir,
            ["unlabeled-images/images", "hyper-kvasir-unlabeled-images/images", "*/unlabeled-images/images"],
        )
        labeled = find_dir(data_dir, ["labeled-images", "hyper-kvasir-labeled-images", "*/labeled-images"])
        if unlabeled is not None:
            for p in list_images(unlabeled, (".jpg", ".jpeg")):
                yield Record(paths=p, patient_id=p.stem, label=None, reader="image")
        if labeled is not None:
            known, other = set(CLASSES), 0
            for p in list_images(labeled, (".jpg", ".jpeg"), recursive=True):
                cls = p.parent.name
                if cls in known:
                    yield Record(paths=p, patient_id=p.stem, label=cls, reader="image")
                else:
                    other += 1
            if other:
                logger.warning(
                    "hyperkvasir: %d images under %s are not in a known class folder; skipped", other, labeled
                )
