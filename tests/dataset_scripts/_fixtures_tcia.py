"""Fixture writers for the DICOM sources (TCIA collections, CBIS-DDSM, VinDr-CXR): real DICOM files.

Files are written with pydicom as Part 10 files (explicit VR little endian), with the header fields
the readers and the TCIA scan use: UIDs, Modality, ImageType, SeriesDescription, geometry
(ImageOrientationPatient / ImagePositionPatient / PixelSpacing) and a modality rescale for CT.
Pixels are random (never constant, so no slice is dropped as empty); images are 16 x 16.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lvmmed_hf.data.builder import FileListError, SourceDataMissingError
from lvmmed_hf.data.prepare import prepare_source
from lvmmed_hf.data.registry import get_source

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
DX_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"
MG_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1.2"
_SOP = {
    "CT": CT_IMAGE_STORAGE,
    "MR": MR_IMAGE_STORAGE,
    "PT": "1.2.840.10008.5.1.4.1.1.128",
    "DX": DX_IMAGE_STORAGE,
    "MG": MG_IMAGE_STORAGE,
}
_seed = itertools.count(1)


def prepare_and_load(source: str, data_dir: Path, out_dir: Path, **options: Any):
    """Prepare ``source`` into ``out_dir`` and load it back with ``datasets.load_dataset`` (train split,
    report).

    Like conftest's helper (conftest modules are not importable by name in pytest's default import
    mode), but with a cache folder beside ``out_dir``: ``datasets`` names its cache after the output
    folder's base name and a hash of the shards' mtimes, and a cache entry of an earlier run with
    the same folder name was seen to be returned instead of the freshly prepared data.
    """
    report = prepare_source(source, data_dir, out_dir, **options)
    cache = Path(str(out_dir) + "-hf-cache")
    return datasets.load_dataset(str(out_dir), source, split="train", cache_dir=str(cache)), report


def _base(
    path: Path, sop_class: str, modality: str, patient_id: str, study_uid: str, series_uid: str
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    path.parent.mkdir(parents=True, exist_ok=True)
    return ds


def write_slice(
    path: Path,
    *,
    modality: str = "CT",
    patient_id: str = "P",
    study_uid: str = "1.2.3",
    series_uid: str = "1.2.3.4",
    z: float = 0.0,
    instance: int = 1,
    description: str = "",
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    size: int = 16,
    iop: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
) -> Path:
    """One slice of a CT/MR/PT series (CT stored as uint16 with RescaleIntercept -1024, HU -124..276)."""
    ds = _base(path, _SOP[modality], modality, patient_id, study_uid, series_uid)
    ds.SeriesDescription = description
    ds.ImageType = list(image_type)
    ds.InstanceNumber = instance
    ds.ImageOrientationPatient = [float(v) for v in iop]
    ds.ImagePositionPatient = [0.0, 0.0, float(z)]
    ds.PixelSpacing = [1.0, 1.0]
    ds.SliceThickness = 2.0
    rng = np.random.default_rng(next(_seed))
    arr = rng.integers(900, 1300, size=(size, size)).astype(np.uint16)
    if modality == "CT":
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = arr.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_2d(
    path: Path,
    *,
    modality: str = "DX",
    patient_id: str = "P",
    study_uid: str | None = None,
    series_uid: str | None = None,
    photometric: str = "MONOCHROME2",
    size: tuple[int, int] = (24, 16),
) -> np.ndarray:
    """A 2D projection image (DX/MG, 16-bit, 12 bits stored); returns the stored pixel array."""
    ds = _base(
        path, _SOP[modality], modality, patient_id, study_uid or generate_uid(), series_uid or generate_uid()
    )
    rng = np.random.default_rng(next(_seed))
    arr = rng.integers(0, 4096, size=size).astype(np.uint16)
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = arr.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return arr


def write_rtstruct(path: Path, *, patient_id: str, study_uid: str, series_uid: str | None = None) -> Path:
    """An RT structure set (no pixel data)."""
    ds = _base(path, RTSTRUCT_STORAGE, "RTSTRUCT", patient_id, study_uid, series_uid or generate_uid())
    ds.StructureSetLabel = "ROI"
    ds.SeriesDescription = "RTSTRUCT"
    ds.save_as(path, enforce_file_format=True)
    return path


# --------------------------------------------------------------------------------------------
# TCIA collections in the NBIA Data Retriever's descriptive layout


@dataclass
class SeriesSpec:
    """One series folder: ``<patient>/<study>/<series>/<file names>``."""

    study: str
    series: str
    files: list[str]
    modality: str = "CT"
    description: str = ""
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL")
    image: bool = True  # False: an RT structure set

    def rel_files(self, patient: str) -> list[str]:
        return [f"{patient}/{self.study}/{self.series}/{f}" for f in self.files]


@dataclass
class TciaCase:
    """A source's fixture: real patient IDs, a kept series per patient, plus series that must be skipped."""

    source: str
    collection: str
    patients: list[str]
    image_series: list[SeriesSpec]  # one per patient, same index
    skipped: dict[str, list[tuple[int, SeriesSpec]]] = field(
        default_factory=dict
    )  # reason -> (patient index, series)
    expected_modalities: dict[str, str] = field(
        default_factory=dict
    )  # patient -> stored modality (mixed: CT unless named)


def write_tcia(root: Path, case: TciaCase) -> Path:
    """Write the collection folder under ``root/manifest-1600000000000/<Collection>/`` (as the
    retriever does)."""
    coll = root / "manifest-1600000000000" / case.collection
    study_uids: dict[tuple[str, str], str] = {}

    def write(pi: int, spec: SeriesSpec) -> None:
        patient = case.patients[pi]
        study_uid = study_uids.setdefault((patient, spec.study), generate_uid())
        series_uid = generate_uid()
        folder = coll / patient / spec.study / spec.series
        if not spec.image:
            write_rtstruct(
                folder / spec.files[0], patient_id=patient, study_uid=study_uid, series_uid=series_uid
            )
            return
        for i, name in enumerate(spec.files):
            write_slice(
                folder / name,
                modality=spec.modality,
                patient_id=patient,
                study_uid=study_uid,
                series_uid=series_uid,
                z=2.0 * i,
                instance=i + 1,
                description=spec.description,
                image_type=spec.image_type,
            )

    for pi, spec in enumerate(case.image_series):
        write(pi, spec)
    for items in case.skipped.values():
        for pi, spec in items:
            write(pi, spec)
    (root / "manifest-1600000000000" / "metadata.csv").write_text("Series UID,Collection,Subject ID\n")
    return coll


def check_tcia_source(tmp_path: Path, case: TciaCase) -> None:
    """Layout, features, modality, skips, patient-level sampling, file list and the missing-data error."""
    write_tcia(tmp_path / "raw", case)
    raw = tmp_path / "raw"
    n_slices = {p: len(s.files) for p, s in zip(case.patients, case.image_series)}

    # every patient (sample_fraction=1): all image slices, nothing from the skipped series
    ds, report = prepare_and_load(case.source, raw, tmp_path / "all", sample_fraction=1.0)
    assert len(ds) == sum(n_slices.values())
    assert set(ds.features) >= {
        "image",
        "source",
        "modality",
        "organ",
        "patient_id",
        "volume_id",
        "slice_index",
        "original_path",
        "label",
    }
    assert isinstance(ds.features["image"], datasets.Image)
    assert set(ds["source"]) == {case.source}
    expected_paths = {
        f"manifest-1600000000000/{case.collection}/{r}"
        for p, s in zip(case.patients, case.image_series)
        for r in s.rel_files(p)
    }
    assert set(ds["original_path"]) == expected_paths
    for p in case.patients:
        rows = [i for i, q in enumerate(ds["patient_id"]) if q == p]
        assert len(rows) == n_slices[p]
        assert sorted(ds[rows]["slice_index"]) == list(range(n_slices[p]))
        mods = set(ds[rows]["modality"])
        default = get_source(case.source).modality
        assert mods == {case.expected_modalities.get(p, "CT" if default == "mixed" else default)}
        assert len(set(ds[rows]["volume_id"])) == 1
    assert set(ds["label"]) == {None}  # TCIA radiology collections carry no image-level label
    img = ds[0]["image"]
    assert img.size == (16, 16) and img.mode in ("I;16", "I")
    for reason, items in case.skipped.items():
        assert report.skipped[reason] == sum(len(s.files) for _, s in items), (reason, report.skipped)

    # default 20% sample by patient: whole patients, round(0.2 * n) of them
    ds20, report20 = prepare_and_load(case.source, raw, tmp_path / "p20")
    kept = set(ds20["patient_id"])
    assert len(kept) == max(1, round(0.2 * len(case.patients)))
    assert len(ds20) == sum(n_slices[p] for p in kept)
    assert report20.skipped["not_in_split"] == len(case.patients) - len(kept)

    # LVM-Med's list format: <patient>/<study>/<series>/<file>, one per line; keep exactly those slices
    p0, s0 = case.patients[0], case.image_series[0]
    p1, s1 = case.patients[1], case.image_series[1]
    listed = s0.rel_files(p0)[:2] + s1.rel_files(p1)[-1:]
    lst = tmp_path / "file_list.txt"
    lst.write_text("\n".join(listed + [f"{p0}/{s0.study}/{s0.series}/9-999.dcm"]) + "\n")
    dsl, reportl = prepare_and_load(case.source, raw, tmp_path / "list", file_list=str(lst))
    assert sorted(dsl["original_path"]) == sorted(
        f"manifest-1600000000000/{case.collection}/{r}" for r in listed
    )
    assert reportl.list_entries_unmatched == 1
    # with a list, localizer series are offered too (LVM-Med's lists name localizer slices)
    n_localizer = sum(len(s.files) for _, s in case.skipped.get("localizer", []))
    assert reportl.skipped["not_in_list"] == sum(n_slices.values()) + n_localizer - 3
    assert "localizer" not in reportl.skipped

    # a list naming none of these files is refused
    bad = tmp_path / "other_list.txt"
    bad.write_text("OTHER-0001/x/y/1-1.dcm\n")
    with pytest.raises(FileListError):
        prepare_and_load(case.source, raw, tmp_path / "bad", file_list=str(bad))

    check_missing_layout(tmp_path, case.source, dicom_not_in_patient_folder=True)

    # partial download: patient and study folders exist, but the series folders hold no DICOM yet
    partial = tmp_path / "partial" / case.collection / case.patients[0] / s0.study / s0.series
    partial.mkdir(parents=True)
    (partial / "1-001.dcm.part").write_bytes(b"\0" * 64)
    with pytest.raises(SourceDataMissingError, match="found no files of the expected layout"):
        prepare_and_load(case.source, tmp_path / "partial", tmp_path / "o4")


def check_missing_layout(tmp_path: Path, source: str, dicom_not_in_patient_folder: bool = False) -> None:
    """Empty folder, missing folder, and DICOM files outside the expected folder names raise the
    builder's error."""
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceDataMissingError, match="Expected layout"):
        prepare_and_load(source, empty, tmp_path / "o1")
    with pytest.raises(SourceDataMissingError, match="does not exist"):
        prepare_and_load(source, tmp_path / "nowhere", tmp_path / "o2")
    if dicom_not_in_patient_folder:
        wrong = tmp_path / "wrong"
        write_slice(wrong / "scans" / "a" / "1-1.dcm")
        with pytest.raises(SourceDataMissingError, match="found no files of the expected layout"):
            prepare_and_load(source, wrong, tmp_path / "o3")
