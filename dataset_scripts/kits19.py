"""KiTS19 (2019 Kidney Tumor Segmentation Challenge) training CT volumes.

Accepted layout (the ``kits19`` GitHub repository after its ``get_imaging`` step, or the same
``data`` folder copied elsewhere; ``data_dir`` may be the repository, its ``data`` folder, or a
folder of case directories)::

    <data_dir>/[data/]case_<nnnnn>/imaging.nii.gz        (CT in HU)
    <data_dir>/[data/]case_<nnnnn>/segmentation.nii.gz   (-> ``mask``: 0, 1 kidney, 2 tumour)

Only the 210 training cases (``case_00000``..``case_00209``, the ones with a segmentation) form
the training partition; LVM-Med's 20% sample was drawn from them. Verified: LVM-Med's list
``KiTS19_CT_Kidney`` names ``case_<nnnnn>/imaging.nii.gz`` and ``.../segmentation.nii.gz`` pairs of
34 training cases (the segmentation lines are labels and select nothing); the naming matches the
kits19 repository's ``data/case_<nnnnn>/{imaging,segmentation}.nii.gz``.
Public source: the README of https://github.com/neheller/kits19 (the ``data/`` tree after
``starter_code.get_imaging``: ``case_00000``..``case_00209``, each ``imaging.nii.gz`` and
``segmentation.nii.gz``; 0 background, 1 kidney, 2 tumour).
"""

import re
from pathlib import Path

from lvmmed_hf.data.builder import Record
from lvmmed_hf.data.layouts.volumes_sources import MASK_PATH, MaskedSourceBuilder, drop_list_entries, nifti_in

_CASE = re.compile(r"^case_(\d{5})$")
N_TRAINING = 210


class Kits19(MaskedSourceBuilder):
    source_name = "kits19"
    pretty_name = "KiTS19"
    description = (
        "Arterial-phase abdominal CT of 300 patients who underwent partial or radical nephrectomy for kidney "
        "tumours at the University of Minnesota; 210 training cases with kidney and tumour labels (KiTS19)."
    )
    homepage = "https://kits19.grand-challenge.org/"
    license = "CC BY-NC-SA 4.0"
    access = "clone github.com/neheller/kits19 and run its get_imaging script (no registration)"
    citation = """@article{heller2019kits19,
  title={The KiTS19 Challenge Data: 300 Kidney Tumor Cases with Clinical Context, CT Semantic Segmentations,
      and Surgical Outcomes},
  author={Heller, Nicholas and Sathianathen, Niranjan and Kalapara, Arveen and others},
  journal={arXiv preprint arXiv:1904.00445}, year={2019}
}"""
    modality = "CT"
    organ = "kidney"
    dimensionality = "3d"
    split_rule = "random_20pct_by_volume"
    layout = "[data/]case_<nnnnn>/imaging.nii.gz (+ segmentation.nii.gz), cases 00000-00209"
    lvmmed_file_list = "KiTS19_CT_Kidney"
    file_list_match = "path"

    def iter_records(self, data_dir: Path):
        roots = [d for d in (data_dir, data_dir / "data") if d.is_dir()]
        for root in roots:
            for case_dir in sorted(p for p in root.glob("case_*") if p.is_dir()):
                m = _CASE.match(case_dir.name)
                if not m or int(m.group(1)) >= N_TRAINING:
                    continue  # test cases (no labels) are not part of the training partition
                img = nifti_in(case_dir, "imaging")
                if img is None:
                    continue
                seg = nifti_in(case_dir, "segmentation")
                yield Record(
                    paths=img,
                    patient_id=case_dir.name,
                    volume_id=case_dir.name,
                    reader="nifti",
                    extras={MASK_PATH: seg} if seg else {},
                )

    def parse_file_list(self, path):
        entries = super().parse_file_list(path)
        return drop_list_entries(entries, re.compile(r"^segmentation\."), self.source_name, "segmentations")

    def list_exclusion_reason(self, entry: str) -> str | None:
        """``segmentation_mask`` for the list's ``case_<n>/segmentation.nii.gz`` entries: the
        ground-truth labels of a case (its ``mask`` feature), not an image of their own."""
        return "segmentation_mask" if re.match(r"^segmentation\.", entry.rsplit("/", 1)[-1]) else None
