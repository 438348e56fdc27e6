"""Each protocol's dataset read from its public layout (``Protocol.download``) into a ``DatasetDict``.

Schemas: ``image`` + ``label`` (classification), ``image`` + ``mask`` (+ ``volume_id``, ``slice_index``
for volumes) or ``image`` + ``objects`` (COCO ``[x, y, w, h]`` pixel boxes). Missing folders raise
``FileNotFoundError`` naming what was expected; files that do not pair up are left out.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value
from datasets import Image as ImageFeature
from PIL import Image

from .protocols import MMWHS_VOLUME_SPLIT

logger = logging.getLogger(__name__)

__all__ = ["LAYOUTS", "authors_validation_split", "balanced_slices", "load_protocol_data", "read_split_file"]

_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"}


def _need_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: expected {what}")
    return path


def _png_bytes(arr: np.ndarray) -> dict:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return {"bytes": buf.getvalue(), "path": None}


_SEG_FEATURES = Features({"image": ImageFeature(), "mask": ImageFeature()})
_VOLUME_FEATURES = Features({**_SEG_FEATURES, "volume_id": Value("string"), "slice_index": Value("int32")})


def authors_validation_split(n: int, valid_rate: float, seed: int = 42) -> tuple[list[int], list[int]]:
    """(train, validation) indices as the authors' classification code draws them (scikit-learn's
    ``train_test_split(list(range(n)), test_size=valid_rate, random_state=42)``)."""
    from sklearn.model_selection import train_test_split

    train, val = train_test_split(list(range(n)), test_size=valid_rate, random_state=seed)
    return list(train), list(val)


def _image_folder_order(root: Path) -> list[tuple[Path, str]]:
    """(file, class) in ``torchvision.datasets.ImageFolder`` order: classes sorted, files sorted in each."""
    out = []
    for cls in sorted(d.name for d in root.iterdir() if d.is_dir()):
        for f in sorted((root / cls).iterdir(), key=lambda p: p.name):
            if f.is_file() and f.suffix.lower() in _IMAGE_EXT:
                out.append((f, cls))
    return out


def _classification_dict(train: list, test: list, names: list[str], valid_rate: float) -> DatasetDict:
    tr, va = authors_validation_split(len(train), valid_rate)
    feats = Features({"image": ImageFeature(), "label": ClassLabel(names=names)})
    parts = {"train": [train[i] for i in tr], "validation": [train[i] for i in va], "test": test}
    return DatasetDict(
        {
            k: Dataset.from_dict(
                {"image": [str(f) for f, _ in v], "label": [names.index(c) for _, c in v]}, feats
            )
            for k, v in parts.items()
        }
    )


# ------------------------------------------------------------------------------ classification
def brain_tumor(data_dir: Path, valid_rate: float = 0.3, **_) -> DatasetDict:
    """Kaggle 'Brain Tumor Classification (MRI)': ``Training/<class>/*`` and ``Testing/<class>/*``."""
    train, test = (
        _image_folder_order(_need_dir(data_dir / d, f"{d}/<class>/<image> (Brain Tumor MRI)"))
        for d in ("Training", "Testing")
    )
    names = sorted({c for _, c in train} | {c for _, c in test})
    return _classification_dict(train, test, names, valid_rate)


def _find(data_dir: Path, name: str) -> Path:
    hits = sorted(data_dir.rglob(name))
    if not hits:
        raise FileNotFoundError(f"{data_dir}: no {name} found below it")
    return hits[0]


def fgadr(data_dir: Path, valid_rate: float = 0.2, n_train: int = 1500, **_) -> DatasetDict:
    """FGADR-Seg-Set: ``Original_Images/*.png`` and ``DR_Seg_Grading_Label.csv`` (name, grade); the
    authors' split: by name, the first 1,500 train, the rest test, validation from ``Training/<grade>/``."""
    csv_path = _find(data_dir, "DR_Seg_Grading_Label.csv")
    images_dir = _find(data_dir, "Original_Images")
    grades: dict[str, str] = {}
    with open(csv_path, newline="") as fh:
        for row in csv.reader(fh):
            if len(row) >= 2 and row[1].strip().isdigit():  # a header line, if any, is skipped
                grades[row[0].strip()] = row[1].strip()
    files = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in _IMAGE_EXT)
    unlabelled = [p.name for p in files if p.name not in grades]
    if unlabelled:
        logger.warning("%d FGADR images have no grade in %s and are left out", len(unlabelled), csv_path)
    rows = [(p, grades[p.name]) for p in files if p.name in grades]
    # ImageFolder order of Training/<grade>/<name>: by grade folder name, then by file name.
    train, test = (sorted(part, key=lambda r: (r[1], r[0].name)) for part in (rows[:n_train], rows[n_train:]))
    return _classification_dict(train, test, [str(g) for g in range(5)], valid_rate)


# ---------------------------------------------------------------------------- 2-D segmentation
def read_split_file(path: str | os.PathLike) -> dict[str, set[str]]:
    """The authors' ``files_split/<dataset>.json``: ``{"train": [names], "valid": [...], "test": [...]}``."""
    data = json.loads(Path(path).read_text())
    out = {}
    for ours, theirs in (("train", "train"), ("validation", "valid"), ("test", "test")):
        if theirs not in data:
            raise ValueError(f"{path}: no {theirs!r} list (keys: {sorted(data)})")
        out[ours] = set(data[theirs])
    return out


def _seeded_split(items: list, seed: int, fractions=(0.1, 0.2)) -> dict[str, list]:
    """Seeded random train / validation / test split by the (validation, test) fractions (at least one
    item on a side of non-zero fraction), each side in input order."""
    order = np.random.default_rng(seed).permutation(len(items))
    n_val, n_test = (max(1, int(round(f * len(items)))) if f else 0 for f in fractions)
    idx = {
        "test": order[:n_test],
        "validation": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }
    return {k: [items[i] for i in sorted(v)] for k, v in idx.items()}


def _split_pairs(pairs: list[tuple], split_file: str | None, seed: int) -> dict[str, list]:
    """Split (name, ...) rows by the authors' name lists, else seeded 64/16/20."""
    if split_file:
        lists = read_split_file(split_file)
        out = {k: [p for p in pairs if p[0] in v] for k, v in lists.items()}
        missing = sum(len(v) for v in lists.values()) - sum(len(v) for v in out.values())
        if missing:
            logger.warning("%d names of %s are not in the data folder", missing, split_file)
        return out
    return _seeded_split(pairs, seed, (0.16, 0.2))


def _seg_dict(parts: dict[str, list], binarize: bool) -> DatasetDict:
    """Splits of (name, image, mask) rows; ``binarize``: 8-bit masks (JPEG, GIF, PNG) thresholded at 127."""
    out = {}
    for split, rows in parts.items():
        images, masks = [], []
        for _, img, mask in rows:
            images.append(_png_bytes(img) if isinstance(img, np.ndarray) else str(img))
            m = mask if isinstance(mask, np.ndarray) else np.asarray(Image.open(mask).convert("L"))
            masks.append(_png_bytes((m > 127 if binarize else m).astype(np.uint8)))
        out[split] = Dataset.from_dict({"image": images, "mask": masks}, features=_SEG_FEATURES)
    return DatasetDict(out)


def isic2018(data_dir: Path, **_) -> DatasetDict:
    """ISIC 2018 Task 1: ``ISIC2018_Task1-2_<Split>_Input/ISIC_*.jpg`` and
    ``ISIC2018_Task1_<Split>_GroundTruth/ISIC_*_segmentation.png``."""
    parts = {}
    for ours, theirs in (("train", "Training"), ("validation", "Validation"), ("test", "Test")):
        img_dir = data_dir / f"ISIC2018_Task1-2_{theirs}_Input"
        gt_dir = data_dir / f"ISIC2018_Task1_{theirs}_GroundTruth"
        if ours != "train" and not img_dir.is_dir():
            continue
        _need_dir(img_dir, f"ISIC2018_Task1-2_{theirs}_Input/ISIC_<id>.jpg")
        _need_dir(gt_dir, f"ISIC2018_Task1_{theirs}_GroundTruth/ISIC_<id>_segmentation.png")
        rows = [
            (p.name, p, gt_dir / f"{p.stem}_segmentation.png") for p in sorted(img_dir.glob("ISIC_*.jpg"))
        ]
        parts[ours] = [r for r in rows if r[2].is_file()]
    if "test" not in parts:
        raise FileNotFoundError(f"{data_dir}: expected ISIC2018_Task1-2_Test_Input and its ground truth")
    return _seg_dict(parts, binarize=True)


def kvasir_seg(data_dir: Path, split_file: str | None = None, seed: int = 0, **_) -> DatasetDict:
    """Kvasir-SEG: ``images/<id>.jpg`` and ``masks/<id>.jpg`` (JPEG masks, thresholded at 127)."""
    root = data_dir / "Kvasir-SEG" if (data_dir / "Kvasir-SEG").is_dir() else data_dir
    img_dir = _need_dir(root / "images", "Kvasir-SEG/images/<id>.jpg")
    mask_dir = _need_dir(root / "masks", "Kvasir-SEG/masks/<id>.jpg")
    pairs = [
        (p.name, p, mask_dir / p.name) for p in sorted(img_dir.glob("*.jpg")) if (mask_dir / p.name).is_file()
    ]
    return _seg_dict(_split_pairs(pairs, split_file, seed), binarize=True)


_BUSI_MASK = re.compile(r"^(?P<stem>.+)_mask(?:_(?P<k>\d+))?$")


def buid(data_dir: Path, split_file: str | None = None, seed: int = 0, **_) -> DatasetDict:
    """BUSI ``Dataset_BUSI_with_GT/{benign,malignant}/<class> (<n>).png`` + ``_mask[_k].png``; as the
    authors' ``BUID_split.py``, a lesion's masks are merged (their union) and ``normal`` is left out."""
    root = data_dir / "Dataset_BUSI_with_GT" if (data_dir / "Dataset_BUSI_with_GT").is_dir() else data_dir
    pairs = []
    for cls in ("benign", "malignant"):
        d = _need_dir(root / cls, f"Dataset_BUSI_with_GT/{cls}/<{cls} (n)>.png")
        masks: dict[str, list[Path]] = {}
        images = []
        for p in sorted(d.glob("*.png")):
            m = _BUSI_MASK.match(p.stem)
            (masks.setdefault(m["stem"], []).append(p) if m else images.append(p))
        for img in images:
            parts = masks.get(img.stem)
            if not parts:
                continue
            union = np.any([np.asarray(Image.open(part).convert("L")) > 127 for part in parts], axis=0)
            pairs.append((img.name, img, union.astype(np.uint8)))
    return _seg_dict(_split_pairs(pairs, split_file, seed), binarize=False)


def drive(data_dir: Path, seed: int = 0, **_) -> DatasetDict:
    """DRIVE: ``{training,test}/images/<n>_<split>.tif`` + ``{training,test}/1st_manual/<n>_manual1.gif``."""
    root = data_dir / "DRIVE" if (data_dir / "DRIVE").is_dir() else data_dir
    out = {}
    for split in ("training", "test"):
        img_dir = _need_dir(root / split / "images", f"DRIVE/{split}/images/<n>_{split}.tif")
        gt_dir = _need_dir(root / split / "1st_manual", f"DRIVE/{split}/1st_manual/<n>_manual1.gif")
        rows = []
        for img in sorted(img_dir.glob("*.tif")):
            gt = gt_dir / f"{img.stem.split('_')[0]}_manual1.gif"
            if gt.is_file():
                rows.append((img.name, np.asarray(Image.open(img).convert("RGB")), gt))
        out[split] = rows
    # Validation: a seeded 20% of the training images (drawn as _seeded_split draws a test side).
    held_out = _seeded_split(out["training"], seed, fractions=(0, 0.2))
    parts = {"train": held_out["train"], "validation": held_out["test"], "test": out["test"]}
    return _seg_dict(parts, binarize=True)


_SCR_ORGANS = (("left lung", 1), ("right lung", 1), ("heart", 2), ("left clavicle", 3), ("right clavicle", 3))


def _read_jsrt_img(path: Path) -> np.ndarray:
    """A JSRT ``.IMG``: 2048 x 2048 big-endian 16-bit words holding 12-bit values, no header."""
    raw = np.fromfile(path, dtype=">u2")
    if raw.size != 2048 * 2048:
        raise ValueError(f"{path}: {raw.size} pixels, expected 2048 x 2048 (JSRT .IMG)")
    img = raw.reshape(2048, 2048).astype(np.float32)
    img = img.reshape(1024, 2, 1024, 2).mean(axis=(1, 3))  # to the SCR masks' 1024 x 1024 grid
    lo, hi = float(img.min()), float(img.max())
    # JSRT stores 0 = white (high attenuation): invert so lungs are dark as in a usual radiograph.
    scaled = (hi - img) / max(hi - lo, 1e-6) * 255.0
    return scaled.astype(np.uint8)


def jsrt(data_dir: Path, **_) -> DatasetDict:
    """JSRT images (``*.IMG``) with the SCR masks (1 lungs, 2 heart, 3 clavicles); the SCR folds: odd
    image numbers train, even test; validation = every fifth training image."""
    images = sorted(data_dir.rglob("*.IMG"))
    if not images:
        raise FileNotFoundError(f"{data_dir}: no JSRT .IMG files found")
    mask_root = next((p for p in data_dir.rglob("masks") if (p / "heart").is_dir()), None)
    if mask_root is None:
        raise FileNotFoundError(f"{data_dir}: expected the SCR masks/<organ>/<name>.gif folders")
    rows = []
    for img in images:
        gifs = [mask_root / organ / f"{img.stem}.gif" for organ, _ in _SCR_ORGANS]
        if not all(g.is_file() for g in gifs):
            continue
        masks = [np.asarray(Image.open(g).convert("L")) > 127 for g in gifs]
        label = np.zeros(masks[0].shape, np.uint8)
        for m, (_, value) in zip(masks, _SCR_ORGANS):
            label[m] = value
        rows.append((img.stem, _read_jsrt_img(img), label))
    number = {r[0]: int(re.sub(r"\D", "", r[0]) or 0) for r in rows}
    odd = [r for r in rows if number[r[0]] % 2 == 1]
    even = [r for r in rows if number[r[0]] % 2 == 0]
    parts = {"train": [r for i, r in enumerate(odd) if i % 5], "validation": odd[::5], "test": even}
    return _seg_dict(parts, binarize=False)


# ------------------------------------------------------------------------------ volumes (3-D)
def _to_uint8(slice2d: np.ndarray) -> np.ndarray:
    """Per-slice min-max to 8 bits (the authors' loader: (x - min) / (0.01 + max - min) * 255)."""
    x = slice2d.astype(np.float32)
    return ((x - x.min()) / (0.01 + x.max() - x.min()) * 255.0).astype(np.uint8)


def _axial_slices(path: Path) -> np.ndarray:
    """The volume in closest-canonical (RAS) orientation, slices along the last (axial) axis: (Z, Y, X)."""
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(str(path)))
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a 3-D volume, got shape {data.shape}")
    return np.moveaxis(data, -1, 0)


def balanced_slices(has_fg: list[bool], seed: int) -> list[int]:
    """Every slice with foreground, plus as many drawn at random (with replacement) from those without.
    The authors' ``SegmentationDataset_train``: ``np.random.choice(len(non_label), size=len(have_label))``."""
    fg = [i for i, f in enumerate(has_fg) if f]
    bg = [i for i, f in enumerate(has_fg) if not f]
    if not bg:
        return fg
    picks = np.random.default_rng(seed).choice(len(bg), size=len(fg))
    return sorted([bg[i] for i in picks] + fg)


def _volumes_dict(parts: dict[str, list], seed: int, labels: dict[int, int] | None = None) -> DatasetDict:
    """Splits of (volume id, image, label) volumes as axial slices, the ``train`` split's balanced;
    ``labels`` maps label values to classes (default: every label > 0 is foreground)."""
    out = {}
    for split, volumes in parts.items():
        rows: dict[str, list] = {"image": [], "mask": [], "volume_id": [], "slice_index": []}
        for vid, img_path, lab_path in volumes:
            img, lab = _axial_slices(img_path), np.asarray(_axial_slices(lab_path))
            if img.shape != lab.shape:
                raise ValueError(f"{img_path} {img.shape} and {lab_path} {lab.shape} differ in shape")
            if labels is None:
                lab = lab > 0
            else:
                classes = np.zeros(lab.shape, np.uint8)
                for value, idx in labels.items():
                    classes[lab == value] = idx
                lab = classes
            keep = range(len(img))
            if split == "train":
                keep = balanced_slices([bool((s > 0).any()) for s in lab], seed)
            for z in keep:
                rows["image"].append(_png_bytes(_to_uint8(img[z])))
                rows["mask"].append(_png_bytes(lab[z].astype(np.uint8)))
                rows["volume_id"].append(vid)
                rows["slice_index"].append(int(z))
        out[split] = Dataset.from_dict(rows, features=_VOLUME_FEATURES)
    return DatasetDict(out)


def brats2018(data_dir: Path, seed: int = 0, **_) -> DatasetDict:
    """BraTS 2018 training data: ``{HGG,LGG}/<case>/<case>_flair.nii.gz`` + ``<case>_seg.nii.gz``.
    FLAIR only (the paper fuses no modalities); whole tumour = every label > 0."""
    cases = []
    for grade in ("HGG", "LGG"):
        for case in sorted(data_dir.rglob(grade)):
            for d in sorted(p for p in case.iterdir() if p.is_dir()):
                flair, seg = d / f"{d.name}_flair.nii.gz", d / f"{d.name}_seg.nii.gz"
                if flair.is_file() and seg.is_file():
                    cases.append((d.name, flair, seg))
    if not cases:
        raise FileNotFoundError(
            f"{data_dir}: expected {{HGG,LGG}}/<case>/<case>_flair.nii.gz and _seg.nii.gz"
        )
    return _volumes_dict(_seeded_split(cases, seed), seed)


#: MM-WHS label values (challenge documentation) -> class index 1..7.
MMWHS_LABELS = {205: 1, 420: 2, 500: 3, 550: 4, 600: 5, 820: 6, 850: 7}


def _mmwhs(data_dir: Path, prefix: str, seed: int = 0, **_) -> DatasetDict:
    """MM-WHS 2017 ``<prefix>_train/<prefix>_train_<id>_{image,label}.nii.gz``, split by the authors'
    volume lists (``MMWHS_VOLUME_SPLIT``)."""
    found = {}
    for img in sorted(data_dir.rglob(f"{prefix}_train_*_image.nii*")):
        vid = re.search(r"_train_(\d{4})_image", img.name)[1]
        lab = img.with_name(img.name.replace("_image", "_label"))
        if lab.is_file():
            found[vid] = (f"{prefix}_train_{vid}", img, lab)
    if not found:
        raise FileNotFoundError(
            f"{data_dir}: expected {prefix}_train/{prefix}_train_<id>_{{image,label}}.nii.gz"
        )
    parts = {k: [found[v] for v in vids if v in found] for k, vids in MMWHS_VOLUME_SPLIT.items()}
    missing = sorted(set(v for vids in MMWHS_VOLUME_SPLIT.values() for v in vids) - set(found))
    if missing:
        logger.warning("MM-WHS %s volumes missing from %s: %s", prefix, data_dir, ", ".join(missing))
    if not parts["train"] or not parts["test"]:
        raise FileNotFoundError(f"{data_dir}: no MM-WHS {prefix} volume of the train or test side found")
    if not parts["validation"]:
        parts.pop("validation")
    return _volumes_dict(parts, seed, MMWHS_LABELS)


mmwhs_ct = partial(_mmwhs, prefix="ct")
mmwhs_mri = partial(_mmwhs, prefix="mr")


def prostate(data_dir: Path, seed: int = 0, train_site: str = "BMC", sites=("RUNMC", "BIDMC", "HK"), **_):
    """Multi-site prostate MRI: ``<site>/Case<nn>.nii.gz`` + ``Case<nn>_segmentation.nii.gz`` (any case).
    ``train`` / ``validation`` / ``test`` come from ``train_site`` (80/20 by case, 10% of the training
    cases for validation); ``test_<site>`` holds every case of each other site."""

    def cases(site: str) -> list[tuple[str, Path, Path]]:
        d = _need_dir(data_dir / site, f"{site}/Case<nn>.nii.gz with Case<nn>_segmentation.nii.gz")
        out = []
        for img in sorted(d.glob("Case*.nii*")):
            if "segmentation" in img.name.lower():
                continue
            stem = img.name.split(".")[0]
            seg = next((p for p in d.glob(f"{stem}_*egmentation.nii*")), None)
            if seg is not None:
                out.append((f"{site}/{stem}", img, seg))
        if not out:
            raise FileNotFoundError(f"{d}: no Case<nn>.nii.gz with its _segmentation file")
        return out

    parts = _seeded_split(cases(train_site), seed, fractions=(0.1, 0.2))
    return _volumes_dict({**parts, **{f"test_{site}": cases(site) for site in sites}}, seed)


# ---------------------------------------------------------------------------------- detection
def _detection_dict(parts: dict[str, list], names: list[str]) -> DatasetDict:
    """Splits of (name, image path, {"bbox": COCO boxes, "category": ids}) rows."""
    objects = {
        "bbox": Sequence(Sequence(Value("float32"), length=4)),
        "category": Sequence(ClassLabel(names=names)),
    }
    feats = Features({"image": ImageFeature(), "objects": objects})
    return DatasetDict(
        {
            k: Dataset.from_dict({"image": [r[1] for r in v], "objects": [r[2] for r in v]}, features=feats)
            for k, v in parts.items()
        }
    )


#: class_id 0..13 of VinDr-CXR's train.csv; 14 = "No finding"
VINDR_CLASSES = tuple(
    "Aortic enlargement, Atelectasis, Calcification, Cardiomegaly, Consolidation, ILD, Infiltration, "
    "Lung Opacity, Nodule/Mass, Other lesion, Pleural effusion, Pleural thickening, Pneumothorax, "
    "Pulmonary fibrosis".split(", ")
)


def vindr_cxr(data_dir: Path, seed: int = 0, **_) -> DatasetDict:
    """VinDr-CXR ``train.csv`` with the images as PNG under ``train/`` (boxes rescaled when the CSV
    carries the original ``width``/``height``, as the 512-px Kaggle export does)."""
    csv_path = _find(data_dir, "train.csv")
    img_dir = _need_dir(csv_path.parent / "train", "train/<image_id>.png next to train.csv")
    per_image: dict[str, dict[str, list]] = {}
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            boxes = per_image.setdefault(row["image_id"], {"bbox": [], "category": [], "size": None})
            if row.get("width") and row.get("height"):
                boxes["size"] = (float(row["width"]), float(row["height"]))
            cid = int(row["class_id"])
            if cid == 14 or not row["x_min"]:
                continue  # "No finding": no box
            x0, y0, x1, y1 = (float(row[k]) for k in ("x_min", "y_min", "x_max", "y_max"))
            boxes["bbox"].append([x0, y0, x1, y1])
            boxes["category"].append(cid)
    rows = []
    for image_id in sorted(per_image):
        path = img_dir / f"{image_id}.png"
        if not path.is_file():
            continue
        ann = per_image[image_id]
        w, h = Image.open(path).size
        sx, sy = (w / ann["size"][0], h / ann["size"][1]) if ann["size"] else (1.0, 1.0)
        bbox = [[x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy] for x0, y0, x1, y1 in ann["bbox"]]
        rows.append((image_id, str(path), {"bbox": bbox, "category": ann["category"]}))
    if not rows:
        raise FileNotFoundError(f"{img_dir}: no image of {csv_path} found")
    return _detection_dict(_seeded_split(rows, seed, (0.1, 0.2)), list(VINDR_CLASSES))


def kvasir_det(data_dir: Path, split_file: str | None = None, seed: int = 0, **_) -> DatasetDict:
    """Kvasir-SEG with ``kavsir_bboxes.json`` (``{id: {"height", "width", "bbox": [{"xmin", ...}]}}``)."""
    root = data_dir / "Kvasir-SEG" if (data_dir / "Kvasir-SEG").is_dir() else data_dir
    boxes = json.loads(_find(root, "kavsir_bboxes.json").read_text())
    img_dir = _need_dir(root / "images", "Kvasir-SEG/images/<id>.jpg")
    pairs = []
    for image_id in sorted(boxes):
        path = img_dir / f"{image_id}.jpg"
        if path.is_file():
            bb = [
                [b["xmin"], b["ymin"], b["xmax"] - b["xmin"], b["ymax"] - b["ymin"]]
                for b in boxes[image_id]["bbox"]
            ]
            pairs.append((path.name, str(path), {"bbox": bb, "category": [0] * len(bb)}))
    return _detection_dict(_split_pairs(pairs, split_file, seed), ["polyp"])


LAYOUTS: dict[str, Callable[..., DatasetDict]] = {
    "brain-tumor": brain_tumor,
    "fgadr": fgadr,
    "isic2018": isic2018,
    "jsrt": jsrt,
    "kvasir-seg": kvasir_seg,
    "drive": drive,
    "buid": buid,
    "brats2018": brats2018,
    "mmwhs-ct": mmwhs_ct,
    "mmwhs-mri": mmwhs_mri,
    "prostate": prostate,
    "vindr-cxr": vindr_cxr,
    "kvasir-det": kvasir_det,
}


def load_protocol_data(protocol, data_dir: str | os.PathLike, **options) -> DatasetDict:
    """The protocol's splits read from ``data_dir`` (its public layout)."""
    data_dir = Path(data_dir)
    _need_dir(data_dir, f"the {protocol.dataset} download ({protocol.download})")
    defaults = {
        "classification": {"valid_rate": protocol.validation_fraction},
        "multisite": {"sites": protocol.sites},
    }
    return LAYOUTS[protocol.layout](data_dir, **{**defaults.get(protocol.task, {}), **options})
