"""SARAS-MESAD: frames of robot-assisted radical prostatectomy videos (surgeon action detection challenge).

Accepted layouts::

    <data_dir>/[<release>/]train/set<k>/real<k>_frame_<n>.jpg   (+ same-name .txt YOLO boxes, train/obj.names)
    <data_dir>/[<release>/]train/<video>/<frame>.jpg            (any per-video folders under train/)
    (val/ and test/ are ignored: LVM-Med used the training frames)

The ESAD 2020 release (the first SARAS challenge) is laid out as ``train/set<k>/*.jpg`` with a
YOLO ``.txt`` per frame (``<class> <cx> <cy> <w> <h>``, normalised) and class names in
``train/obj.names``; MESAD is assumed to follow it. Boxes go into the ``objects`` feature (``bbox`` =
[cx, cy, w, h] in [0, 1], ``category`` = line index in obj.names); frames without a .txt get none.
Video id = the ``real<k>`` prefix of the name, else the parent folder; frames of one video form
one group.
Verified: the frame naming (LVM-Med list: 25,390 ``real<1-4>_frame_<n>.jpg``), the ESAD folder
and annotation format from the public ESAD baseline loader (train/set<k>, YOLO txt, obj.names).
The MESAD archive itself could not be inspected, so its top folders are NOT confirmed.
"""

import re
from pathlib import Path

import datasets

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import find_dir, list_images

_FRAME = re.compile(r"(real\d+)_frame_\d+$")


class SarasMesad(LvmMedSourceBuilder):
    source_name = "saras_mesad"
    pretty_name = "SARAS-MESAD"
    description = (
        "Endoscopic video frames of robot-assisted radical prostatectomy with surgeon action boxes (SARAS "
        "challenge)."
    )
    homepage = "https://saras-mesad.grand-challenge.org/"
    license = "challenge data: research use under the SARAS data terms (registration required)"
    access = "register on grand-challenge (SARAS-MESAD) and accept the data terms"
    citation = """@article{bawa2021saras,
  title={The {SARAS} Endoscopic Surgeon Action Detection ({ESAD}) dataset: Challenges and methods},
  author={Bawa, Vivek Singh and Singh, Gurkirt and KapingA, Francis and others},
  journal={arXiv preprint arXiv:2104.03178}, year={2021}
}"""
    modality = "surgical video"
    organ = "prostate surgery"
    dimensionality = "2d"
    split_rule = "official_train"
    layout = "train/set<k>/real<k>_frame_<n>.jpg [+ .txt YOLO boxes] or train/<video>/<frame>.jpg"
    label_names = None
    lvmmed_file_list = "SARAS-MESAD_Color_Surgery"
    file_list_match = "path"
    extra_features = {
        "objects": datasets.Sequence(
            {
                "bbox": datasets.Sequence(datasets.Value("float32"), length=4),
                "category": datasets.Value("int32"),
            }
        )
    }

    def iter_records(self, data_dir: Path):
        root = find_dir(data_dir, ["train", "*/train"])
        if root is None:
            return
        for p in list_images(root, (".jpg", ".jpeg", ".png"), recursive=True):
            m = _FRAME.match(p.stem)
            video = m.group(1) if m else p.parent.name
            boxes = p.with_suffix(".txt")
            yield Record(
                paths=p,
                patient_id=video,
                reader="image",
                extras={"objects": read_yolo_boxes(boxes) if boxes.is_file() else _no_boxes()},
            )


def _no_boxes() -> dict[str, list]:
    return {"bbox": [], "category": []}


def read_yolo_boxes(path: Path) -> dict[str, list]:
    """YOLO lines ``<class> <cx> <cy> <w> <h>`` -> ``{"bbox": [[cx, cy, w, h]], "category": [c]}``.

    Lines of another shape (blank, phase labels) are skipped.
    """
    out = _no_boxes()
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        try:
            cls, box = int(float(parts[0])), [float(v) for v in parts[1:]]
        except ValueError:
            continue
        out["bbox"].append(box)
        out["category"].append(cls)
    return out
