"""LVM-Med models. Importing this module registers the Auto classes."""

from transformers import (
    AutoBackbone,
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
)

from .configuration_lvmmed_cnn import LvmMedCnnConfig
from .image_processing_lvmmed import LvmMedImageProcessor
from .modeling_lvmmed_cnn import (
    LvmMedCnnBackbone,
    LvmMedCnnForImageClassification,
    LvmMedCnnModel,
    LvmMedCnnPreTrainedModel,
)

# exist_ok: re-importing (e.g. importlib.reload in tests or notebooks) must not fail.
AutoConfig.register(LvmMedCnnConfig.model_type, LvmMedCnnConfig, exist_ok=True)
AutoModel.register(LvmMedCnnConfig, LvmMedCnnModel, exist_ok=True)
AutoModelForImageClassification.register(LvmMedCnnConfig, LvmMedCnnForImageClassification, exist_ok=True)
AutoBackbone.register(LvmMedCnnConfig, LvmMedCnnBackbone, exist_ok=True)
AutoImageProcessor.register(
    LvmMedCnnConfig, image_processor_classes={"pil": LvmMedImageProcessor}, exist_ok=True
)

__all__ = [
    "LvmMedCnnBackbone",
    "LvmMedCnnConfig",
    "LvmMedCnnForImageClassification",
    "LvmMedCnnModel",
    "LvmMedCnnPreTrainedModel",
    "LvmMedImageProcessor",
]

# ViT family (SAM ViT-B image encoder).
from .configuration_lvmmed_vit import LvmMedViTConfig  # noqa: E402
from .modeling_lvmmed_vit import (  # noqa: E402
    LvmMedViTBackbone,
    LvmMedViTForImageClassification,
    LvmMedViTModel,
    LvmMedViTPreTrainedModel,
)

AutoConfig.register(LvmMedViTConfig.model_type, LvmMedViTConfig, exist_ok=True)
AutoModel.register(LvmMedViTConfig, LvmMedViTModel, exist_ok=True)
AutoModelForImageClassification.register(LvmMedViTConfig, LvmMedViTForImageClassification, exist_ok=True)
AutoBackbone.register(LvmMedViTConfig, LvmMedViTBackbone, exist_ok=True)
AutoImageProcessor.register(
    LvmMedViTConfig, image_processor_classes={"pil": LvmMedImageProcessor}, exist_ok=True
)

__all__ += [
    "LvmMedViTBackbone",
    "LvmMedViTConfig",
    "LvmMedViTForImageClassification",
    "LvmMedViTModel",
    "LvmMedViTPreTrainedModel",
]

# Graph-matching pretraining heads (backbone under `lvmmed` + projector + GCN + loss).
from transformers import AutoModelForPreTraining  # noqa: E402

from .modeling_lvmmed_pretraining import (  # noqa: E402
    LvmMedCnnForPretraining,
    LvmMedPretrainingOutput,
    LvmMedViTForPretraining,
)

AutoModelForPreTraining.register(LvmMedCnnConfig, LvmMedCnnForPretraining, exist_ok=True)
AutoModelForPreTraining.register(LvmMedViTConfig, LvmMedViTForPretraining, exist_ok=True)
__all__ += ["LvmMedCnnForPretraining", "LvmMedViTForPretraining", "LvmMedPretrainingOutput"]
