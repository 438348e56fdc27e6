"""LiTS 2017 (Liver Tumor Segmentation Challenge) training CT volumes.

Accepted layouts (``data_dir`` searched recursively)::

    <data_dir>/Training Batch 1/volume-<n>.nii, segmentation-<n>.nii   (official CodaLab zips,
    <data_dir>/Training Batch 2/volume-<n>.nii, segmentation-<n>.nii    n = 0..27 and 28..130)
    <data_dir>/volume_pt<k>/volume-<n>.nii + segmentations/segmentation-<n>.nii  (Kaggle mirror)

``.nii.gz`` is accepted too. ``segmentation-<n>`` (0 background, 1 liver, 2 tumour) becomes the
``mask`` feature, found next to the volume or anywhere under ``data_dir``; the test volumes
(``test-volume-<n>.nii``) are not training data and are not read.

Verified: LVM-Med's list ``0_SSL_LiTS2017_Liver`` names stems ``volume-<n>`` (30 of the 131
training volumes: its 20% sample; matched on the file stem); the ``Training Batch 1`` /
``Training Batch 2`` folder names and ``volume-<n>.nii`` / ``segmentation-<n>.nii`` file names
against public loaders of the CodaLab release. Patient identity is not published; each volume
is its own sampling unit. The same scans are MSD Task03 (``liver_<n>``).
"""

import re
from pathlib import Path

from lvmmed_hf.data.builder import Record
from lvmmed_hf.data.layouts.volumes_sources import MASK_PATH, MaskedSourceBuilder, nifti_files

_VOLUME = re.compile(r"^volume-(\d+)\.nii(\.gz)?$")
_SEG = re.compile(r"^segmentation-(\d+)\.nii(\.gz)?$")


class Lits2017(MaskedSourceBuilder):
    source_name = "lits2017"
    pretty_name = "LiTS 2017"
    description = (
        "Contrast-enhanced abdominal CT of 131 patients with primary and secondary liver tumours from seven "
        "clinical sites, with liver and tumour labels (LiTS 2017 training set)."
    )
    homepage = "https://competitions.codalab.org/competitions/17094"
    license = "CC BY-NC-SA 4.0"
    access = "register on the CodaLab LiTS page (or the Kaggle mirror), download the training batches"
    citation = """@article{bilic2023liver,
  title={The Liver Tumor Segmentation Benchmark (LiTS)},
  author={Bilic, Patrick and Christ, Patrick and Li, Hongwei Bran and Vorontsov, Eugene and others},
  journal={Medical Image Analysis}, volume={84}, pages={102680}, year={2023}
}"""
    modality = "CT"
    organ = "liver"
    dimensionality = "3d"
    split_rule = "random_20pct_by_volume"
    layout = "Training Batch {1,2}/volume-<n>.nii (+ segmentation-<n>.nii)"
    lvmmed_file_list = "0_SSL_LiTS2017_Liver"
    file_list_match = "stem"

    def iter_records(self, data_dir: Path):
        files = nifti_files(data_dir, "*-*", recursive=True)
        segs = {}
        for p in files:
            m = _SEG.match(p.name)
            if m:
                segs.setdefault(int(m.group(1)), []).append(p)
        for p in files:
            m = _VOLUME.match(p.name)
            if not m:
                continue
            n = int(m.group(1))
            cands = segs.get(n, [])
            seg = next((s for s in cands if s.parent == p.parent), cands[0] if cands else None)
            yield Record(
                paths=p,
                patient_id=f"volume-{n}",
                volume_id=f"volume-{n}",
                reader="nifti",
                extras={MASK_PATH: seg} if seg else {},
            )
