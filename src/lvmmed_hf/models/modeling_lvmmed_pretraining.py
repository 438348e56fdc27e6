"""LVM-Med graph-matching pretraining heads: backbone + projector + GCN + graph-matching loss.

``LvmMedCnnForPretraining`` / ``LvmMedViTForPretraining`` keep the backbone under ``lvmmed`` (the
families' ``base_model_prefix``), so a pretraining checkpoint loads into ``LvmMedCnnModel`` /
``LvmMedViTModel`` (and ``AutoModel``) with ``from_pretrained`` and the heads are dropped.

Extra config attributes (any ``LvmMedCnnConfig`` / ``LvmMedViTConfig`` accepts them as keyword
arguments and saves them in ``config.json``):

- ``projection_dim`` (int, 128): size of z = h(avgpool(y)) (paper: 128).
- ``projector_hidden_sizes`` (list[int], []): empty = one Linear (our default; the paper gives only
  the 2048x128 / 768x128 shape); e.g. ``[2048]`` = MLP with BatchNorm and ReLU.
- ``graph_matching`` (dict): the fields of :class:`~lvmmed_hf.graph_matching.GraphMatchingLossConfig`
  (graph size, k, alpha, lambda, Gumbel, ablation switches, solver, GCN width), exactly as that
  dataclass declares them (``dataclasses.asdict``); missing fields take the dataclass defaults.
  The model reads them once (:func:`graph_matching_config`) and never rewrites them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import ModelOutput

from ..graph_matching.loss import GraphMatchingLoss, GraphMatchingLossConfig
from .modeling_lvmmed_cnn import LvmMedCnnModel, LvmMedCnnPreTrainedModel
from .modeling_lvmmed_vit import LvmMedViTModel, LvmMedViTPreTrainedModel


@dataclass
class LvmMedPretrainingOutput(ModelOutput):
    """Output of the pretraining heads.

    loss: scalar mean Hamming loss per graph. matching_accuracy: fraction of nodes the solver matched
    to their own image. num_graphs: graphs in the batch. solver_seconds: wall time of the forward
    solve (the backward solve is timed by ``model.graph_matching.timer``). embeddings_s/_t: ``(B, d)``
    projections z of the two views.
    """

    loss: torch.FloatTensor | None = None
    matching_accuracy: torch.FloatTensor | None = None
    num_graphs: torch.LongTensor | None = None
    solver_seconds: torch.FloatTensor | None = None
    embeddings_s: torch.FloatTensor | None = None
    embeddings_t: torch.FloatTensor | None = None


def graph_matching_config(config) -> GraphMatchingLossConfig:
    """The loss options stored on a model config (``config.graph_matching``), as the dataclass.

    ``embedding_dim`` is the projector's output size: it always equals ``config.projection_dim``
    (a stored value that disagrees is refused).
    """
    options = dict(getattr(config, "graph_matching", None) or {})
    projection_dim = int(getattr(config, "projection_dim", 128))
    stored = options.pop("embedding_dim", projection_dim)
    if stored is not None and int(stored) != projection_dim:
        raise ValueError(
            f"graph_matching.embedding_dim={stored} differs from projection_dim={projection_dim}: "
            "the loss runs on the projected embeddings, so both must be equal"
        )
    return GraphMatchingLossConfig.from_dict({**options, "embedding_dim": projection_dim})


def build_projector(in_dim: int, config) -> nn.Module:
    """``h``: Linear ``in_dim -> projection_dim`` or an MLP (Linear-BN-ReLU blocks, then Linear)."""
    out_dim = int(getattr(config, "projection_dim", 128))
    hidden = [int(h) for h in (getattr(config, "projector_hidden_sizes", None) or [])]
    if not hidden:
        return nn.Linear(in_dim, out_dim)
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class _GraphMatchingPretrainingMixin:
    """forward shared by both families: one backbone pass over both views, then the loss."""

    def _init_heads(self, config) -> None:
        gm = graph_matching_config(config)
        self.projector = build_projector(config.feature_dim, config)
        self.graph_matching = GraphMatchingLoss(gm)

    def forward(
        self,
        pixel_values_s: torch.Tensor,
        pixel_values_t: torch.Tensor,
        boxes_s: torch.Tensor | None = None,
        boxes_t: torch.Tensor | None = None,
        return_dict: bool | None = None,
        generator: torch.Generator | None = None,
        **kwargs,
    ) -> LvmMedPretrainingOutput | tuple:
        r"""
        pixel_values_s, pixel_values_t (`torch.FloatTensor` of shape `(B, 3, H, W)`): the two views;
            row b of both is image b.
        boxes_s, boxes_t (`torch.FloatTensor` of shape `(B, 4)`): crop boxes of the views in normalised
            original-image coordinates (see `lvmmed_hf.training.views`); needed by the local term.
        generator (`torch.Generator`, *optional*): source of the Gumbel noise (on the device of
            the inputs); the Trainer passes one seeded per step so a resumed run draws the same noise.
        """
        if pixel_values_s.shape != pixel_values_t.shape:
            raise ValueError(
                "the two views must have the same shape, got "
                f"{tuple(pixel_values_s.shape)} and {tuple(pixel_values_t.shape)}"
            )
        return_dict = return_dict if return_dict is not None else getattr(self.config, "return_dict", True)
        batch = pixel_values_s.shape[0]
        # One pass over both views: BatchNorm statistics cover the 2B images of the local batch.
        features = self.lvmmed(torch.cat([pixel_values_s, pixel_values_t]), return_dict=True)
        y = features.last_hidden_state
        z = self.projector(features.pooler_output)
        out = self.graph_matching(
            z[:batch], z[batch:], y[:batch], y[batch:], boxes_s, boxes_t, generator=generator
        )
        result = LvmMedPretrainingOutput(
            loss=out.loss,
            matching_accuracy=out.matching_accuracy,
            num_graphs=torch.tensor(out.num_graphs),
            solver_seconds=torch.tensor(out.solver_seconds),
            embeddings_s=z[:batch],
            embeddings_t=z[batch:],
        )
        return result if return_dict else result.to_tuple()


class LvmMedCnnForPretraining(_GraphMatchingPretrainingMixin, LvmMedCnnPreTrainedModel):
    """LVM-Med graph-matching pretraining of the convolutional family (ResNet-50 in the paper)."""

    main_input_name = "pixel_values_s"

    def __init__(self, config):
        super().__init__(config)
        self.lvmmed = LvmMedCnnModel(config)
        self._init_heads(config)
        self.post_init()


class LvmMedViTForPretraining(_GraphMatchingPretrainingMixin, LvmMedViTPreTrainedModel):
    """LVM-Med graph-matching pretraining of the ViT family (SAM ViT-B image encoder)."""

    main_input_name = "pixel_values_s"

    def __init__(self, config):
        super().__init__(config)
        self.lvmmed = LvmMedViTModel(config)
        self._init_heads(config)
        self.post_init()


__all__ = [
    "LvmMedCnnForPretraining",
    "LvmMedViTForPretraining",
    "LvmMedPretrainingOutput",
    "build_projector",
    "graph_matching_config",
]
