"""TCIA collections as the NBIA Data Retriever writes them: patients, studies, series, slice files.

The NBIA Data Retriever (the download tool of The Cancer Imaging Archive) writes one of two folder
layouts, chosen in its "Directory Type" setting::

    descriptive (what LVM-Med's file lists name):
        [manifest-<ms>/]<Collection>/<PatientID>/<StudyDate>-<StudyDescription>-<last 5 digits of
        StudyInstanceUID>/
            <SeriesNumber>-<SeriesDescription>-<last 5 digits of SeriesInstanceUID>/<acq>-<instance>.dcm
        e.g. Pelvic-Reference-Data/Pelvic-Ref-001/11-24-2012-NA-Infinity-1 TreatTx
        Plan-96820/47628.000000-NewCBCT-96129/1-01.dcm
    classic:
        <Collection>/<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm

Slice files are named ``<acquisition ordinal>-<instance ordinal>.dcm``, left-padded with zeros
(NBIA Data Retriever 3.6 release notes,
https://wiki.nci.nih.gov/display/NBIA/NBIA+Data+Retriever+3.6+Release+Notes), so ``1-001.dcm``,
``1-09.dcm`` and ``02-03.dcm`` all occur; older downloads (e.g. CBIS-DDSM's CSV paths) use
``000000.dcm``. Nothing here depends on file names: every DICOM file under a patient folder is
found (by suffix or the DICM magic) and grouped by folder. A retriever series folder
(``<patient>/<study>/<series>/``) is one series once its first and last files agree on
SeriesInstanceUID; any other folder (a flat export, a hand-merged folder), or one whose first and
last files disagree, is regrouped by the SeriesInstanceUID header of every file.

Patient folders are the folders whose name fully matches the collection's ``patient_pattern``,
taken from the patient ids of LVM-Med's lists and of the collection pages (TCGA-COAD has
``TCGA-AY-6197A``-like ids besides ``TCGA-CK-6747``); every other non-hidden folder beside them
is reported as ``unmatched_folder`` with its path (and logged), never dropped silently.

For each series the header of one file decides what happens to it:

- non-image objects (RTSTRUCT, RTDOSE, RTPLAN, SEG, SR, KO, PR, ...) are skipped as ``not_an_image``;
- localizers / scouts / topograms (ImageType ``LOCALIZER``, or a series description naming one)
  are skipped as ``localizer`` unless a file list is given (LVM-Med's lists do name localizer
  slices, e.g. ``1.000000-Topogram 0.6 T20s`` in TCGA-READ, ``t2_localizer`` in PROSTATEx);
- series of a modality the source does not hold (PET in a CT collection) are skipped as
  ``other_modality``;
- the rest become one :class:`~lvmmed_hf.data.builder.Record` per series, with the modality taken
  from the header (``Record.modality``), so mixed CT/MR collections are labelled per series.

The description parts of descriptive folder names differ between retriever versions (LVM-Med's
``t2_tse_sag``, ``WDS_mc`` against ``t2tsesag``, ``NA-...`` in newer downloads seen in public
loaders), but the trailing 5 digits are those of the UID. File-list entries are therefore matched on
patient, those digits and the file name (:func:`list_key`), which also matches classic UID folders.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..builder import NOT_AN_IMAGE, UNREADABLE, LvmMedSourceBuilder, Record, SourceReport
from ..readers import (
    DICOM_MODALITY_NAMES,
    NON_IMAGE_MODALITIES,
    UnreadableImageError,
    _dcmread,
    list_dicom_files,
)

logger = logging.getLogger(__name__)

# Shared facts of TCIA collections (builders add their collection's data paper).
TCIA_ACCESS = (
    "TCIA: download the collection's manifest (.tcia) from its page and open it with the NBIA Data Retriever "
    "(either directory type); accept the TCIA Data Usage Policy"
)
TCIA_LICENSE = (
    "TCIA Data Usage Policy; the collection page states its licence (Creative Commons for public "
    "collections) and the DOI to cite"
)
TCIA_CITATION = """@article{clark2013tcia,
  title={The Cancer Imaging Archive (TCIA): maintaining and operating a public information repository},
  author={Clark, Kenneth and Vendt, Bruce and Smith, Kirk and Freymann, John and Kirby, Justin and Koppel,
      Paul and Moore, Stephen and Phillips, Stanley and Maffitt, David and Pringle, Michael and Tarbox,
      Lawrence and Prior, Fred},
  journal={Journal of Digital Imaging}, volume={26}, number={6}, pages={1045--1057}, year={2013}
}"""
# TCGA patient ids are the TCGA barcode ``TCGA-<tissue source site>-<participant>`` (2 and 4
# alphanumerics), but TCIA's TCGA collections also hold patients with a trailing letter:
# ``TCGA-AY-4070A``, ``TCGA-AY-5543A``, ``TCGA-AY-6197A`` and ``TCGA-AY-6386A`` in TCGA-COAD
# (TCIA's collection patient list, and 834 of the 1,647 entries of LVM-Med's TCGA-COAD list).
# The pattern below fully matches every patient folder of LVM-Med's eight TCGA lists.
TCGA_PATIENT_PATTERN = r"TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}[A-Z]?"

LOCALIZER = "localizer"
OTHER_MODALITY = "other_modality"
# A folder beside the patient folders whose name is not a patient id of the collection: its files
# are not read, and the folder is reported under this reason with its path.
UNMATCHED_FOLDER = "unmatched_folder"

# Words that name a localizer series in SeriesDescription (split on non-alphanumerics, lowercase).
LOCALIZER_WORDS = frozenset(
    {
        "loc",
        "localizer",
        "localiser",
        "localizers",
        "scout",
        "scouts",
        "topogram",
        "survey",
        "surview",
        "scanogram",
        "pilot",
        "tripilot",
    }
)
# Non-image SOP classes (RT, SR, SEG, presentation states, key objects), checked besides Modality.
_NON_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.481.",  # RT objects
    "1.2.840.10008.5.1.4.1.1.88.",  # structured reports
    "1.2.840.10008.5.1.4.1.1.66",  # raw data, registration, segmentation (66.4)
    "1.2.840.10008.5.1.4.1.1.11.",  # presentation states
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated documents
)

_HEADER_TAGS = [
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "Modality",
    "ImageType",
    "SeriesDescription",
    "SOPClassUID",
    "PatientID",
]


@dataclass
class TciaSeries:
    """One DICOM series found under a patient folder (files sorted; header facts of its first file)."""

    patient_id: str
    folder: Path
    files: list[Path]
    series_uid: str = ""
    study_uid: str = ""
    modality: str = ""  # DICOM code, e.g. "CT", "MR", "RTSTRUCT"
    description: str = ""
    image_type: tuple[str, ...] = ()
    sop_class_uid: str = ""
    regrouped: bool = False  # True when the folder held several series and was split by header
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def is_non_image(self) -> bool:
        return self.modality.upper() in NON_IMAGE_MODALITIES or self.sop_class_uid.startswith(
            _NON_IMAGE_SOP_PREFIXES
        )

    @property
    def is_localizer(self) -> bool:
        if "LOCALIZER" in {v.upper() for v in self.image_type}:
            return True
        return bool(set(re.split(r"[^a-z0-9]+", self.description.lower())) & LOCALIZER_WORDS)


def read_header(path: Path) -> dict[str, Any] | None:
    """The few header fields the scan needs (pixels are not read), or None for a non-DICOM file."""
    try:
        ds = _dcmread(path, stop_before_pixels=True)
    except UnreadableImageError:
        return None
    out: dict[str, Any] = {}
    for tag in _HEADER_TAGS:
        v = getattr(ds, tag, None)
        if tag == "ImageType":
            out[tag] = (
                tuple(str(x) for x in v)
                if v is not None and not isinstance(v, str)
                else ((str(v),) if v else ())
            )
        else:
            out[tag] = "" if v is None else str(v)
    return out


def find_named_dirs(
    data_dir: Path, pattern: str, max_depth: int = 3, unmatched: list[Path] | None = None
) -> list[Path]:
    """Folders whose name fully matches ``pattern``, at the shallowest depth (0..max_depth) holding any.

    ``data_dir`` may be the collection folder, the folder holding it, or a ``manifest-<ms>`` folder
    above it; the search stops descending at a matching folder. ``unmatched``, when given,
    receives the other (non-hidden) folders that sit beside a matching one: in a collection folder
    these are patients whose id the pattern does not cover, which the caller reports.
    """
    rx = re.compile(pattern)
    frontier = [data_dir]
    for _ in range(max_depth + 1):
        found, nxt, beside = [], [], []
        for d in frontier:
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError:
                continue
            here_found, here_other = [], []
            for e in entries:
                if not e.is_dir():
                    continue
                (here_found if rx.fullmatch(e.name) else here_other).append(Path(e.path))
            found += here_found
            nxt += here_other
            if here_found:
                beside += [p for p in here_other if not p.name.startswith(".")]
        if found:
            if unmatched is not None:
                unmatched.extend(sorted(beside))
            return sorted(found)
        frontier = nxt
    return []


def collection_root(data_dir: Path, collection_names: Sequence[str], max_depth: int = 2) -> Path:
    """``data_dir``, or the folder below it named like the collection (``TCGA-KICH``) when there is one.

    A download folder can hold several TCGA collections whose patient IDs share one pattern; the
    collection folder written by the retriever tells them apart.
    """
    if data_dir.name in collection_names:
        return data_dir
    wanted = "|".join(re.escape(n) for n in collection_names)
    hits = find_named_dirs(data_dir, f"(?:{wanted})", max_depth=max_depth) if collection_names else []
    return hits[0] if len(hits) == 1 else data_dir


def scan_series(patient_dir: Path, patient_id: str | None = None) -> list[TciaSeries]:
    """Every DICOM series under one patient folder, sorted by folder (see the module docstring)."""
    patient_id = patient_id or patient_dir.name
    by_folder: dict[Path, list[Path]] = {}
    for f in list_dicom_files(patient_dir):
        by_folder.setdefault(f.parent, []).append(f)
    out: list[TciaSeries] = []
    for folder in sorted(by_folder):
        files = sorted(by_folder[folder])
        first = read_header(files[0])
        last = read_header(files[-1]) if len(files) > 1 else first
        # The retriever writes each series into its own <patient>/<study>/<series>/ folder: such a
        # folder is trusted after checking its first and last files. Any other folder (a flat
        # export, files directly in a study folder) is grouped by every file's SeriesInstanceUID.
        retriever_folder = folder.parent.parent == patient_dir
        if (
            retriever_folder
            and first is not None
            and last is not None
            and first["SeriesInstanceUID"] == last["SeriesInstanceUID"]
        ):
            out.append(_series(patient_id, folder, files, first, regrouped=False))
            continue
        groups: dict[str, list[Path]] = {}
        headers: dict[str, dict[str, Any] | None] = {}
        for f in files:
            h = read_header(f)
            uid = h["SeriesInstanceUID"] if h else ""
            groups.setdefault(uid, []).append(f)
            headers.setdefault(uid, h)
        for uid in sorted(groups):
            out.append(_series(patient_id, folder, groups[uid], headers[uid], regrouped=len(groups) > 1))
    return out


def _series(
    patient_id: str, folder: Path, files: list[Path], h: dict[str, Any] | None, regrouped: bool
) -> TciaSeries:
    h = h or {}
    return TciaSeries(
        patient_id=patient_id,
        folder=folder,
        files=files,
        series_uid=h.get("SeriesInstanceUID", ""),
        study_uid=h.get("StudyInstanceUID", ""),
        modality=h.get("Modality", "").upper(),
        description=h.get("SeriesDescription", ""),
        image_type=tuple(h.get("ImageType", ())),
        sop_class_uid=h.get("SOPClassUID", ""),
        regrouped=regrouped,
        header=h,
    )


_DESCRIPTIVE_SUFFIX = re.compile(r"-(\d{5})$")
_UID = re.compile(r"\d+(?:\.\d+)+")


def folder_key(name: str) -> str:
    """The part of a study/series folder name that every retriever version writes the same way.

    Descriptive folder names end in ``-<last 5 digits of the UID>`` (``...MCAPRODETW-05711`` for
    StudyInstanceUID ``1.3.6.1.4.1.14519.5.2.1.7311.5101.158323547117540061132729905711``), while
    the description part changed between retriever versions (``t2_tse_sag`` vs ``t2tsesag``, an
    inserted ``NA``); classic folder names are the UID itself. Both give those 5 digits.
    """
    m = _DESCRIPTIVE_SUFFIX.search(name)
    if m:
        return m.group(1)
    if _UID.fullmatch(name):
        return name.replace(".", "")[-5:]
    return name


def list_key(parts: Sequence[str]) -> str | None:
    """``<patient>/<study>/<series>/<file>`` (last four parts) ->
    ``tcia:<patient>/<5 digits>/<5 digits>/<file>``."""
    if len(parts) < 4:
        return None
    patient, study, series, name = parts[-4:]
    return f"tcia:{patient}/{folder_key(study)}/{folder_key(series)}/{name}"


def _relpath(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a POSIX string.

    Paths found by walking ``root`` start with it, so a prefix cut does (it is much cheaper than
    ``os.path.relpath``, which ``datasets`` wraps with URL parsing inside builder modules, and
    the TCIA lists run to 34,000 files); anything else falls back to ``os.path.relpath``.
    """
    p, r = str(path), str(root).rstrip(os.sep)
    if r and p.startswith(r + os.sep):
        return p[len(r) + 1 :].replace(os.sep, "/")
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:
        return Path(path).as_posix()


class TciaCollectionBuilder(LvmMedSourceBuilder):
    """Base of the TCIA radiology collections: one record per DICOM series, patient folders by pattern.

    Subclasses set the usual facts plus ``patient_pattern`` (a regex the patient folder names fully
    match, e.g. ``OPC-\\d{5}``), ``accepted_modalities`` (DICOM codes kept, e.g. ``("CT",)``) and
    ``collection_names`` (the collection folder names the retriever writes). File lists name slice
    files as ``<PatientID>/<study folder>/<series folder>/<file>.dcm`` (descriptive layout); entries
    are matched on patient, the UID digits of the two folder names (:func:`folder_key`) and the file
    name, so a download made with another retriever version or the classic directory type matches.
    """

    dimensionality = "3d"
    split_rule = "random_20pct_by_volume"
    file_list_match = "path"
    patient_pattern: ClassVar[str] = ""
    accepted_modalities: ClassVar[tuple[str, ...]] = ("CT",)
    collection_names: ClassVar[tuple[str, ...]] = ()
    skip_localizers: ClassVar[bool] = True
    layout = (
        "[manifest-<ms>/]<Collection>/<PatientID>/<StudyDate-StudyDescription-nnnnn>/<SeriesNumber-SeriesDescription-nnnnn>/"
        "<a>-<n>.dcm (NBIA Data Retriever 'descriptive'), or "
        "<Collection>/<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>/*.dcm ('classic')"
    )

    _scan_report: SourceReport | None = None

    def plan_records(self, report: SourceReport | None = None) -> list[Record]:
        # iter_records has no report argument; keep the planning report to count skipped series in.
        self._scan_report = report if report is not None else SourceReport(self.source_name)
        return super().plan_records(self._scan_report)

    def _skip(self, reason: str, path: str, message: str, count: int) -> None:
        if self._scan_report is not None:
            self._scan_report.skip(reason, path, message, count=count)

    def patient_dirs(self, data_dir: Path) -> list[Path]:
        """Patient folders (names fully matching ``patient_pattern``); the other folders beside
        them are reported as ``unmatched_folder`` with their path, never silently dropped."""
        root = collection_root(data_dir, self.collection_names)
        others: list[Path] = []
        found = find_named_dirs(root, self.patient_pattern, unmatched=others)
        for d in others:
            msg = (
                f"folder name {d.name!r} is not a patient id of {self.pretty_name or self.source_name} "
                f"(pattern {self.patient_pattern!r}); its files were not read"
            )
            logger.warning("%s: %s", self.source_name, msg)
            self._skip(UNMATCHED_FOLDER, _relpath(d, data_dir), msg, 1)
        return found

    def iter_tcia_series(self, data_dir: Path) -> Iterator[TciaSeries]:
        """Image series of the source's modalities; the others are counted in the report and left out."""
        keep_localizers = bool(self.config.file_list) or not self.skip_localizers
        for pdir in self.patient_dirs(data_dir):
            for s in scan_series(pdir):
                rel = _relpath(s.folder, data_dir)
                if not s.header:
                    self._skip(UNREADABLE, rel, "not a readable DICOM file", len(s.files))
                elif s.is_non_image:
                    self._skip(
                        NOT_AN_IMAGE,
                        rel,
                        f"DICOM {s.modality or s.sop_class_uid} series holds no image",
                        len(s.files),
                    )
                elif s.modality not in self.accepted_modalities:
                    self._skip(
                        OTHER_MODALITY,
                        rel,
                        f"modality {s.modality or '?'} is not part of this source "
                        f"({', '.join(self.accepted_modalities)})",
                        len(s.files),
                    )
                elif s.is_localizer and not keep_localizers:
                    self._skip(LOCALIZER, rel, f"localizer/scout series {s.description!r}", len(s.files))
                else:
                    yield s

    def list_keys(self, record: Record, path: Path, data_dir: Path) -> set[str]:
        # LVM-Med's lists name <patient>/<study>/<series>/<file> in one retriever version's
        # descriptive naming; the UID digits in the folder names match any version and the classic type.
        parts = _relpath(path, data_dir).split("/")
        if self.file_list_match == "path":
            keys = {"/".join(parts[i:]) for i in range(len(parts))}  # the base's "path" keys
        else:
            keys = super().list_keys(record, path, data_dir)
        key = list_key(parts)
        return keys | {key} if key else keys

    def list_entry_key(self, entry: str) -> str:
        return list_key(entry.split("/")) or super().list_entry_key(entry)

    def record_for(self, s: TciaSeries, data_dir: Path, **kwargs: Any) -> Record:
        """One record per series; single-file series use the one-file reader (2D or enhanced multi-frame)."""
        vol = _relpath(s.folder, data_dir)
        if s.regrouped:
            vol = f"{vol}#{s.series_uid}"
        return Record(
            paths=s.files,
            patient_id=s.patient_id,
            volume_id=vol,
            reader="dicom_series" if len(s.files) > 1 else "dicom",
            modality=DICOM_MODALITY_NAMES.get(s.modality, s.modality),
            **kwargs,
        )

    def iter_records(self, data_dir: Path) -> Iterable[Record]:
        for s in self.iter_tcia_series(data_dir):
            yield self.record_for(s, data_dir)
