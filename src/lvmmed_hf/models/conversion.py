"""Convert the LVM-Med authors' released checkpoints into Hugging Face folders.

The authors published two pickled state dicts:

- ``lvmmed_resnet.torch``: a torchvision-layout ResNet-50 (``conv1.weight``, ``layer1.0.conv1.weight``,
  ..., ``fc.*``), loaded by the authors with ``strict=False``;
- ``lvmmed_vit.pth``: SAM's ViT-B ``ImageEncoderViT`` without the ``image_encoder.`` prefix and
  without ``pos_embed``.

Our model classes mirror those layouts parameter for parameter (see ``modeling_lvmmed_cnn`` and
``modeling_lvmmed_vit``), so conversion is: load safely (``weights_only=True``), unwrap the usual
wrappers (``state_dict``/``model`` dicts, ``module.``/``backbone.``/``encoder.`` prefixes),
infer the architecture from tensor shapes, load into the base model while reporting missing and
unexpected keys, and write ``config.json`` + ``model.safetensors`` + ``preprocessor_config.json``
+ a model card. Exports to stock transformers classes (``ResNetModel``, ``SamVisionModel``) and to
a self-contained remote-code folder are offered as well.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import shutil
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from .configuration_lvmmed_cnn import LvmMedCnnConfig
from .configuration_lvmmed_vit import LvmMedViTConfig
from .image_processing_lvmmed import LvmMedImageProcessor
from .modeling_lvmmed_cnn import LvmMedCnnModel
from .modeling_lvmmed_vit import LvmMedViTModel

logger = logging.getLogger(__name__)

Family = Literal["cnn", "vit"]

#: Prefixes that training wrappers put in front of backbone keys (DDP, MoCo/BYOL-style encoders,
#: SAM's full model). Stripped repeatedly, longest match first.
WRAPPER_PREFIXES = ("module.", "backbone.", "encoder.", "model.", "image_encoder.", "lvmmed.")
#: Keys of the torchvision classifier, not part of the backbone.
CNN_CLASSIFIER_PREFIX = "fc."

LICENSE_NOTE = (
    "The LVM-Med weights were released by their authors under CC BY-NC-SA 4.0 "
    "(non-commercial, share-alike); converted weights keep that licence."
)


class ConversionError(ValueError):
    """A checkpoint could not be converted (unreadable, unsafe, wrong architecture, partial load)."""


@dataclass
class LoadReport:
    """What happened when a state dict was loaded into one of our models."""

    family: Family
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    ignored_keys: list[str] = field(default_factory=list)
    stripped_prefixes: list[str] = field(default_factory=list)

    @property
    def is_complete(self) -> bool:
        return not self.missing_keys and not self.unexpected_keys

    def to_dict(self) -> dict:
        return {
            "family": self.family,
            "missing_keys": self.missing_keys,
            "unexpected_keys": self.unexpected_keys,
            "ignored_keys": self.ignored_keys,
            "stripped_prefixes": self.stripped_prefixes,
        }


# ----------------------------------------------------------------------------------------------
# Reading


def load_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a pickled (or safetensors) checkpoint without executing code.

    Returns a flat ``{name: tensor}`` dict. Raises ``ConversionError`` for a missing, truncated or
    unsafe file, naming the file and the reason.
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"Checkpoint {path} does not exist or is not a file.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            obj = load_file(str(path))
        except Exception as err:  # safetensors raises its own SafetensorError
            raise ConversionError(f"Could not read safetensors file {path}: {err}") from err
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            raise ConversionError(
                f"Refusing to load {path}: it is not a plain tensor checkpoint. Loading it would need "
                f"arbitrary code execution from the pickle, which this converter never allows "
                f"(weights_only=True). Details: {err}"
            ) from err
        except (EOFError, RuntimeError, zipfile.BadZipFile, OSError) as err:
            raise ConversionError(
                f"Could not read checkpoint {path}: the file looks truncated or corrupt ({type(err).__name__}: {err}). "
                "Download it again and compare its size with the published one."
            ) from err
    return _unwrap_state_dict(obj, path)


def _unwrap_state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    # Training scripts often save {"state_dict": ..., "epoch": ...} or {"model": ...}.
    for _ in range(3):
        if isinstance(obj, Mapping) and not _is_tensor_dict(obj):
            for key in ("state_dict", "model", "model_state_dict", "module", "teacher", "student"):
                if key in obj and isinstance(obj[key], Mapping):
                    obj = obj[key]
                    break
            else:
                break
    if not isinstance(obj, Mapping) or not _is_tensor_dict(obj):
        raise ConversionError(
            f"{path} does not hold a state dict (a mapping of parameter names to tensors); found {type(obj).__name__}."
        )
    return {str(k): v for k, v in obj.items()}


def _is_tensor_dict(obj: Mapping) -> bool:
    return len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def strip_wrapper_prefixes(
    state_dict: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Remove prefixes shared by all backbone keys (``module.``, ``backbone.``, ...).

    When a full SAM checkpoint is given, only the ``image_encoder.`` entries are kept.
    Returns the new dict and the prefixes removed, in order.
    """
    sd = dict(state_dict)
    stripped: list[str] = []
    changed = True
    while changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            matching = [k for k in sd if k.startswith(prefix)]
            if not matching:
                continue
            if len(matching) == len(sd) or prefix == "image_encoder.":
                sd = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
                stripped.append(prefix)
                changed = True
                break
    return sd, stripped


def detect_family(state_dict: Mapping[str, torch.Tensor]) -> Family:
    """Tell a torchvision ResNet from a SAM ViT image encoder by its keys."""
    keys = set(state_dict)
    if "patch_embed.proj.weight" in keys or any(k.startswith("blocks.0.attn.") for k in keys):
        return "vit"
    if "conv1.weight" in keys and any(k.startswith("layer1.") for k in keys):
        return "cnn"
    sample = ", ".join(sorted(keys)[:5])
    raise ConversionError(
        "The checkpoint is neither a torchvision-layout ResNet (conv1.weight, layer1.*) nor a SAM ViT image "
        f"encoder (patch_embed.proj.weight, blocks.*); first keys: {sample}"
    )


# ----------------------------------------------------------------------------------------------
# Architecture inference


def infer_cnn_config(state_dict: Mapping[str, torch.Tensor], **overrides) -> LvmMedCnnConfig:
    """Read depth, block type and widths of a torchvision-layout ResNet from its tensor shapes."""
    depths = []
    for stage in range(1, 5):
        blocks = {int(m.group(1)) for k in state_dict if (m := re.match(rf"layer{stage}\.(\d+)\.", k))}
        if not blocks:
            raise ConversionError(f"ResNet checkpoint has no parameters for layer{stage}.")
        depths.append(max(blocks) + 1)
    bottleneck = "layer1.0.conv3.weight" in state_dict
    last_conv = "conv3" if bottleneck else "conv2"
    hidden_sizes = [int(state_dict[f"layer{s}.0.{last_conv}.weight"].shape[0]) for s in range(1, 5)]
    embedding_size = int(state_dict["conv1.weight"].shape[0])
    num_channels = int(state_dict["conv1.weight"].shape[1])
    kwargs = dict(
        num_channels=num_channels,
        embedding_size=embedding_size,
        hidden_sizes=hidden_sizes,
        depths=depths,
        layer_type="bottleneck" if bottleneck else "basic",
    )
    kwargs.update(overrides)
    return LvmMedCnnConfig(**kwargs)


def infer_vit_config(state_dict: Mapping[str, torch.Tensor], **overrides) -> LvmMedViTConfig:
    """Read width, depth, heads, window and native size of a SAM image encoder from its shapes.

    The relative-position tables tell the attention span of each block: windowed blocks have
    ``2 * window_size - 1`` rows, global blocks ``2 * (image_size / patch_size) - 1``.
    """
    proj = state_dict["patch_embed.proj.weight"]
    hidden_size, num_channels, patch_size = int(proj.shape[0]), int(proj.shape[1]), int(proj.shape[2])
    layers = sorted({int(m.group(1)) for k in state_dict if (m := re.match(r"blocks\.(\d+)\.", k))})
    if not layers:
        raise ConversionError("ViT checkpoint has no transformer blocks (blocks.N.*).")
    num_layers = layers[-1] + 1
    mlp_dim = int(state_dict["blocks.0.mlp.lin1.weight"].shape[0])
    kwargs: dict = dict(
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        mlp_dim=mlp_dim,
        num_channels=num_channels,
        patch_size=patch_size,
        qkv_bias="blocks.0.attn.qkv.bias" in state_dict,
        use_neck="neck.0.weight" in state_dict,
        use_abs_pos="pos_embed" in state_dict,
        use_rel_pos="blocks.0.attn.rel_pos_h" in state_dict,
    )
    if kwargs["use_neck"]:
        kwargs["output_channels"] = int(state_dict["neck.0.weight"].shape[0])
    if kwargs["use_rel_pos"]:
        spans = [int(state_dict[f"blocks.{i}.attn.rel_pos_h"].shape[0]) for i in range(num_layers)]
        head_dim = int(state_dict["blocks.0.attn.rel_pos_h"].shape[1])
        global_span = max(spans)
        window_span = min(spans)
        kwargs["num_attention_heads"] = hidden_size // head_dim
        kwargs["image_size"] = (global_span + 1) // 2 * patch_size
        if global_span != window_span:
            kwargs["window_size"] = (window_span + 1) // 2
            kwargs["global_attn_indexes"] = [i for i, s in enumerate(spans) if s == global_span]
        else:
            kwargs["window_size"] = 0
            kwargs["global_attn_indexes"] = list(range(num_layers))
    elif kwargs["use_abs_pos"]:
        kwargs["image_size"] = int(state_dict["pos_embed"].shape[1]) * patch_size
    kwargs.update(overrides)
    return LvmMedViTConfig(**kwargs)


# ----------------------------------------------------------------------------------------------
# Loading


def load_into_model(
    model: LvmMedCnnModel | LvmMedViTModel,
    state_dict: Mapping[str, torch.Tensor],
    family: Family,
    allow_partial: bool = False,
) -> LoadReport:
    """Copy ``state_dict`` (authors' layout, prefixes stripped) into a base model, reporting keys.

    Raises ``ConversionError`` on shape mismatches, and on missing or unexpected keys unless
    ``allow_partial``. The torchvision classifier (``fc.*``) is ignored and reported as such.
    """
    report = LoadReport(family=family)
    sd = dict(state_dict)
    if family == "cnn":
        report.ignored_keys = sorted(k for k in sd if k.startswith(CNN_CLASSIFIER_PREFIX))
        for k in report.ignored_keys:
            del sd[k]
    own = model.state_dict()
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in sd.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if mismatched:
        raise ConversionError(
            "Checkpoint tensors do not fit the model architecture:\n  " + "\n  ".join(mismatched[:20])
        )
    result = model.load_state_dict(sd, strict=False)
    report.missing_keys = sorted(result.missing_keys)
    report.unexpected_keys = sorted(result.unexpected_keys)
    if report.missing_keys:
        logger.warning("Missing keys (left at their initial values): %s", report.missing_keys)
    if report.unexpected_keys:
        logger.warning("Unexpected keys (not used): %s", report.unexpected_keys)
    if not report.is_complete and not allow_partial:
        raise ConversionError(
            f"Partial load refused: {len(report.missing_keys)} missing and {len(report.unexpected_keys)} "
            f"unexpected keys (missing: {report.missing_keys[:10]}, unexpected: {report.unexpected_keys[:10]}). "
            "Pass allow_partial=True (--allow-partial) to convert anyway."
        )
    logger.info(
        "Loaded %d tensors into %s (%d missing, %d unexpected, %d classifier keys ignored)",
        len(sd) - len(report.unexpected_keys),
        type(model).__name__,
        len(report.missing_keys),
        len(report.unexpected_keys),
        len(report.ignored_keys),
    )
    return report


def convert_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    family: Family | None = None,
    allow_partial: bool = False,
    **config_overrides,
) -> tuple[LvmMedCnnModel | LvmMedViTModel, LoadReport]:
    """Build the right base model for a raw state dict and load it. Returns (model, report)."""
    sd, stripped = strip_wrapper_prefixes(state_dict)
    detected = detect_family(sd)
    if family is not None and family != detected:
        raise ConversionError(f"Expected a {family} checkpoint but the keys describe a {detected} model.")
    if detected == "cnn":
        model = LvmMedCnnModel(infer_cnn_config(sd, **config_overrides))
    else:
        model = LvmMedViTModel(infer_vit_config(sd, **config_overrides))
    report = load_into_model(model, sd, detected, allow_partial=allow_partial)
    report.stripped_prefixes = stripped
    model.eval()
    return model, report


def default_image_processor(family: Family, image_size: int | None = None) -> LvmMedImageProcessor:
    """The preprocessing LVM-Med's downstream code uses: ImageNet statistics, 224 px by default."""
    size = image_size or 224
    return LvmMedImageProcessor(size={"height": size, "width": size})


# ----------------------------------------------------------------------------------------------
# Writing


def write_model_card(output_dir: str | os.PathLike, family: Family, source: str, report: LoadReport) -> Path:
    """Write README.md stating provenance, licence and intended use of a converted checkpoint."""
    arch = "ResNet-50 (torchvision layout)" if family == "cnn" else "SAM ViT-B image encoder"
    pipeline_tag = "image-feature-extraction"
    text = f"""---
license: cc-by-nc-sa-4.0
library_name: transformers
pipeline_tag: {pipeline_tag}
tags:
- medical-imaging
- self-supervised-learning
- lvm-med
- {"lvmmed_cnn" if family == "cnn" else "lvmmed_vit"}
---

# LVM-Med {arch}

Converted with `lvmmed-hf` from the authors' released file `{Path(source).name}`
(Nguyen et al., "LVM-Med: Learning Large-Scale Self-Supervised Vision Models for Medical Imaging
via Second-order Graph Matching", NeurIPS 2023; https://github.com/duyhominhnguyen/LVM-Med).

## Licence
{LICENSE_NOTE}

## Intended use
A feature extractor and initialisation for medical-image classification, segmentation and
detection (research, non-commercial). Pretrained self-supervised on about 1.3 million 2D images
from 55 public medical datasets (CT, MRI, X-ray, ultrasound, endoscopy, microscopy, fundus).
Not a medical device; not validated for clinical decisions.

## Usage
```python
import lvmmed_hf  # registers the LVM-Med classes
from transformers import AutoModel, AutoImageProcessor

model = AutoModel.from_pretrained("path/to/this/folder")
processor = AutoImageProcessor.from_pretrained("path/to/this/folder")
features = model(**processor(images, return_tensors="pt")).pooler_output
```

## Conversion report
- missing keys: {len(report.missing_keys)} {report.missing_keys[:10] if report.missing_keys else ""}
- unexpected keys: {len(report.unexpected_keys)} {report.unexpected_keys[:10] if report.unexpected_keys else ""}
- ignored classifier keys: {len(report.ignored_keys)}
- stripped wrapper prefixes: {report.stripped_prefixes or "none"}
"""
    path = Path(output_dir) / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def convert_checkpoint(
    checkpoint: str | os.PathLike,
    output_dir: str | os.PathLike,
    family: Family | None = None,
    allow_partial: bool = False,
    image_size: int | None = None,
    export: Literal["native", "stock", "remote"] = "native",
    **config_overrides,
) -> LoadReport:
    """Convert an authors' checkpoint into a Hugging Face folder.

    ``export="native"`` writes our classes (needs ``import lvmmed_hf`` to load);
    ``"stock"`` writes transformers' own ``ResNetModel`` / ``SamVisionModel``;
    ``"remote"`` writes our classes plus their code, loadable with ``trust_remote_code=True``
    where this package is not installed. Writes ``conversion_report.json`` too.
    """
    state_dict = load_checkpoint(checkpoint)
    model, report = convert_state_dict(
        state_dict, family=family, allow_partial=allow_partial, **config_overrides
    )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    processor = default_image_processor(report.family, image_size)
    if export == "native":
        model.save_pretrained(output_dir)
        processor.save_pretrained(output_dir)
    elif export == "stock":
        export_to_stock(model, output_dir)
        processor.save_pretrained(output_dir)
    elif export == "remote":
        save_with_remote_code(model, output_dir, processor)
    else:
        raise ValueError(f"export must be 'native', 'stock' or 'remote', got {export!r}")
    write_model_card(output_dir, report.family, str(checkpoint), report)
    (output_dir / "conversion_report.json").write_text(
        json.dumps(report.to_dict(), indent=2), encoding="utf-8"
    )
    logger.info("Wrote %s (%s export)", output_dir, export)
    return report


# ----------------------------------------------------------------------------------------------
# Exports


def to_stock_model(model: LvmMedCnnModel | LvmMedViTModel) -> torch.nn.Module:
    """The same weights in transformers' own classes: ``ResNetModel`` or ``SamVisionModel``.

    ``SamVisionModel`` always has a neck: exporting a ViT needs ``use_neck=True`` (the released
    LVM-Med ViT has none; a neck can be trained downstream, or use the SAM recipe).
    """
    if isinstance(model, LvmMedCnnModel):
        from .conversion_cnn import export_to_transformers_resnet

        return export_to_transformers_resnet(model).eval()
    if isinstance(model, LvmMedViTModel):
        from transformers import SamVisionModel

        from .conversion_vit import lvmmed_vit_to_hf_sam_config, lvmmed_vit_to_hf_sam_state_dict

        if not model.config.use_neck:
            raise ConversionError(
                "transformers' SamVisionModel always ends with the 256-channel neck, but this ViT has none "
                "(use_neck=False, as the released LVM-Med ViT). Export with remote code instead, or add a neck."
            )
        stock = SamVisionModel(lvmmed_vit_to_hf_sam_config(model.config))
        stock.load_state_dict(lvmmed_vit_to_hf_sam_state_dict(model.state_dict()), strict=True)
        return stock.eval()
    raise TypeError(f"Expected an LvmMedCnnModel or LvmMedViTModel, got {type(model).__name__}")


def export_to_stock(model: LvmMedCnnModel | LvmMedViTModel, output_dir: str | os.PathLike) -> Path:
    """Save ``to_stock_model(model)`` with ``save_pretrained`` (no lvmmed_hf needed to load it)."""
    stock = to_stock_model(model)
    stock.save_pretrained(output_dir)
    return Path(output_dir)


# Auto classes written into ``auto_map`` for each family, with the class that serves them.
_REMOTE_CLASSES = {
    "cnn": ("configuration_lvmmed_cnn", "modeling_lvmmed_cnn", "LvmMedCnn"),
    "vit": ("configuration_lvmmed_vit", "modeling_lvmmed_vit", "LvmMedViT"),
}


def save_with_remote_code(
    model: torch.nn.Module,
    output_dir: str | os.PathLike,
    image_processor: LvmMedImageProcessor | None = None,
) -> Path:
    """Save ``model`` with its code, so ``AutoModel.from_pretrained(dir, trust_remote_code=True)``
    works without lvmmed_hf installed.

    Writes the configuration, modeling and image-processing files next to the weights and an
    ``auto_map`` naming AutoConfig, AutoModel, AutoModelForImageClassification and AutoBackbone
    (and AutoImageProcessor in ``preprocessor_config.json``).
    """
    output_dir = Path(output_dir)
    family: Family = "cnn" if isinstance(model.config, LvmMedCnnConfig) else "vit"
    config_module, modeling_module, prefix = _REMOTE_CLASSES[family]
    model.save_pretrained(output_dir)
    here = Path(__file__).parent
    for module in (config_module, modeling_module):
        shutil.copyfile(here / f"{module}.py", output_dir / f"{module}.py")
    config_path = output_dir / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["auto_map"] = {
        "AutoConfig": f"{config_module}.{prefix}Config",
        "AutoModel": f"{modeling_module}.{prefix}Model",
        "AutoModelForImageClassification": f"{modeling_module}.{prefix}ForImageClassification",
        "AutoBackbone": f"{modeling_module}.{prefix}Backbone",
    }
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if image_processor is not None:
        image_processor.save_pretrained(output_dir)
        shutil.copyfile(here / "image_processing_lvmmed.py", output_dir / "image_processing_lvmmed.py")
        proc_path = output_dir / "preprocessor_config.json"
        proc = json.loads(proc_path.read_text(encoding="utf-8"))
        proc["auto_map"] = {"AutoImageProcessor": "image_processing_lvmmed.LvmMedImageProcessor"}
        proc_path.write_text(json.dumps(proc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return output_dir


__all__ = [
    "ConversionError",
    "LoadReport",
    "convert_checkpoint",
    "convert_state_dict",
    "detect_family",
    "export_to_stock",
    "infer_cnn_config",
    "infer_vit_config",
    "load_checkpoint",
    "load_into_model",
    "save_with_remote_code",
    "strip_wrapper_prefixes",
    "to_stock_model",
]
