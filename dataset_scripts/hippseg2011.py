"""Hippocampus segmentation dataset 2011 (Henry Ford Hospital, NITRC ``hippseg_2011``): T1 brain MRI.

Accepted layout (the NITRC download, unpacked; ``data_dir`` searched recursively)::

    <data_dir>/.../HFH_<nnn>.hdr + HFH_<nnn>.img                     (Analyze 7.5 T1-weighted volume)
    <data_dir>/.../HFH_<nnn>_Hipp_Labels.hdr + .img                   (training cases: manual
        hippocampus outlines -> ``mask``, same slice index)

50 subjects (40 temporal-lobe epilepsy, 10 nonepileptic); 25 come with labels. Analyze 7.5 has
no orientation field, so the axial axis is taken from nibabel's default (voxel-size) affine,
i.e. the third voxel axis. Verified: LVM-Med's list ``Hippseg2011_MRI_Brain`` names
``HFH_<nnn>.hdr`` / ``.img`` pairs (4 subjects; both entries match the volume by stem); the label
naming ``HFH_<nnn>_Hipp_Labels.{hdr,img}`` from public code reading the NITRC release.
"""

import re
from pathlib import Path

from lvmmed_hf.data.builder import Record
from lvmmed_hf.data.layouts.volumes_sources import MASK_PATH, MaskedSourceBuilder

_IMAGE = re.compile(r"^HFH_(\d+)\.hdr$", re.IGNORECASE)


class Hippseg2011(MaskedSourceBuilder):
    source_name = "hippseg2011"
    pretty_name = "Hippocampus segmentation 2011 (HFH)"
    description = (
        "T1-weighted brain MRI (Analyze 7.5) of 50 subjects from Henry Ford Hospital, 40 with temporal lobe "
        "epilepsy and 10 nonepileptic, 25 with manual hippocampus segmentations, released to validate "
        "hippocampal segmentation methods."
    )
    homepage = "https://www.nitrc.org/projects/hippseg_2011/"
    license = "no standard licence stated; NITRC project terms, cite the data paper"
    access = "log in to NITRC and download the release from the hippseg_2011 project page"
    citation = """@article{jafari2011dataset,
  title={Dataset of magnetic resonance images of nonepileptic subjects and temporal lobe epilepsy patients for
      validation of hippocampal segmentation techniques},
  author={Jafari-Khouzani, Kourosh and Elisevich, Kost V and Patel, Suresh and Soltanian-Zadeh, Hamid},
  journal={Neuroinformatics}, volume={9}, number={4}, pages={335--346}, year={2011}
}"""
    modality = "MRI"
    organ = "brain"
    dimensionality = "3d"
    split_rule = "random_20pct_by_volume"
    layout = "HFH_<nnn>.hdr + .img (+ HFH_<nnn>_Hipp_Labels.hdr/.img)"
    lvmmed_file_list = "Hippseg2011_MRI_Brain"
    file_list_match = "stem"

    def iter_records(self, data_dir: Path):
        for hdr in sorted(data_dir.rglob("*.hdr")):
            if not _IMAGE.match(hdr.name) or hdr.name.startswith("."):
                continue
            if not hdr.with_suffix(".img").is_file():
                continue  # an Analyze header without its data file cannot be read
            labels = hdr.with_name(f"{hdr.stem}_Hipp_Labels.hdr")
            yield Record(
                paths=hdr,
                patient_id=hdr.stem,
                volume_id=hdr.stem,
                reader="nifti",
                extras={MASK_PATH: labels} if labels.is_file() else {},
            )
