"""Local `evaluate` module; load it by path: ``evaluate.load(metric_paths()["quadratic_kappa"])``."""

from lvmmed_hf.evaluation.evaluate_metrics import QuadraticKappa  # noqa: F401 (for evaluate.load)
