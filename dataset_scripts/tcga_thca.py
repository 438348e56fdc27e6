"""TCGA-THCA (TCIA): clinical radiology of TCGA thyroid carcinoma patients.

Accepted layouts (NBIA Data Retriever, both directory types; see
:mod:`lvmmed_hf.data.layouts.tcia`)::

    [manifest-<ms>/][TCGA-THCA/]TCGA-<tss>-<xxxx>/<StudyDate>-<StudyDescription>-<nnnnn>/<SeriesNumber>-<SeriesDescription>-<nnnnn>/<a>-<n>.dcm
    [TCGA-THCA/]TCGA-<tss>-<xxxx>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

One record per DICOM series (slices grouped by folder, regrouped by SeriesInstanceUID when a folder
mixes series); CT series only. Non-image series (RTSTRUCT/RTDOSE/RTPLAN/SEG/SR) and localizers are
skipped and counted.

Verified: the published LVM-Med list 0_SSL_TCGA-THCA_CT_Thyroid.txt (668 slice files,
`TCGA-DE-A4MD/09-26-2004-Outside Read or Comparison NEURO CT-86323/2.000000-Soft Tissue
Neck-62578/1-009.dcm`) names files relative to the collection folder in the descriptive layout; neck
CT (the paper's 'colour' label is wrong). When the data folder holds several TCGA collections, the
`TCGA-THCA` folder is used.
"""

from lvmmed_hf.data.layouts.tcia import (
    TCGA_PATIENT_PATTERN,
    TCIA_ACCESS,
    TCIA_CITATION,
    TCIA_LICENSE,
    TciaCollectionBuilder,
)


class TcgaThca(TciaCollectionBuilder):
    source_name = "tcga_thca"
    pretty_name = "TCGA-THCA (TCIA)"
    description = (
        "Clinical CT of The Cancer Genome Atlas thyroid carcinoma patients, matched to "
        "their TCGA genomic data."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/tcga-thca/"
    license = TCIA_LICENSE
    access = TCIA_ACCESS
    citation = TCIA_CITATION
    modality = "CT"
    organ = "thyroid"
    patient_pattern = TCGA_PATIENT_PATTERN
    accepted_modalities = ("CT",)
    collection_names = ("TCGA-THCA",)
    lvmmed_file_list = "0_SSL_TCGA-THCA_CT_Thyroid"
