"""Local `evaluate` module; load it offline from its folder, never by Hub name:
``evaluate.load(lvmmed_hf.evaluation.metric_paths()["quadratic_kappa"])``."""

from lvmmed_hf.evaluation.evaluate_metrics import QuadraticKappa

__all__ = ["QuadraticKappa"]
