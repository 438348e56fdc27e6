"""TCGA-COAD (TCIA): clinical radiology of TCGA colon adenocarcinoma patients.

Accepted layouts (NBIA Data Retriever, both directory types; see
:mod:`lvmmed_hf.data.layouts.tcia`)::

    [manifest-<ms>/][TCGA-COAD/]TCGA-<tss>-<xxxx>/<StudyDate>-<StudyDescription>-<nnnnn>/<SeriesNumber>-<SeriesDescription>-<nnnnn>/<a>-<n>.dcm
    [TCGA-COAD/]TCGA-<tss>-<xxxx>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

One record per DICOM series (slices grouped by folder, regrouped by SeriesInstanceUID when a folder
mixes series); CT series only. Non-image series (RTSTRUCT/RTDOSE/RTPLAN/SEG/SR) and localizers are
skipped and counted.

Verified: the published LVM-Med list 0_SSL_TCGA-COAD_CT_Colon.txt (1647 slice files,
`TCGA-CK-6747/11-23-1999-CT ABDOMEN W CO-54581/3.000000-ABD-PEL  3.0  coronal-32179/1-09.dcm`) names
files relative to the collection folder in the descriptive layout; 10 patients, abdominal CT (the
paper's 'colour' label is wrong); descriptions keep double spaces, which are kept verbatim. When the
data folder holds several TCGA collections, the `TCGA-COAD` folder is used.
"""

from lvmmed_hf.data.layouts.tcia import (
    TCGA_PATIENT_PATTERN,
    TCIA_ACCESS,
    TCIA_CITATION,
    TCIA_LICENSE,
    TciaCollectionBuilder,
)


class TcgaCoad(TciaCollectionBuilder):
    source_name = "tcga_coad"
    pretty_name = "TCGA-COAD (TCIA)"
    description = (
        "Clinical CT of The Cancer Genome Atlas colon adenocarcinoma patients, matched to "
        "their TCGA genomic data."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/tcga-coad/"
    license = TCIA_LICENSE
    access = TCIA_ACCESS
    citation = TCIA_CITATION
    modality = "CT"
    organ = "colon"
    patient_pattern = TCGA_PATIENT_PATTERN
    accepted_modalities = ("CT",)
    collection_names = ("TCGA-COAD",)
    lvmmed_file_list = "0_SSL_TCGA-COAD_CT_Colon"
