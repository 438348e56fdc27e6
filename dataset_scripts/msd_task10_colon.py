"""Medical Segmentation Decathlon, Task10_Colon (CT): one 3D NIfTI volume per training case.

Accepted layout (the official ``Task10_Colon.tar`` from medicaldecathlon.com / the AWS open-data
mirror, unpacked)::

    <data_dir>/Task10_Colon/dataset.json                ("training": image/label pairs)
    <data_dir>/Task10_Colon/imagesTr/colon_<nnn>.nii.gz     (images; ``._*`` macOS forks ignored)
    <data_dir>/Task10_Colon/labelsTr/colon_<nnn>.nii.gz     (-> ``mask`` feature, same slice index)
    <data_dir>/Task10_Colon/imagesTs/...                (test images, unlabelled: not used)

``data_dir`` may also be the ``Task10_Colon`` folder itself. Verified against LVM-Med's
``MSD.txt`` (its ``Task10_Colon`` group names ``Task10_Colon/imagesTr/colon_<nnn>.nii.gz``)
and the Decathlon's ``dataset.json`` format (``training``: list of ``./imagesTr`` /
``./labelsTr`` pairs), which MONAI's ``DecathlonDataset`` also reads. Split: LVM-Med
sampled 20% of the training cases (by case). Pass ``MSD.txt`` as ``file_list``: only this
task's lines are used.
"""

from lvmmed_hf.data.layouts.volumes_sources import MsdTaskBuilder


class MsdTask10Colon(MsdTaskBuilder):
    source_name = "msd_task10_colon"
    task = "Task10_Colon"
    pretty_name = "MSD Task10 Colon"
    description = (
        "CT of primary colon cancer (Memorial Sloan Kettering, 126 training + 64 test), Medical Segmentation "
        "Decathlon task 10. Labels: 0 background, 1 colon cancer. The paper lists it as MRI; it is CT."
    )
    modality = "CT"
    organ = "colon"
    layout = "Task10_Colon/imagesTr/colon_<nnn>.nii.gz (+ labelsTr/, dataset.json)"
