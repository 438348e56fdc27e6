"""Medical Segmentation Decathlon, Task08_HepaticVessel (CT): one 3D NIfTI volume per training case.

Accepted layout (the official ``Task08_HepaticVessel.tar`` from medicaldecathlon.com / the AWS open-data
mirror, unpacked)::

    <data_dir>/Task08_HepaticVessel/dataset.json                ("training": image/label pairs)
    <data_dir>/Task08_HepaticVessel/imagesTr/hepaticvessel_<nnn>.nii.gz     (images; ``._*`` macOS forks
    ignored)
    <data_dir>/Task08_HepaticVessel/labelsTr/hepaticvessel_<nnn>.nii.gz     (-> ``mask`` feature, same slice
    index)
    <data_dir>/Task08_HepaticVessel/imagesTs/...                (test images, unlabelled: not used)

``data_dir`` may also be the ``Task08_HepaticVessel`` folder itself. Verified against LVM-Med's
``MSD.txt`` (its ``Task08_HepaticVessel`` group names
``Task08_HepaticVessel/imagesTr/hepaticvessel_<nnn>.nii.gz``)
and the Decathlon's ``dataset.json`` format (``training``: list of ``./imagesTr`` /
``./labelsTr`` pairs), which MONAI's ``DecathlonDataset`` also reads. Split: LVM-Med
sampled 20% of the training cases (by case). Pass ``MSD.txt`` as ``file_list``: only this
task's lines are used.
"""

from lvmmed_hf.data.layouts.volumes_sources import MsdTaskBuilder


class MsdTask08HepaticVessel(MsdTaskBuilder):
    source_name = "msd_task08_hepaticvessel"
    task = "Task08_HepaticVessel"
    pretty_name = "MSD Task08 Hepatic Vessel"
    description = (
        "CT of liver tumours and hepatic vessels (Memorial Sloan Kettering, 303 training + 140 test), Medical"
        " Segmentation Decathlon task 8. Labels: 0 background, 1 vessel, 2 tumour. The paper lists it as MRI;"
        " it is CT."
    )
    modality = "CT"
    organ = "liver vessels"
    layout = "Task08_HepaticVessel/imagesTr/hepaticvessel_<nnn>.nii.gz (+ labelsTr/, dataset.json)"
