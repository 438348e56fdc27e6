"""LVM-Med in the Hugging Face ecosystem.

``import lvmmed_hf`` registers the LVM-Med classes with the transformers Auto factories as soon as
transformers is imported (at once if it already is), without importing torch or transformers
itself, so ``lvmmed --help`` stays fast. Subpackages load on demand.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

__version__ = "0.1.0.dev0"

# Kept in step with lvmmed_hf.models.__all__ (a test checks it).
_MODEL_NAMES = (
    "LvmMedCnnBackbone",
    "LvmMedCnnConfig",
    "LvmMedCnnForImageClassification",
    "LvmMedCnnForPretraining",
    "LvmMedCnnModel",
    "LvmMedCnnPreTrainedModel",
    "LvmMedImageProcessor",
    "LvmMedPretrainingOutput",
    "LvmMedViTBackbone",
    "LvmMedViTConfig",
    "LvmMedViTForImageClassification",
    "LvmMedViTForPretraining",
    "LvmMedViTModel",
    "LvmMedViTPreTrainedModel",
)

__all__ = ["__version__", *_MODEL_NAMES]


def __getattr__(name: str) -> object:
    if name in _MODEL_NAMES:
        return getattr(importlib.import_module(".models", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODEL_NAMES))


class _RegisterWhenTransformersLoads:
    """A ``sys.meta_path`` finder: ``import lvmmed_hf.models`` (the Auto registrations) right after
    transformers loads. (Not an ``importlib.abc.MetaPathFinder`` subclass: that import alone costs
    more than the rest of ``lvmmed --help``.)"""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "transformers":
            return None
        sys.meta_path.remove(self)  # fire once; also lets the real finders answer below
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            importlib.import_module(".models", __name__)

        spec.loader.exec_module = exec_then_register
        return spec


if "transformers" in sys.modules:
    importlib.import_module(".models", __name__)
elif not any(isinstance(f, _RegisterWhenTransformersLoads) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWhenTransformersLoads())
