"""Local `evaluate` module; load it offline from its folder, never by Hub name:
``evaluate.load(lvmmed_hf.evaluation.metric_paths()["roc_auc"])``."""

from lvmmed_hf.evaluation.evaluate_metrics import RocAuc

__all__ = ["RocAuc"]
