"""The configuration fields both LVM-Med families share: heads, pretraining options, backbone stages."""

from __future__ import annotations

from transformers.backbone_utils import BackboneConfigMixin
from transformers.configuration_utils import PreTrainedConfig


class LvmMedBaseConfig(BackboneConfigMixin, PreTrainedConfig):
    r"""
    Base of [`LvmMedCnnConfig`] and [`LvmMedViTConfig`]: the options of their heads.

    Args:
        classifier_hidden_sizes (`list[int]`, defaults to `[]`): hidden widths of the classification
            head. Empty gives a linear head (LVM-Med's "1-FCN"); e.g. `[512, 256]` its "multi-FCN".
        classifier_dropout (`float`, defaults to 0.0): dropout before every linear layer of the head.
        freeze_backbone (`bool`, defaults to `False`): linear evaluation; the backbone does not train.
        projection_dim (`int`, defaults to 128): pretraining heads: size of the projection
            z = h(avgpool(y)) the graph-matching loss runs on (paper: 128).
        projector_hidden_sizes (`list[int]`, defaults to `[]`): hidden widths of the projector h. Empty
            gives one Linear; e.g. `[2048]` an MLP with BatchNorm and ReLU.
        graph_matching (`dict`, defaults to `{}`): the graph-matching loss options, the fields of
            `lvmmed_hf.graph_matching.GraphMatchingLossConfig` (`dataclasses.asdict`); missing fields
            take its defaults. Its `embedding_dim`, if given, must equal `projection_dim`.
        out_features (`list[str]`, *optional*): maps a backbone returns, among `stage_names`
            (`"stem"`, `"stage1"`, ...; default: the last one).
        out_indices (`list[int]`, *optional*): the same as indices into `stage_names`.
    """

    classifier_hidden_sizes: list[int] | tuple[int, ...] = ()
    classifier_dropout: float = 0.0
    freeze_backbone: bool = False
    projection_dim: int = 128
    projector_hidden_sizes: list[int] | tuple[int, ...] = ()
    graph_matching: dict | None = None

    #: Fields stored as lists of ints (JSON has no tuples); each family adds its own.
    _int_list_fields = ("classifier_hidden_sizes", "projector_hidden_sizes")

    def __post_init__(self, **kwargs):
        for name in self._int_list_fields:
            setattr(self, name, [int(value) for value in getattr(self, name) or ()])
        self.projection_dim = int(self.projection_dim)
        self.graph_matching = dict(self.graph_matching or {})
        self._validate_architecture()
        if not 0.0 <= self.classifier_dropout < 1.0:
            raise ValueError(f"classifier_dropout must be in [0, 1), got {self.classifier_dropout}")
        self.check_graph_matching()
        self.stage_names = ["stem"] + [f"stage{idx}" for idx in range(1, self.num_stages + 1)]
        self.set_output_features_output_indices(
            out_indices=kwargs.pop("out_indices", None), out_features=kwargs.pop("out_features", None)
        )
        super().__post_init__(**kwargs)

    def _validate_architecture(self) -> None:
        """Raise ValueError on an impossible architecture (each family checks its own fields)."""

    @property
    def num_stages(self) -> int:
        """Stages after the stem (one per entry of `stage_names` but `"stem"`)."""
        raise NotImplementedError

    def check_graph_matching(self) -> None:
        """Refuse a `graph_matching.embedding_dim` other than `projection_dim`."""
        stored = (self.graph_matching or {}).get("embedding_dim")
        if stored is not None and int(stored) != int(self.projection_dim):
            raise ValueError(
                f"graph_matching.embedding_dim={stored} differs from projection_dim={self.projection_dim}: "
                "the loss runs on the projected embeddings, so both must be equal"
            )


__all__ = ["LvmMedBaseConfig"]
