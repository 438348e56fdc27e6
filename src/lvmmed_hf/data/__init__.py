"""The medical data layer (docs/data.md): readers, source builders, Parquet preparation, mixture,
leakage check. Names are imported lazily, so ``import lvmmed_hf.data.layouts`` stays light."""

from __future__ import annotations

import importlib
from typing import Any

_MODULE_EXPORTS = {
    "builder": (
        "LvmMedSourceBuilder LvmMedSourceConfig Record SourceReport SourceDataMissingError FileListError"
    ),
    "readers": "read_image_data ImageData UnreadableImageError",
    "prepare": "prepare_source prepare",
    "embedded": "prepare_embedded load_embedded",
    "mixture": "load_mixture mixture_weights",
    "leakage": "check_leakage",
    "registry": "available_sources get_source",
}
_EXPORTS = {name: module for module, names in _MODULE_EXPORTS.items() for name in names.split()}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
