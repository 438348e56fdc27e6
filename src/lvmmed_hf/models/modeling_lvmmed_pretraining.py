"""LVM-Med graph-matching pretraining heads: backbone + projector + GCN + graph-matching loss.

The backbone sits under ``lvmmed`` (the families' ``base_model_prefix``), so a pretraining
checkpoint loads into ``LvmMedCnnModel`` / ``LvmMedViTModel`` (and ``AutoModel``) without the heads.
The heads' options are the config fields ``projection_dim``, ``projector_hidden_sizes`` and
``graph_matching`` (see :class:`~lvmmed_hf.models.configuration_lvmmed_base.LvmMedBaseConfig`).
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
    """Output of the pretraining heads: the mean Hamming loss per graph, the fraction of nodes matched
    to their own image, the number of graphs, the forward solve's wall time (the backward solve is
    timed by ``model.graph_matching.timer``) and the ``(B, d)`` projections z of the two views.
    """

    loss: torch.FloatTensor | None = None
    matching_accuracy: torch.FloatTensor | None = None
    num_graphs: torch.LongTensor | None = None
    solver_seconds: torch.FloatTensor | None = None
    embeddings_s: torch.FloatTensor | None = None
    embeddings_t: torch.FloatTensor | None = None


def graph_matching_config(config) -> GraphMatchingLossConfig:
    """``config.graph_matching`` as the dataclass, its ``embedding_dim`` = ``config.projection_dim``
    (a stored value that disagrees is refused). The config is read, never rewritten."""
    config.check_graph_matching()
    options = {**(config.graph_matching or {}), "embedding_dim": int(config.projection_dim)}
    return GraphMatchingLossConfig.from_dict(options)


class _GraphMatchingPretrainingMixin:
    """Heads and forward shared by both families: one backbone pass over both views, then the loss."""

    main_input_name = "pixel_values_s"

    def __init__(self, config):
        super().__init__(config)
        self.lvmmed = self._backbone_class(config)
        # h: Linear feature_dim -> projection_dim, or an MLP (Linear-BN-ReLU blocks, then Linear).
        layers: list[nn.Module] = []
        in_dim = config.feature_dim
        for width in config.projector_hidden_sizes or []:
            layers += [nn.Linear(in_dim, int(width)), nn.BatchNorm1d(int(width)), nn.ReLU(inplace=True)]
            in_dim = int(width)
        projection = nn.Linear(in_dim, int(config.projection_dim))
        self.projector = nn.Sequential(*layers, projection) if layers else projection
        self.graph_matching = GraphMatchingLoss(graph_matching_config(config))
        self.post_init()

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

    _backbone_class = LvmMedCnnModel


class LvmMedViTForPretraining(_GraphMatchingPretrainingMixin, LvmMedViTPreTrainedModel):
    """LVM-Med graph-matching pretraining of the ViT family (SAM ViT-B image encoder)."""

    _backbone_class = LvmMedViTModel


__all__ = [
    "LvmMedCnnForPretraining",
    "LvmMedViTForPretraining",
    "LvmMedPretrainingOutput",
    "graph_matching_config",
]
