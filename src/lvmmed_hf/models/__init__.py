"""LVM-Med models. Importing this module registers the Auto classes."""

from transformers import (
    AutoBackbone,
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
)

from .configuration_lvmmed_cnn import LvmMedCnnConfig
from .configuration_lvmmed_vit import LvmMedViTConfig
from .image_processing_lvmmed import LvmMedImageProcessor
from .modeling_lvmmed_cnn import (
    LvmMedCnnBackbone,
    LvmMedCnnForImageClassification,
    LvmMedCnnModel,
    LvmMedCnnPreTrainedModel,
)
from .modeling_lvmmed_pretraining import (
    LvmMedCnnForPretraining,
    LvmMedPretrainingOutput,
    LvmMedViTForPretraining,
)
from .modeling_lvmmed_vit import (
    LvmMedViTBackbone,
    LvmMedViTForImageClassification,
    LvmMedViTModel,
    LvmMedViTPreTrainedModel,
)

# exist_ok: re-importing (e.g. importlib.reload in tests or notebooks) must not fail.
for _config in (LvmMedCnnConfig, LvmMedViTConfig):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoImageProcessor.register(_config, image_processor_classes={"pil": LvmMedImageProcessor}, exist_ok=True)
AutoModel.register(LvmMedCnnConfig, LvmMedCnnModel, exist_ok=True)
AutoModel.register(LvmMedViTConfig, LvmMedViTModel, exist_ok=True)
AutoModelForImageClassification.register(LvmMedCnnConfig, LvmMedCnnForImageClassification, exist_ok=True)
AutoModelForImageClassification.register(LvmMedViTConfig, LvmMedViTForImageClassification, exist_ok=True)
AutoBackbone.register(LvmMedCnnConfig, LvmMedCnnBackbone, exist_ok=True)
AutoBackbone.register(LvmMedViTConfig, LvmMedViTBackbone, exist_ok=True)
AutoModelForPreTraining.register(LvmMedCnnConfig, LvmMedCnnForPretraining, exist_ok=True)
AutoModelForPreTraining.register(LvmMedViTConfig, LvmMedViTForPretraining, exist_ok=True)

__all__ = [
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
]
