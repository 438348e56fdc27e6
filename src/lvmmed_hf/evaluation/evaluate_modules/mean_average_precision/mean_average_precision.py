"""Local `evaluate` module; load it offline from its folder, never by Hub name:
``evaluate.load(lvmmed_hf.evaluation.metric_paths()["mean_average_precision"])``."""

from lvmmed_hf.evaluation.evaluate_metrics import MeanAveragePrecision

__all__ = ["MeanAveragePrecision"]
