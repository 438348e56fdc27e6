"""Convert the LVM-Med authors' released checkpoints into Hugging Face folders.

The authors published two pickled state dicts:

- ``lvmmed_resnet.torch``: a torchvision-layout ResNet-50 (``conv1.weight``, ``layer1.0.conv1.weight``,
  ..., ``fc.*``), loaded by the authors with ``strict=False``;
- ``lvmmed_vit.pth``: SAM's ViT-B ``ImageEncoderViT`` without the ``image_encoder.`` prefix, without
  ``pos_embed`` and with SAM's neck (``neck.0`` ... ``neck.3``).

Our model classes mirror those layouts parameter for parameter (see ``modeling_lvmmed_cnn`` and
``modeling_lvmmed_vit``), so conversion is: load safely (``weights_only=True``), unwrap the usual
wrappers (``state_dict``/``model`` dicts, ``module.``/``backbone.``/``encoder.`` prefixes), check
the structure and infer the architecture from several keys and their shapes, refuse non-finite
weights, load into the base model while reporting missing and unexpected keys, and write the
export into a staging folder that replaces nothing until everything succeeded. Exports: our classes
(``native``), transformers' own ``ResNetModel`` / ``SamVisionModel`` with a stock image processor
(``stock``), our classes with their code (``remote``), and the bare torchvision-layout ResNet for
``timm`` and ``torchvision``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from transformers.utils import logging

from .configuration_lvmmed_cnn import LvmMedCnnConfig
from .configuration_lvmmed_vit import LvmMedViTConfig
from .image_processing_lvmmed import LvmMedImageProcessor
from .modeling_lvmmed_cnn import LvmMedCnnModel
from .modeling_lvmmed_vit import LvmMedViTModel, resize_abs_pos, resize_rel_pos

try:  # the project-wide base class of expected user errors, once the package has one
    from ..errors import LvmMedUserError

    _ERROR_BASES: tuple[type[Exception], ...] = (LvmMedUserError, ValueError)
except ImportError:
    _ERROR_BASES = (ValueError,)

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


class ConversionError(*_ERROR_BASES):
    """A checkpoint could not be converted (unreadable, unsafe, malformed, wrong architecture, partial).

    A ``ValueError`` (and ``lvmmed_hf.errors.LvmMedUserError`` where that module exists).
    """


@dataclass
class LoadReport:
    """What happened when a state dict was loaded into one of our models."""

    family: Family
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    ignored_keys: list[str] = field(default_factory=list)
    stripped_prefixes: list[str] = field(default_factory=list)
    nonfinite_keys: list[str] = field(default_factory=list)
    source: str | None = None
    export: str | None = None

    @property
    def is_complete(self) -> bool:
        return not self.missing_keys and not self.unexpected_keys

    def to_dict(self) -> dict:
        return {
            "family": self.family,
            "source": self.source,
            "export": self.export,
            "missing_keys": self.missing_keys,
            "unexpected_keys": self.unexpected_keys,
            "ignored_keys": self.ignored_keys,
            "stripped_prefixes": self.stripped_prefixes,
            "nonfinite_keys": self.nonfinite_keys,
        }


# ----------------------------------------------------------------------------------------------
# Reading

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = 0x80  # first opcode of every pickle of protocol >= 2 (torch.save's legacy format)


def _looks_like_safetensors(head: bytes) -> bool:
    # 8-byte little-endian header length, then a JSON object.
    return len(head) >= 10 and head[8:9] == b"{"


def load_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a pickled (``torch.save``) or safetensors checkpoint without executing code.

    Returns a flat ``{name: tensor}`` dict. Raises ``ConversionError`` naming the file and the
    reason: missing, not a checkpoint at all, truncated or corrupt, or a pickle that would need
    code execution (never loaded: ``weights_only=True`` only).
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"Checkpoint {path} does not exist or is not a file.")
    with path.open("rb") as handle:
        head = handle.read(16)
    if path.suffix == ".safetensors" or (_looks_like_safetensors(head) and not head.startswith(_ZIP_MAGIC)):
        obj = _load_safetensors(path)
    elif head.startswith(_ZIP_MAGIC) or (head and head[0] == _PICKLE_PROTO):
        obj = _load_torch(path)
    else:
        raise ConversionError(
            f"{path} is not a PyTorch checkpoint: it is neither a torch.save archive (zip), nor a "
            f"pickle, nor a safetensors file (first bytes {head[:8]!r})."
        )
    return _unwrap_state_dict(obj, path)


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises its own SafetensorError
        raise ConversionError(
            f"{path} is not a readable safetensors file (truncated or corrupt header): {err}"
        ) from err


def _load_torch(path: Path) -> object:
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        message = str(err)
        unsafe = re.search(r"Unsupported global: GLOBAL ([\w.]+)", message)
        if unsafe:
            raise ConversionError(
                f"Refusing to load {path}: it references the Python object {unsafe.group(1)!r}, which "
                "only code execution could rebuild. A released state dict holds tensors only; this "
                "converter never executes code from a checkpoint."
            ) from err
        raise ConversionError(
            f"Could not read checkpoint {path}: the file looks truncated or corrupt (its pickle does "
            "not decode). Download it again and compare its size with the published one."
        ) from err
    except (EOFError, RuntimeError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise ConversionError(
            f"Could not read checkpoint {path}: the file looks truncated or corrupt "
            f"({type(err).__name__}). Download it again and compare its size with the published one."
        ) from err


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
            f"{path} does not hold a state dict (a mapping of parameter names to tensors); "
            f"found {type(obj).__name__}."
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


def read_backbone_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The backbone tensors of a checkpoint, in the authors' layout (bare keys, no head).

    The one loader the recipes share. `path`: a ``save_pretrained`` folder (every ``*.safetensors``
    file in it: a bare model, a classification head, a pretraining checkpoint) or a checkpoint file
    (read by :func:`load_checkpoint`). Where keys carry our ``lvmmed.`` prefix only those are kept
    (heads and projectors sit beside it); otherwise head keys (``fc.``, ``classifier.``, ...) are
    dropped. Raises ``ConversionError`` for a folder without weights.
    """
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


# ----------------------------------------------------------------------------------------------
# Structure checks and architecture inference


def _timm_vit_keys(keys: set[str]) -> list[str]:
    """Keys that mark a timm / DeiT-style ViT (class token, ``mlp.fc1``/``fc2``, final norm, head)."""
    if "cls_token" not in keys and not any(re.match(r"blocks\.\d+\.mlp\.fc1\.", k) for k in keys):
        return []
    found = [k for k in ("cls_token", "pos_embed", "norm.weight", "head.weight") if k in keys]
    return found + sorted(k for k in keys if re.match(r"blocks\.0\.mlp\.fc[12]\.weight", k))


def detect_family(state_dict: Mapping[str, torch.Tensor]) -> Family:
    """Tell a torchvision ResNet from a SAM ViT image encoder by its keys.

    Raises ``ConversionError`` for anything else, e.g. a timm / DeiT ViT (class token, ``mlp.fc1``):
    LVM-Med's ViT is SAM's ``ImageEncoderViT``, with other modules.
    """
    keys = set(state_dict)
    timm_like = _timm_vit_keys(keys)
    if timm_like:
        raise ConversionError(
            f"The checkpoint looks like a timm / DeiT-style ViT (keys {timm_like}), not SAM's "
            "ImageEncoderViT that LVM-Med released (patch_embed.proj, blocks.N.attn.rel_pos_h/w, "
            "blocks.N.mlp.lin1/lin2, neck.*): there is no conversion for it."
        )
    if any(k.startswith(("patch_embed.", "blocks.")) for k in keys):
        return "vit"
    if any(re.match(r"layer\d+\.\d+\.", k) for k in keys) or "conv1.weight" in keys:
        return "cnn"
    sample = ", ".join(sorted(keys)[:5])
    raise ConversionError(
        "The checkpoint is neither a torchvision-layout ResNet (conv1.weight, layer1.*) nor a SAM ViT "
        f"image encoder (patch_embed.proj.weight, blocks.*); first keys: {sample}"
    )


def _tensor(
    state_dict: Mapping[str, torch.Tensor], candidates: Iterable[tuple[str, int]], what: str
) -> tuple[str, torch.Tensor]:
    """The first ``(key, ndim)`` of `candidates` present in the checkpoint, its shape checked."""
    candidates = list(candidates)
    for key, ndim in candidates:
        if key in state_dict:
            tensor = state_dict[key]
            if tensor.ndim != ndim or any(size == 0 for size in tensor.shape):
                raise ConversionError(
                    f"Malformed checkpoint: {key} has shape {tuple(tensor.shape)}, expected a non-empty "
                    f"{ndim}-D tensor ({what})."
                )
            return key, tensor
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
    """Read depth, block type and widths of a torchvision-layout ResNet from its keys and shapes.

    The block type comes from every block (any ``conv3``/``bn3`` makes it a bottleneck network),
    the width of each stage from whichever of its expanding layers is present; a missing tensor is
    then reported by the load, never read as another architecture.
    """
    _, conv1 = _tensor(state_dict, [("conv1.weight", 4)], "the stem width and input channels")
    depths = []
    for stage in range(1, 5):
        blocks = {int(m.group(1)) for k in state_dict if (m := re.match(rf"layer{stage}\.(\d+)\.", k))}
        if not blocks:
            raise ConversionError(
                f"The checkpoint is missing layer{stage} (no layer{stage}.N.* keys): not a four-stage "
                "torchvision ResNet."
            )
        depths.append(max(blocks) + 1)
    bottleneck = any(re.match(r"layer\d+\.\d+\.(conv3|bn3)\.", k) for k in state_dict)
    last = "3" if bottleneck else "2"
    hidden_sizes = []
    for stage, depth in zip(range(1, 5), depths):
        candidates = [(f"layer{stage}.0.conv{last}.weight", 4), (f"layer{stage}.0.bn{last}.weight", 1)]
        candidates.append((f"layer{stage}.0.downsample.0.weight", 4))
        for block in range(1, depth):
            candidates += [(f"layer{stage}.{block}.conv{last}.weight", 4)]
        _, tensor = _tensor(state_dict, candidates, f"the width of layer{stage}")
        hidden_sizes.append(int(tensor.shape[0]))
    kwargs = dict(
        num_channels=int(conv1.shape[1]),
        embedding_size=int(conv1.shape[0]),
        hidden_sizes=hidden_sizes,
        depths=depths,
        layer_type="bottleneck" if bottleneck else "basic",
    )
    return _config(LvmMedCnnConfig, kwargs, overrides)


def infer_vit_config(state_dict: Mapping[str, torch.Tensor], **overrides) -> LvmMedViTConfig:
    """Read width, depth, heads, window and native size of a SAM image encoder from its shapes.

    The relative-position tables tell the attention span of each block: windowed blocks have
    ``2 * window_size - 1`` rows, global blocks ``2 * (image_size / patch_size) - 1``; their second
    dimension is the head dimension. Every block must carry a table (``rel_pos_h`` or ``rel_pos_w``)
    when any does.
    """
    _, proj = _tensor(state_dict, [("patch_embed.proj.weight", 4)], "the patch size and width")
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
    mlp_candidates = [(f"blocks.{i}.mlp.lin1.weight", 2) for i in layers]
    key, mlp = _tensor(state_dict, mlp_candidates, "the MLP width")
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
        _, neck = _tensor(state_dict, [("neck.0.weight", 4), ("neck.2.weight", 4)], "the neck width")
        kwargs["output_channels"] = int(neck.shape[0])
    if kwargs["use_rel_pos"]:
        spans, head_dims, missing = [], set(), []
        for i in range(num_layers):
            table = next(
                (
                    state_dict[f"blocks.{i}.attn.rel_pos_{a}"]
                    for a in "hw"
                    if f"blocks.{i}.attn.rel_pos_{a}" in state_dict
                ),
                None,
            )
            if table is None:
                missing.append(f"blocks.{i}.attn.rel_pos_h")
                continue
            if table.ndim != 2 or table.shape[0] % 2 == 0 or table.shape[1] == 0:
                raise ConversionError(
                    f"Malformed checkpoint: blocks.{i}.attn.rel_pos_h/w has shape {tuple(table.shape)}, "
                    "expected (2 * span - 1, head_dim)."
                )
            spans.append(int(table.shape[0]))
            head_dims.add(int(table.shape[1]))
        if missing:
            raise ConversionError(
                f"The checkpoint is missing the relative-position tables of some blocks: {missing} "
                "(every block of SAM's encoder has rel_pos_h and rel_pos_w)."
            )
        if len(head_dims) != 1 or hidden_size % next(iter(head_dims)):
            raise ConversionError(
                f"Malformed checkpoint: relative-position head dimensions {sorted(head_dims)} do not "
                f"divide the width {hidden_size}."
            )
        global_span, window_span = max(spans), min(spans)
        if len(set(spans)) > 2:
            raise ConversionError(
                f"Malformed checkpoint: relative-position tables of {sorted(set(spans))} rows; SAM's "
                "encoder has one size for windowed blocks and one for global blocks."
            )
        kwargs["num_attention_heads"] = hidden_size // next(iter(head_dims))
        kwargs["image_size"] = (global_span + 1) // 2 * patch_size
        if global_span != window_span:
            kwargs["window_size"] = (window_span + 1) // 2
            kwargs["global_attn_indexes"] = [i for i, s in enumerate(spans) if s == global_span]
        else:
            kwargs["window_size"] = 0
            kwargs["global_attn_indexes"] = list(range(num_layers))
    elif kwargs["use_abs_pos"]:
        _, pos = _tensor(state_dict, [("pos_embed", 4)], "the native grid")
        kwargs["image_size"] = int(pos.shape[1]) * patch_size
    return _config(LvmMedViTConfig, kwargs, overrides)


def nonfinite_keys(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an infinity."""
    return sorted(
        k for k, v in state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())
    )


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
    ``allow_partial``. The torchvision classifier (``fc.*``) is ignored and reported as such;
    BatchNorm's ``num_batches_tracked`` counters (absent from very old torchvision files) are not
    required.
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
    if detected == "cnn":
        model = LvmMedCnnModel(infer_cnn_config(sd, **config_overrides))
    else:
        model = LvmMedViTModel(infer_vit_config(sd, **config_overrides))
    report = load_into_model(model, sd, detected, allow_partial=allow_partial)
    report.stripped_prefixes = stripped
    report.nonfinite_keys = bad
    model.eval()
    return model, report


def default_image_processor(family: Family, image_size: int | None = None) -> LvmMedImageProcessor:
    """The preprocessing LVM-Med's downstream code uses: ImageNet statistics, 224 px by default."""
    size = image_size or 224
    return LvmMedImageProcessor(size={"height": size, "width": size})


def stock_image_processor(processor: LvmMedImageProcessor):
    """transformers' own ``ViTImageProcessor`` with the same size, mean, std, rescale and resampling.

    It handles 8-bit images (PIL or ``(H, W, 3)`` arrays, grayscale converted to RGB); the
    intensity window of CT / MR data is the user's step before it (``LvmMedImageProcessor`` does
    it itself). Loads where lvmmed_hf is not installed (``AutoImageProcessor`` picks the PIL or
    the torchvision backend of the same class).
    """
    from transformers.image_utils import PILImageResampling
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    size = dict(processor.size)
    if set(size) != {"height", "width"} or getattr(processor, "do_center_crop", False):
        raise ConversionError(
            f"The stock export needs a fixed (height, width) resize without crop; got size={size}."
        )
    return ViTImageProcessorPil(
        do_resize=True,
        size=size,
        resample=PILImageResampling.BILINEAR,
        do_rescale=True,
        rescale_factor=float(processor.rescale_factor),
        do_normalize=True,
        image_mean=list(processor.image_mean),
        image_std=list(processor.image_std),
        do_convert_rgb=True,
    )


# ----------------------------------------------------------------------------------------------
# Writing


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
    """Convert an authors' checkpoint into a Hugging Face folder.

    ``export="native"`` writes our classes (needs ``import lvmmed_hf`` to load); ``"stock"``
    transformers' own ``ResNetModel`` / ``SamVisionModel`` and ``ViTImageProcessor``; ``"remote"``
    our classes plus their code, loadable with ``trust_remote_code=True`` where this package is not
    installed; ``"timm"`` / ``"torchvision"`` (ResNets) the torchvision-layout state dict with the
    checkpoint's ``fc`` as ``model.safetensors`` and a minimal ``config.json``. Every export gets a
    model card (``README.md``) and ``conversion_report.json``.

    Everything is written into a staging folder first: on any error nothing is left behind, and an
    existing `output_dir` keeps its other files.
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
    report.stripped_prefixes = stripped + report.stripped_prefixes
    report.source = Path(checkpoint).name
    report.export = export
    processor = default_image_processor(report.family, image_size)
    with tempfile.TemporaryDirectory(prefix="lvmmed-convert-") as staging_name:
        staging = Path(staging_name)
        if export == "native":
            model.save_pretrained(staging)
            processor.save_pretrained(staging)
        elif export == "stock":
            export_to_stock(model, staging, image_size=image_size)
            if isinstance(model, LvmMedViTModel):
                size = image_size or model.config.image_size
                processor = default_image_processor("vit", size)
            stock_image_processor(processor).save_pretrained(staging)
        elif export == "remote":
            save_with_remote_code(model, staging, processor)
        else:
            classifier = {k: v for k, v in state_dict.items() if k.startswith(CNN_CLASSIFIER_PREFIX)}
            export_resnet_state_dict(
                model, staging, library=export, classifier=classifier, processor=processor
            )
        (staging / "conversion_report.json").write_text(
            json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8"
        )
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


# ----------------------------------------------------------------------------------------------
# Exports


def vit_at_image_size(model: LvmMedViTModel, image_size: int) -> LvmMedViTModel:
    """The same encoder made for `image_size` px: global-block tables and absolute positions resized.

    Resizing is the interpolation the model does at run time for that input size (SAM's rule), so
    the outputs at `image_size` px are unchanged; windowed blocks keep their tables. Needed where a
    consumer accepts only the configured size (transformers' ``SamVisionModel``).
    """
    config = LvmMedViTConfig(**{**model.config.to_dict(), "image_size": image_size})
    grid = image_size // config.patch_size
    resized = LvmMedViTModel(config).eval()
    state = {}
    for key, tensor in model.state_dict().items():
        match = re.match(r"blocks\.(\d+)\.attn\.rel_pos_[hw]$", key)
        if match and config.block_window_size(int(match.group(1))) == 0:
            tensor = resize_rel_pos(tensor, 2 * grid - 1).contiguous()
        elif key == "pos_embed":
            tensor = resize_abs_pos(tensor, (grid, grid)).contiguous()
        state[key] = tensor
    resized.load_state_dict(state, strict=True)
    return resized


def to_stock_model(model: LvmMedCnnModel | LvmMedViTModel, image_size: int | None = None) -> torch.nn.Module:
    """The same weights in transformers' own classes: ``ResNetModel`` or ``SamVisionModel``.

    ``SamVisionModel`` always has the neck (the released ViT has it) and accepts only inputs of its
    configured size: `image_size` (default: the model's native size) re-targets the encoder with
    :func:`vit_at_image_size`.
    """
    if isinstance(model, LvmMedCnnModel):
        from .conversion_cnn import export_to_transformers_resnet

        return export_to_transformers_resnet(model).eval()
    if isinstance(model, LvmMedViTModel):
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
    raise TypeError(f"Expected an LvmMedCnnModel or LvmMedViTModel, got {type(model).__name__}")


def export_to_stock(
    model: LvmMedCnnModel | LvmMedViTModel, output_dir: str | os.PathLike, image_size: int | None = None
) -> Path:
    """Save ``to_stock_model(model)`` with ``save_pretrained`` (no lvmmed_hf needed to load it)."""
    stock = to_stock_model(model, image_size=image_size)
    stock.save_pretrained(output_dir)
    return Path(output_dir)


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
    standard = [64 * expansion, 128 * expansion, 256 * expansion, 512 * expansion]
    name = RESNET_ARCHITECTURES.get((config.layer_type, tuple(config.depths)))
    if name is None or list(config.hidden_sizes) != standard or config.embedding_size != 64:
        raise ConversionError(
            f"No torchvision / timm counterpart for this ResNet (layer_type={config.layer_type}, "
            f"depths={list(config.depths)}, hidden_sizes={list(config.hidden_sizes)}, "
            f"embedding_size={config.embedding_size}); known: {sorted(RESNET_ARCHITECTURES.values())}."
        )
    return name


def export_resnet_state_dict(
    model: LvmMedCnnModel,
    output_dir: str | os.PathLike,
    library: Literal["timm", "torchvision"],
    classifier: Mapping[str, torch.Tensor] | None = None,
    processor: LvmMedImageProcessor | None = None,
) -> Path:
    """Write the torchvision-layout state dict that ``timm.create_model("resnet50")`` and
    torchvision's ``resnet50()`` load strictly, as ``model.safetensors`` + a minimal ``config.json``.

    timm's and torchvision's ResNets share the parameter names (``conv1``, ``bn1``,
    ``layerS.B.convK``, ``layerS.B.downsample.0/1``, ``fc``). `classifier`: the checkpoint's
    ``fc.weight`` / ``fc.bias`` (the released R50 carries an ImageNet classifier); without it the
    file has no ``fc`` and ``num_classes`` is 0 (timm: ``create_model(..., num_classes=0)``;
    torchvision: replace ``model.fc`` by ``nn.Identity()`` before loading).
    """
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
    processor = processor or default_image_processor("cnn")
    size = [int(processor.size["height"]), int(processor.size["width"])]
    preprocessing = {
        "input_size": [model.config.num_channels, *size],
        "interpolation": "bilinear",
        "mean": list(processor.image_mean),
        "std": list(processor.image_std),
        "crop_pct": 1.0,
    }
    if library == "timm":
        # The layout of the config.json timm writes next to its Hub weights.
        config = {
            "architecture": architecture,
            "num_classes": num_classes,
            "num_features": model.config.feature_dim,
            "global_pool": "avg",
            "pretrained_cfg": {
                **preprocessing,
                "num_classes": num_classes,
                "first_conv": "conv1",
                "classifier": "fc",
            },
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
    (output_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return output_dir


_LOCAL_IMPORT = re.compile(r"^(\s*from )(\.{1,2})(\w+)( import )", re.MULTILINE)


def _copy_remote_module(source: Path, output_dir: Path, done: set[str] | None = None) -> None:
    """Copy a module of this package into a flat remote-code folder, with the package modules it
    imports (``from .x`` in ``models/``, ``from ..x`` in the package root) rewritten to ``from .x``,
    the one form transformers' dynamic-module loader resolves next to the checkpoint."""
    done = set() if done is None else done
    if source.name in done:
        return
    done.add(source.name)
    text = source.read_text(encoding="utf-8")
    for _, dots, name, _ in _LOCAL_IMPORT.findall(text):
        base = source.parent if dots == "." else source.parent.parent
        dependency = base / f"{name}.py"
        if not dependency.is_file():
            raise ConversionError(f"{source.name} imports {dots}{name}, which is not a module file")
        _copy_remote_module(dependency, output_dir, done)
    flat = _LOCAL_IMPORT.sub(lambda m: f"{m.group(1)}.{m.group(3)}{m.group(4)}", text)
    (output_dir / source.name).write_text(flat, encoding="utf-8")


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
        _copy_remote_module(here / f"{module}.py", output_dir)
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
        _copy_remote_module(here / "image_processing_lvmmed.py", output_dir)
        proc_path = output_dir / "preprocessor_config.json"
        proc = json.loads(proc_path.read_text(encoding="utf-8"))
        proc["auto_map"] = {"AutoImageProcessor": "image_processing_lvmmed.LvmMedImageProcessor"}
        proc_path.write_text(json.dumps(proc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return output_dir


__all__ = [
    "EXPORTS",
    "ConversionError",
    "LoadReport",
    "convert_checkpoint",
    "convert_state_dict",
    "detect_family",
    "export_resnet_state_dict",
    "export_to_stock",
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
