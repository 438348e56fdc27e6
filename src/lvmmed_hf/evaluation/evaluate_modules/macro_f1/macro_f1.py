"""Local `evaluate` module; load it offline from its folder, never by Hub name:
``evaluate.load(lvmmed_hf.evaluation.metric_paths()["macro_f1"])``."""

from lvmmed_hf.evaluation.evaluate_metrics import MacroF1

__all__ = ["MacroF1"]
