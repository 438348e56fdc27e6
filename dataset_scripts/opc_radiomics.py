"""OPC-Radiomics (TCIA): oropharyngeal cancer radiotherapy planning CT (Princess Margaret Cancer
Centre).

Accepted layouts (NBIA Data Retriever, both directory types; see
:mod:`lvmmed_hf.data.layouts.tcia`)::

    [manifest-<ms>/][OPC-Radiomics/]OPC-<nnnnn>/<StudyDate>-<StudyDescription>-<nnnnn>/<SeriesNumber>-<SeriesDescription>-<nnnnn>/<a>-<n>.dcm
    [OPC-Radiomics/]OPC-<nnnnn>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

One record per DICOM series (slices grouped by folder, regrouped by SeriesInstanceUID when a folder
mixes series); CT series only. Non-image series (RTSTRUCT/RTDOSE/RTPLAN/SEG/SR) and localizers are
skipped and counted.

Verified: the published LVM-Med list 0_SSL_OPC-Radiomics_CT_Oropharynx.txt (21517 slice files,
`OPC-00543/12-15-2003-Head and Neck RT Planning CT-99125/2.000000-Helical Axial-85973/1-103.dcm`)
names files relative to the collection folder in the descriptive layout; 120 patients; series
folders without a description (`1.000000-14014`) occur and are parsed the same way.
"""

from lvmmed_hf.data.layouts.tcia import TCIA_ACCESS, TCIA_CITATION, TCIA_LICENSE, TciaCollectionBuilder


class OpcRadiomics(TciaCollectionBuilder):
    source_name = "opc_radiomics"
    pretty_name = "OPC-Radiomics (TCIA)"
    description = (
        "Radiotherapy planning CT of oropharyngeal cancer patients from Princess Margaret Cancer Centre, "
        "with RT "
        "structure sets (skipped here)."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/opc-radiomics/"
    license = TCIA_LICENSE
    access = TCIA_ACCESS
    citation = (
        TCIA_CITATION
        + """
@article{kwan2018opc,
  title={Radiomic biomarkers to refine risk models for distant metastasis in HPV-related oropharyngeal
      carcinoma},
  author={Kwan, Jennifer Y. Y. and Su, Jie and Huang, Shao Hui and others},
  journal={International Journal of Radiation Oncology, Biology, Physics}, volume={102}, number={4},
      pages={1107--1116}, year={2018}
}"""
    )
    modality = "CT"
    organ = "oropharynx"
    patient_pattern = r"OPC-\d{5}"
    accepted_modalities = ("CT",)
    collection_names = ("OPC-Radiomics",)
    lvmmed_file_list = "0_SSL_OPC-Radiomics_CT_Oropharynx"
