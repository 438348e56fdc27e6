"""Local `evaluate` module; load it offline from its folder, never by Hub name:
``evaluate.load(lvmmed_hf.evaluation.metric_paths()["iou"])``."""

from lvmmed_hf.evaluation.evaluate_metrics import IoU

__all__ = ["IoU"]
