"""ADNI1 T1-weighted brain MRI at 3T (LVM-Med's "ADNI 3T" source), NIfTI, with diagnostic group.

Accepted layouts (see :class:`lvmmed_hf.data.layouts.volumes_sources.AdniBuilder`)::

    <data_dir>/I<image>_<CN|MCI|AD>.nii                          (LVM-Med's flat export)
    <data_dir>/ADNI/<subject>/<description>/<date>/I<image>/
        ADNI_<subject>_MR_<description>_Br_<timestamp>_S<series>_I<image>.nii   (IDA download)
    <data_dir>/<collection>_<date>.csv   (optional; "Image Data ID", "Subject", "Group" columns)

Download the ADNI1 3T collection (e.g. "ADNI1:Complete 1Yr 3T") from IDA as NIfTI; the field
strength is a property of the collection, not of the file names, so this builder reads whatever
ADNI images it finds: point it at the 3T download only. Label: diagnostic group (CN / MCI / AD)
from the flat name or the collection CSV. Verified: LVM-Med's list ``ADNI1_MRI_Brain_3T`` names
``I<image>_<group>.nii`` files (matched on the image ID, so a native IDA download matches too);
the IDA naming and folder tree from public code reading ADNI downloads.
"""

from lvmmed_hf.data.layouts.volumes_sources import AdniBuilder


class Adni3T(AdniBuilder):
    source_name = "adni_3t"
    pretty_name = "ADNI1 3T MRI"
    description = (
        "ADNI1 structural T1-weighted (MPRAGE) brain MRI at 3T of cognitively normal, MCI and Alzheimer's "
        "disease participants, as NIfTI from the LONI Image and Data Archive."
    )
    layout = (
        "I<image>_<CN|MCI|AD>.nii, or "
        "ADNI/<subject>/<description>/<date>/I<image>/ADNI_<subject>_MR_..._S<series>_I<image>.nii"
    )
    lvmmed_file_list = "ADNI1_MRI_Brain_3T"
