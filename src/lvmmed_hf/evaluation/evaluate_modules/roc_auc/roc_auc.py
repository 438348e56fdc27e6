"""Local `evaluate` module; load it by path: ``evaluate.load(metric_paths()["roc_auc"])``."""

from lvmmed_hf.evaluation.evaluate_metrics import RocAuc  # noqa: F401 (for evaluate.load)
