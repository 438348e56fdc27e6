"""Local `evaluate` module; load it by path: ``evaluate.load(metric_paths()["macro_f1"])``."""

from lvmmed_hf.evaluation.evaluate_metrics import MacroF1  # noqa: F401 (for evaluate.load)
