"""Pancreas-CT (TCIA): 82 contrast-enhanced abdominal CT scans (NIH Clinical Center).

Accepted layouts (NBIA Data Retriever, both directory types; see
:mod:`lvmmed_hf.data.layouts.tcia`)::

    [manifest-<ms>/][Pancreas-CT/]PANCREAS_<nnnn>/<StudyDate>-<StudyDescription>-<nnnnn>/<SeriesNumber>-<SeriesDescription>-<nnnnn>/<a>-<n>.dcm
    [Pancreas-CT/]PANCREAS_<nnnn>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

One record per DICOM series (slices grouped by folder, regrouped by SeriesInstanceUID when a folder
mixes series); CT series only. Non-image series (RTSTRUCT/RTDOSE/RTPLAN/SEG/SR) and localizers are
skipped and counted.

Verified: the published LVM-Med list 0_SSL_Pancreas-CT_CT_Pancreas.txt (3740 slice files,
`PANCREAS_0015/11-24-2015-PANCREAS_0015-Pancreas-30570/Pancreas-22230/1-234.dcm`) names files
relative to the collection folder in the descriptive layout; 16 patients; series folders carry no
series number (`Pancreas-22230`), which is accepted because nothing depends on folder names. The
label NIfTI files (TCIA-hosted `label<nnnn>.nii.gz`) are not part of this DICOM layout and are not
read.
"""

from lvmmed_hf.data.layouts.tcia import TCIA_ACCESS, TCIA_CITATION, TCIA_LICENSE, TciaCollectionBuilder


class PancreasCt(TciaCollectionBuilder):
    source_name = "pancreas_ct"
    pretty_name = "Pancreas-CT (TCIA)"
    description = (
        "82 contrast-enhanced 3D abdominal CT scans from the NIH Clinical Center (healthy kidney donors and "
        "patients without pancreatic lesions), with manual pancreas labels distributed separately."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/pancreas-ct/"
    license = TCIA_LICENSE
    access = TCIA_ACCESS
    citation = (
        TCIA_CITATION
        + """
@inproceedings{roth2015deeporgan,
  title={DeepOrgan: Multi-level deep convolutional networks for automated pancreas segmentation},
  author={Roth, Holger R. and Lu, Le and Farag, Amal and Shin, Hoo-Chang and Liu, Jiamin and Turkbey, Evrim B.
      and Summers, Ronald M.},
  booktitle={Medical Image Computing and Computer-Assisted Intervention (MICCAI)}, pages={556--564},
      year={2015}
}"""
    )
    modality = "CT"
    organ = "pancreas"
    patient_pattern = r"PANCREAS_\d{4}"
    accepted_modalities = ("CT",)
    collection_names = ("Pancreas-CT",)
    lvmmed_file_list = "0_SSL_Pancreas-CT_CT_Pancreas"
