"""Medical Segmentation Decathlon, Task02_Heart (MRI): one 3D NIfTI volume per training case.

Accepted layout (the official ``Task02_Heart.tar`` from medicaldecathlon.com / the AWS open-data
mirror, unpacked)::

    <data_dir>/Task02_Heart/dataset.json                ("training": image/label pairs)
    <data_dir>/Task02_Heart/imagesTr/la_<nnn>.nii.gz     (images; ``._*`` macOS forks ignored)
    <data_dir>/Task02_Heart/labelsTr/la_<nnn>.nii.gz     (-> ``mask`` feature, same slice index)
    <data_dir>/Task02_Heart/imagesTs/...                (test images, unlabelled: not used)

``data_dir`` may also be the ``Task02_Heart`` folder itself. Verified against LVM-Med's
``MSD.txt`` (its ``Task02_Heart`` group names ``Task02_Heart/imagesTr/la_<nnn>.nii.gz``)
and the Decathlon's ``dataset.json`` format (``training``: list of ``./imagesTr`` /
``./labelsTr`` pairs), which MONAI's ``DecathlonDataset`` also reads. Split: LVM-Med
sampled 20% of the training cases (by case). Pass ``MSD.txt`` as ``file_list``: only this
task's lines are used.
"""

from lvmmed_hf.data.layouts.volumes_sources import MsdTaskBuilder


class MsdTask02Heart(MsdTaskBuilder):
    source_name = "msd_task02_heart"
    task = "Task02_Heart"
    pretty_name = "MSD Task02 Heart"
    description = (
        "Mono-modal 3D MRI of the left atrium (King's College London, 30 cases: 20 training with labels), "
        "Medical Segmentation Decathlon task 2. Labels: 0 background, 1 left atrium."
    )
    modality = "MRI"
    organ = "heart (left atrium)"
    layout = "Task02_Heart/imagesTr/la_<nnn>.nii.gz (+ labelsTr/, dataset.json)"
