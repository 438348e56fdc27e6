"""Local `evaluate` module; load it by path: ``evaluate.load(metric_paths()["dice"])``."""

from lvmmed_hf.evaluation.evaluate_metrics import Dice  # noqa: F401 (for evaluate.load)
