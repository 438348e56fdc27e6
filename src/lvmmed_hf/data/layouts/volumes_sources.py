"""Parsing shared by the 3D volume sources: NIfTI files, per-slice masks from label volumes, and
the layouts several sources share (Medical Segmentation Decathlon tasks, ADNI, MM-WHS 2017)."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import datasets
import numpy as np

from ..builder import FileListError, LvmMedSourceBuilder, Record, SourceReport, encode_png, strip_suffixes
from ..readers import ImageData, UnreadableImageError, read_image_data
from ..volumes import to_axial_stack

logger = logging.getLogger(__name__)

MASK_PATH = "mask_path"  # key of Record.extras naming the label file of a record
NIFTI_SUFFIXES = (".nii.gz", ".nii")


def nifti_files(folder: Path, pattern: str = "*", recursive: bool = False) -> list[Path]:
    """``pattern`` + ``.nii``/``.nii.gz`` files of ``folder``, sorted; hidden files (``._x.nii.gz``
    macOS resource forks, shipped inside the MSD tarballs) are ignored."""
    glob = folder.rglob if recursive else folder.glob
    found = {
        p for suf in NIFTI_SUFFIXES for p in glob(pattern + suf) if p.is_file() and not p.name.startswith(".")
    }
    return sorted(found)


def nifti_in(folder: Path, stem: str) -> Path | None:
    """``<folder>/<stem>.nii.gz`` or ``<folder>/<stem>.nii``, whichever exists (gz first)."""
    for suf in NIFTI_SUFFIXES:
        if (folder / f"{stem}{suf}").is_file():
            return folder / f"{stem}{suf}"
    return None


def drop_list_entries(entries: Sequence[str], drop: re.Pattern[str], source: str, what: str) -> list[str]:
    """Entries of a published list minus those matching ``drop`` (e.g. label volumes), logged."""
    kept = [e for e in entries if not drop.search(e.rsplit("/", 1)[-1])]
    if dropped := len(entries) - len(kept):
        logger.info(
            "%s: %d file-list entries name %s, not images; they select nothing", source, dropped, what
        )
    if not kept:
        raise FileListError(f"the file list for source {source!r} names only {what}, no image")
    return kept


def label_to_storable(label: np.ndarray) -> np.ndarray | None:
    """A 2D label image as uint8 (ids <= 255) or uint16 (<= 65535); larger instance ids are
    renumbered 1..n within the image (order kept). None for non-integer data."""
    a = np.asarray(label)
    if a.dtype == np.bool_:
        return a.astype(np.uint8)
    if not np.issubdtype(a.dtype, np.integer):
        r = np.rint(a)
        if not np.all(np.isfinite(a)) or np.abs(a - r).max(initial=0.0) > 1e-3:
            return None
        a = r.astype(np.int64)
    if a.size and a.min() < 0:
        return None
    top = int(a.max(initial=0))
    if top <= 65535:
        return a.astype(np.uint8 if top <= 255 else np.uint16)
    ids, inv = np.unique(a, return_inverse=True)  # instance ids renumbered, 0 stays background
    inv = inv.reshape(a.shape) + (1 if ids[0] != 0 else 0)
    return inv.astype(np.uint16) if inv.max(initial=0) <= 65535 else None


def mask_slices(image: ImageData, mask: ImageData) -> dict[int, np.ndarray]:
    """Label slices keyed like :func:`~lvmmed_hf.data.volumes.iter_slices` keys the image's slices.

    Volumes: the label is reoriented with the image's affine (same voxel grid required), so key k
    is axial slice k of the image. 2D images: key -1. Raises ``ValueError`` on a grid mismatch.
    """
    if image.kind == "volume":
        if image.array.ndim != 3:
            raise ValueError(f"masks are only attached to 3D volumes, image has shape {image.array.shape}")
        m = mask.array
        if m.ndim == 4 and m.shape[3] == 1:
            m = m[..., 0]
        if m.shape != image.array.shape:
            raise ValueError(f"label grid {m.shape} differs from image grid {image.array.shape}")
        stack, _ = to_axial_stack(m, image.affine)
        return {i: stack[i] for i in range(stack.shape[0])}
    if image.kind == "image":
        m = mask.array
        if m.ndim == 3 and m.shape[-1] in (3, 4) and image.array.ndim == 2:
            m = m[..., 0]
        if m.shape[:2] != image.array.shape[:2]:
            raise ValueError(f"label size {m.shape} differs from image size {image.array.shape}")
        return {-1: m}
    raise ValueError(f"masks are not attached to {image.kind!r} data")


class MaskedSourceBuilder(LvmMedSourceBuilder):
    """Adds a ``mask`` Image feature: the label slice of the same ``slice_index`` from the file in
    ``Record.extras[MASK_PATH]``. A label that is absent, unreadable or on another voxel grid gives
    ``mask=None`` (with a warning) rather than a misaligned mask; the image is still stored.
    """

    extra_features: ClassVar[dict[str, Any]] = {"mask": datasets.Image()}
    mask_reader: ClassVar[str] = "auto"

    def read_record(self, record: Record) -> ImageData:
        data = super().read_record(record)
        self._pending_masks = None
        if mask_path := record.extras.get(MASK_PATH):
            try:
                mask = read_image_data(Path(mask_path), self.mask_reader)
                self._pending_masks = mask_slices(data, mask)
            except (UnreadableImageError, ValueError) as e:
                logger.warning("%s: no mask for %s: %s", self.source_name, record.volume_id, e)
        return data

    def examples_from_record(self, record: Record, report: SourceReport) -> Iterator[dict[str, Any]]:
        self._pending_masks = None
        try:
            for ex in super().examples_from_record(record, report):
                m = (self._pending_masks or {}).get(ex["slice_index"])
                m = label_to_storable(m) if m is not None else None
                ex["mask"] = {"bytes": encode_png(m), "path": None} if m is not None else None
                yield ex
        finally:
            self._pending_masks = None


MSD_CITATION = """@article{antonelli2022medical,
  title={The Medical Segmentation Decathlon},
  author={Antonelli, Michela and Reinke, Annika and Bakas, Spyridon and Farahani, Keyvan and Kopp-Schneider,
      Annette and Landman, Bennett A and Litjens, Geert and Menze, Bjoern and Ronneberger, Olaf and Summers,
      Ronald M and others},
  journal={Nature Communications},
  volume={13},
  number={1},
  pages={4128},
  year={2022}
}"""

_MSD_HEADER = re.compile(r"^Task\d\d_[A-Za-z]+$")


class MsdTaskBuilder(MaskedSourceBuilder):
    """One Decathlon task as distributed: ``[TaskXX_Name/]imagesTr/``, ``labelsTr/`` (-> ``mask``) and
    ``dataset.json`` (its "training" pairs, else ``imagesTr/*.nii.gz``); ``imagesTs`` is not used.
    LVM-Med's ``MSD.txt`` holds a ``TaskXX_Name`` line before each task's entries; only this task's
    entries are taken.
    """

    task: ClassVar[str] = ""  # e.g. "Task09_Spleen"
    split_rule = "random_20pct_by_volume"
    dimensionality = "3d"
    file_list_match = "path"
    lvmmed_file_list = "MSD"
    homepage = "http://medicaldecathlon.com/"
    license = "CC BY-SA 4.0"
    access = "direct download (Google Drive / AWS open data), no registration"
    citation = MSD_CITATION

    def task_dir(self, data_dir: Path) -> Path | None:
        for cand in (data_dir / self.task, data_dir):
            if (cand / "imagesTr").is_dir():
                return cand
        return data_dir if data_dir.name == self.task else None

    def training_cases(self, task_dir: Path) -> list[tuple[Path, Path | None]]:
        """(image, label or None) of the training cases, from dataset.json or imagesTr."""
        meta = task_dir / "dataset.json"
        if not meta.is_file():
            found = [(img, task_dir / "labelsTr" / img.name) for img in nifti_files(task_dir / "imagesTr")]
            return [(img, lab if lab.is_file() else None) for img, lab in found]
        try:
            training = json.loads(meta.read_text(encoding="utf-8")).get("training", [])
        except (OSError, ValueError) as e:
            raise self.missing_data_error(f"{meta} is not valid JSON ({e})") from e
        pairs = []
        for item in training:
            img = task_dir / str(item.get("image", "")).lstrip("./")
            lab = task_dir / str(item["label"]).lstrip("./") if item.get("label") else None
            if img.is_file():
                pairs.append((img, lab if lab is not None and lab.is_file() else None))
            else:
                logger.warning("%s: %s lists %s, which is missing", self.source_name, meta, img)
        return sorted(pairs)

    def iter_records(self, data_dir: Path) -> Iterable[Record]:
        task_dir = self.task_dir(data_dir)
        if task_dir is None:
            raise self.missing_data_error(f"no {self.task}/imagesTr folder under '{data_dir}'")
        for img, lab in self.training_cases(task_dir):
            case = strip_suffixes(img.name)
            extras = {MASK_PATH: lab} if lab else {}
            yield Record(paths=img, patient_id=case, volume_id=case, reader="nifti", extras=extras)

    def parse_file_list(self, path: str | os.PathLike) -> list[str]:
        entries = super().parse_file_list(path)
        grouped = any(_MSD_HEADER.match(e) for e in entries)  # else a plain list for this task alone
        mine, current = [], None
        for e in entries:
            if _MSD_HEADER.match(e):
                current = e
            elif not grouped or current == self.task or e.startswith(self.task + "/"):
                mine.append(e)
        mine = [e for e in mine if not e.startswith("Task") or e.startswith(self.task + "/")]
        if not mine:
            raise FileListError(
                f"file list {str(path)!r} has no entries for {self.task} (source {self.source_name!r})"
            )
        return mine

    def list_entry_key(self, entry: str) -> str:
        return entry.removeprefix(self.task + "/")

    def list_exclusion_reason(self, entry: str) -> str | None:
        """``msd_task_header`` for the ``TaskXX_Name`` lines of LVM-Med's MSD list, ``other_msd_task``
        for the other tasks' entries."""
        if _MSD_HEADER.match(entry):
            return "msd_task_header"
        if entry.startswith("Task") and not entry.startswith(self.task + "/"):
            return "other_msd_task"
        return None


ADNI_GROUPS = ("CN", "MCI", "AD")
# LVM-Med's renamed export: I<image id>_<diagnostic group>.nii
ADNI_FLAT = re.compile(r"^I(\d+)_([A-Za-z]+)\.nii(\.gz)?$")
# ADNI's own download: ADNI_<site>_S_<subject>_MR_<description>_Br_<timestamp>_S<series>_I<image>.nii
ADNI_NATIVE = re.compile(r"^ADNI_(\d{3}_S_\d{4})_MR_.*_S(\d+)_I(\d+)\.nii(\.gz)?$")
ADNI_IMAGE_ID = re.compile(r"^I?(\d+)")


def read_adni_collection_csvs(data_dir: Path) -> dict[str, tuple[str | None, str | None]]:
    """Image ID ("I<digits>") -> (subject, group) from the collection CSVs that ADNI's download
    page exports (columns ``Image Data ID``, ``Subject``, ``Group``, ...), anywhere two levels down."""
    table: dict[str, tuple[str | None, str | None]] = {}
    for csv_path in sorted(set(data_dir.glob("*.csv")) | set(data_dir.glob("*/*.csv"))):
        try:
            with open(csv_path, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                cols = {c.strip().lower(): c for c in (reader.fieldnames or [])}
                if "image data id" not in cols:
                    continue
                for row in reader:
                    raw = (row.get(cols["image data id"]) or "").strip()
                    m = ADNI_IMAGE_ID.match(raw)
                    if not m:
                        continue
                    subject = (row.get(cols["subject"]) or "").strip() if "subject" in cols else ""
                    group = (row.get(cols["group"]) or "").strip() if "group" in cols else ""
                    table[f"I{m.group(1)}"] = (subject or None, group or None)
        except (OSError, csv.Error, UnicodeDecodeError) as e:
            logger.warning("cannot read ADNI collection table %s: %s", csv_path, e)
    return table


def _adni_name(name: str) -> tuple[str, str | None, str | None] | None:
    """(image id "I<digits>", group, subject) of an ADNI file name in either naming, else None."""
    if m := ADNI_FLAT.match(name):
        return f"I{m.group(1)}", m.group(2).upper(), None
    if m := ADNI_NATIVE.match(name):
        return f"I{m.group(3)}", None, m.group(1)
    return None


class AdniBuilder(LvmMedSourceBuilder):
    """ADNI T1 MRI NIfTI, one of LVM-Med's two ADNI1 collections::

        <data_dir>/I<image>_<CN|MCI|AD>.nii                      (LVM-Med's flat export)
        <data_dir>/ADNI/<subject>/<description>/<date>/I<image>/
            ADNI_<subject>_MR_<description>_Br_<timestamp>_S<series>_I<image>.nii   (ADNI download)
        <data_dir>/<collection>.csv   (optional: Image Data ID, Subject, Group, ...)

    Patient = ADNI subject (``<site>_S_<nnnn>``) when the native name or the collection CSV gives
    it, else the image ID. The group comes from the flat name, else from the CSV.
    """

    modality = "MRI"
    organ = "brain"
    dimensionality = "3d"
    split_rule = "random_20pct_by_volume"
    label_names = ADNI_GROUPS
    file_list_match = "id"
    homepage = "https://adni.loni.usc.edu/"
    license = "ADNI Data Use Agreement (no redistribution; acknowledge ADNI in publications)"
    access = "apply for access at ida.loni.usc.edu, accept the ADNI DUA, download the collection as NIfTI"
    citation = """@article{jack2008alzheimer,
  title={The Alzheimer's disease neuroimaging initiative (ADNI): MRI methods},
  author={Jack Jr, Clifford R and Bernstein, Matt A and Fox, Nick C and Thompson, Paul and Alexander, Gene and
      Harvey, Danielle and Borowski, Bret and Britson, Paula J and L. Whitwell, Jennifer and Ward, Chadwick
      and others},
  journal={Journal of Magnetic Resonance Imaging},
  volume={27},
  number={4},
  pages={685--691},
  year={2008}
}"""

    def iter_records(self, data_dir: Path) -> Iterable[Record]:
        table = read_adni_collection_csvs(data_dir)
        for p in sorted(data_dir.rglob("*.nii*")):
            parsed = _adni_name(p.name) if p.is_file() and not p.name.startswith(".") else None
            if parsed is None:
                continue
            image_id, group, subject = parsed
            csv_subject, csv_group = table.get(image_id, (None, None))
            group = group or (csv_group.upper() if csv_group else None)
            label = group if group in ADNI_GROUPS else None
            if group and label is None:
                msg = "%s: %s has group %r, not one of %s; stored without label"
                logger.warning(msg, self.source_name, p.name, group, ADNI_GROUPS)
            patient = subject or csv_subject or image_id
            yield Record(paths=p, patient_id=patient, volume_id=image_id, label=label, reader="nifti")

    def list_entry_key(self, entry: str) -> str:
        name = entry.rsplit("/", 1)[-1]
        if parsed := _adni_name(name):
            return parsed[0]
        m = ADNI_IMAGE_ID.match(strip_suffixes(name))
        return f"I{m.group(1)}" if m else strip_suffixes(name)


MMWHS_CITATION = """@article{zhuang2019evaluation,
  title={Evaluation of algorithms for Multi-Modality Whole Heart Segmentation: An open-access grand
      challenge},
  author={Zhuang, Xiahai and Li, Lei and Payer, Christian and others},
  journal={Medical Image Analysis}, volume={58}, pages={101537}, year={2019}
}
@article{zhuang2016multi,
  title={Multi-scale patch and multi-modality atlases for whole heart segmentation of MRI},
  author={Zhuang, Xiahai and Shen, Juan},
  journal={Medical Image Analysis}, volume={31}, pages={77--87}, year={2016}
}"""

_LABEL = re.compile(r"_label\.nii")


class MmwhsBuilder(MaskedSourceBuilder):
    """MM-WHS 2017 training volumes of one modality (``prefix`` "ct" or "mr"):
    ``[<prefix>_train/]<prefix>_train_<id>_image.nii[.gz]`` with ``..._label.nii[.gz]`` (-> ``mask``).
    The test volumes are not read; the ``_label`` entries of LVM-Med's lists select nothing.
    """

    prefix: ClassVar[str] = ""
    organ = "heart"
    dimensionality = "3d"
    split_rule = "official_train"
    file_list_match = "stem"
    homepage = "https://zmiclab.github.io/zxh/0/mmwhs/"
    license = "MM-WHS data agreement (research use, request form), cite the challenge papers"
    access = "fill in the MM-WHS data request form on the challenge page; the training zips are then shared"
    citation = MMWHS_CITATION

    def iter_records(self, data_dir: Path) -> Iterable[Record]:
        pattern = re.compile(rf"^{self.prefix}_train_(\d+)_image\.nii(\.gz)?$")
        roots = [d for d in (data_dir / f"{self.prefix}_train", data_dir) if d.is_dir()]
        seen: set[str] = set()
        for root in roots:
            for img in nifti_files(root, f"{self.prefix}_train_*_image"):
                m = pattern.match(img.name)
                case = f"{self.prefix}_train_{m.group(1)}" if m else ""
                if not m or case in seen:
                    continue
                seen.add(case)
                lab = nifti_in(img.parent, f"{case}_label")
                extras = {MASK_PATH: lab} if lab else {}
                yield Record(paths=img, patient_id=case, volume_id=case, reader="nifti", extras=extras)

    def parse_file_list(self, path: str | os.PathLike) -> list[str]:
        return drop_list_entries(super().parse_file_list(path), _LABEL, self.source_name, "label volumes")

    def list_exclusion_reason(self, entry: str) -> str | None:
        """``label_volume`` for the list's ``_label.nii`` entries (a volume's ``mask``, not an image)."""
        return "label_volume" if _LABEL.search(entry.rsplit("/", 1)[-1]) else None
