"""CBIS-DDSM (TCIA): curated, decompressed DDSM film mammograms as DICOM, with mass and calcification cases.

Accepted layouts (NBIA Data Retriever, either directory type; the case folders are found up to three
levels down, e.g. under ``manifest-<ms>/CBIS-DDSM/``)::

    <Mass|Calc>-<Training|Test>_P_<nnnnn>_<LEFT|RIGHT>_<CC|MLO>/<study>/<series>/<file>.dcm      full
    mammogram
    <Mass|Calc>-<Training|Test>_P_<nnnnn>_<LEFT|RIGHT>_<CC|MLO>_<k>/<study>/<series>/<file>.dcm  abnormality
    k:
        ROI mask and cropped image (two series, or one series with two files in the re-released data)
    descriptive folders: 07-20-2016-DDSM-74994/1-full mammogram images-24515/000000.dcm (older) or 1-1.dcm;
    classic folders: <StudyInstanceUID>/<SeriesInstanceUID>/000000.dcm (the form the CSV descriptions quote).
    optional, anywhere below the data folder: {mass,calc}_case_description_{train,test}_set.csv

    Kaggle JPEG re-export ("cbis-ddsm-breast-cancer-image-dataset"), used when no DICOM case folder exists:
        jpeg/<SeriesInstanceUID>/<a>-<n>.jpg
        csv/dicom_info.csv        image_path (CBIS-DDSM/jpeg/<uid>/<a>-<n>.jpg), PatientID (the case folder
        name), ...
        csv/{mass,calc}_case_description_{train,test}_set.csv

Without a file list the builder yields the full mammograms of the official *Training* cases (the Test
cases are the benchmark partition and are counted as ``not_in_split``; ROI masks and crops are
derived from the full images and are counted as ``roi_or_crop``), and the base keeps a seeded 20%
of patients (``P_<nnnnn>``, who may have Mass and Calc cases and both breasts) as docs/sources.md
states for this source. With LVM-Med's list every image of every case folder is offered, so
whatever the list names is found.

``label``: the pathology from the CSV descriptions (``pathology`` column, matched on the case folder,
the first part of ``image file path`` / ``cropped image file path`` / ``ROI mask file path``); a
full mammogram with several abnormalities gets the most severe (malignant > benign > benign
without callback); None when no CSV is present.

Verified: LVM-Med's list CBIS-DDSM_Mammography_Breast.txt has 1262 lines of DICOM UIDs; line 834,
``1.3.6.1.4.1.9590.100.1.2.342386194811267636608694132590482924515``, is the SeriesInstanceUID of the
full mammogram of ``Mass-Training_P_00001_LEFT_CC`` (its CSV path and its descriptive folder
``1-full mammogram images-24515`` both appear in public loaders), so the list names series: they are
matched against each image's SeriesInstanceUID header (``volume_id``), in either directory type.
The collection has 6,775 series (full mammograms, ROI masks and crops, Training and Test; collection
page), so the 1262 lines are about a 20% sample of series of every kind: with the list those are
reproduced exactly, without it this builder deliberately keeps only Training full mammograms.
Case folder names, both file namings, the CSV column names and the Kaggle ``jpeg/<uid>/`` +
``csv/dicom_info.csv`` form (``image_path``, ``PatientID``, ``SeriesDescription`` columns) were confirmed
in public loaders (exact-string search of public code). The Kaggle folders being named by series UID
suggests LVM-Med's UID list was taken from that form; both forms match it.
"""

import csv
import re

from lvmmed_hf.data.builder import NOT_IN_SPLIT, UNREADABLE, Record
from lvmmed_hf.data.layouts.tcia import (
    TCIA_ACCESS,
    TCIA_CITATION,
    UNMATCHED_FOLDER,
    TciaCollectionBuilder,
    collection_root,
    find_named_dirs,
    read_header,
)
from lvmmed_hf.data.readers import list_dicom_files

_CASE = r"(Mass|Calc)-(Training|Test)_(P_\d{5})_(LEFT|RIGHT)_(CC|MLO)(?:_(\d+))?"
ROI_OR_CROP = "roi_or_crop"
UNKNOWN_CASE = "unknown_case"
_SEVERITY = {"BENIGN_WITHOUT_CALLBACK": 0, "BENIGN": 1, "MALIGNANT": 2}


def read_case_labels(data_dir) -> dict[str, str]:
    """Case folder name -> pathology (lowercase), from every ``*case_description*.csv`` below ``data_dir``."""
    best: dict[str, int] = {}
    for path in sorted(data_dir.rglob("*case_description*.csv")):
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            for row in csv.DictReader(f):
                severity = _SEVERITY.get((row.get("pathology") or "").strip().upper())
                if severity is None:
                    continue
                for col in ("image file path", "cropped image file path", "ROI mask file path"):
                    case = (row.get(col) or "").strip().replace("\\", "/").split("/")[0]
                    if case:
                        best[case] = max(best.get(case, -1), severity)
    names = {v: k.lower() for k, v in _SEVERITY.items()}
    return {case: names[s] for case, s in best.items()}


class CbisDdsm(TciaCollectionBuilder):
    source_name = "cbis_ddsm"
    pretty_name = "CBIS-DDSM (TCIA)"
    description = (
        "Curated Breast Imaging Subset of DDSM: scanned film mammograms (CC and MLO views) with mass and "
        "calcification cases, verified pathology, ROI masks and crops, as DICOM."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/cbis-ddsm/"
    license = "CC BY 3.0 (TCIA collection page); cite DOI 10.7937/K9/TCIA.2016.7O02S9CY and the data paper"
    access = TCIA_ACCESS + "; the case-description CSV files are separate downloads on the collection page"
    citation = (
        TCIA_CITATION
        + """
@article{lee2017cbis,
  title={A curated mammography data set for use in computer-aided detection and diagnosis research},
  author={Lee, Rebecca Sawyer and Gimenez, Francisco and Hoogi, Assaf and Miyake, Kanae Kawai and Gorovoy, Mia
      and Rubin, Daniel L.},
  journal={Scientific Data}, volume={4}, pages={170177}, year={2017}
}"""
    )
    modality = "mammography"
    organ = "breast"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"
    layout = (
        "[CBIS-DDSM/]<Mass|Calc>-<Training|Test>_P_<nnnnn>_<LEFT|RIGHT>_<CC|MLO>[_<k>]/"
        "<study>/<series>/<file>.dcm "
        "(+ optional <mass|calc>_case_description_<train|test>_set.csv), or the Kaggle JPEG form "
        "jpeg/<SeriesInstanceUID>/<a>-<n>.jpg + csv/dicom_info.csv"
    )
    label_names = ("benign_without_callback", "benign", "malignant")
    lvmmed_file_list = "CBIS-DDSM_Mammography_Breast"
    file_list_match = "id"  # the list names SeriesInstanceUIDs; volume_id is the image's series UID
    collection_names = ("CBIS-DDSM",)

    def _wanted(self, m: re.Match, rel: str, n_files: int) -> bool:
        """Training full mammograms (everything when a file list is given); the rest is counted."""
        if self.config.file_list:
            return True
        if m.group(2) == "Test":
            self._skip(NOT_IN_SPLIT, rel, "official Test partition of CBIS-DDSM", n_files)
            return False
        if m.group(6) is not None:
            self._skip(ROI_OR_CROP, rel, "ROI mask / cropped image of an abnormality", n_files)
            return False
        return True

    def iter_records(self, data_dir):
        others: list = []
        cases = find_named_dirs(collection_root(data_dir, self.collection_names), _CASE, unmatched=others)
        for d in others:
            self._skip(
                UNMATCHED_FOLDER,
                d.relative_to(data_dir).as_posix(),
                f"folder name {d.name!r} is not a CBIS-DDSM case folder ({_CASE}); its files were not read",
                1,
            )
        if not cases:
            yield from self._iter_kaggle_jpeg(data_dir)
            return
        labels = read_case_labels(data_dir)
        rx = re.compile(_CASE)
        for case in cases:
            m = rx.fullmatch(case.name)
            files = list_dicom_files(case)
            if not self._wanted(m, case.relative_to(data_dir).as_posix(), len(files)):
                continue
            for f in files:
                h = read_header(f)
                if h is None:
                    self._skip(UNREADABLE, f.relative_to(data_dir).as_posix(), "not a readable DICOM file", 1)
                    continue
                yield Record(
                    paths=f,
                    patient_id=m.group(3),
                    volume_id=h["SeriesInstanceUID"] or f.parent.name,
                    label=labels.get(case.name),
                    reader="dicom",
                )

    def _iter_kaggle_jpeg(self, data_dir):
        """The Kaggle JPEG form: ``jpeg/<SeriesInstanceUID>/*.jpg`` named to cases by ``dicom_info.csv``."""
        jpeg_dirs = find_named_dirs(data_dir, "jpeg", max_depth=3)
        infos = sorted(data_dir.rglob("dicom_info.csv"), key=lambda p: (len(p.parts), str(p)))
        if not jpeg_dirs or not infos:
            return
        case_of: dict[str, str] = {}
        with open(infos[0], newline="", encoding="utf-8", errors="replace") as f:
            for row in csv.DictReader(f):
                parts = (row.get("image_path") or "").replace("\\", "/").split("/")
                if "jpeg" in parts[:-1] and row.get("PatientID"):
                    case_of[parts[parts.index("jpeg") + 1]] = row["PatientID"].strip()
        labels = read_case_labels(data_dir)
        rx = re.compile(_CASE)
        for jdir in jpeg_dirs:
            for series in sorted(p for p in jdir.iterdir() if p.is_dir()):
                files = sorted(
                    p
                    for p in series.iterdir()
                    if p.suffix.lower() in (".jpg", ".jpeg") and not p.name.startswith(".")
                )
                case = case_of.get(series.name, "")
                m = rx.fullmatch(case)
                rel = series.relative_to(data_dir).as_posix()
                if m is None:
                    self._skip(
                        UNKNOWN_CASE, rel, f"series {series.name} is not named in dicom_info.csv", len(files)
                    )
                    continue
                if not self._wanted(m, rel, len(files)):
                    continue
                for f in files:
                    yield Record(
                        paths=f,
                        patient_id=m.group(3),
                        volume_id=series.name,
                        label=labels.get(case),
                        reader="image",
                    )
