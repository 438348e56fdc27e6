"""Medical Segmentation Decathlon, Task03_Liver (CT): one 3D NIfTI volume per training case.

Accepted layout (the official ``Task03_Liver.tar`` from medicaldecathlon.com / the AWS open-data
mirror, unpacked)::

    <data_dir>/Task03_Liver/dataset.json                ("training": image/label pairs)
    <data_dir>/Task03_Liver/imagesTr/liver_<n>.nii.gz     (images; ``._*`` macOS forks ignored)
    <data_dir>/Task03_Liver/labelsTr/liver_<n>.nii.gz     (-> ``mask`` feature, same slice index)
    <data_dir>/Task03_Liver/imagesTs/...                (test images, unlabelled: not used)

``data_dir`` may also be the ``Task03_Liver`` folder itself. Verified against LVM-Med's
``MSD.txt`` (its ``Task03_Liver`` group names ``Task03_Liver/imagesTr/liver_<n>.nii.gz``)
and the Decathlon's ``dataset.json`` format (``training``: list of ``./imagesTr`` /
``./labelsTr`` pairs), which MONAI's ``DecathlonDataset`` also reads. Split: LVM-Med
sampled 20% of the training cases (by case). Pass ``MSD.txt`` as ``file_list``: only this
task's lines are used.
"""

from lvmmed_hf.data.layouts.volumes_sources import MsdTaskBuilder


class MsdTask03Liver(MsdTaskBuilder):
    source_name = "msd_task03_liver"
    task = "Task03_Liver"
    pretty_name = "MSD Task03 Liver"
    description = (
        "Portal-venous contrast CT of the liver with tumours (the LiTS 2017 cases, 131 training + 70 test), "
        "Medical Segmentation Decathlon task 3. Labels: 0 background, 1 liver, 2 cancer. The paper lists it "
        "as MRI; it is CT. Its training cases are the LiTS 2017 training volumes (see the lits2017 source)."
    )
    modality = "CT"
    organ = "liver"
    layout = "Task03_Liver/imagesTr/liver_<n>.nii.gz (+ labelsTr/, dataset.json)"
