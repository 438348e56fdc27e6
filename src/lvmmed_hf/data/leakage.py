"""Leakage check: downstream test images whose pixels also occur in the pretraining corpus.

Images are compared by a BLAKE2b hash of their decoded pixels (dtype, shape, bytes), never by file
name, so a lossless re-encoding (PNG <-> BMP/TIFF/DICOM), renamed or moved, is found. Pixels are
canonicalised first: palette/alpha images become RGB (alpha dropped) and an RGB image with three
equal channels becomes grayscale. Not found, by design: lossy re-encodings (JPEG), resized or
cropped copies, other windowings of the same scan. Undecodable files and unlistable folders are
skipped and listed in the report. ``lvmmed leakage`` exits with 1 on an overlap, 2 on an error.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from PIL import Image
from tqdm.auto import tqdm

from ..errors import LvmMedUserError
from .builder import _is_bomb, safe_text
from .prepare import completed_sources
from .readers import bombs_raise, read_image_data

logger = logging.getLogger(__name__)

_MAX_SKIPPED = 1000


class LeakageInputError(LvmMedUserError, FileNotFoundError):
    """The corpus or the downstream folder is missing, or the corpus holds no prepared source."""


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".dcm", ".dicom")
_CONVERTED_MODES = ("P", "PA", "RGBA", "LA", "CMYK", "YCbCr", "HSV", "1")  # PIL modes hashed as RGB / L


def canonical_pixels(image: Any) -> np.ndarray:
    """A PIL image or array -> (H, W) or (H, W, 3) array, canonicalised as the module docstring says."""
    if isinstance(image, Image.Image) and image.mode in _CONVERTED_MODES:
        image = image.convert("RGB" if image.mode not in ("LA", "1") else "L")
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.ndim == 3 and (
        arr.shape[-1] == 1 or (arr.shape[-1] == 3 and (arr[..., 1:] == arr[..., :1]).all())
    ):
        arr = arr[..., 0]
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return np.ascontiguousarray(arr)


def pixel_hash(image: Any) -> str:
    """Hex BLAKE2b-128 digest of the canonical pixels: dtype, shape and raw bytes."""
    arr = canonical_pixels(image)
    h = hashlib.blake2b(f"{arr.dtype.str}{arr.shape!r}".encode(), digest_size=16)
    h.update(arr.tobytes())
    return h.hexdigest()


def _skip(skipped: list[dict[str, str]] | None, path: str, exc: BaseException) -> None:
    reason = "too_large" if _is_bomb(exc) else "unreadable"
    message = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
    logger.warning("leakage check: skipping %s (%s)", safe_text(path), message)
    if skipped is not None and len(skipped) < _MAX_SKIPPED:
        skipped.append({"path": safe_text(path), "reason": reason, "message": safe_text(str(message))})


def iter_prepared_hashes(
    corpus_dir: str | os.PathLike,
    sources: Iterable[str] | None = None,
    skipped: list[dict[str, str]] | None = None,
) -> Iterator[tuple[str, str, str]]:
    """``(hash, source, original_path)`` for every stored image of the prepared sources (read from
    Parquet). Images that cannot be decoded are appended to ``skipped`` (path and reason)."""
    corpus = Path(corpus_dir)
    if not corpus.is_dir():
        raise LeakageInputError(f"corpus folder {corpus} does not exist or is not a folder")
    names = list(sources) if sources is not None else completed_sources(corpus)
    if not names:
        raise LeakageInputError(f"no prepared sources in {corpus} (run `lvmmed prepare` first)")
    for n in names:
        shards = sorted((corpus / n).glob("train-*.parquet"))
        if not shards:
            raise LeakageInputError(f"source {n!r} has no Parquet shards in {corpus / n}")
        for shard in shards:
            pf = pq.ParquetFile(shard)
            for batch in pf.iter_batches(columns=["image", "original_path", "slice_index"], batch_size=256):
                d = batch.to_pydict()
                for img, path, idx in zip(d["image"], d["original_path"], d["slice_index"]):
                    where = path if idx is None or idx < 0 else f"{path}#{idx}"
                    try:
                        with bombs_raise(), Image.open(io.BytesIO(img["bytes"])) as im:
                            im.load()
                            h = pixel_hash(im)
                    except Exception as e:  # a bad stored image never stops the check
                        _skip(skipped, f"{n}:{where}", e)
                        continue
                    yield h, n, where


def iter_folder_hashes(
    folder: str | os.PathLike, skipped: list[dict[str, str]] | None = None
) -> Iterator[tuple[str, str]]:
    """``(hash, relative path)`` for every image file under ``folder`` (DICOM: its stored values; one
    hash per frame of a multi-frame file, ``path#frame``). Files that cannot be decoded and folders
    that cannot be listed are logged, appended to ``skipped`` and left out."""
    root = Path(folder)
    if not root.is_dir():
        raise LeakageInputError(f"downstream folder {root} does not exist or is not a folder")

    def onerror(err: OSError) -> None:  # a folder that cannot be listed
        rel = Path(os.path.relpath(err.filename, root)).as_posix() if err.filename else str(root)
        _skip(skipped, rel, err)

    files = []
    for parent, dirs, names in os.walk(root, onerror=onerror):
        dirs.sort()
        files += [Path(parent) / n for n in names if Path(n).suffix.lower() in _IMAGE_SUFFIXES]
    for p in sorted(files):
        rel = safe_text(p.relative_to(root).as_posix())  # names that are not UTF-8: \xNN escapes
        try:
            if not stat.S_ISREG(os.stat(p).st_mode):
                raise ValueError("not a regular file (FIFO, socket or device)")
            with bombs_raise():
                data = read_image_data(p)
        except Exception as e:  # one bad file never stops the check
            _skip(skipped, rel, e)
            continue
        # Every part of a multi-part file (TIFF series, DICOM sub-series): ``path<suffix>``.
        for suffix, part in data.split():
            name = rel + suffix
            if part.kind == "image":
                yield pixel_hash(part.array), name
            elif part.kind == "frames":
                for i in range(part.array.shape[0]):
                    yield pixel_hash(part.array[i]), f"{name}#{i}"
            else:
                logger.warning(
                    "leakage check: %s is a volume; prepare it as a source to compare its slices", p
                )


@dataclass
class LeakageReport:
    corpus_images: int = 0
    downstream_images: int = 0
    overlaps: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # path, reason, message

    @property
    def num_overlapping(self) -> int:
        return len(self.overlaps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus_images": self.corpus_images,
            "downstream_images": self.downstream_images,
            "overlapping_downstream_images": self.num_overlapping,
            "overlaps": self.overlaps,
            "skipped": self.skipped,
        }


def check_leakage(
    corpus_dir: str | os.PathLike,
    downstream: str | os.PathLike,
    *,
    corpus_sources: Iterable[str] | None = None,
    downstream_source: str | None = None,
    report_path: str | os.PathLike | None = None,
) -> LeakageReport:
    """Downstream images (a folder of image files, or with ``downstream_source`` a prepared source in the
    folder ``downstream``) whose pixels occur in the prepared corpus; optionally saved as JSON."""
    index: dict[str, list[dict[str, str]]] = {}
    report = LeakageReport()
    for h, src, path in tqdm(
        iter_prepared_hashes(corpus_dir, corpus_sources, report.skipped), desc="hash corpus", unit="img"
    ):
        report.corpus_images += 1
        index.setdefault(h, []).append({"source": src, "original_path": path})
    if downstream_source:
        prepared = iter_prepared_hashes(downstream, [downstream_source], report.skipped)
        items = ((h, f"{s}:{p}") for h, s, p in prepared)
    else:
        items = iter_folder_hashes(downstream, report.skipped)
    for h, name in tqdm(items, desc="hash downstream", unit="img"):
        report.downstream_images += 1
        if h in index:
            report.overlaps.append({"downstream": name, "pixel_hash": h, "corpus": index[h]})
    n_down = report.downstream_images
    if report.overlaps:
        first = report.overlaps[0]["downstream"]
        msg = "%d of %d downstream images also occur in the pretraining corpus (first: %s)"
        logger.warning(msg, report.num_overlapping, n_down, first)
    else:
        logger.info("no overlap between %d downstream and %d corpus images", n_down, report.corpus_images)
    if report.skipped:
        logger.warning("leakage check: %d files skipped (listed in the report)", len(report.skipped))
    if report_path is not None:
        Path(report_path).write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report
