"""TCGA-KICH (TCIA): clinical radiology of TCGA kidney chromophobe carcinoma patients.

Accepted layouts (NBIA Data Retriever, both directory types; see
:mod:`lvmmed_hf.data.layouts.tcia`)::

    [manifest-<ms>/][TCGA-KICH/]TCGA-<tss>-<xxxx>/<StudyDate>-<StudyDescription>-<nnnnn>/<SeriesNumber>-<SeriesDescription>-<nnnnn>/<a>-<n>.dcm
    [TCGA-KICH/]TCGA-<tss>-<xxxx>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

One record per DICOM series (slices grouped by folder, regrouped by SeriesInstanceUID when a folder
mixes series); modality per series from the DICOM header (CT -> CT, MR -> MRI); other modalities of
the collection are skipped. Non-image series (RTSTRUCT/RTDOSE/RTPLAN/SEG/SR) and localizers are
skipped and counted.

Verified: the published LVM-Med list 0_SSL_TCGA-KICH_Mixed_Kidney.txt (2192 slice files,
`TCGA-KM-8438/10-31-1991-ABD-18456/4.000000-POST ABDOMEN-96072/02-03.dcm`) names files relative to
the collection folder in the descriptive layout; 4 patients, CT and MR series; file names with two
padded ordinals (`02-03.dcm`) occur. When the data folder holds several TCGA collections, the
`TCGA-KICH` folder is used.
"""

from lvmmed_hf.data.layouts.tcia import (
    TCGA_PATIENT_PATTERN,
    TCIA_ACCESS,
    TCIA_CITATION,
    TCIA_LICENSE,
    TciaCollectionBuilder,
)


class TcgaKich(TciaCollectionBuilder):
    source_name = "tcga_kich"
    pretty_name = "TCGA-KICH (TCIA)"
    description = (
        "Clinical CT and MRI of The Cancer Genome Atlas kidney chromophobe carcinoma patients, matched to "
        "their TCGA genomic data."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/tcga-kich/"
    license = TCIA_LICENSE
    access = TCIA_ACCESS
    citation = TCIA_CITATION
    modality = "mixed"
    organ = "kidney"
    patient_pattern = TCGA_PATIENT_PATTERN
    accepted_modalities = ("CT", "MR")
    collection_names = ("TCGA-KICH",)
    lvmmed_file_list = "0_SSL_TCGA-KICH_Mixed_Kidney"
