"""TCGA-READ (TCIA): clinical radiology of TCGA rectum adenocarcinoma patients.

Accepted layouts (NBIA Data Retriever, both directory types; see
:mod:`lvmmed_hf.data.layouts.tcia`)::

    [manifest-<ms>/][TCGA-READ/]TCGA-<tss>-<xxxx>/<StudyDate>-<StudyDescription>-<nnnnn>/<SeriesNumber>-<SeriesDescription>-<nnnnn>/<a>-<n>.dcm
    [TCGA-READ/]TCGA-<tss>-<xxxx>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

One record per DICOM series (slices grouped by folder, regrouped by SeriesInstanceUID when a folder
mixes series); modality per series from the DICOM header (CT -> CT, MR -> MRI); other modalities of
the collection are skipped. Non-image series (RTSTRUCT/RTDOSE/RTPLAN/SEG/SR) and localizers are
skipped and counted.

Verified: the published LVM-Med list 0_SSL_TCGA-READ_Mixed_Rectum.txt (248 slice files,
`TCGA-CL-4957/08-24-1997-CT ABDOMEN W CO-74402/2.000000-ABD-PEL  5.0  B30f-85771/1-09.dcm`) names
files relative to the collection folder in the descriptive layout; 2 patients; the list names a
topogram slice (`1.000000-Topogram  0.6  T20s-67960/1-1.dcm`), kept when a file list is given. When
the data folder holds several TCGA collections, the `TCGA-READ` folder is used.
"""

from lvmmed_hf.data.layouts.tcia import (
    TCGA_PATIENT_PATTERN,
    TCIA_ACCESS,
    TCIA_CITATION,
    TCIA_LICENSE,
    TciaCollectionBuilder,
)


class TcgaRead(TciaCollectionBuilder):
    source_name = "tcga_read"
    pretty_name = "TCGA-READ (TCIA)"
    description = (
        "Clinical CT and MRI of The Cancer Genome Atlas rectum adenocarcinoma patients, matched to "
        "their TCGA genomic data."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/tcga-read/"
    license = TCIA_LICENSE
    access = TCIA_ACCESS
    citation = TCIA_CITATION
    modality = "mixed"
    organ = "rectum"
    patient_pattern = TCGA_PATIENT_PATTERN
    accepted_modalities = ("CT", "MR")
    collection_names = ("TCGA-READ",)
    lvmmed_file_list = "0_SSL_TCGA-READ_Mixed_Rectum"
