"""Coverage of LVM-Med's published file lists: every entry maps to exactly one record path or to a
named exclusion the builder documents.

The lists live outside the package (``shared/reference/lvmmed-file-lists/`` beside the clone, CC
BY-NC-SA, never shipped); :func:`reference_list` finds them. Fixture trees are generated from the
list's own names with the smallest valid files (one encoded template per suffix, written as bytes),
and the mapping is checked through the builder's own record planning (``plan_records`` with the
list as ``file_list``), so thousands of entries cost seconds, not a full Parquet prepare.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lvmmed_hf.data.builder import LvmMedSourceBuilder, SourceReport
from lvmmed_hf.data.registry import get_source
from lvmmed_hf.data.sources_table import LIST_COVERAGE, LIST_EXCLUSIONS

LISTS_ENV = "LVMMED_FILE_LISTS"
_REL = Path("shared") / "reference" / "lvmmed-file-lists"


def lists_dir() -> Path:
    """The folder of LVM-Med's lists: ``$LVMMED_FILE_LISTS`` or ``shared/reference/...`` beside a parent
    of the repository (CI checks ``shared/`` out beside the clone)."""
    env = os.environ.get(LISTS_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / _REL
        if cand.is_dir():
            return cand
    raise FileNotFoundError(
        f"LVM-Med's file lists were not found: expected {_REL} beside the repository (or set {LISTS_ENV})"
    )


def reference_list(name: str) -> Path:
    """Path of LVM-Med's list ``<name>.txt``."""
    p = lists_dir() / f"{name}.txt"
    if not p.is_file():
        raise FileNotFoundError(f"LVM-Med's list {p} does not exist")
    return p


def list_lines(name: str) -> list[str]:
    """The non-blank lines of a list, stripped (the list as published, duplicates kept)."""
    return [ln.strip() for ln in reference_list(name).read_text().splitlines() if ln.strip()]


# ---- smallest valid files --------------------------------------------------------------------


@cache
def image_bytes(suffix: str) -> bytes:
    """A tiny valid image file (4 x 4 px, non-constant) encoded in the format of ``suffix``."""
    suffix = suffix.lower()
    arr = (np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5).astype(np.uint8)
    buf = io.BytesIO()
    if suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(buf, arr)
        return buf.getvalue()
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}[suffix]
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


DICOM_SOP = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "MG": "1.2.840.10008.5.1.4.1.1.1.2",
}


def dicom_bytes(modality: str, patient: str, study_uid: str, series_uid: str) -> bytes:
    """One small valid Part 10 slice (4 x 4, 16 bit) of the given series."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DICOM_SOP[modality]
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = DICOM_SOP[modality]
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = patient
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.PixelSpacing = [1.0, 1.0]
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = (np.arange(16, dtype=np.uint16) * 50).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


class TreeWriter:
    """Writes many small files fast: parents created once, bytes written directly."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dirs: set[str] = set()
        self.n = 0

    def write(self, rel: str, data: bytes | None = None) -> Path:
        path = os.path.join(self.root, rel)
        parent = os.path.dirname(path)
        if parent not in self._dirs:
            os.makedirs(parent, exist_ok=True)
            self._dirs.add(parent)
        if data is None:
            data = image_bytes(os.path.splitext(rel)[1])
        with open(path, "wb") as f:
            f.write(data)
        self.n += 1
        return Path(path)


# ---- the mapping ---------------------------------------------------------------------------


@dataclass
class Coverage:
    """How the entries of one list map onto a source's records."""

    source: str
    entries: int = 0  # lines of the list
    mapped: int = 0  # entries that select exactly ``per_entry`` record paths
    excluded: Counter = field(default_factory=Counter)  # entries dropped by a named exclusion
    unmatched: list[str] = field(default_factory=list)
    ambiguous: dict[str, int] = field(default_factory=dict)  # entry -> paths it selects
    report: SourceReport | None = None
    records: list[Any] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "mapped": self.mapped,
            "excluded": dict(sorted(self.excluded.items())),
        }


def make_builder(source: str, data_dir: Path, cache_dir: Path, **options: Any) -> LvmMedSourceBuilder:
    cls = get_source(source)
    return cls(cache_dir=str(cache_dir), data_dir=str(data_dir), **options)


def list_coverage(
    source: str,
    data_dir: Path,
    list_path: Path,
    cache_dir: Path,
    per_entry: int = 1,
    **options: Any,
) -> Coverage:
    """Plan ``source`` on ``data_dir`` restricted to ``list_path`` and map every list line.

    An entry is *mapped* when its key (the builder's ``list_entry_key``) selects exactly
    ``per_entry`` paths of the planned records (``per_entry`` > 1 for lists naming cases that hold
    several volumes); an entry the builder's ``parse_file_list`` drops must be named by its
    ``list_exclusion_reason`` (a documented reason), else it counts as unmatched.
    """
    b = make_builder(source, data_dir, cache_dir, file_list=str(list_path), **options)
    # Remember the keys the builder's own restriction computes (the real method, called once per
    # path) so the mapping below does not compute them a second time.
    keys_of: dict[Path, set[str]] = {}
    real_list_keys = b.list_keys

    def list_keys(rec, p, d):
        if p not in keys_of:
            keys_of[p] = real_list_keys(rec, p, d)
        return keys_of[p]

    b.list_keys = list_keys
    report = SourceReport(source)
    records = b.plan_records(report)
    raw = LvmMedSourceBuilder.parse_file_list(b, list_path)  # the lines, before the builder's own filter
    kept = b.parse_file_list(list_path)
    kept_count = Counter(kept)
    cov = Coverage(source, entries=len(raw), report=report, records=records)
    hits: dict[str, set[Path]] = {}
    for rec in records:
        for p in rec.paths:
            for k in list_keys(rec, p, data_dir):
                hits.setdefault(k, set()).add(p)
    for e in raw:
        if kept_count[e] > 0:
            kept_count[e] -= 1
        else:
            reason = getattr(b, "list_exclusion_reason", lambda _e: None)(e)
            if reason:
                cov.excluded[reason] += 1
            else:
                cov.unmatched.append(e)
            continue
        n = len(hits.get(b.list_entry_key(e), ()))
        if n == per_entry:
            cov.mapped += 1
        elif n == 0:
            cov.unmatched.append(e)
        else:
            cov.ambiguous[e] = n
    return cov


def assert_full_coverage(cov: Coverage) -> None:
    """Every entry is mapped or excluded by a named reason; the builder's own count agrees."""
    assert not cov.unmatched, (
        f"{cov.source}: {len(cov.unmatched)} entries unmatched, e.g. {cov.unmatched[:5]}"
    )
    assert not cov.ambiguous, (
        f"{cov.source}: entries selecting several paths: {list(cov.ambiguous.items())[:5]}"
    )
    assert cov.mapped + sum(cov.excluded.values()) == cov.entries
    assert cov.report is not None and cov.report.list_entries_unmatched == 0
    # docs/sources.md publishes these numbers (rendered from sources_table.LIST_COVERAGE)
    entries, mapped, excluded, _unit = LIST_COVERAGE[cov.source]
    assert cov.summary() == {"entries": entries, "mapped": mapped, "excluded": excluded}
    for reason in cov.excluded:
        assert reason in LIST_EXCLUSIONS, f"exclusion {reason!r} is not documented"
