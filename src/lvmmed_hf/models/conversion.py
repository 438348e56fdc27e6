"""Convert the LVM-Med authors' released checkpoints into Hugging Face folders.

``lvmmed_resnet.torch`` is a torchvision-layout ResNet-50 with its ``fc``; ``lvmmed_vit.pth`` is SAM's
ViT-B ``ImageEncoderViT`` (no ``image_encoder.`` prefix, no ``pos_embed``, with SAM's neck). Our
classes mirror both layouts parameter for parameter.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
from transformers.utils import logging

from ..errors import LvmMedUserError
from .configuration_lvmmed_cnn import LvmMedCnnConfig
from .configuration_lvmmed_vit import LvmMedViTConfig
from .image_processing_lvmmed import LvmMedImageProcessor
from .modeling_lvmmed_cnn import LvmMedCnnModel
from .modeling_lvmmed_vit import LvmMedViTModel, resize_abs_pos, resize_rel_pos

logger = logging.get_logger(__name__)

Family = Literal["cnn", "vit"]
Export = Literal["native", "stock", "remote", "timm", "torchvision"]
EXPORTS: tuple[str, ...] = ("native", "stock", "remote", "timm", "torchvision")

#: Prefixes that training wrappers put in front of backbone keys (DDP, MoCo/BYOL-style encoders,
#: SAM's full model). Stripped repeatedly, longest match first.
WRAPPER_PREFIXES = ("module.", "backbone.", "encoder.", "model.", "image_encoder.", "lvmmed.")
#: Keys of the torchvision classifier, not part of the backbone.
CNN_CLASSIFIER_PREFIX = "fc."
#: Keys of heads saved next to a backbone in our folders (classification, pretraining projector).
HEAD_PREFIXES = ("fc.", "classifier.", "head.", "heads.", "projector.", "gcn.", "predictor.")


class ConversionError(LvmMedUserError, ValueError):
    """A checkpoint could not be converted (unreadable, unsafe, malformed, wrong architecture, partial)."""


@dataclass
class LoadReport:
    """What happened when a state dict was loaded into one of our models."""

    family: Family
    source: str | None = None
    export: str | None = None
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    ignored_keys: list[str] = field(default_factory=list)
    stripped_prefixes: list[str] = field(default_factory=list)
    nonfinite_keys: list[str] = field(default_factory=list)

    @property
    def is_complete(self) -> bool:
        return not self.missing_keys and not self.unexpected_keys

    def to_dict(self) -> dict:
        return asdict(self)


class KeyTable:
    """Renames keys between two layouts, both ways, from one list of ``(left, right)`` templates.

    ``{name}`` in a template matches the regex ``fields[name]`` and is copied to the other side;
    names in `one_based` count from 1 on the left and from 0 on the right.
    """

    def __init__(
        self, pairs: Iterable[tuple[str, str]], fields: Mapping[str, str], one_based: Iterable[str] = ()
    ):
        groups = {name: f"(?P<{name}>{regex})" for name, regex in fields.items()}
        self.pairs = [
            (pair, [re.compile(template.replace(".", r"\.").format(**groups)) for template in pair])
            for pair in pairs
        ]
        self.one_based = set(one_based)

    def rename(self, key: str, reverse: bool = False) -> str | None:
        """`key` in the other layout (left to right unless `reverse`); None when no template matches."""
        source, shift = (1, 1) if reverse else (0, -1)
        for templates, patterns in self.pairs:
            if match := patterns[source].fullmatch(key):
                values = {
                    name: str(int(value) + shift) if name in self.one_based else value
                    for name, value in match.groupdict().items()
                }
                return templates[1 - source].format(**values)
        return None


_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = 0x80  # first opcode of every pickle of protocol >= 2 (torch.save's legacy format)
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module", "teacher", "student")


def load_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a pickled (``torch.save``, ``weights_only=True``) or safetensors checkpoint as a flat
    ``{name: tensor}`` dict. Raises ``ConversionError`` naming the file and the reason."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"Checkpoint {path} does not exist or is not a file.")
    with path.open("rb") as handle:
        head = handle.read(16)
    is_zip = head.startswith(_ZIP_MAGIC)
    # safetensors: an 8-byte little-endian header length, then a JSON object.
    if path.suffix == ".safetensors" or (len(head) >= 10 and head[8:9] == b"{" and not is_zip):
        obj = _load_safetensors(path)
    elif is_zip or (head and head[0] == _PICKLE_PROTO):
        obj = _load_torch(path)
    else:
        raise ConversionError(
            f"{path} is not a PyTorch checkpoint: it is neither a torch.save archive (zip), nor a "
            f"pickle, nor a safetensors file (first bytes {head[:8]!r})."
        )
    # Training scripts often save {"state_dict": ..., "epoch": ...} or {"model": ...}.
    for _ in range(3):
        if isinstance(obj, Mapping) and not _is_tensor_dict(obj):
            obj = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), obj)
    if not _is_tensor_dict(obj):
        raise ConversionError(
            f"{path} does not hold a state dict (a mapping of parameter names to tensors); "
            f"found {type(obj).__name__}."
        )
    return {str(k): v for k, v in obj.items()}


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises its own SafetensorError
        raise ConversionError(
            f"{path} is not a readable safetensors file (truncated or corrupt header): {err}"
        ) from err


def _load_torch(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, zipfile.BadZipFile, OSError, ValueError) as err:
        unsafe = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
        if isinstance(err, pickle.UnpicklingError) and unsafe:
            raise ConversionError(
                f"Refusing to load {path}: it references the Python object {unsafe.group(1)!r}, which "
                "only code execution could rebuild. A released state dict holds tensors only; this "
                "converter never executes code from a checkpoint."
            ) from err
        raise ConversionError(
            f"Could not read checkpoint {path}: the file looks truncated or corrupt "
            f"({type(err).__name__}). Download it again and compare its size with the published one."
        ) from err


def _is_tensor_dict(obj: object) -> bool:
    return (
        isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def strip_wrapper_prefixes(
    state_dict: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Remove prefixes shared by all keys (``module.``, ``backbone.``, ...); from a full SAM
    checkpoint keep the ``image_encoder.`` entries. Returns the new dict and the prefixes removed."""
    sd, stripped = dict(state_dict), []
    while prefix := _wrapper_prefix(sd):
        sd = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
        stripped.append(prefix)
    return sd, stripped


def _wrapper_prefix(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    for prefix in WRAPPER_PREFIXES:
        matching = sum(k.startswith(prefix) for k in state_dict)
        if matching and (matching == len(state_dict) or prefix == "image_encoder."):
            return prefix
    return None


def read_backbone_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The backbone tensors of a ``save_pretrained`` folder (all its ``*.safetensors``) or a checkpoint
    file, in the authors' layout: our ``lvmmed.`` keys if any, else all but head keys (``fc.``, ...)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise ConversionError(f"{path} holds no .safetensors weights")
        state: dict[str, torch.Tensor] = {}
        for file in files:
            state.update(_load_safetensors(file))
    else:
        state = load_checkpoint(path)
    if any(k.startswith("lvmmed.") for k in state):
        return {k[len("lvmmed.") :]: v for k, v in state.items() if k.startswith("lvmmed.")}
    return {k: v for k, v in state.items() if not k.startswith(HEAD_PREFIXES)}


def detect_family(state_dict: Mapping[str, torch.Tensor]) -> Family:
    """Tell a torchvision ResNet from a SAM ViT image encoder by its keys (``ConversionError`` for
    anything else, e.g. a timm / DeiT ViT)."""
    keys = set(state_dict)
    found = [k for k in ("cls_token", "pos_embed", "norm.weight", "head.weight") if k in keys]
    found += sorted(k for k in keys if re.match(r"blocks\.0\.mlp\.fc[12]\.weight", k))
    if found and ("cls_token" in keys or any(re.match(r"blocks\.\d+\.mlp\.fc1\.", k) for k in keys)):
        raise ConversionError(
            f"The checkpoint looks like a timm / DeiT-style ViT (keys {found}), not SAM's "
            "ImageEncoderViT that LVM-Med released (patch_embed.proj, blocks.N.attn.rel_pos_h/w, "
            "blocks.N.mlp.lin1/lin2, neck.*): there is no conversion for it."
        )
    if any(k.startswith(("patch_embed.", "blocks.")) for k in keys):
        return "vit"
    if any(re.match(r"layer\d+\.\d+\.", k) for k in keys) or "conv1.weight" in keys:
        return "cnn"
    raise ConversionError(
        "The checkpoint is neither a torchvision-layout ResNet (conv1.weight, layer1.*) nor a SAM ViT "
        f"image encoder (patch_embed.proj.weight, blocks.*); first keys: {', '.join(sorted(keys)[:5])}"
    )


def _tensor(
    state_dict: Mapping[str, torch.Tensor], candidates: list[tuple[str, int]], what: str
) -> torch.Tensor:
    """The first ``(key, ndim)`` of `candidates` present in the checkpoint, its shape checked."""
    for key, ndim in candidates:
        if key in state_dict:
            tensor = state_dict[key]
            if tensor.ndim != ndim or any(size == 0 for size in tensor.shape):
                raise ConversionError(
                    f"Malformed checkpoint: {key} has shape {tuple(tensor.shape)}, expected a non-empty "
                    f"{ndim}-D tensor ({what})."
                )
            return tensor
    others = [key for key, _ in candidates[1:]]
    raise ConversionError(
        f"The checkpoint is missing {candidates[0][0]}, needed to read {what}"
        + (f" (also looked for {others})." if others else ".")
    )


def _config(cls, kwargs: dict, overrides: dict):
    try:
        return cls(**{**kwargs, **overrides})
    except (ValueError, TypeError) as err:
        raise ConversionError(f"The checkpoint's shapes describe no valid {cls.__name__}: {err}") from err


def infer_cnn_config(state_dict: Mapping[str, torch.Tensor], **overrides) -> LvmMedCnnConfig:
    """Read depth, block type and widths of a torchvision-layout ResNet from its keys and shapes; a
    missing tensor is reported by the load, never read as another architecture."""
    conv1 = _tensor(state_dict, [("conv1.weight", 4)], "the stem width and input channels")
    bottleneck = any(re.match(r"layer\d+\.\d+\.(conv3|bn3)\.", k) for k in state_dict)
    last = "3" if bottleneck else "2"
    depths, hidden_sizes = [], []
    for stage in range(1, 5):
        blocks = {int(m.group(1)) for k in state_dict if (m := re.match(rf"layer{stage}\.(\d+)\.", k))}
        if not blocks:
            raise ConversionError(
                f"The checkpoint is missing layer{stage} (no layer{stage}.N.* keys): not a four-stage "
                "torchvision ResNet."
            )
        depths.append(max(blocks) + 1)
    for stage, depth in enumerate(depths, start=1):
        candidates = [
            (f"layer{stage}.0.conv{last}.weight", 4),
            (f"layer{stage}.0.bn{last}.weight", 1),
            (f"layer{stage}.0.downsample.0.weight", 4),
        ]
        candidates += [(f"layer{stage}.{block}.conv{last}.weight", 4) for block in range(1, depth)]
        hidden_sizes.append(int(_tensor(state_dict, candidates, f"the width of layer{stage}").shape[0]))
    kwargs = dict(
        num_channels=int(conv1.shape[1]),
        embedding_size=int(conv1.shape[0]),
        hidden_sizes=hidden_sizes,
        depths=depths,
        layer_type="bottleneck" if bottleneck else "basic",
    )
    return _config(LvmMedCnnConfig, kwargs, overrides)


def infer_vit_config(state_dict: Mapping[str, torch.Tensor], **overrides) -> LvmMedViTConfig:
    """Read width, depth, heads, window and native size of a SAM image encoder from its shapes (its
    relative-position tables: ``2 * span - 1`` rows, span the window or the grid; head_dim columns)."""
    proj = _tensor(state_dict, [("patch_embed.proj.weight", 4)], "the patch size and width")
    if proj.shape[2] != proj.shape[3]:
        raise ConversionError(
            f"Malformed checkpoint: patch_embed.proj.weight has shape {tuple(proj.shape)}; SAM's patch "
            "embedding uses square patches."
        )
    hidden_size, num_channels, patch_size = int(proj.shape[0]), int(proj.shape[1]), int(proj.shape[2])
    layers = sorted({int(m.group(1)) for k in state_dict if (m := re.match(r"blocks\.(\d+)\.", k))})
    if not layers:
        raise ConversionError("The checkpoint has no transformer blocks (no blocks.N.* keys).")
    num_layers = layers[-1] + 1
    mlp = _tensor(state_dict, [(f"blocks.{i}.mlp.lin1.weight", 2) for i in layers], "the MLP width")
    kwargs: dict = dict(
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        mlp_dim=int(mlp.shape[0]),
        num_channels=num_channels,
        patch_size=patch_size,
        qkv_bias=any(re.match(r"blocks\.\d+\.attn\.qkv\.bias$", k) for k in state_dict),
        use_neck=any(k.startswith("neck.") for k in state_dict),
        use_abs_pos="pos_embed" in state_dict,
        use_rel_pos=any(re.match(r"blocks\.\d+\.attn\.rel_pos_[hw]$", k) for k in state_dict),
    )
    if kwargs["use_neck"]:
        neck = _tensor(state_dict, [("neck.0.weight", 4), ("neck.2.weight", 4)], "the neck width")
        kwargs["output_channels"] = int(neck.shape[0])
    if kwargs["use_rel_pos"]:
        tables = [
            state_dict.get(f"blocks.{i}.attn.rel_pos_h", state_dict.get(f"blocks.{i}.attn.rel_pos_w"))
            for i in range(num_layers)
        ]
        for i, table in enumerate(tables):
            if table is not None and (table.ndim != 2 or table.shape[0] % 2 == 0 or table.shape[1] == 0):
                raise ConversionError(
                    f"Malformed checkpoint: blocks.{i}.attn.rel_pos_h/w has shape {tuple(table.shape)}, "
                    "expected (2 * span - 1, head_dim)."
                )
        missing = [f"blocks.{i}.attn.rel_pos_h" for i, table in enumerate(tables) if table is None]
        if missing:
            raise ConversionError(
                f"The checkpoint is missing the relative-position tables of some blocks: {missing} "
                "(every block of SAM's encoder has rel_pos_h and rel_pos_w)."
            )
        spans = [int(table.shape[0]) for table in tables]
        head_dims = sorted({int(table.shape[1]) for table in tables})
        if len(head_dims) != 1 or hidden_size % head_dims[0]:
            raise ConversionError(
                f"Malformed checkpoint: relative-position head dimensions {head_dims} do not "
                f"divide the width {hidden_size}."
            )
        if len(set(spans)) > 2:
            raise ConversionError(
                f"Malformed checkpoint: relative-position tables of {sorted(set(spans))} rows; SAM's "
                "encoder has one size for windowed blocks and one for global blocks."
            )
        global_span, window_span = max(spans), min(spans)
        kwargs["num_attention_heads"] = hidden_size // head_dims[0]
        kwargs["image_size"] = (global_span + 1) // 2 * patch_size
        kwargs["window_size"] = (window_span + 1) // 2 if global_span != window_span else 0
        kwargs["global_attn_indexes"] = [i for i, span in enumerate(spans) if span == global_span]
    elif kwargs["use_abs_pos"]:
        pos = _tensor(state_dict, [("pos_embed", 4)], "the native grid")
        kwargs["image_size"] = int(pos.shape[1]) * patch_size
    return _config(LvmMedViTConfig, kwargs, overrides)


def nonfinite_keys(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an infinity."""
    return sorted(
        k for k, v in state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())
    )


_FAMILIES = {"cnn": (infer_cnn_config, LvmMedCnnModel), "vit": (infer_vit_config, LvmMedViTModel)}


def load_into_model(
    model: LvmMedCnnModel | LvmMedViTModel,
    state_dict: Mapping[str, torch.Tensor],
    family: Family,
    allow_partial: bool = False,
) -> LoadReport:
    """Copy ``state_dict`` (authors' layout, prefixes stripped) into a base model, reporting keys;
    ``ConversionError`` on shape mismatches, and on missing or unexpected keys unless `allow_partial`.
    ``fc.*`` is ignored, ``num_batches_tracked`` (absent from old torchvision files) not required."""
    report = LoadReport(family=family)
    if family == "cnn":
        report.ignored_keys = sorted(k for k in state_dict if k.startswith(CNN_CLASSIFIER_PREFIX))
    sd = {k: v for k, v in state_dict.items() if k not in report.ignored_keys}
    own = model.state_dict()
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in sd.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if mismatched:
        raise ConversionError(
            "Checkpoint tensors do not fit the architecture read from the checkpoint's other keys:\n  "
            + "\n  ".join(mismatched[:20])
        )
    result = model.load_state_dict(sd, strict=False)
    report.missing_keys = sorted(k for k in result.missing_keys if not k.endswith("num_batches_tracked"))
    report.unexpected_keys = sorted(result.unexpected_keys)
    if report.missing_keys:
        logger.warning("Missing keys (left at their initial values): %s", report.missing_keys)
    if report.unexpected_keys:
        logger.warning("Unexpected keys (not used): %s", report.unexpected_keys)
    if not report.is_complete and not allow_partial:
        raise ConversionError(
            f"Partial load refused: {len(report.missing_keys)} missing and "
            f"{len(report.unexpected_keys)} unexpected keys (missing: {report.missing_keys[:10]}, "
            f"unexpected: {report.unexpected_keys[:10]}). Pass allow_partial=True (--allow-partial) "
            "to convert anyway."
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
    allow_nonfinite: bool = False,
    **config_overrides,
) -> tuple[LvmMedCnnModel | LvmMedViTModel, LoadReport]:
    """Build the right base model for a raw state dict and load it. Returns (model, report).

    Raises ``ConversionError`` for an unknown layout, a missing or malformed structural tensor,
    NaN / infinite weights (unless `allow_nonfinite`) and a partial load (unless `allow_partial`).
    """
    sd, stripped = strip_wrapper_prefixes(state_dict)
    detected = detect_family(sd)
    if family is not None and family != detected:
        raise ConversionError(f"Expected a {family} checkpoint but the keys describe a {detected} model.")
    bad = nonfinite_keys(sd)
    if bad and not allow_nonfinite:
        raise ConversionError(
            f"{len(bad)} tensors hold NaN or infinite values: {bad[:10]}. A trained checkpoint has "
            "none; pass allow_nonfinite=True (--allow-nonfinite) to convert it anyway."
        )
    if bad:
        logger.warning("Converting despite non-finite values in %s", bad[:10])
    infer_config, model_class = _FAMILIES[detected]
    model = model_class(infer_config(sd, **config_overrides))
    report = load_into_model(model, sd, detected, allow_partial=allow_partial)
    report.stripped_prefixes, report.nonfinite_keys = stripped, bad
    return model.eval(), report


def default_image_processor(image_size: int | None = None) -> LvmMedImageProcessor:
    """The preprocessing LVM-Med's downstream code uses: ImageNet statistics, 224 px by default."""
    size = image_size or 224
    return LvmMedImageProcessor(size={"height": size, "width": size})


def stock_image_processor(processor: LvmMedImageProcessor):
    """transformers' own ``ViTImageProcessor`` with the same size, mean, std, rescale and resampling,
    for 8-bit images (CT / MR windowing, which ours does, is then the user's step)."""
    from transformers.image_utils import PILImageResampling
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    size = dict(processor.size)
    if set(size) != {"height", "width"} or getattr(processor, "do_center_crop", False):
        raise ConversionError(
            f"The stock export needs a fixed (height, width) resize without crop; got size={size}."
        )
    return ViTImageProcessorPil(  # resizes, rescales and normalises by default
        size=size,
        resample=PILImageResampling.BILINEAR,
        rescale_factor=float(processor.rescale_factor),
        image_mean=list(processor.image_mean),
        image_std=list(processor.image_std),
        do_convert_rgb=True,
    )


def convert_checkpoint(
    checkpoint: str | os.PathLike,
    output_dir: str | os.PathLike,
    family: Family | None = None,
    allow_partial: bool = False,
    allow_nonfinite: bool = False,
    image_size: int | None = None,
    export: Export = "native",
    **config_overrides,
) -> LoadReport:
    """Convert an authors' checkpoint into a Hugging Face folder with a model card and
    ``conversion_report.json``.

    `export`: ``"native"`` (our classes), ``"stock"`` (transformers' ``ResNetModel`` /
    ``SamVisionModel`` + ``ViTImageProcessor``), ``"remote"`` (our classes with their code) or
    ``"timm"`` / ``"torchvision"`` (ResNets: the torchvision-layout state dict). Files are staged
    first: on any error nothing is written, and an existing `output_dir` keeps its other files.
    """
    if export not in EXPORTS:
        raise ConversionError(f"export must be one of {list(EXPORTS)}, got {export!r}")
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ConversionError(f"Output {output_dir} exists and is not a folder.")
    state_dict, stripped = strip_wrapper_prefixes(load_checkpoint(checkpoint))
    model, report = convert_state_dict(
        state_dict,
        family=family,
        allow_partial=allow_partial,
        allow_nonfinite=allow_nonfinite,
        **config_overrides,
    )
    report.stripped_prefixes, report.source, report.export = stripped, Path(checkpoint).name, export
    processor = default_image_processor(image_size)
    with tempfile.TemporaryDirectory(prefix="lvmmed-convert-") as staging_name:
        staging = Path(staging_name)
        if export == "native":
            model.save_pretrained(staging)
            processor.save_pretrained(staging)
        elif export == "stock":
            to_stock_model(model, image_size=image_size).save_pretrained(staging)
            if isinstance(model, LvmMedViTModel):
                processor = default_image_processor(image_size or model.config.image_size)
            stock_image_processor(processor).save_pretrained(staging)
        elif export == "remote":
            save_with_remote_code(model, staging, processor)
        else:
            classifier = {k: v for k, v in state_dict.items() if k.startswith(CNN_CLASSIFIER_PREFIX)}
            export_resnet_state_dict(model, staging, export, classifier=classifier, processor=processor)
        _write_json(staging / "conversion_report.json", report.to_dict())
        from ..evaluation.model_card import write_model_card

        write_model_card(staging, repo_id=str(output_dir))
        output_dir.mkdir(parents=True, exist_ok=True)
        for item in sorted(staging.iterdir()):
            target = output_dir / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            shutil.move(str(item), str(target))
    logger.info("Wrote %s (%s export)", output_dir, export)
    return report


def _write_json(path: Path, data: dict, sort_keys: bool = False) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=sort_keys) + "\n", encoding="utf-8")


def vit_at_image_size(model: LvmMedViTModel, image_size: int) -> LvmMedViTModel:
    """The same encoder configured for `image_size` px (for ``SamVisionModel``, which accepts only
    that size): global-block tables and absolute positions resized as the model does at run time,
    so the outputs are unchanged."""
    config = LvmMedViTConfig(**{**model.config.to_dict(), "image_size": image_size})
    grid = image_size // config.patch_size
    state = {}
    for key, tensor in model.state_dict().items():
        match = re.match(r"blocks\.(\d+)\.attn\.rel_pos_[hw]$", key)
        if match and config.block_window_size(int(match.group(1))) == 0:
            tensor = resize_rel_pos(tensor, 2 * grid - 1).contiguous()
        elif key == "pos_embed":
            tensor = resize_abs_pos(tensor, (grid, grid)).contiguous()
        state[key] = tensor
    resized = LvmMedViTModel(config).eval()
    resized.load_state_dict(state, strict=True)
    return resized


def to_stock_model(model: LvmMedCnnModel | LvmMedViTModel, image_size: int | None = None) -> torch.nn.Module:
    """The same weights in transformers' ``ResNetModel`` or ``SamVisionModel`` (which needs the neck;
    `image_size`, default the native one, is the only input size it accepts)."""
    if isinstance(model, LvmMedCnnModel):
        from .conversion_cnn import export_to_transformers_resnet

        return export_to_transformers_resnet(model).eval()
    if not isinstance(model, LvmMedViTModel):
        raise TypeError(f"Expected an LvmMedCnnModel or LvmMedViTModel, got {type(model).__name__}")
    from transformers import SamVisionModel

    from .conversion_vit import lvmmed_vit_to_hf_sam_config, lvmmed_vit_to_hf_sam_state_dict

    if not model.config.use_neck:
        raise ConversionError(
            "transformers' SamVisionModel always ends with the 256-channel neck, but this ViT has "
            "none (use_neck=False). Export with remote code instead, or add a neck."
        )
    if image_size is not None and image_size != model.config.image_size:
        if image_size % model.config.patch_size:
            raise ConversionError(
                f"image_size {image_size} is not a multiple of the patch size {model.config.patch_size}"
            )
        model = vit_at_image_size(model, image_size)
    stock = SamVisionModel(lvmmed_vit_to_hf_sam_config(model.config))
    stock.load_state_dict(lvmmed_vit_to_hf_sam_state_dict(model.state_dict()), strict=True)
    return stock.eval()


#: torchvision / timm builder names of the torchvision ResNet family: (block type, depths) -> name.
RESNET_ARCHITECTURES = {
    ("basic", (2, 2, 2, 2)): "resnet18",
    ("basic", (3, 4, 6, 3)): "resnet34",
    ("bottleneck", (3, 4, 6, 3)): "resnet50",
    ("bottleneck", (3, 4, 23, 3)): "resnet101",
    ("bottleneck", (3, 8, 36, 3)): "resnet152",
}


def resnet_architecture(config: LvmMedCnnConfig) -> str:
    """The torchvision / timm name of a standard ResNet config (``"resnet50"``); raises otherwise."""
    expansion = 4 if config.layer_type == "bottleneck" else 1
    name = RESNET_ARCHITECTURES.get((config.layer_type, tuple(config.depths)))
    standard = [width * expansion for width in (64, 128, 256, 512)]
    if name is None or list(config.hidden_sizes) != standard or config.embedding_size != 64:
        raise ConversionError(
            f"No torchvision / timm counterpart for this ResNet (layer_type={config.layer_type}, "
            f"depths={list(config.depths)}, hidden_sizes={list(config.hidden_sizes)}, "
            f"embedding_size={config.embedding_size}); known: {sorted(RESNET_ARCHITECTURES.values())}."
        )
    return name


_TIMM_LAYOUT = {"first_conv": "conv1", "classifier": "fc"}


def export_resnet_state_dict(
    model: LvmMedCnnModel,
    output_dir: str | os.PathLike,
    library: Literal["timm", "torchvision"],
    classifier: Mapping[str, torch.Tensor] | None = None,
    processor: LvmMedImageProcessor | None = None,
) -> Path:
    """Write the state dict that timm's and torchvision's ResNets load strictly (``model.safetensors``)
    and a minimal ``config.json``. `classifier`: the checkpoint's ``fc.weight`` / ``fc.bias``; without
    it the file has no ``fc`` and ``num_classes`` is 0."""
    from safetensors.torch import save_file

    if not isinstance(model, LvmMedCnnModel):
        raise ConversionError(f"The {library} export is for ResNets; this is a {type(model).__name__}.")
    architecture = resnet_architecture(model.config)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    classifier = dict(classifier or {})
    num_classes = 0
    if classifier:
        if set(classifier) != {"fc.weight", "fc.bias"} or classifier["fc.weight"].ndim != 2:
            raise ConversionError(f"Malformed classifier in the checkpoint: {sorted(classifier)}")
        if classifier["fc.weight"].shape[1] != model.config.feature_dim:
            raise ConversionError(
                f"fc.weight has shape {tuple(classifier['fc.weight'].shape)}; the backbone gives "
                f"{model.config.feature_dim} features."
            )
        num_classes = int(classifier["fc.weight"].shape[0])
        state.update({k: v.detach().contiguous() for k, v in classifier.items()})
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    save_file(state, str(output_dir / "model.safetensors"), metadata={"format": "pt"})
    processor = processor or default_image_processor()
    size = processor.size
    preprocessing = {
        "input_size": [model.config.num_channels, int(size["height"]), int(size["width"])],
        "interpolation": "bilinear",
        "mean": list(processor.image_mean),
        "std": list(processor.image_std),
        "crop_pct": 1.0,
    }
    if library == "timm":  # the layout of the config.json timm writes next to its Hub weights
        config = {
            "architecture": architecture,
            "num_classes": num_classes,
            "num_features": model.config.feature_dim,
            "global_pool": "avg",
            "pretrained_cfg": {**preprocessing, "num_classes": num_classes, **_TIMM_LAYOUT},
        }
    else:
        config = {
            "library": "torchvision",
            "architecture": architecture,
            "builder": f"torchvision.models.{architecture}",
            "num_classes": num_classes,
            "num_features": model.config.feature_dim,
            "preprocessing": preprocessing,
        }
    _write_json(output_dir / "config.json", config)
    return output_dir


_LOCAL_IMPORT = re.compile(r"^(\s*from )(\.{1,2})(\w+)( import )", re.MULTILINE)


def _copy_remote_module(source: Path, output_dir: Path, done: set[str] | None = None) -> None:
    """Copy a package module and the package modules it imports into a flat remote-code folder, with
    ``from .x`` / ``from ..x`` rewritten to ``from .x`` (what transformers' loader resolves)."""
    done = set() if done is None else done
    if source.name in done:
        return
    done.add(source.name)
    text = source.read_text(encoding="utf-8")
    for _, dots, name, _ in _LOCAL_IMPORT.findall(text):
        dependency = (source.parent if dots == "." else source.parent.parent) / f"{name}.py"
        if not dependency.is_file():
            raise ConversionError(f"{source.name} imports {dots}{name}, which is not a module file")
        _copy_remote_module(dependency, output_dir, done)
    flat = _LOCAL_IMPORT.sub(lambda m: f"{m.group(1)}.{m.group(3)}{m.group(4)}", text)
    (output_dir / source.name).write_text(flat, encoding="utf-8")


def _add_auto_map(path: Path, auto_map: dict[str, str]) -> None:
    _write_json(path, {**json.loads(path.read_text(encoding="utf-8")), "auto_map": auto_map}, sort_keys=True)


def save_with_remote_code(
    model: torch.nn.Module,
    output_dir: str | os.PathLike,
    image_processor: LvmMedImageProcessor | None = None,
) -> Path:
    """Save ``model`` with its code and an ``auto_map``, so ``AutoModel.from_pretrained(dir,
    trust_remote_code=True)`` (and the Auto classes of the heads and the processor) work without
    lvmmed_hf installed."""
    output_dir = Path(output_dir)
    family = "cnn" if isinstance(model.config, LvmMedCnnConfig) else "vit"
    config_module, modeling_module = f"configuration_lvmmed_{family}", f"modeling_lvmmed_{family}"
    prefix = type(model.config).__name__.removesuffix("Config")
    model.save_pretrained(output_dir)
    here = Path(__file__).parent
    for module in (config_module, modeling_module):
        _copy_remote_module(here / f"{module}.py", output_dir)
    auto_map = {
        "AutoConfig": f"{config_module}.{prefix}Config",
        "AutoModel": f"{modeling_module}.{prefix}Model",
        "AutoModelForImageClassification": f"{modeling_module}.{prefix}ForImageClassification",
        "AutoBackbone": f"{modeling_module}.{prefix}Backbone",
    }
    _add_auto_map(output_dir / "config.json", auto_map)
    if image_processor is not None:
        image_processor.save_pretrained(output_dir)
        _copy_remote_module(here / "image_processing_lvmmed.py", output_dir)
        processor_map = {"AutoImageProcessor": "image_processing_lvmmed.LvmMedImageProcessor"}
        _add_auto_map(output_dir / "preprocessor_config.json", processor_map)
    return output_dir


__all__ = [
    "EXPORTS",
    "ConversionError",
    "KeyTable",
    "LoadReport",
    "convert_checkpoint",
    "convert_state_dict",
    "detect_family",
    "export_resnet_state_dict",
    "infer_cnn_config",
    "infer_vit_config",
    "load_checkpoint",
    "load_into_model",
    "nonfinite_keys",
    "read_backbone_weights",
    "resnet_architecture",
    "save_with_remote_code",
    "stock_image_processor",
    "strip_wrapper_prefixes",
    "to_stock_model",
    "vit_at_image_size",
]
