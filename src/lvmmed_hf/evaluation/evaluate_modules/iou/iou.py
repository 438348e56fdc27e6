"""Local `evaluate` module; load it by path: ``evaluate.load(metric_paths()["iou"])``."""

from lvmmed_hf.evaluation.evaluate_metrics import IoU  # noqa: F401 (for evaluate.load)
