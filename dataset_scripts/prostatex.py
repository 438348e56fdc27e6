"""PROSTATEx (TCIA): multiparametric prostate MRI (T2, DWI/ADC, PD) from Radboud UMC, SPIE-AAPM-NCI
PROSTATEx challenge.

Accepted layouts (NBIA Data Retriever, both directory types; see
:mod:`lvmmed_hf.data.layouts.tcia`)::

    [manifest-<ms>/][PROSTATEx/]ProstateX-<nnnn>/<StudyDate>-<StudyDescription>-<nnnnn>/<SeriesNumber>-<SeriesDescription>-<nnnnn>/<a>-<n>.dcm
    [PROSTATEx/]ProstateX-<nnnn>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

One record per DICOM series (slices grouped by folder, regrouped by SeriesInstanceUID when a folder
mixes series); MR series only (the collection's Ktrans maps are distributed separately as MHD and
are not read). Non-image series (RTSTRUCT/RTDOSE/RTPLAN/SEG/SR) and localizers are skipped and
counted.

Verified: the published LVM-Med list 0_SSL_PROSTATEx_MRI_Prostate.txt (7816 slice files,
`ProstateX-0115/01-18-2012-MR prostaat kanker detectie WDS_mc
MCAPRODETW-46971/8.000000-ep2d_diff_tra_DYNDIST_MIXCALC_BVAL-29918/1-09.dcm`) names files relative
to the collection folder in the descriptive layout; 40 patients. The classic layout
`ProstateX-0000/1.3.6.1.4.1.14519.5.2.1.7311.5101.<...>/<series UID>/` and a
`PROSTATEx/ProstateX-0000/<study>/<series>/*.dcm` download folder were confirmed in public loaders.
The list includes `t2_localizer` slices: with a file list those are kept.
"""

from lvmmed_hf.data.layouts.tcia import TCIA_ACCESS, TCIA_CITATION, TCIA_LICENSE, TciaCollectionBuilder


class ProstateX(TciaCollectionBuilder):
    source_name = "prostatex"
    pretty_name = "PROSTATEx (TCIA)"
    description = (
        "Multiparametric prostate MRI (T2-weighted, diffusion-weighted with ADC maps, proton density) of the "
        "SPIE-AAPM-NCI PROSTATEx challenge, Radboud University Medical Center."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/prostatex/"
    license = TCIA_LICENSE
    access = TCIA_ACCESS
    citation = (
        TCIA_CITATION
        + """
@article{litjens2014prostatex,
  title={Computer-aided detection of prostate cancer in MRI},
  author={Litjens, Geert and Debats, Oscar and Barentsz, Jelle and Karssemeijer, Nico and Huisman, Henkjan},
  journal={IEEE Transactions on Medical Imaging}, volume={33}, number={5}, pages={1083--1092}, year={2014}
}"""
    )
    modality = "MRI"
    organ = "prostate"
    patient_pattern = r"ProstateX-\d{4}"
    accepted_modalities = ("MR",)
    collection_names = ("PROSTATEx",)
    lvmmed_file_list = "0_SSL_PROSTATEx_MRI_Prostate"
