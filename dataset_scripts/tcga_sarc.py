"""TCGA-SARC (TCIA): clinical radiology of TCGA sarcoma patients.

Accepted layouts (NBIA Data Retriever, both directory types; see
:mod:`lvmmed_hf.data.layouts.tcia`)::

    [manifest-<ms>/][TCGA-SARC/]TCGA-<tss>-<xxxx>/<StudyDate>-<StudyDescription>-<nnnnn>/<SeriesNumber>-<SeriesDescription>-<nnnnn>/<a>-<n>.dcm
    [TCGA-SARC/]TCGA-<tss>-<xxxx>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

One record per DICOM series (slices grouped by folder, regrouped by SeriesInstanceUID when a folder
mixes series); modality per series from the DICOM header (CT -> CT, MR -> MRI); other modalities of
the collection are skipped. Non-image series (RTSTRUCT/RTDOSE/RTPLAN/SEG/SR) and localizers are
skipped and counted.

Verified: the published LVM-Med list 0_SSL_TCGA-SARC_Mixed_Multi.txt (624 slice files,
`TCGA-QQ-A8VH/03-15-2002-MRI THORACIC W-WO CONTRAST-84485/8.000000-Axfspgr +c
T-SPINE-72635/1-09.dcm`) names files relative to the collection folder in the descriptive layout; 3
patients, CT and MR series. When the data folder holds several TCGA collections, the `TCGA-SARC`
folder is used.
"""

from lvmmed_hf.data.layouts.tcia import (
    TCGA_PATIENT_PATTERN,
    TCIA_ACCESS,
    TCIA_CITATION,
    TCIA_LICENSE,
    TciaCollectionBuilder,
)


class TcgaSarc(TciaCollectionBuilder):
    source_name = "tcga_sarc"
    pretty_name = "TCGA-SARC (TCIA)"
    description = (
        "Clinical CT and MRI of The Cancer Genome Atlas sarcoma patients, matched to their TCGA genomic data."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/tcga-sarc/"
    license = TCIA_LICENSE
    access = TCIA_ACCESS
    citation = TCIA_CITATION
    modality = "mixed"
    organ = "soft tissue"
    patient_pattern = TCGA_PATIENT_PATTERN
    accepted_modalities = ("CT", "MR")
    collection_names = ("TCGA-SARC",)
    lvmmed_file_list = "0_SSL_TCGA-SARC_Mixed_Multi"
