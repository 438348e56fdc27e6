"""Local `evaluate` module; load it offline from its folder, never by Hub name:
``evaluate.load(lvmmed_hf.evaluation.metric_paths()["dice"])``."""

from lvmmed_hf.evaluation.evaluate_metrics import Dice

__all__ = ["Dice"]
