"""Medical Segmentation Decathlon, Task06_Lung (CT): one 3D NIfTI volume per training case.

Accepted layout (the official ``Task06_Lung.tar`` from medicaldecathlon.com / the AWS open-data
mirror, unpacked)::

    <data_dir>/Task06_Lung/dataset.json                ("training": image/label pairs)
    <data_dir>/Task06_Lung/imagesTr/lung_<nnn>.nii.gz     (images; ``._*`` macOS forks ignored)
    <data_dir>/Task06_Lung/labelsTr/lung_<nnn>.nii.gz     (-> ``mask`` feature, same slice index)
    <data_dir>/Task06_Lung/imagesTs/...                (test images, unlabelled: not used)

``data_dir`` may also be the ``Task06_Lung`` folder itself. Verified against LVM-Med's
``MSD.txt`` (its ``Task06_Lung`` group names ``Task06_Lung/imagesTr/lung_<nnn>.nii.gz``)
and the Decathlon's ``dataset.json`` format (``training``: list of ``./imagesTr`` /
``./labelsTr`` pairs), which MONAI's ``DecathlonDataset`` also reads. Split: LVM-Med
sampled 20% of the training cases (by case). Pass ``MSD.txt`` as ``file_list``: only this
task's lines are used.
"""

from lvmmed_hf.data.layouts.volumes_sources import MsdTaskBuilder


class MsdTask06Lung(MsdTaskBuilder):
    source_name = "msd_task06_lung"
    task = "Task06_Lung"
    pretty_name = "MSD Task06 Lung"
    description = (
        "CT of non-small-cell lung cancer (The Cancer Imaging Archive, 64 training + 32 test), Medical "
        "Segmentation Decathlon task 6. Labels: 0 background, 1 cancer. The paper lists it as MRI; it is CT."
    )
    modality = "CT"
    organ = "lung"
    layout = "Task06_Lung/imagesTr/lung_<nnn>.nii.gz (+ labelsTr/, dataset.json)"
