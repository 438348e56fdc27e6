"""Local `evaluate` module: quadratic weighted Cohen's kappa.
Wraps ``lvmmed_hf.evaluation.metrics.quadratic_weighted_kappa``.

Load it offline from its folder, never by Hub name::

    from lvmmed_hf.evaluation import metric_paths
    metric = evaluate.load(metric_paths()["quadratic_kappa"])
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

_DESCRIPTION = """Cohen's kappa with quadratic weights, for ordinal grades (e.g. diabetic retinopathy 0-4)."""

_KWARGS_DESCRIPTION = """Args:
    predictions: (N,) predicted grades in [0, K).
    references: (N,) reference grades.
    num_classes: K (default: max label + 1).
Returns:
    {'quadratic_kappa': float}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class QuadraticKappa(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, num_classes=None):
        return {
            "quadratic_kappa": _m.quadratic_weighted_kappa(predictions, references, num_classes=num_classes)
        }
