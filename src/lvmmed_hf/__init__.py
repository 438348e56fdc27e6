"""LVM-Med in the Hugging Face ecosystem.

Importing this package registers every LVM-Med class with the transformers Auto factories
(``AutoConfig``, ``AutoModel``, ``AutoModelForImageClassification``, ``AutoBackbone``,
``AutoImageProcessor``). The data layer (``lvmmed_hf.data``), the graph-matching loss
(``lvmmed_hf.graph_matching``), training helpers (``lvmmed_hf.training``) and metrics
(``lvmmed_hf.evaluation``) are imported on demand so that ``import lvmmed_hf`` stays light.
"""

__version__ = "0.1.0.dev0"

from .models import *  # noqa: F401,F403  (registers the Auto classes)
from .models import __all__ as _models_all

__all__ = ["__version__", *_models_all]
