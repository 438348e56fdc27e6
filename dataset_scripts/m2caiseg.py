"""m2caiSeg: laparoscopic cholecystectomy frames (m2cai16 videos) with colour-coded semantic masks.

Accepted layout (the Kaggle dataset salmanmaq/m2caiseg, unzipped)::

    <data_dir>/[m2caiSeg dataset/]{train,trainval,test}/images/<n>.jpg      e.g. 015975.jpg, 0.jpg
    <data_dir>/[m2caiSeg dataset/]{train,trainval,test}/groundtruth/<n>.png  (RGB classes -> "mask")

What LVM-Med used: its list (m2caiSeg_Color_Laparoscopic) has 552 lines but 307 distinct names,
245 of them twice - the frames of ``train/`` that ``trainval/`` repeats - and 62 once, i.e. every
frame of the release, not only the training folder. The builder therefore yields each frame name
once, from the first of ``train/``, ``trainval/``, ``test/`` that holds it, so preparing without a
list gives the same 307 frames (``split_rule`` "official_train" here means: no random sample).
The mask is attached when ``groundtruth/<stem>.png`` exists next to the image (pairing by stem
is an assumption: public loaders sort the two folders in parallel). No patient ids are
published; each frame is its own group.
Verified: folder names from public loaders of the Kaggle release ("m2caiSeg dataset/<split>/
images|groundtruth", trainval a superset of train); frame names and counts from the LVM-Med list.
"""

from pathlib import Path

import datasets

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import find_dir, list_images, with_file_bytes


class M2caiSeg(LvmMedSourceBuilder):
    source_name = "m2caiseg"
    pretty_name = "m2caiSeg"
    description = (
        "Laparoscopic cholecystectomy video frames with pixel annotations of organs and instruments."
    )
    homepage = "https://www.kaggle.com/datasets/salmanmaq/m2caiseg"
    license = "see the Kaggle page (frames from the m2cai16 challenge videos; research use, cite)"
    access = "Kaggle download (Kaggle account)"
    citation = """@article{maqbool2020m2caiseg,
  title={m2caiSeg: Semantic Segmentation of Laparoscopic Images using Convolutional Neural Networks},
  author={Maqbool, Salman and Riaz, Aqsa and Sajid, Hasan and Hasan, Osman},
  journal={arXiv preprint arXiv:2008.10134}, year={2020}
}"""
    modality = "laparoscopy"
    organ = "abdomen"
    dimensionality = "2d"
    split_rule = "official_train"
    layout = "[m2caiSeg dataset/]{train,trainval,test}/images/<n>.jpg [+ groundtruth/<n>.png]"
    label_names = None
    lvmmed_file_list = "m2caiSeg_Color_Laparoscopic"
    file_list_match = "path"
    extra_features = {"mask": datasets.Image()}

    def iter_records(self, data_dir: Path):
        root = find_dir(data_dir, ["m2caiSeg dataset", "*/m2caiSeg dataset", "."])
        seen: set[str] = set()
        for split in ("train", "trainval", "test"):
            images = root / split / "images"
            if not images.is_dir():
                continue
            for p in list_images(images, (".jpg", ".jpeg", ".png")):
                if p.name in seen:  # trainval/ repeats the train/ frames
                    continue
                seen.add(p.name)
                gt = root / split / "groundtruth" / f"{p.stem}.png"
                yield Record(
                    paths=p,
                    patient_id=p.stem,
                    reader="image",
                    extras={"mask": str(gt) if gt.is_file() else None},
                )

    def examples_from_record(self, record, report):
        for ex in super().examples_from_record(record, report):
            yield with_file_bytes(ex, ["mask"])
