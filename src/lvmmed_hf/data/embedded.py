"""The embedded default corpus: real medical images that installed packages ship, no download.

Three sources (pydicom's test files, nilearn's MNI152 templates, scikit-image's medical images; see
docs/data.md) built like the LVM-Med sources and labelled with the imaging modality: one shared
``ClassLabel``, so they concatenate for a linear probe.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from . import readers
from .builder import LvmMedSourceBuilder, Record, SourceReport

logger = logging.getLogger(__name__)

_DICOM_LABELS = ["CT", "MRI", "X-ray", "mammography", "ultrasound", "nuclear medicine"]
EMBEDDED_MODALITIES = [*_DICOM_LABELS, "fundus", "histopathology", "microscopy"]  # the label names


class _EmbeddedBuilder(LvmMedSourceBuilder):
    label_names = EMBEDDED_MODALITIES
    access = "installed with `pip install lvmmed-hf[embedded]`; nothing is downloaded"
    modality = "mixed"  # per record
    organ = "various"
    records_per_shard = 24
    package_data: ClassVar[tuple[str, str]] = ("", "")  # (package, its folder of the images)

    @classmethod
    def default_data_dir(cls) -> Path:
        """The installed folder of the images; ImportError if the package is missing."""
        package, folder = cls.package_data
        return Path(importlib.import_module(package).__file__).parent / folder


def _pydicom_files() -> list[Path]:
    from pydicom.data import get_testdata_files

    return sorted(Path(f) for f in get_testdata_files() if Path(f).is_file())


class EmbeddedPydicom(_EmbeddedBuilder):
    """DICOM test images of pydicom and pydicom-data (see the module docstring)."""

    source_name = "embedded_pydicom"
    pretty_name = "pydicom test images"
    description = (
        "Real DICOM images shipped with pydicom and pydicom-data: CT, MR, CR, ultrasound and nuclear "
        "medicine, single files, series folders and multi-frame, uncompressed and compressed."
    )
    homepage = "https://github.com/pydicom/pydicom-data"
    license = "MIT (pydicom, pydicom-data); images from public DICOM test sets"
    dimensionality = "3d"
    layout = "pydicom/data/test_files/**, data_store/data/** (site-packages)"

    @classmethod
    def default_data_dir(cls) -> Path:
        return Path(os.path.commonpath([str(f.parent) for f in _pydicom_files()]))

    def iter_records(self, data_dir: Path) -> Iterator[Record]:
        with readers._quiet_pydicom():  # the test files trigger many harmless validation warnings
            yield from _pydicom_records(data_dir)


def _pydicom_records(data_dir: Path) -> Iterator[Record]:
    # Series folders: several files of one SeriesInstanceUID with positions in one directory.
    by_series: dict[tuple[Path, str], list[tuple[Path, Any]]] = {}
    for f in _pydicom_files():
        if not f.resolve().is_relative_to(data_dir.resolve()):
            continue
        try:
            ds = readers._dcmread(f, stop_before_pixels=True)
        except readers.UnreadableImageError:
            continue  # JSON, dumps, READMEs among the test files
        if _modality_code(ds) not in ("", "OT"):  # not DICOMDIRs, synthetic secondary-capture patterns
            by_series.setdefault((f.parent, str(getattr(ds, "SeriesInstanceUID", ""))), []).append((f, ds))
    for (folder, uid), items in sorted(by_series.items(), key=lambda kv: str(kv[0])):
        study = str(getattr(items[0][1], "StudyInstanceUID", "") or items[0][0].stem)
        if uid and len(items) > 1 and _is_series([ds for _, ds in items]):
            label = readers.DICOM_MODALITY_NAMES.get(_modality_code(items[0][1]))
            paths, volume_id = [f for f, _ in items], f"{folder.name}:{uid[-12:]}"
            yield Record(paths, study, volume_id, reader="dicom_series", modality=label, label=_label(label))
            continue
        for f, ds in items:
            code = _modality_code(ds)
            label = readers.DICOM_MODALITY_NAMES.get(code)
            yield Record(f, study, f.name, reader="dicom", modality=label or code, label=_label(label))


def _modality_code(ds: Any) -> str:
    return str(getattr(ds, "Modality", "") or "").upper()


def _label(modality: str | None) -> str | None:
    return modality if modality in EMBEDDED_MODALITIES else None


def _is_series(headers: list[Any]) -> bool:
    """Whether DICOM headers are the slices of one volume: single-frame images at distinct positions
    (the codec variants of one image share the series UID and the position)."""
    if _modality_code(headers[0]) in readers.NON_IMAGE_MODALITIES:
        return False
    positions = [tuple(getattr(ds, "ImagePositionPatient", ()) or ()) for ds in headers]
    single = all(int(getattr(ds, "NumberOfFrames", 1) or 1) == 1 for ds in headers)
    return single and all(positions) and len(set(positions)) == len(positions)


class EmbeddedNilearn(_EmbeddedBuilder):
    """MNI152 ICBM 2009a template volumes bundled with nilearn."""

    source_name = "embedded_nilearn"
    pretty_name = "MNI152 ICBM 2009a templates (nilearn)"
    description = (
        "The MNI152 ICBM 2009a nonlinear symmetric T1 template and its grey/white-matter maps (1 mm)."
    )
    homepage = "https://nist.mni.mcgill.ca/icbm-152-nonlinear-atlases-2009/"
    license = "MNI ICBM 2009 template licence (free use with attribution); nilearn BSD-3-Clause"
    citation = (
        "@article{fonov2011unbiased, title={Unbiased average age-appropriate atlases for pediatric "
        "studies}, journal={NeuroImage}, year={2011}}"
    )
    modality = "MRI"
    organ = "brain"
    dimensionality = "3d"
    layout = "nilearn/datasets/data/mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_converted.nii.gz"
    records_per_shard = 1
    package_data = ("nilearn", "datasets/data")

    def iter_records(self, data_dir: Path) -> Iterator[Record]:
        for p in sorted(data_dir.glob("mni_icbm152_*_tal_nlin_sym_09a_converted.nii.gz")):
            volume = p.name.split("_")[2]  # t1, gm or wm
            yield Record(paths=p, patient_id="mni152_2009a", volume_id=volume, reader="nifti", label="MRI")


_SKIMAGE_MEDICAL = {
    "retina.jpg": "fundus",
    "microaneurysms.png": "fundus",
    "ihc.png": "histopathology",
    "cell.png": "microscopy",
}


class EmbeddedSkimage(_EmbeddedBuilder):
    """Medical images bundled in scikit-image's data folder (not the pooch-fetched ones)."""

    source_name = "embedded_skimage"
    pretty_name = "scikit-image medical sample images"
    description = (
        "Fundus photograph, retinal microaneurysm crop, IHC histology and cell microscopy bundled "
        "with scikit-image."
    )
    homepage = "https://scikit-image.org/docs/stable/api/skimage.data.html"
    license = "see skimage/data/README.txt (CC0 / CC BY / public domain per image)"
    layout = "skimage/data/{retina.jpg,microaneurysms.png,ihc.png,cell.png}"
    package_data = ("skimage", "data")

    def iter_records(self, data_dir: Path) -> Iterator[Record]:
        for name, modality in sorted(_SKIMAGE_MEDICAL.items()):
            p = data_dir / name
            if p.is_file():
                yield Record(paths=p, patient_id=p.stem, reader="image", modality=modality, label=modality)


EMBEDDED_BUILDERS: list[type[_EmbeddedBuilder]] = [EmbeddedPydicom, EmbeddedNilearn, EmbeddedSkimage]


def prepare_embedded(
    out_dir: str | os.PathLike, *, num_proc: int = 1, overwrite: bool = False, **options: Any
) -> dict[str, SourceReport]:
    """Prepare the embedded corpus into ``out_dir`` (Parquet + README for ``load_dataset``)."""
    from .prepare import prepare_source, write_dataset_card

    reports = {}
    for cls in EMBEDDED_BUILDERS:
        try:
            data_dir = cls.default_data_dir()
        except ImportError as e:
            logger.warning("skipping %s: %s", cls.source_name, e)
            continue
        reports[cls.source_name] = prepare_source(
            cls, data_dir, out_dir, num_proc=num_proc, overwrite=overwrite, write_card=False, **options
        )
    write_dataset_card(out_dir)
    return reports


def load_embedded(out_dir: str | os.PathLike, *, split: str = "train", sources: Iterable[str] | None = None):
    """The prepared embedded sources concatenated into one ``datasets.Dataset`` (label = modality)."""
    import datasets

    names = list(sources) if sources is not None else [c.source_name for c in EMBEDDED_BUILDERS]
    parts = [datasets.load_dataset(str(out_dir), n, split=split) for n in names]
    return datasets.concatenate_datasets(parts)
