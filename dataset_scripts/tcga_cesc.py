"""TCGA-CESC (TCIA): clinical radiology of TCGA cervical squamous cell carcinoma and endocervical
adenocarcinoma patients.

Accepted layouts (NBIA Data Retriever, both directory types; see
:mod:`lvmmed_hf.data.layouts.tcia`)::

    [manifest-<ms>/][TCGA-CESC/]TCGA-<tss>-<xxxx>/<StudyDate>-<StudyDescription>-<nnnnn>/<SeriesNumber>-<SeriesDescription>-<nnnnn>/<a>-<n>.dcm
    [TCGA-CESC/]TCGA-<tss>-<xxxx>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

One record per DICOM series (slices grouped by folder, regrouped by SeriesInstanceUID when a folder
mixes series); MR series only. Non-image series (RTSTRUCT/RTDOSE/RTPLAN/SEG/SR) and localizers are
skipped and counted.

Verified: the published LVM-Med list 0_SSL_TCGA-CESC_MRI_Cervix.txt (3977 slice files,
`TCGA-VS-A8Q8/10-02-2003-Pio Xll001^Pelve-38689/7.000000-t2_tse_tra-48516/1-25.dcm`) names files
relative to the collection folder in the descriptive layout; 14 patients, pelvic MRI (the paper's
'colour' label is wrong). When the data folder holds several TCGA collections, the `TCGA-CESC`
folder is used.
"""

from lvmmed_hf.data.layouts.tcia import (
    TCGA_PATIENT_PATTERN,
    TCIA_ACCESS,
    TCIA_CITATION,
    TCIA_LICENSE,
    TciaCollectionBuilder,
)


class TcgaCesc(TciaCollectionBuilder):
    source_name = "tcga_cesc"
    pretty_name = "TCGA-CESC (TCIA)"
    description = (
        "Clinical MRI of The Cancer Genome Atlas cervical squamous cell carcinoma and endocervical "
        "adenocarcinoma patients, matched to "
        "their TCGA genomic data."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/tcga-cesc/"
    license = TCIA_LICENSE
    access = TCIA_ACCESS
    citation = TCIA_CITATION
    modality = "MRI"
    organ = "cervix"
    patient_pattern = TCGA_PATIENT_PATTERN
    accepted_modalities = ("MR",)
    collection_names = ("TCGA-CESC",)
    lvmmed_file_list = "0_SSL_TCGA-CESC_MRI_Cervix"
