"""Detection recipe: LVM-Med CNN as the backbone of (Conditional) DETR, trained, saved, reloaded, mAP@0.5."""

import json

import numpy as np
import pytest
import torch
from transformers import ConditionalDetrForObjectDetection, DetrForObjectDetection

import lvmmed_hf
from lvmmed_hf.downstream.detection import (
    DetectionArguments,
    build_detector,
    coco_dataset,
    evaluate_detector,
    make_detection_transform,
    run_detection,
)

TINY = dict(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic")
HEADS = dict(num_queries=10, d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=64)


@pytest.fixture
def backbone_dir(tmp_path):
    torch.manual_seed(0)
    bb = lvmmed_hf.LvmMedCnnModel(lvmmed_hf.LvmMedCnnConfig(**TINY))
    bb.save_pretrained(tmp_path / "bb")
    return tmp_path / "bb", bb


def test_coco_categories_are_renumbered(coco_folder):
    ds, names = coco_dataset(coco_folder / "train.json", coco_folder / "images")
    assert names == ["bright", "dark"]  # sorted by COCO id: 7, 9
    assert len(ds) == 12 and set(ds[1]["objects"]["category"]) == {0, 1}


@pytest.mark.parametrize(
    "detector,cls",
    [("conditional_detr", ConditionalDetrForObjectDetection), ("detr", DetrForObjectDetection)],
)
def test_detection_recipe_end_to_end(coco_folder, backbone_dir, tmp_path, detector, cls, tiny_training_args):
    bb_dir, bb = backbone_dir
    out = tmp_path / detector
    args = DetectionArguments(
        backbone=str(bb_dir),
        detector=detector,
        annotations_file=str(coco_folder / "train.json"),
        image_dir=str(coco_folder / "images"),
        image_size=64,
        validation_fraction=0.25,
        **HEADS,
    )
    targs = tiny_training_args(out)
    results = run_detection(args, targs)
    map50 = results["results"][0]["metrics"]["map50"]
    assert 0.0 <= map50 <= 1.0
    # Reload the saved detector and recompute mAP on the same held-out images: identical.
    reloaded = cls.from_pretrained(out)
    assert isinstance(reloaded.model.backbone.model, lvmmed_hf.LvmMedCnnBackbone)
    from datasets import DatasetDict

    from lvmmed_hf.downstream.data import ensure_splits

    ds, _ = coco_dataset(coco_folder / "train.json", coco_folder / "images")
    val = ensure_splits(DatasetDict({"train": ds}), 0.25, None, 0)["validation"]
    processor = lvmmed_hf.LvmMedImageProcessor.from_pretrained(out)
    again = evaluate_detector(reloaded, val.with_transform(make_detection_transform(processor)))
    assert again["map50"] == pytest.approx(map50)
    assert json.loads((out / "results.json").read_text())["results"][0]["metrics"]["map50"] == pytest.approx(
        map50
    )


def test_backbone_weights_loaded_and_trainable(backbone_dir):
    bb_dir, bb = backbone_dir
    model = build_detector(
        str(bb_dir),
        2,
        detector="detr",
        num_queries=5,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
    )
    got = model.model.backbone.model.lvmmed.state_dict()
    for k, v in bb.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue  # DETR's frozen BatchNorm keeps no counter
        assert torch.equal(got[k], v), k
    assert any(p.requires_grad for p in model.model.backbone.parameters())


# ----------------------------------------------------------------------------- boxes and perfect predictors


def test_coco_box_conversions_closed_form_and_round_trip():
    from transformers.image_transforms import center_to_corners_format

    from lvmmed_hf.downstream.detection import coco_to_corners, coco_to_normalised_center

    # COCO boxes are (x, y, w, h) from the top-left corner (cocodataset.org/#format-data): the
    # centre is (x + w / 2, y + h / 2). Image 100 px wide, 200 px high.
    boxes = np.array([[10.0, 20.0, 30.0, 40.0], [0.0, 0.0, 100.0, 200.0]])
    np.testing.assert_allclose(coco_to_corners(boxes), [[10, 20, 40, 60], [0, 0, 100, 200]])
    center = coco_to_normalised_center(boxes, 100, 200)
    np.testing.assert_allclose(center, [[0.25, 0.2, 0.3, 0.2], [0.5, 0.5, 1.0, 1.0]], rtol=1e-6)
    # cxcywh -> xyxy (transformers) -> xywh gives the COCO boxes back.
    corners = center_to_corners_format(center) * np.array([100, 200, 100, 200])
    np.testing.assert_allclose(
        np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], 1), boxes, atol=1e-4
    )


class _PerfectDetector(torch.nn.Module):
    """Returns, image after image, the reference boxes written from the COCO annotations by their
    own formula (not the recipe's conversion), each with its right class at a confident score."""

    def __init__(self, objects, sizes, num_labels, model_type, num_queries=4):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.config = type("Cfg", (), {"model_type": model_type})()
        self.queue = list(zip(objects, sizes))
        self.num_labels, self.num_queries = num_labels, num_queries

    def forward(self, pixel_values, pixel_mask=None):
        n = pixel_values.shape[0]
        extra = 1 if self.config.model_type == "detr" else 0  # DETR's trailing "no object" class
        logits = torch.full((n, self.num_queries, self.num_labels + extra), -10.0)
        boxes = torch.full((n, self.num_queries, 4), 0.5)
        if extra:
            logits[..., -1] = 10.0  # unused queries: "no object"
        for i in range(n):
            obj, (w, h) = self.queue.pop(0)
            for q, ((x, y, bw, bh), c) in enumerate(zip(obj["bbox"], obj["category"])):
                boxes[i, q] = torch.tensor([(x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h])
                logits[i, q, c] = 10.0
                if extra:
                    logits[i, q, -1] = -10.0
        return type("Out", (), {"logits": logits, "pred_boxes": boxes})()


@pytest.mark.parametrize("model_type", ["detr", "conditional_detr"])
def test_perfect_detector_scores_map_one_through_the_recipe(model_type):
    from datasets import Dataset
    from datasets import Image as ImageFeature
    from PIL import Image

    w, h = 80, 48  # not square: an x / y mix-up cannot hide
    objects = [
        {"bbox": [[4.0, 6.0, 20.0, 10.0], [50.0, 20.0, 25.0, 20.0]], "category": [0, 1]},
        {"bbox": [[30.0, 2.0, 10.0, 30.0]], "category": [1]},
        {"bbox": [[0.0, 0.0, 80.0, 48.0]], "category": [0]},
    ]
    images = [Image.fromarray(np.zeros((h, w, 3), np.uint8))] * len(objects)
    ds = Dataset.from_dict({"image": images, "objects": objects}).cast_column("image", ImageFeature())
    processor = lvmmed_hf.LvmMedImageProcessor(size={"height": 32, "width": 32})
    model = _PerfectDetector(objects, [(w, h)] * len(objects), 2, model_type)
    scores = evaluate_detector(model, ds.with_transform(make_detection_transform(processor)), batch_size=2)
    assert scores["map50"] == pytest.approx(1.0)
    assert scores["ap50_per_class"] == {0: pytest.approx(1.0), 1: pytest.approx(1.0)}
