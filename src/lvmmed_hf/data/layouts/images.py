"""Parsing shared by the 2D image sources: class folders, CSV label tables, prefixed list names.
Pixels are read by :mod:`lvmmed_hf.data.readers`, not here; output is sorted and a missing required
part of a layout raises :class:`LayoutError`."""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class LayoutError(FileNotFoundError):
    """A required file or folder of a dataset layout is missing or malformed."""


def _find(data_dir: Path, candidates: Sequence[str], want_dir: bool) -> Path | None:
    for cand in candidates:
        if want_dir and cand in ("", "."):
            return data_dir
        paths = sorted(data_dir.glob(cand)) if any(ch in cand for ch in "*?[") else [data_dir / cand]
        for path in paths:
            if path.is_dir() if want_dir else path.is_file():
                return path
    return None


def find_dir(data_dir: Path, candidates: Sequence[str]) -> Path | None:
    """The first existing folder among ``data_dir/<candidate>`` (glob patterns allowed), else None;
    candidates (accepted spellings: ``OCT2017/train``, ``train``) in order, a pattern's matches sorted."""
    return _find(data_dir, candidates, want_dir=True)


def find_file(data_dir: Path, candidates: Sequence[str]) -> Path | None:
    """The first existing file among ``data_dir/<candidate>`` (glob patterns allowed), else None."""
    return _find(data_dir, candidates, want_dir=False)


def list_images(
    folder: Path, suffixes: Iterable[str] = IMAGE_SUFFIXES, recursive: bool = False
) -> list[Path]:
    """Image files of ``folder`` whose suffix is in ``suffixes`` (case-insensitive), sorted; hidden
    files (``.DS_Store``, ``._x.jpg`` macOS resource forks) are ignored."""
    suffixes = tuple(s.lower() for s in suffixes)
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p for p in it if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes
    )


def iter_class_folders(
    root: Path,
    classes: Sequence[str] | None = None,
    suffixes: Iterable[str] = IMAGE_SUFFIXES,
    recursive: bool = False,
) -> Iterator[tuple[Path, str]]:
    """``(image path, class name)`` for a ``<root>/<class>/<image>`` layout, sorted by class then path.

    ``classes``: the expected class folders (others are ignored and logged); None = every
    sub-folder. ``recursive``: images may sit in sub-folders of a class folder.
    """
    suffixes = tuple(suffixes)
    found = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is not None:
        wanted = set(classes)
        extra = [p.name for p in found if p.name not in wanted]
        if extra:
            logger.info("%s: ignoring folders that are not classes: %s", root, extra[:10])
        found = [p for p in found if p.name in wanted]
    for folder in found:
        for path in list_images(folder, suffixes, recursive=recursive):
            yield path, folder.name


def read_csv_rows(
    path: Path, required: Sequence[str] = (), delimiter: str | None = None
) -> list[dict[str, str]]:
    """Rows of a CSV label table as dicts (header stripped; BOM tolerated).

    ``required``: column names that must be present; a missing column raises :class:`LayoutError`
    naming the file and the columns it has. ``delimiter`` None = sniffed from ``,;\\t``.
    """
    if not path.is_file():
        raise LayoutError(f"label table {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    if delimiter is None:
        first = text.splitlines()[0] if text else ""
        delimiter = max(",;\t", key=first.count)
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    header = [h.strip() for h in (reader.fieldnames or [])]
    if missing := [c for c in required if c not in header]:
        raise LayoutError(f"label table {str(path)!r} lacks column(s) {missing}; it has {header}")
    return [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


def table_by(rows: Iterable[Mapping[str, str]], key: str) -> dict[str, dict[str, str]]:
    """Index rows by the value of column ``key`` (later duplicates win, as a dict would)."""
    return {r[key]: dict(r) for r in rows if r.get(key)}


def one_hot_class(row: Mapping[str, str], columns: Sequence[str]) -> str | None:
    """The class of a one-hot row (``"1"``/``"1.0"`` in exactly one of ``columns``), else None."""
    hot = [c for c in columns if _is_one(row.get(c, ""))]
    return hot[0] if len(hot) == 1 else None


def _is_one(v: str) -> bool:
    try:
        return float(v) == 1.0
    except ValueError:
        return False


def strip_list_prefix(entry: str, pattern: str | re.Pattern) -> str:
    """The last path component of a list entry without its class prefix: LVM-Med flattened several
    class-folder datasets into ``<class>_<file name>`` entries.

    ``strip_list_prefix("2_10_left.jpeg", r"\\d+_")`` -> ``10_left.jpeg``; no prefix: unchanged.
    """
    name = entry.rsplit("/", 1)[-1]
    m = re.match(pattern, name)
    return name[m.end() :] if m else name


def with_file_bytes(example: dict, keys: Iterable[str]) -> dict:
    """Replace file paths under ``keys`` of an example by ``{"bytes", "path": None}`` for an Image feature
    (None stays None): a side file's (a mask's) bytes are read when the example is written, so the
    Parquet output does not depend on the raw folder."""
    for k in keys:
        v = example.get(k)
        if isinstance(v, (str, Path)):
            example[k] = {"bytes": Path(v).read_bytes(), "path": None}
    return example


# LVM-Med's lists for sources it used whole (COVIDx CT, OCT2017) hold one line "Default split: <url>"
# instead of file names; builders map such an entry to this key, which every record carries.
DEFAULT_SPLIT_KEY = "<default split>"


def is_default_split_entry(entry: str) -> bool:
    """True for LVM-Med's "Default split: <url>" list entry (= the official partition, whole)."""
    return entry.strip().lower().startswith("default split")
