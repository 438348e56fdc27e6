"""MM-WHS 2017 (Multi-Modality Whole Heart Segmentation) MRI training volumes.

Accepted layout (the challenge's ``mr_train`` zip, unpacked; ``data_dir`` may be the
``mr_train`` folder or its parent)::

    <data_dir>/mr_train/mr_train_<id>_image.nii.gz    (ids 1001..1020; .nii accepted)
    <data_dir>/mr_train/mr_train_<id>_label.nii.gz    (-> ``mask``, same slice index)

Verified: LVM-Med's list ``MMWHS_MR_Heart`` names ``mr_train_<id>_image.nii`` / ``_label.nii`` pairs (5 of
the 20 training cases; matched on the file stem, so .nii and .nii.gz both match); the naming
matches the MM-WHS challenge's training zips and public loaders of them. Split: the official
training set (the test set has no public labels).
"""

from lvmmed_hf.data.layouts.volumes_sources import MmwhsBuilder


class MmwhsMri(MmwhsBuilder):
    source_name = "mmwhs_mri"
    prefix = "mr"
    pretty_name = "MM-WHS MRI"
    description = (
        "3D cardiac MRI (balanced steady-state free precession, navigator-gated) of 20 training patients from"
        " St Thomas Hospital and Royal Brompton Hospital, London, with labels of seven substructures (MM-WHS "
        "2017 MRI training set)."
    )
    modality = "MRI"
    layout = "mr_train/mr_train_<id>_image.nii.gz (+ _label.nii.gz)"
    lvmmed_file_list = "MMWHS_MR_Heart"
