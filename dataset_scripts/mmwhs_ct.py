"""MM-WHS 2017 (Multi-Modality Whole Heart Segmentation) CT training volumes.

Accepted layout (the challenge's ``ct_train`` zip, unpacked; ``data_dir`` may be the
``ct_train`` folder or its parent)::

    <data_dir>/ct_train/ct_train_<id>_image.nii.gz    (ids 1001..1020; .nii accepted)
    <data_dir>/ct_train/ct_train_<id>_label.nii.gz    (-> ``mask``, same slice index)

Verified: LVM-Med's list ``MMWHS_CT_Heart`` names ``ct_train_<id>_image.nii`` / ``_label.nii`` pairs (5 of
the 20 training cases; matched on the file stem, so .nii and .nii.gz both match); the naming
matches the MM-WHS challenge's training zips and public loaders of them. Split: the official
training set (the test set has no public labels).
"""

from lvmmed_hf.data.layouts.volumes_sources import MmwhsBuilder


class MmwhsCt(MmwhsBuilder):
    source_name = "mmwhs_ct"
    prefix = "ct"
    pretty_name = "MM-WHS CT"
    description = (
        "Cardiac CT angiography (CTA) of 20 training patients from Shanghai Shuguang Hospital, covering the "
        "whole heart from the upper abdomen to the aortic arch, with labels of seven substructures (MM-WHS "
        "2017 CT training set)."
    )
    modality = "CT"
    layout = "ct_train/ct_train_<id>_image.nii.gz (+ _label.nii.gz)"
    lvmmed_file_list = "MMWHS_CT_Heart"
