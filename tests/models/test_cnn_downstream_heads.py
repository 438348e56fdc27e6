"""Our backbone inside transformers' task models through `backbone_config` (UperNet, DETR)."""

from __future__ import annotations

import torch
from transformers import DetrConfig, DetrForObjectDetection, UperNetConfig, UperNetForSemanticSegmentation

from lvmmed_hf import LvmMedCnnBackbone, LvmMedCnnConfig

TINY = dict(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic")


def _pixels(batch: int = 2, size: int = 64) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


def test_upernet_with_our_backbone_runs_trains_and_reloads(tmp_path):
    torch.manual_seed(0)
    backbone_config = LvmMedCnnConfig(**TINY, out_features=["stage1", "stage2", "stage3", "stage4"])
    config = UperNetConfig(
        backbone_config=backbone_config,
        hidden_size=16,
        auxiliary_in_channels=32,
        auxiliary_channels=8,
        num_labels=3,
        pool_scales=[1, 2],
    )
    model = UperNetForSemanticSegmentation(config)
    assert isinstance(model.backbone, LvmMedCnnBackbone)
    labels = torch.randint(0, 3, (2, 64, 64), generator=torch.Generator().manual_seed(1))
    model.train()
    out = model(_pixels(), labels=labels)
    assert out.logits.shape == (2, 3, 64, 64) and torch.isfinite(out.loss)
    out.loss.backward()
    assert model.backbone.lvmmed.conv1.weight.grad.abs().sum() > 0

    model.eval()
    model.save_pretrained(tmp_path)
    reloaded = UperNetForSemanticSegmentation.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded.backbone, LvmMedCnnBackbone)
    assert reloaded.config.backbone_config.model_type == "lvmmed_cnn"
    with torch.no_grad():
        torch.testing.assert_close(reloaded(_pixels()).logits, model(_pixels()).logits, rtol=0, atol=0)


def test_detr_with_our_backbone_is_not_frozen_and_reloads(tmp_path):
    torch.manual_seed(0)
    config = DetrConfig(
        use_timm_backbone=False,
        use_pretrained_backbone=False,
        backbone_config=LvmMedCnnConfig(**TINY, out_features=["stage4"]),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_queries=5,
        num_labels=2,
    )
    model = DetrForObjectDetection(config)
    backbone = model.model.backbone.model
    assert isinstance(backbone, LvmMedCnnBackbone)
    # DETR freezes backbones whose model_type contains "resnet"; ours must stay trainable
    assert all(p.requires_grad for p in backbone.parameters())

    pixels = _pixels()
    mask = torch.ones(2, 64, 64, dtype=torch.long)
    targets = [
        {"class_labels": torch.tensor([1]), "boxes": torch.tensor([[0.5, 0.5, 0.2, 0.3]])},
        {"class_labels": torch.tensor([0]), "boxes": torch.tensor([[0.3, 0.4, 0.1, 0.1]])},
    ]
    model.train()
    out = model(pixel_values=pixels, pixel_mask=mask, labels=targets)
    assert out.logits.shape == (2, 5, 3) and out.pred_boxes.shape == (2, 5, 4)
    out.loss.backward()
    assert backbone.lvmmed.layer1[0].conv1.weight.grad.abs().sum() > 0

    model.eval()
    model.save_pretrained(tmp_path)
    reloaded = DetrForObjectDetection.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded.model.backbone.model, LvmMedCnnBackbone)
    with torch.no_grad():
        a = model(pixel_values=pixels, pixel_mask=mask)
        b = reloaded(pixel_values=pixels, pixel_mask=mask)
    torch.testing.assert_close(b.logits, a.logits, rtol=0, atol=0)
    torch.testing.assert_close(b.pred_boxes, a.pred_boxes, rtol=0, atol=0)
