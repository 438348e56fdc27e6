"""TCGA-KIRC (TCIA): clinical radiology of TCGA kidney renal clear cell carcinoma patients.

Accepted layouts (NBIA Data Retriever, both directory types; see
:mod:`lvmmed_hf.data.layouts.tcia`)::

    [manifest-<ms>/][TCGA-KIRC/]TCGA-<tss>-<xxxx>/<StudyDate>-<StudyDescription>-<nnnnn>/<SeriesNumber>-<SeriesDescription>-<nnnnn>/<a>-<n>.dcm
    [TCGA-KIRC/]TCGA-<tss>-<xxxx>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

One record per DICOM series (slices grouped by folder, regrouped by SeriesInstanceUID when a folder
mixes series); modality per series from the DICOM header (CT -> CT, MR -> MRI); other modalities of
the collection are skipped. Non-image series (RTSTRUCT/RTDOSE/RTPLAN/SEG/SR) and localizers are
skipped and counted.

Verified: the published LVM-Med list 0_SSL_TCGA-KIRC_Mixed_Multi.txt (34158 slice files,
`TCGA-B0-5077/07-08-1987-ABD-PELVIS W-W-O-61951/3.000000-38659/2-044.dcm`) names files relative to
the collection folder in the descriptive layout; 40 patients, CT and MR series; series folders with
several acquisitions (`1-009.dcm` and `2-044.dcm` in one folder) occur. When the data folder holds
several TCGA collections, the `TCGA-KIRC` folder is used.
"""

from lvmmed_hf.data.layouts.tcia import (
    TCGA_PATIENT_PATTERN,
    TCIA_ACCESS,
    TCIA_CITATION,
    TCIA_LICENSE,
    TciaCollectionBuilder,
)


class TcgaKirc(TciaCollectionBuilder):
    source_name = "tcga_kirc"
    pretty_name = "TCGA-KIRC (TCIA)"
    description = (
        "Clinical CT and MRI of The Cancer Genome Atlas kidney renal clear cell carcinoma patients, matched "
        "to "
        "their TCGA genomic data."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/tcga-kirc/"
    license = TCIA_LICENSE
    access = TCIA_ACCESS
    citation = TCIA_CITATION
    modality = "mixed"
    organ = "kidney"
    patient_pattern = TCGA_PATIENT_PATTERN
    accepted_modalities = ("CT", "MR")
    collection_names = ("TCGA-KIRC",)
    lvmmed_file_list = "0_SSL_TCGA-KIRC_Mixed_Multi"
