"""The heads' options are declared fields of both config classes (one shared definition)."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest

from lvmmed_hf import LvmMedCnnConfig, LvmMedViTConfig
from lvmmed_hf.graph_matching.loss import GraphMatchingLossConfig
from lvmmed_hf.models.configuration_lvmmed_base import LvmMedBaseConfig
from lvmmed_hf.models.modeling_lvmmed_pretraining import graph_matching_config

HEAD_FIELDS = {"projection_dim": 128, "projector_hidden_sizes": [], "graph_matching": {}}
TINY = {
    LvmMedCnnConfig: dict(
        embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic"
    ),
    LvmMedViTConfig: dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        mlp_dim=64,
        image_size=64,
        global_attn_indexes=[1],
    ),
}


@pytest.mark.parametrize("config_class", [LvmMedCnnConfig, LvmMedViTConfig])
def test_loss_options_are_declared_documented_fields(config_class):
    declared = {f.name: f for f in dataclasses.fields(config_class)}
    parameters = inspect.signature(config_class).parameters
    for name in HEAD_FIELDS:
        assert name in declared and name in parameters, name
        # one definition, inherited by both families, documented there
        assert declared[name] is {f.name: f for f in dataclasses.fields(LvmMedBaseConfig)}[name]
        assert f"{name} (`" in LvmMedBaseConfig.__doc__
    assert issubclass(config_class, LvmMedBaseConfig)
    config = config_class(**TINY[config_class])
    assert {name: getattr(config, name) for name in HEAD_FIELDS} == HEAD_FIELDS


@pytest.mark.parametrize("config_class", [LvmMedCnnConfig, LvmMedViTConfig])
def test_loss_options_round_trip_and_old_files_load(config_class, tmp_path):
    options = dataclasses.asdict(GraphMatchingLossConfig(k=3, embedding_dim=16))
    config = config_class(
        **TINY[config_class], projection_dim=16, projector_hidden_sizes=[32], graph_matching=options
    )
    config.save_pretrained(tmp_path)
    stored = json.loads((tmp_path / "config.json").read_text())
    assert stored["projection_dim"] == 16 and stored["graph_matching"] == options
    loaded = config_class.from_pretrained(tmp_path)
    assert (loaded.projection_dim, loaded.projector_hidden_sizes, loaded.graph_matching) == (
        16,
        [32],
        options,
    )
    assert graph_matching_config(loaded) == GraphMatchingLossConfig(k=3, embedding_dim=16)

    # a config.json written before the fields were declared loads with their defaults
    for name in HEAD_FIELDS:
        del stored[name]
    (tmp_path / "config.json").write_text(json.dumps(stored))
    old = config_class.from_pretrained(tmp_path)
    assert {name: getattr(old, name) for name in HEAD_FIELDS} == HEAD_FIELDS
    assert graph_matching_config(old) == GraphMatchingLossConfig(embedding_dim=128)


@pytest.mark.parametrize("config_class", [LvmMedCnnConfig, LvmMedViTConfig])
def test_wrong_embedding_dim_is_refused(config_class):
    with pytest.raises(ValueError, match="graph_matching.embedding_dim=8 differs from projection_dim=16"):
        config_class(**TINY[config_class], projection_dim=16, graph_matching={"embedding_dim": 8})
    config = config_class(**TINY[config_class], projection_dim=16)
    config.graph_matching = {"embedding_dim": 8}  # changed after construction: still refused on use
    with pytest.raises(ValueError, match="differs from projection_dim"):
        graph_matching_config(config)
