"""HNSCC (TCIA): head and neck squamous cell carcinoma, radiotherapy planning and diagnostic CT (MD
Anderson).

Accepted layouts (NBIA Data Retriever, both directory types; see
:mod:`lvmmed_hf.data.layouts.tcia`)::

    [manifest-<ms>/][HNSCC/]HNSCC-01-<nnnn>/<StudyDate>-<StudyDescription>-<nnnnn>/<SeriesNumber>-<SeriesDescription>-<nnnnn>/<a>-<n>.dcm
    [HNSCC/]HNSCC-01-<nnnn>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

One record per DICOM series (slices grouped by folder, regrouped by SeriesInstanceUID when a folder
mixes series); CT series only (PET and RT objects of the collection are skipped). Non-image series
(RTSTRUCT/RTDOSE/RTPLAN/SEG/SR) and localizers are skipped and counted.

Verified: LVM-Med's list for HNSCC is missing upstream (no file restriction can be reproduced; the
seeded 20% sample by patient is used). Patient folders `HNSCC-01-0001`..`HNSCC-01-0215` and study
folders like `10-21-2002-RT SIMULATION-79781` were confirmed in public loaders of the TCIA download
(exact-string search of public code).
"""

from lvmmed_hf.data.layouts.tcia import TCIA_ACCESS, TCIA_CITATION, TCIA_LICENSE, TciaCollectionBuilder


class Hnscc(TciaCollectionBuilder):
    source_name = "hnscc"
    pretty_name = "HNSCC (TCIA)"
    description = (
        "Head and neck squamous cell carcinoma patients treated with radiotherapy at MD Anderson: planning "
        "and "
        "follow-up CT (the collection also holds PET, RT structures, doses and plans, which are skipped)."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/hnscc/"
    license = TCIA_LICENSE
    access = TCIA_ACCESS
    citation = (
        TCIA_CITATION
        + """
@article{grossberg2018hnscc,
  title={Imaging and clinical data archive for head and neck squamous cell carcinoma patients treated with
      radiotherapy},
  author={Grossberg, Aaron J. and Mohamed, Abdallah S. R. and Elhalawani, Hesham and others},
  journal={Scientific Data}, volume={5}, pages={180173}, year={2018}
}"""
    )
    modality = "CT"
    organ = "head and neck"
    patient_pattern = r"HNSCC-\d{2}-\d{4}"
    accepted_modalities = ("CT",)
    collection_names = ("HNSCC",)
    lvmmed_file_list = ""  # missing upstream
