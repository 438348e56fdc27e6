"""TCGA-ESCA (TCIA): clinical radiology of TCGA oesophageal carcinoma patients.

Accepted layouts (NBIA Data Retriever, both directory types; see
:mod:`lvmmed_hf.data.layouts.tcia`)::

    [manifest-<ms>/][TCGA-ESCA/]TCGA-<tss>-<xxxx>/<StudyDate>-<StudyDescription>-<nnnnn>/<SeriesNumber>-<SeriesDescription>-<nnnnn>/<a>-<n>.dcm
    [TCGA-ESCA/]TCGA-<tss>-<xxxx>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

One record per DICOM series (slices grouped by folder, regrouped by SeriesInstanceUID when a folder
mixes series); CT series only. Non-image series (RTSTRUCT/RTDOSE/RTPLAN/SEG/SR) and localizers are
skipped and counted.

Verified: the published LVM-Med list 0_SSL_TCGA-ESCA_CT_Esophagus.txt (4427 slice files,
`TCGA-VR-A8ER/07-16-2003-Abdomen^DUO_TX_AS_VOL (Adult)-94802/2.000000-AXIAL S-C-05756/1-09.dcm`)
names files relative to the collection folder in the descriptive layout; 3 patients, chest/abdomen
CT (the paper's 'colour' label is wrong). When the data folder holds several TCGA collections, the
`TCGA-ESCA` folder is used.
"""

from lvmmed_hf.data.layouts.tcia import (
    TCGA_PATIENT_PATTERN,
    TCIA_ACCESS,
    TCIA_CITATION,
    TCIA_LICENSE,
    TciaCollectionBuilder,
)


class TcgaEsca(TciaCollectionBuilder):
    source_name = "tcga_esca"
    pretty_name = "TCGA-ESCA (TCIA)"
    description = (
        "Clinical CT of The Cancer Genome Atlas oesophageal carcinoma patients, matched to "
        "their TCGA genomic data."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/tcga-esca/"
    license = TCIA_LICENSE
    access = TCIA_ACCESS
    citation = TCIA_CITATION
    modality = "CT"
    organ = "oesophagus"
    patient_pattern = TCGA_PATIENT_PATTERN
    accepted_modalities = ("CT",)
    collection_names = ("TCGA-ESCA",)
    lvmmed_file_list = "0_SSL_TCGA-ESCA_CT_Esophagus"
