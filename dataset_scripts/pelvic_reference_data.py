"""Pelvic-Reference-Data (TCIA): pelvic simulation CT and cone-beam CT of prostate radiotherapy
patients.

Accepted layouts (NBIA Data Retriever, both directory types; see
:mod:`lvmmed_hf.data.layouts.tcia`)::

    [manifest-<ms>/][Pelvic-Reference-Data/]Pelvic-Ref-<nnn>/<StudyDate>-<StudyDescription>-<nnnnn>/<SeriesNumber>-<SeriesDescription>-<nnnnn>/<a>-<n>.dcm
    [Pelvic-Reference-Data/]Pelvic-Ref-<nnn>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

One record per DICOM series (slices grouped by folder, regrouped by SeriesInstanceUID when a folder
mixes series); CT series (simulation CT and CBCT) only. Non-image series
(RTSTRUCT/RTDOSE/RTPLAN/SEG/SR) and localizers are skipped and counted.

Verified: the published LVM-Med list 0_SSL_Pelvic-Reference-Data_CT_Pelvic.txt (2725 slice files,
`Pelvic-Ref-047/05-06-2011-PELVIS FULL-10365/65886.000000-NewSimCT-95824/1-009.dcm`) names files
relative to the collection folder in the descriptive layout; 12 patients, SimCT and CBCT series. A
public path `manifest-1765788746020/Pelvic-Reference-Data/Pelvic-Ref-001/11-24-2012-NA-Infinity-1
TreatTx Plan-96820/47628.000000-NewCBCT-96129/1-01.dcm` confirms the manifest/collection levels
above the patient folders.
"""

from lvmmed_hf.data.layouts.tcia import TCIA_ACCESS, TCIA_CITATION, TCIA_LICENSE, TciaCollectionBuilder


class PelvicReferenceData(TciaCollectionBuilder):
    source_name = "pelvic_reference_data"
    pretty_name = "Pelvic-Reference-Data (TCIA)"
    description = (
        "Pelvic simulation CT and cone-beam CT (modality CT in the DICOM header) of radiotherapy patients, "
        "with RT "
        "structure sets (skipped here)."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/pelvic-reference-data/"
    license = TCIA_LICENSE
    access = TCIA_ACCESS
    citation = (
        TCIA_CITATION
        + """
@misc{yorke2019pelvic,
  title={Pelvic Reference Data},
  author={Yorke, Afua A. and McDonald, Gary C. and Solis, David and Guerrero, Thomas},
  howpublished={The Cancer Imaging Archive}, year={2019}
}"""
    )
    modality = "CT"
    organ = "pelvis"
    patient_pattern = r"Pelvic-Ref-\d{3}"
    accepted_modalities = ("CT",)
    collection_names = ("Pelvic-Reference-Data",)
    lvmmed_file_list = "0_SSL_Pelvic-Reference-Data_CT_Pelvic"
