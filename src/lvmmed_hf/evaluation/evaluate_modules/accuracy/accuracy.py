"""Local `evaluate` module; load it by path: ``evaluate.load(metric_paths()["accuracy"])``."""

from lvmmed_hf.evaluation.evaluate_metrics import Accuracy  # noqa: F401 (for evaluate.load)
