"""Local `evaluate` module: ROC AUC (binary, one-vs-rest macro).
Wraps ``lvmmed_hf.evaluation.metrics.roc_auc``.

Load it offline from its folder, never by Hub name::

    from lvmmed_hf.evaluation import metric_paths
    metric = evaluate.load(metric_paths()["roc_auc"])
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

_DESCRIPTION = """Area under the ROC curve (Mann-Whitney statistic, ties count one half); one-vs-rest macro
average for several classes."""

_KWARGS_DESCRIPTION = """Args:
    prediction_scores: (N,) positive-class scores or (N, C) class scores.
    references: (N,) integer labels.
    labels: optional class of each score column.
Returns:
    {'roc_auc': float}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RocAuc(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "prediction_scores": datasets.Sequence(datasets.Value("float64")),
                        "references": datasets.Value("int64"),
                    }
                ),
                datasets.Features(
                    {"prediction_scores": datasets.Value("float64"), "references": datasets.Value("int64")}
                ),
            ],
        )

    def _compute(self, prediction_scores, references, labels=None):
        return {"roc_auc": _m.roc_auc(references, prediction_scores, labels=labels)}
