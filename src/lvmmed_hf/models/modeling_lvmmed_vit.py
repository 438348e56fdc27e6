"""LVM-Med vision transformers: SAM's ViT image encoder as transformers models.

The module tree mirrors SAM's ``ImageEncoderViT`` (``patch_embed.proj``, ``pos_embed``,
``blocks.N.{norm1,attn.qkv,attn.proj,attn.rel_pos_h,attn.rel_pos_w,norm2,mlp.lin1,mlp.lin2}``,
``neck.0`` ... ``neck.3``), so LVM-Med's ``lvmmed_vit.pth`` loads 1:1 into [`LvmMedViTModel`] and,
under ``lvmmed.``, into the heads. Tokens travel channels-last ``(B, h, w, C)`` as in SAM; every
public output is channels-first ``(B, C, h, w)``. This file imports only torch, transformers and
its configuration, so it can be shipped as remote code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.backbone_utils import BackboneMixin
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BackboneOutput, BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, PreTrainedModel
from transformers.models.sam.modeling_sam import SamLayerNorm, SamMLPBlock

from .configuration_lvmmed_vit import LvmMedViTConfig


@dataclass
class LvmMedViTModelOutput(BaseModelOutputWithPooling):
    """Outputs of [`LvmMedViTModel`], all maps channels-first `(B, C, H/p, W/p)`.

    `last_hidden_state`: the last block's map before the neck (LVM-Med's classification protocol);
    `pooler_output` `(B, hidden_size)`: its mean over positions; `hidden_states`: the patch embedding
    (plus absolute positions) then every block's output; `attentions` (eager only): per block
    `(B * windows, heads, tokens, tokens)`; `neck_embeddings` (also `image_embeddings`): the neck's
    `output_channels` map that SAM's prompt encoder and mask decoder read, None without a neck.
    """

    neck_embeddings: torch.FloatTensor | None = None

    @property
    def image_embeddings(self) -> torch.FloatTensor | None:
        """SAM's name for `neck_embeddings`."""
        return self.neck_embeddings


def resize_rel_pos(rel_pos: torch.Tensor, length: int) -> torch.Tensor:
    """Resample a relative-position table ``(L, head_dim)`` to ``(length, head_dim)`` (SAM's rule:
    1-D linear, ``align_corners=False``); the table itself when the length already matches."""
    if rel_pos.shape[0] == length:
        return rel_pos
    return F.interpolate(rel_pos.t().unsqueeze(0), size=length, mode="linear").squeeze(0).t()


def relative_position_table(rel_pos: torch.Tensor, size: int) -> torch.Tensor:
    """Embedding of every (query, key) offset along an axis of ``size`` positions: ``(size, size, d)``."""
    coords = torch.arange(size, device=rel_pos.device)
    return resize_rel_pos(rel_pos, 2 * size - 1)[coords[:, None] - coords[None, :] + size - 1]


def resize_abs_pos(pos_embed: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Bicubically resample an absolute position embedding ``(1, H, W, C)`` to ``(1, *grid, C)``."""
    if tuple(pos_embed.shape[1:3]) == tuple(grid):
        return pos_embed
    resized = F.interpolate(pos_embed.permute(0, 3, 1, 2), size=grid, mode="bicubic", align_corners=False)
    return resized.permute(0, 2, 3, 1)


def window_partition(hidden_states: torch.Tensor, window_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """``(B, H, W, C)`` -> windows ``(B * nW, ws, ws, C)`` and the padded grid size; the grid is
    zero-padded at the bottom/right to a multiple of the window (SAM's rule)."""
    batch, height, width, channels = hidden_states.shape
    pad_h = (window_size - height % window_size) % window_size
    pad_w = (window_size - width % window_size) % window_size
    if pad_h or pad_w:
        hidden_states = F.pad(hidden_states, (0, 0, 0, pad_w, 0, pad_h))
    padded_h, padded_w = height + pad_h, width + pad_w
    windows = hidden_states.view(
        batch, padded_h // window_size, window_size, padded_w // window_size, window_size, channels
    )
    windows = windows.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size, window_size, channels)
    return windows, (padded_h, padded_w)


def window_unpartition(
    windows: torch.Tensor, window_size: int, padded_size: tuple[int, int], size: tuple[int, int]
) -> torch.Tensor:
    """Inverse of [`window_partition`]: ``(B * nW, ws, ws, C)`` back to ``(B, H, W, C)``, padding cut."""
    padded_h, padded_w = padded_size
    n_h, n_w = padded_h // window_size, padded_w // window_size
    batch = windows.shape[0] // (n_h * n_w)
    hidden_states = windows.view(batch, n_h, n_w, window_size, window_size, -1)
    hidden_states = hidden_states.permute(0, 1, 3, 2, 4, 5).reshape(batch, padded_h, padded_w, -1)
    return hidden_states[:, : size[0], : size[1], :]


class LvmMedViTPatchEmbed(nn.Module):
    """Non-overlapping patch projection: ``(B, C_in, H, W)`` pixels to ``(B, H/p, W/p, C)`` tokens."""

    def __init__(self, config: LvmMedViTConfig):
        super().__init__()
        self.proj = nn.Conv2d(
            config.num_channels, config.hidden_size, kernel_size=config.patch_size, stride=config.patch_size
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.proj(pixel_values).permute(0, 2, 3, 1)


# Largest relative-position bias (elements) materialised at once without autograd, per device type.
# Only global blocks on large grids need bands (a 1024-px image: 0.8 GB of fp32 bias per global
# block); smaller bands cost many small kernel calls, which measured slower on CPU.
_BIAS_CHUNK_ELEMENTS = {"cpu": 2**24, "default": 2**26}


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q k^T * scaling + mask) v`` with transformers' attention-interface signature:
    ``(B, heads, N, d)`` inputs, an additive ``(B, heads, N, N)`` mask; returns the output
    ``(B, N, heads, d)`` and the weights. Softmax in at least float32, as in SAM."""
    scores = torch.matmul(query * scaling, key.transpose(-2, -1))
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = F.softmax(scores, dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32))
    weights = weights.to(query.dtype)
    probs = F.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(probs, value).transpose(1, 2), weights


def _dense_bias(rel_h: torch.Tensor, rel_w: torch.Tensor) -> torch.Tensor:
    """Factors ``(B, heads, r, w, h_k)``, ``(B, heads, r, w, w_k)`` -> bias ``(B, heads, r*w, h_k*w_k)``."""
    return (rel_h.unsqueeze(-1) + rel_w.unsqueeze(-2)).flatten(-2).flatten(2, 3)


class LvmMedViTAttention(nn.Module):
    """Multi-head self-attention with SAM's decomposed relative position bias.

    The bias ``q_i . R_h[h(i) - h(j)] + q_i . R_w[w(i) - w(j)]`` (unscaled query, as in SAM) is
    added to the scaled scores. ``config._attn_implementation`` picks the kernel at every call:
    ``"sdpa"`` (default) hands the bias to ``scaled_dot_product_attention`` as an additive float
    mask (without autograd in bands of query rows of at most `_BIAS_CHUNK_ELEMENTS`); ``"eager"``
    computes the weights explicitly and can return them (`output_attentions`).
    """

    def __init__(self, config: LvmMedViTConfig, span: int):
        """`span`: side (in patches) of the square the position tables are made for."""
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.use_rel_pos = config.use_rel_pos
        if self.use_rel_pos:
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * span - 1, self.head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * span - 1, self.head_dim))

    def decomposed_rel_pos(
        self, query: torch.Tensor, height: int, width: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """For queries ``(B, heads, N, head_dim)`` on an (h, w) grid: ``rel_h`` ``(B, heads, h, w, h_k)``
        = q . R_h[h - h_k] and ``rel_w`` ``(B, heads, h, w, w_k)`` = q . R_w[w - w_k]."""
        table_h = relative_position_table(self.rel_pos_h, height).to(query.dtype)
        table_w = relative_position_table(self.rel_pos_w, width).to(query.dtype)
        grid_query = query.reshape(query.shape[0], self.num_heads, height, width, self.head_dim)
        # Contiguous, so that the broadcast sum built from them is contiguous too (the einsum outputs
        # are strided and a sum follows its inputs' layout): flattening it to (N, N) is then free.
        rel_h = torch.einsum("bnhwd,hkd->bnhwk", grid_query, table_h).contiguous()
        rel_w = torch.einsum("bnhwd,wkd->bnhwk", grid_query, table_w).contiguous()
        return rel_h, rel_w

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, h, w, C)`` tokens of one window (or the whole grid) to the same shape, and the
        attention weights ``(B, heads, h * w, h * w)`` when `output_attentions` (eager only)."""
        implementation = self.config._attn_implementation or "sdpa"
        if output_attentions and implementation != "eager":
            raise ValueError(
                f"output_attentions=True needs attn_implementation='eager' (this model runs "
                f"{implementation!r}, which never materialises the attention weights). Load the model "
                "with attn_implementation='eager' or call model.set_attn_implementation('eager')."
            )
        batch, height, width, channels = hidden_states.shape
        qkv = self.qkv(hidden_states).view(batch, height * width, 3, self.num_heads, self.head_dim)
        # Strided views, no copy: SDPA reads them as they are.
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        rel = self.decomposed_rel_pos(query, height, width) if self.use_rel_pos else None
        weights = None
        if implementation == "sdpa":
            attn = self._sdpa(query, key, value, rel).transpose(1, 2)
        else:
            interface = ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward)
            bias = _dense_bias(*rel) if rel is not None else None
            attn, weights = interface(self, query, key, value, bias, scaling=self.scaling)
        attn = attn.reshape(batch, height, width, channels)
        return self.proj(attn), (weights if output_attentions else None)

    def _sdpa(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        rel: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> torch.Tensor:
        """``scaled_dot_product_attention`` with the relative-position bias: ``(B, heads, N, d)``."""
        if rel is None:
            return F.scaled_dot_product_attention(query, key, value)
        rel_h, rel_w = rel
        batch, _, height, width, _ = rel_h.shape
        # Softmax is per query, so bands of query rows give the result of one N x N pass. With
        # autograd every band's bias would be kept for backward anyway: one pass.
        rows_per_band = height
        if not (torch.is_grad_enabled() and query.requires_grad):
            budget = _BIAS_CHUNK_ELEMENTS.get(query.device.type, _BIAS_CHUNK_ELEMENTS["default"])
            rows_per_band = max(1, budget // (batch * self.num_heads * width * height * width))
        bands = []
        for row in range(0, height, rows_per_band):
            stop = min(row + rows_per_band, height)
            bias = _dense_bias(rel_h[:, :, row:stop], rel_w[:, :, row:stop])
            band_query = query[:, :, row * width : stop * width]
            bands.append(F.scaled_dot_product_attention(band_query, key, value, attn_mask=bias))
        return bands[0] if len(bands) == 1 else torch.cat(bands, dim=2)


class LvmMedViTBlock(GradientCheckpointingLayer):
    """Pre-norm transformer block with windowed (``window_size > 0``) or global attention."""

    def __init__(self, config: LvmMedViTConfig, window_size: int):
        super().__init__()
        self.window_size = window_size
        span = window_size if window_size > 0 else config.image_size // config.patch_size
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attn = LvmMedViTAttention(config, span)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = SamMLPBlock(config)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, h, w, C)`` to ``(B, h, w, C)``, and the attention weights when asked (eager)."""
        shortcut = hidden_states
        hidden_states = self.norm1(hidden_states)
        height, width = hidden_states.shape[1:3]
        ws = self.window_size
        # A grid that is exactly one window needs no partition (SAM's 224-px case).
        windowed = ws > 0 and (height, width) != (ws, ws)
        if windowed:
            hidden_states, padded = window_partition(hidden_states, ws)
        hidden_states, weights = self.attn(hidden_states, output_attentions=output_attentions)
        if windowed:
            hidden_states = window_unpartition(hidden_states, ws, padded, (height, width))
        hidden_states = shortcut + hidden_states
        return hidden_states + self.mlp(self.norm2(hidden_states)), weights


class LvmMedViTPreTrainedModel(PreTrainedModel):
    config: LvmMedViTConfig
    config_class = LvmMedViTConfig
    base_model_prefix = "lvmmed"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _no_split_modules = ["LvmMedViTBlock"]
    _input_embed_layer = "patch_embed"  # get_input_embeddings(), also through the heads
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            init.trunc_normal_(module.weight, mean=0.0, std=std, a=-2 * std, b=2 * std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, LvmMedViTAttention):
            if module.use_rel_pos:
                init.zeros_(module.rel_pos_h)
                init.zeros_(module.rel_pos_w)
        elif isinstance(module, LvmMedViTModel):
            if module.pos_embed is not None:
                init.zeros_(module.pos_embed)
        else:
            # Modules of heads built on this base (e.g. BatchNorm in a projector, with its buffers).
            super()._init_weights(module)


class LvmMedViTModel(LvmMedViTPreTrainedModel):
    """SAM's ViT image encoder; returns a [`LvmMedViTModelOutput`].

    `pooler_output` (the mean of the map before the neck) is what LVM-Med's classification code
    uses; `neck_embeddings` (present with a neck) is what SAM's box-prompted segmentation reads.
    """

    def __init__(self, config: LvmMedViTConfig, add_neck: bool | None = None):
        """`add_neck` overrides `config.use_neck` (the heads build the encoder without it)."""
        super().__init__(config)
        self.patch_embed = LvmMedViTPatchEmbed(config)
        grid = config.image_size // config.patch_size
        self.pos_embed = (
            nn.Parameter(torch.zeros(1, grid, grid, config.hidden_size)) if config.use_abs_pos else None
        )
        self.blocks = nn.ModuleList(
            [LvmMedViTBlock(config, config.block_window_size(i)) for i in range(config.num_hidden_layers)]
        )
        self.neck = None
        if config.use_neck if add_neck is None else add_neck:
            channels, eps = config.output_channels, config.layer_norm_eps
            self.neck = nn.Sequential(
                nn.Conv2d(config.hidden_size, channels, kernel_size=1, bias=False),
                SamLayerNorm(channels, eps=eps, data_format="channels_first"),
                nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
                SamLayerNorm(channels, eps=eps, data_format="channels_first"),
            )
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | LvmMedViTModelOutput:
        """`pixel_values`: ``(B, num_channels, H, W)``, H and W multiples of `patch_size`."""
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if output_attentions is None:
            output_attentions = self.config.output_attentions
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.ndim != 4:
            got = tuple(pixel_values.shape) if torch.is_tensor(pixel_values) else type(pixel_values).__name__
            raise ValueError(f"pixel_values must be a (batch, channels, height, width) tensor, got {got}")
        channels, height, width = pixel_values.shape[1:]
        patch = self.config.patch_size
        if channels != self.config.num_channels:
            raise ValueError(
                f"pixel_values has {channels} channels but the model expects "
                f"num_channels={self.config.num_channels}"
            )
        if height % patch or width % patch or height == 0 or width == 0:
            raise ValueError(
                f"pixel_values spatial size {height}x{width} must be a non-zero multiple of "
                f"patch_size={patch} on both sides"
            )

        hidden_states = self.patch_embed(pixel_values)
        if self.pos_embed is not None:
            hidden_states = hidden_states + resize_abs_pos(self.pos_embed, tuple(hidden_states.shape[1:3]))
        all_hidden_states = (hidden_states.permute(0, 3, 1, 2),) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for block in self.blocks:
            hidden_states, weights = block(hidden_states, output_attentions=bool(output_attentions))
            if output_hidden_states:
                all_hidden_states += (hidden_states.permute(0, 3, 1, 2),)
            if output_attentions:
                all_attentions += (weights,)

        feature_map = hidden_states.permute(0, 3, 1, 2)
        output = LvmMedViTModelOutput(
            last_hidden_state=feature_map,
            pooler_output=feature_map.mean(dim=(2, 3)),
            hidden_states=all_hidden_states,
            attentions=all_attentions,
            neck_embeddings=self.neck(feature_map) if self.neck is not None else None,
        )
        return output if return_dict else output.to_tuple()


def _classification_loss(config: LvmMedViTConfig, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """transformers' convention: regression for one label, else single- or multi-label by dtype."""
    if config.problem_type is None:
        if config.num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if config.problem_type == "single_label_classification":
        return F.cross_entropy(logits.view(-1, config.num_labels), labels.view(-1))
    labels = labels.to(logits.dtype)
    if config.problem_type == "regression" and config.num_labels == 1:
        return F.mse_loss(logits.squeeze(-1), labels.squeeze(-1))
    if config.problem_type == "regression":
        return F.mse_loss(logits, labels)
    if config.problem_type == "multi_label_classification":
        return F.binary_cross_entropy_with_logits(logits, labels)
    raise ValueError(
        f"problem_type must be 'regression', 'single_label_classification' or 'multi_label_classification', "
        f"got {config.problem_type!r}"
    )


class LvmMedViTForImageClassification(LvmMedViTPreTrainedModel):
    """Encoder (without SAM's neck) + head on the pooled features before the neck (LVM-Med's protocol).

    The head is linear ("1-FCN") when `classifier_hidden_sizes` is empty, else an MLP (Dropout,
    Linear, ReLU per hidden size, then Dropout, Linear): LVM-Med's "multi-FCN". With
    `freeze_backbone` the encoder gets no gradients and runs without autograd.
    """

    # SAM's neck belongs to the segmentation protocol: a checkpoint's neck weights are not used here.
    _keys_to_ignore_on_load_unexpected = [r"neck\."]

    def __init__(self, config: LvmMedViTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.lvmmed = LvmMedViTModel(config, add_neck=False)
        layers: list[nn.Module] = []
        width = config.feature_dim
        for hidden in config.classifier_hidden_sizes:
            layers += [nn.Dropout(config.classifier_dropout), nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        if config.num_labels > 0:
            layers += [nn.Dropout(config.classifier_dropout), nn.Linear(width, config.num_labels)]
        self.classifier = nn.Sequential(*layers) if layers else nn.Identity()
        self.post_init()
        if config.freeze_backbone:
            self.freeze_backbone()

    def freeze_backbone(self) -> None:
        """Train only the head (linear evaluation). Sets ``config.freeze_backbone``."""
        self.config.freeze_backbone = True
        self.lvmmed.requires_grad_(False)

    def unfreeze_backbone(self) -> None:
        """Train the whole network again. Clears ``config.freeze_backbone``."""
        self.config.freeze_backbone = False
        self.lvmmed.requires_grad_(True)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        model = super().from_pretrained(*args, **kwargs)
        # Loading replaces the parameter objects (requires_grad back to True): freeze them again.
        if model.config.freeze_backbone:
            model.freeze_backbone()
        return model

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | ImageClassifierOutput:
        """`labels`: ``(B,)`` class indices, ``(B, num_labels)`` multi-hot, or ``(B,)`` regression floats."""
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_backbone):
            outputs = self.lvmmed(
                pixel_values,
                output_hidden_states=output_hidden_states,
                output_attentions=output_attentions,
                return_dict=True,
            )
        logits = self.classifier(outputs.pooler_output)
        loss = _classification_loss(self.config, logits, labels) if labels is not None else None
        output = ImageClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if return_dict else output.to_tuple()


class LvmMedViTBackbone(BackboneMixin, LvmMedViTPreTrainedModel):
    """Feature maps for detection / segmentation heads (UperNet, DETR, Mask2Former, ...).

    Stages: ``"stem"`` (patch embedding) and ``"stage1"`` ... ``"stage{L}"`` (block outputs), all
    ``(B, hidden_size, H/p, W/p)``. The neck is not part of the backbone (its weights are ignored).
    """

    has_attentions = True
    _keys_to_ignore_on_load_unexpected = [r"neck\."]

    def __init__(self, config: LvmMedViTConfig):
        super().__init__(config)
        self.lvmmed = LvmMedViTModel(config, add_neck=False)
        self.num_features = [config.hidden_size] * (config.num_hidden_layers + 1)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | BackboneOutput:
        """Returns `feature_maps`, one ``(B, hidden_size, H/p, W/p)`` map per entry of `out_features`."""
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        outputs = self.lvmmed(
            pixel_values, output_hidden_states=True, output_attentions=output_attentions, return_dict=True
        )
        maps = dict(zip(self.stage_names, outputs.hidden_states))
        output = BackboneOutput(
            feature_maps=tuple(maps[stage] for stage in self.stage_names if stage in self.out_features),
            hidden_states=outputs.hidden_states if output_hidden_states else None,
            attentions=outputs.attentions,
        )
        return output if return_dict else output.to_tuple()


__all__ = [
    "LvmMedViTModelOutput",
    "LvmMedViTPreTrainedModel",
    "LvmMedViTModel",
    "LvmMedViTForImageClassification",
    "LvmMedViTBackbone",
]
