"""Medical Segmentation Decathlon, Task09_Spleen (CT): one 3D NIfTI volume per training case.

Accepted layout (the official ``Task09_Spleen.tar`` from medicaldecathlon.com / the AWS open-data
mirror, unpacked)::

    <data_dir>/Task09_Spleen/dataset.json                ("training": image/label pairs)
    <data_dir>/Task09_Spleen/imagesTr/spleen_<n>.nii.gz     (images; ``._*`` macOS forks ignored)
    <data_dir>/Task09_Spleen/labelsTr/spleen_<n>.nii.gz     (-> ``mask`` feature, same slice index)
    <data_dir>/Task09_Spleen/imagesTs/...                (test images, unlabelled: not used)

``data_dir`` may also be the ``Task09_Spleen`` folder itself. Verified against LVM-Med's
``MSD.txt`` (its ``Task09_Spleen`` group names ``Task09_Spleen/imagesTr/spleen_<n>.nii.gz``)
and the Decathlon's ``dataset.json`` format (``training``: list of ``./imagesTr`` /
``./labelsTr`` pairs), which MONAI's ``DecathlonDataset`` also reads. Split: LVM-Med
sampled 20% of the training cases (by case). Pass ``MSD.txt`` as ``file_list``: only this
task's lines are used.
"""

from lvmmed_hf.data.layouts.volumes_sources import MsdTaskBuilder


class MsdTask09Spleen(MsdTaskBuilder):
    source_name = "msd_task09_spleen"
    task = "Task09_Spleen"
    pretty_name = "MSD Task09 Spleen"
    description = (
        "Portal-venous CT of patients in chemotherapy for liver metastases (Memorial Sloan Kettering, 41 "
        "training + 20 test), Medical Segmentation Decathlon task 9. Labels: 0 background, 1 spleen. The "
        "paper lists it as MRI; it is CT."
    )
    modality = "CT"
    organ = "spleen"
    layout = "Task09_Spleen/imagesTr/spleen_<n>.nii.gz (+ labelsTr/, dataset.json)"
