"""Medical Segmentation Decathlon, Task07_Pancreas (CT): one 3D NIfTI volume per training case.

Accepted layout (the official ``Task07_Pancreas.tar`` from medicaldecathlon.com / the AWS open-data
mirror, unpacked)::

    <data_dir>/Task07_Pancreas/dataset.json                ("training": image/label pairs)
    <data_dir>/Task07_Pancreas/imagesTr/pancreas_<nnn>.nii.gz     (images; ``._*`` macOS forks ignored)
    <data_dir>/Task07_Pancreas/labelsTr/pancreas_<nnn>.nii.gz     (-> ``mask`` feature, same slice index)
    <data_dir>/Task07_Pancreas/imagesTs/...                (test images, unlabelled: not used)

``data_dir`` may also be the ``Task07_Pancreas`` folder itself. Verified against LVM-Med's
``MSD.txt`` (its ``Task07_Pancreas`` group names ``Task07_Pancreas/imagesTr/pancreas_<nnn>.nii.gz``)
and the Decathlon's ``dataset.json`` format (``training``: list of ``./imagesTr`` /
``./labelsTr`` pairs), which MONAI's ``DecathlonDataset`` also reads. Split: LVM-Med
sampled 20% of the training cases (by case). Pass ``MSD.txt`` as ``file_list``: only this
task's lines are used.
"""

from lvmmed_hf.data.layouts.volumes_sources import MsdTaskBuilder


class MsdTask07Pancreas(MsdTaskBuilder):
    source_name = "msd_task07_pancreas"
    task = "Task07_Pancreas"
    pretty_name = "MSD Task07 Pancreas"
    description = (
        "Portal-venous CT of pancreatic masses (Memorial Sloan Kettering, 282 training + 139 test), Medical "
        "Segmentation Decathlon task 7. Labels: 0 background, 1 pancreas, 2 cancer. The paper lists it as "
        "MRI; it is CT."
    )
    modality = "CT"
    organ = "pancreas"
    layout = "Task07_Pancreas/imagesTr/pancreas_<nnn>.nii.gz (+ labelsTr/, dataset.json)"
