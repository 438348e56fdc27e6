"""Local `evaluate` module; load it by path: ``evaluate.load(metric_paths()["mean_average_precision"])``."""

from lvmmed_hf.evaluation.evaluate_metrics import MeanAveragePrecision  # noqa: F401 (for evaluate.load)
