"""Pretraining heads (save/load, backbone export), lr schedule, GPU callback, a Trainer run."""

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoModelForPreTraining, TrainingArguments

from lvmmed_hf import LvmMedCnnConfig, LvmMedCnnForPretraining, LvmMedCnnModel, LvmMedViTForPretraining
from lvmmed_hf.models.configuration_lvmmed_vit import LvmMedViTConfig
from lvmmed_hf.models.modeling_lvmmed_vit import LvmMedViTModel
from lvmmed_hf.training import (
    GpuMonitorCallback,
    GraphMatchingCollator,
    GraphMatchingTrainer,
    ViewAugmentationConfig,
    step_halving_schedule,
)

TINY = dict(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic")
TINY_VIT = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    mlp_dim=64,
    image_size=64,
    patch_size=8,
    window_size=4,
    global_attn_indexes=[1],
)


def _batch(b=16, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 3, size, size, generator=g)
    boxes = torch.tensor([0.0, 0.0, 1.0, 1.0]).repeat(b, 1)
    return dict(
        pixel_values_s=x, pixel_values_t=torch.randn(x.shape, generator=g), boxes_s=boxes, boxes_t=boxes
    )


@pytest.mark.parametrize("family", ["cnn", "vit"])
def test_pretraining_model_saves_loads_and_exports_its_backbone(tmp_path, family):
    torch.manual_seed(0)
    gm = {"gcn_hidden_dim": 16, "gumbel": False}
    if family == "cnn":
        model = LvmMedCnnForPretraining(LvmMedCnnConfig(**TINY, projection_dim=16, graph_matching=gm))
        base_cls = LvmMedCnnModel
    else:
        model = LvmMedViTForPretraining(LvmMedViTConfig(**TINY_VIT, projection_dim=16, graph_matching=gm))
        base_cls = LvmMedViTModel
    batch = _batch()
    out = model(**batch)
    assert (
        out.loss.ndim == 0 and out.loss > 0 and 0 <= out.matching_accuracy <= 1 and int(out.num_graphs) == 1
    )
    out.loss.backward()
    assert (
        model.lvmmed.patch_embed.proj.weight.grad.abs().sum() > 0
        if family == "vit"
        else model.lvmmed.conv1.weight.grad.abs().sum() > 0
    )
    model.save_pretrained(tmp_path / "pre")
    reloaded = AutoModelForPreTraining.from_pretrained(tmp_path / "pre")
    assert type(reloaded) is type(model)
    assert reloaded.config.projection_dim == 16 and reloaded.config.graph_matching["gcn_hidden_dim"] == 16
    model.eval()
    reloaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).embeddings_s, reloaded(**batch).embeddings_s)
    base = base_cls.from_pretrained(tmp_path / "pre")
    auto = AutoModel.from_pretrained(tmp_path / "pre")
    assert type(auto) is base_cls
    sd = model.lvmmed.state_dict()
    for name, value in base.state_dict().items():
        torch.testing.assert_close(value, sd[name])
    with torch.no_grad():
        torch.testing.assert_close(
            base(batch["pixel_values_s"]).pooler_output, model.lvmmed(batch["pixel_values_s"]).pooler_output
        )


def test_mlp_projector_and_ablation_options_reach_the_loss():
    model = LvmMedCnnForPretraining(
        LvmMedCnnConfig(
            **TINY,
            projection_dim=16,
            projector_hidden_sizes=[32],
            graph_matching={"second_order": False, "message_passing": False},
        )
    )
    assert isinstance(model.projector, torch.nn.Sequential) and model.projector[-1].out_features == 16
    assert model.graph_matching.gcn is None and not model.graph_matching.config.second_order
    with pytest.raises(ValueError, match="unknown graph-matching options"):
        LvmMedCnnForPretraining(LvmMedCnnConfig(**TINY, graph_matching={"lambda": 80}))


def test_step_halving_schedule_halves_four_times():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=2e-3)
    sched = step_halving_schedule(opt, num_training_steps=100, num_halvings=4)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 2e-3 and lrs[19] == 2e-3 and lrs[20] == 1e-3 and lrs[99] == 2e-3 / 16
    assert sorted(set(lrs), reverse=True) == [2e-3 / 2**i for i in range(5)]
    # torch's MultiStepLR, not a hand-written lambda
    assert isinstance(sched, torch.optim.lr_scheduler.MultiStepLR)


@pytest.mark.parametrize("total, halvings", [(7, 4), (3, 4), (100, 2), (1, 1), (50, 0)])
def test_step_halving_schedule_matches_equal_phases(total, halvings):
    """Closed form: at step s the lr is lr0 / 2^min(h, floor(s (h + 1) / N))."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = step_halving_schedule(opt, num_training_steps=total, num_halvings=halvings)
    for step in range(total):
        assert opt.param_groups[0]["lr"] == 0.5 ** min(halvings, step * (halvings + 1) // total), step
        opt.step()
        sched.step()


def test_gpu_monitor_is_silent_without_an_nvidia_gpu():
    cb = GpuMonitorCallback()
    logs = {"loss": 1.0}
    if cb.enabled:  # on a GPU machine the keys appear
        cb.on_log(None, type("S", (), {"is_world_process_zero": True})(), None, logs=logs)
        assert "gpu0_mem_used_gib" in logs
    else:
        cb.on_log(None, type("S", (), {"is_world_process_zero": True})(), None, logs=logs)
        assert logs == {"loss": 1.0}


def test_trainer_runs_logs_accuracy_and_solver_time_and_makes_views_on_device(tmp_path):
    import datasets
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray((rng.random((48, 40)) * 65535).astype(np.uint16)) for _ in range(32)]
    ds = datasets.Dataset.from_dict(
        {"image": images, "label": list(range(32))},
        features=datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")}),
    )
    torch.manual_seed(0)
    model = LvmMedCnnForPretraining(
        LvmMedCnnConfig(**TINY, projection_dim=16, graph_matching={"gcn_hidden_dim": 16})
    )
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=16,
        max_steps=4,
        logging_steps=2,
        remove_unused_columns=False,
        label_names=[],
        report_to="none",
        save_strategy="no",
        learning_rate=2e-3,
        use_cpu=True,
        dataloader_drop_last=True,
    )
    trainer = GraphMatchingTrainer(
        model=model,
        args=args,
        train_dataset=ds,
        lr_halvings=4,
        data_collator=GraphMatchingCollator(on_device=True, max_size=64),
        view_augmentation=None,
    )
    trainer.view_augmentation.config = ViewAugmentationConfig(size=32)
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2
    for entry in logs:
        assert 0.0 <= entry["matching_accuracy"] <= 1.0 and entry["solver_seconds"] > 0
    # step-halving schedule: every logged lr is 2e-3 / 2^k, decreasing
    rates = [entry["learning_rate"] for entry in logs]
    assert all(min(abs(r - 2e-3 / 2**k) for k in range(5)) < 1e-12 for r in rates) and rates[1] < rates[0]
    with pytest.raises(ValueError, match="remove_unused_columns=False"):
        GraphMatchingTrainer(
            model=model, args=TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
        )
