"""TCIA collections as the NBIA Data Retriever writes them, in its "descriptive" directory type
(which LVM-Med's lists name), ``[manifest-<ms>/]<Collection>/<PatientID>/<StudyDate>-<StudyDescription>-
<5 UID digits>/<SeriesNumber>-<SeriesDescription>-<5 UID digits>/<a>-<n>.dcm``, or its "classic" one,
``<Collection>/<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>/<sop>.dcm``.

One record per image series of the source's modalities; other series (not images, localizers unless
a file list is given, other modalities) are skipped with their reason. List entries match on patient,
the folders' UID digits and the file name (:func:`list_key`), so any retriever version matches.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..builder import NOT_AN_IMAGE, UNREADABLE, LvmMedSourceBuilder, Record, SourceReport, _relpath
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
# TCGA barcodes ``TCGA-<site>-<participant>``; TCGA-COAD also has ids with a trailing letter
# (``TCGA-AY-6197A``). Fully matches every patient folder of LVM-Med's eight TCGA lists.
TCGA_PATIENT_PATTERN = r"TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}[A-Z]?"

LOCALIZER = "localizer"
OTHER_MODALITY = "other_modality"
UNMATCHED_FOLDER = "unmatched_folder"  # a folder beside the patient folders that is not a patient id

# Words that name a localizer series in SeriesDescription (split on non-alphanumerics, lowercase).
LOCALIZER_WORDS = frozenset(
    "loc localizer localiser localizers scout scouts topogram survey surview scanogram pilot tripilot".split()
)
# Non-image SOP classes (RT, SR, SEG, presentation states, key objects), checked besides Modality.
_NON_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.481.",  # RT objects
    "1.2.840.10008.5.1.4.1.1.88.",  # structured reports
    "1.2.840.10008.5.1.4.1.1.66",  # raw data, registration, segmentation (66.4)
    "1.2.840.10008.5.1.4.1.1.11.",  # presentation states
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated documents
)
_HEADER_TAGS = tuple(
    "SeriesInstanceUID StudyInstanceUID Modality ImageType SeriesDescription SOPClassUID PatientID".split()
)


@dataclass
class TciaSeries:
    """One DICOM series found under a patient folder (files sorted; header facts of its first file)."""

    patient_id: str
    folder: Path
    files: list[Path]
    series_uid: str = ""
    modality: str = ""  # DICOM code, e.g. "CT", "MR", "RTSTRUCT"
    description: str = ""
    image_type: tuple[str, ...] = ()
    sop_class_uid: str = ""
    regrouped: bool = False  # True when the folder held several series and was split by header
    header: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_header(
        cls, patient_id: str, folder: Path, files: list[Path], h: dict[str, Any] | None, regrouped: bool
    ) -> TciaSeries:
        h = h or {}
        return cls(
            patient_id,
            folder,
            files,
            series_uid=h.get("SeriesInstanceUID", ""),
            modality=h.get("Modality", "").upper(),
            description=h.get("SeriesDescription", ""),
            image_type=tuple(h.get("ImageType", ())),
            sop_class_uid=h.get("SOPClassUID", ""),
            regrouped=regrouped,
            header=h,
        )

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
        if tag != "ImageType":
            out[tag] = "" if v is None else str(v)
        elif v is None or isinstance(v, str):
            out[tag] = (v,) if v else ()
        else:
            out[tag] = tuple(str(x) for x in v)
    return out


def find_named_dirs(
    data_dir: Path, pattern: str, max_depth: int = 3, unmatched: list[Path] | None = None
) -> list[Path]:
    """Folders whose name fully matches ``pattern``, at the shallowest depth (0..max_depth) holding any.

    The search stops descending at a matching folder. ``unmatched``, when given, receives the other
    non-hidden folders beside a matching one (patients the pattern does not cover, for the report).
    """
    rx = re.compile(pattern)
    frontier = [data_dir]
    for _ in range(max_depth + 1):
        found, nxt, beside = [], [], []
        for d in frontier:
            try:
                subdirs = [Path(e.path) for e in os.scandir(d) if e.is_dir()]
            except OSError:
                continue
            here = [p for p in subdirs if rx.fullmatch(p.name)]
            other = [p for p in subdirs if not rx.fullmatch(p.name)]
            found += here
            nxt += other
            if here:
                beside += [p for p in other if not p.name.startswith(".")]
        if found:
            if unmatched is not None:
                unmatched.extend(sorted(beside))
            return sorted(found)
        frontier = nxt
    return []


def collection_root(data_dir: Path, collection_names: Sequence[str], max_depth: int = 2) -> Path:
    """``data_dir``, or the one folder below it named like the collection (``TCGA-KICH``): a download
    folder can hold several TCGA collections whose patient ids share one pattern."""
    if data_dir.name in collection_names:
        return data_dir
    wanted = "|".join(re.escape(n) for n in collection_names)
    hits = find_named_dirs(data_dir, f"(?:{wanted})", max_depth=max_depth) if collection_names else []
    return hits[0] if len(hits) == 1 else data_dir


def scan_series(patient_dir: Path, patient_id: str | None = None) -> list[TciaSeries]:
    """Every DICOM series under one patient folder, sorted by folder; a folder whose first and last files
    disagree on SeriesInstanceUID, or that is not a ``<study>/<series>`` folder, is regrouped by header."""
    patient_id = patient_id or patient_dir.name
    by_folder: dict[Path, list[Path]] = {}
    for f in list_dicom_files(patient_dir):
        by_folder.setdefault(f.parent, []).append(f)
    out: list[TciaSeries] = []
    for folder in sorted(by_folder):
        files = sorted(by_folder[folder])
        first = read_header(files[0])
        last = read_header(files[-1]) if len(files) > 1 else first
        # a retriever <patient>/<study>/<series>/ folder is trusted once its first and last files agree
        if (
            folder.parent.parent == patient_dir
            and first
            and last
            and first["SeriesInstanceUID"] == last["SeriesInstanceUID"]
        ):
            out.append(TciaSeries.from_header(patient_id, folder, files, first, regrouped=False))
            continue
        groups: dict[str, list[Path]] = {}
        headers: dict[str, dict[str, Any] | None] = {}
        for f in files:
            h = read_header(f)
            uid = h["SeriesInstanceUID"] if h else ""
            groups.setdefault(uid, []).append(f)
            headers.setdefault(uid, h)
        for uid in sorted(groups):
            out.append(TciaSeries.from_header(patient_id, folder, groups[uid], headers[uid], len(groups) > 1))
    return out


_DESCRIPTIVE_SUFFIX = re.compile(r"-(\d{5})$")
_UID = re.compile(r"\d+(?:\.\d+)+")


def folder_key(name: str) -> str:
    """The last 5 digits of the UID in a study/series folder name: the ``-<5 digits>`` ending of a
    descriptive name (``...MCAPRODETW-05711``) or the end of a classic UID name; else the name."""
    if m := _DESCRIPTIVE_SUFFIX.search(name):
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


class TciaCollectionBuilder(LvmMedSourceBuilder):
    """Base of the TCIA radiology collections: one record per DICOM series, patient folders by pattern.

    Subclasses set the usual facts plus ``patient_pattern`` (a regex the patient folder names fully
    match, e.g. ``OPC-\\d{5}``), ``accepted_modalities`` (DICOM codes kept, e.g. ``("CT",)``) and
    ``collection_names`` (the collection folder names the retriever writes).
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
        """Patient folders; the other folders beside them are reported as ``unmatched_folder``."""
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

    def _skip_reason(self, s: TciaSeries) -> tuple[str, str] | None:
        if not s.header:
            return UNREADABLE, "not a readable DICOM file"
        if s.is_non_image:
            return NOT_AN_IMAGE, f"DICOM {s.modality or s.sop_class_uid} series holds no image"
        if s.modality not in self.accepted_modalities:
            wanted = ", ".join(self.accepted_modalities)
            return OTHER_MODALITY, f"modality {s.modality or '?'} is not part of this source ({wanted})"
        if s.is_localizer and self.skip_localizers and not self.config.file_list:
            return LOCALIZER, f"localizer/scout series {s.description!r}"
        return None

    def list_keys(self, record: Record, path: Path, data_dir: Path) -> set[str]:
        # plus the UID-digit key, which matches any retriever version and the classic type
        keys = super().list_keys(record, path, data_dir)
        key = list_key(_relpath(path, data_dir).split("/"))
        return keys | {key} if key else keys

    def list_entry_key(self, entry: str) -> str:
        return list_key(entry.split("/")) or super().list_entry_key(entry)

    def iter_records(self, data_dir: Path) -> Iterable[Record]:
        """One record per series; a single-file series uses the one-file reader (2D or multi-frame)."""
        for pdir in self.patient_dirs(data_dir):
            for s in scan_series(pdir):
                vol = _relpath(s.folder, data_dir)
                if skip := self._skip_reason(s):
                    self._skip(skip[0], vol, skip[1], len(s.files))
                    continue
                yield Record(
                    paths=s.files,
                    patient_id=s.patient_id,
                    volume_id=f"{vol}#{s.series_uid}" if s.regrouped else vol,
                    reader="dicom_series" if len(s.files) > 1 else "dicom",
                    modality=DICOM_MODALITY_NAMES.get(s.modality, s.modality),
                )
