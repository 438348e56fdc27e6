"""The medical data layer: readers, source builders, Parquet preparation, mixture, leakage check.

See docs/data.md. Names are imported lazily so that ``import lvmmed_hf.data.layouts`` (used by the
source builders) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LvmMedSourceBuilder": "builder",
    "LvmMedSourceConfig": "builder",
    "Record": "builder",
    "SourceReport": "builder",
    "SourceDataMissingError": "builder",
    "FileListError": "builder",
    "read_image_data": "readers",
    "ImageData": "readers",
    "UnreadableImageError": "readers",
    "prepare_source": "prepare",
    "prepare": "prepare",
    "prepare_embedded": "embedded",
    "load_embedded": "embedded",
    "load_mixture": "mixture",
    "mixture_weights": "mixture",
    "check_leakage": "leakage",
    "available_sources": "registry",
    "get_source": "registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
