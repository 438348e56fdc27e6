"""Local `evaluate` module: macro-averaged F1. Wraps ``lvmmed_hf.evaluation.metrics.macro_f1``.

Load it offline from its folder, never by Hub name::

    from lvmmed_hf.evaluation import metric_paths
    metric = evaluate.load(metric_paths()["macro_f1"])
"""

import datasets
import evaluate

from lvmmed_hf.evaluation import metrics as _m

_CITATION = """@inproceedings{nguyen2023lvmmed,
  title={LVM-Med: Learning Large-Scale Self-Supervised Vision Models for Medical Imaging via
         Second-order Graph Matching},
  author={Nguyen, Duy M. H. and others},
  booktitle={NeurIPS},
  year={2023}
}"""

_DESCRIPTION = (
    """Unweighted mean of per-class F1 scores (scikit-learn's f1_score(average='macro') semantics)."""
)

_KWARGS_DESCRIPTION = """Args:
    predictions: (N,) predicted labels.
    references: (N,) reference labels.
    labels: optional list of classes to average over (default: all seen).
Returns:
    {'macro_f1': float}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MacroF1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, labels=None):
        return {"macro_f1": _m.macro_f1(predictions, references, labels=labels)}
