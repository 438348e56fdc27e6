"""BraTS 2018 (Multimodal Brain Tumor Segmentation Challenge) training data: four MRI sequences per case.

Accepted layout (``MICCAI_BraTS_2018_Data_Training.zip`` from the CBICA Image Processing Portal,
unpacked; ``data_dir`` may be that folder or its parent)::

    <data_dir>/[MICCAI_BraTS_2018_Data_Training/]{HGG,LGG}/<case>/<case>_{t1,t1ce,t2,flair}.nii.gz
    <data_dir>/.../<case>/<case>_seg.nii.gz       (-> ``mask``: 0, 1 necrosis, 2 oedema, 4 enhancing)
    <data_dir>/.../survival_data.csv               (ignored)

``<case>`` is e.g. ``Brats18_CBICA_ANZ_1`` / ``Brats18_TCIA01_235_1`` / ``Brats18_2013_10_1``. Each
sequence is one record (``volume_id`` ``<case>_<seq>``) of patient ``<case>``; the label is the
glioma grade folder (HGG / LGG). Uncompressed ``.nii`` files are accepted too. The segmentation is
a label, never an image to pretrain on.

Verified: case names against LVM-Med's list ``0_SSL_BraTS2018_Brain`` (56 case names = LVM-Med's
20% of the 285 training cases; list entries are case ids, matched on the patient id), the
file naming against the BraTS 2018 data description and public loaders reading the same zip
(``<case>/<case>_<seq>.nii.gz`` under ``HGG``/``LGG``).
"""

from pathlib import Path

from lvmmed_hf.data.builder import Record
from lvmmed_hf.data.layouts.volumes_sources import MASK_PATH, MaskedSourceBuilder, nifti_in

SEQUENCES = ("t1", "t1ce", "t2", "flair")


class Brats2018(MaskedSourceBuilder):
    source_name = "brats2018"
    pretty_name = "BraTS 2018"
    description = (
        "Pre-operative multi-parametric brain MRI (T1, T1 contrast-enhanced, T2, T2-FLAIR) of 285 glioma "
        "patients (210 high-grade, 75 low-grade), co-registered to one anatomical template, 1 mm isotropic, "
        "skull-stripped, with manual tumour sub-region labels (BraTS 2018 training set)."
    )
    homepage = "https://www.med.upenn.edu/sbia/brats2018/data.html"
    license = "BraTS data terms: research use, cite the BraTS papers (TCIA-derived cases under TCIA's terms)"
    access = "register with the CBICA Image Processing Portal (ipp.cbica.upenn.edu), request BraTS 2018"
    citation = """@article{menze2015multimodal,
  title={The Multimodal Brain Tumor Image Segmentation Benchmark (BRATS)},
  author={Menze, Bjoern H and Jakab, Andras and Bauer, Stefan and others},
  journal={IEEE Transactions on Medical Imaging},
  volume={34}, number={10}, pages={1993--2024}, year={2015}
}
@article{bakas2017advancing,
  title={Advancing The Cancer Genome Atlas glioma MRI collections with expert segmentation labels and radiomic
      features},
  author={Bakas, Spyridon and Akbari, Hamed and Sotiras, Aristeidis and others},
  journal={Scientific Data}, volume={4}, pages={170117}, year={2017}
}
@article{bakas2018identifying,
  title={Identifying the Best Machine Learning Algorithms for Brain Tumor Segmentation, Progression
      Assessment, and Overall Survival Prediction in the BRATS Challenge},
  author={Bakas, Spyridon and Reyes, Mauricio and Jakab, Andras and others},
  journal={arXiv preprint arXiv:1811.02629}, year={2018}
}"""
    modality = "MRI"
    organ = "brain"
    dimensionality = "3d"
    split_rule = "random_20pct_by_volume"
    layout = "{HGG,LGG}/<case>/<case>_{t1,t1ce,t2,flair}.nii.gz (+ <case>_seg.nii.gz)"
    label_names = ["HGG", "LGG"]
    lvmmed_file_list = "0_SSL_BraTS2018_Brain"
    file_list_match = "id"

    def iter_records(self, data_dir: Path):
        grade_dirs = [
            d
            for pattern in ("{g}", "*/{g}")
            for g in self.label_names
            for d in sorted(data_dir.glob(pattern.format(g=g)))
            if d.is_dir()
        ]
        for grade_dir in grade_dirs:
            grade = grade_dir.name
            cases = sorted(p for p in grade_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
            for case_dir in cases:
                case = case_dir.name
                seg = nifti_in(case_dir, f"{case}_seg")
                for seq in SEQUENCES:
                    img = nifti_in(case_dir, f"{case}_{seq}")
                    if img is None:
                        continue
                    yield Record(
                        paths=img,
                        patient_id=case,
                        volume_id=f"{case}_{seq}",
                        label=grade,
                        reader="nifti",
                        extras={MASK_PATH: seg} if seg else {},
                    )
