"""Local `evaluate` module: mean average precision at an IoU threshold (default 0.5).
Wraps ``lvmmed_hf.evaluation.metrics.mean_average_precision``.

Load it offline from its folder, never by Hub name::

    from lvmmed_hf.evaluation import metric_paths
    metric = evaluate.load(metric_paths()["mean_average_precision"])
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

_DESCRIPTION = """PASCAL VOC (2010+) mean average precision with all-point interpolation;
boxes (x_min, y_min, x_max, y_max) in pixels."""

_KWARGS_DESCRIPTION = """Args:
    predictions: per image {'boxes': (P, 4), 'scores': (P,), 'labels': (P,)}.
    references: per image {'boxes': (R, 4), 'labels': (R,)}.
    iou_threshold: default 0.5.
Returns:
    {'map': float, 'ap_per_class': {class: AP}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MeanAveragePrecision(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": {
                        "boxes": datasets.Sequence(datasets.Sequence(datasets.Value("float64"))),
                        "scores": datasets.Sequence(datasets.Value("float64")),
                        "labels": datasets.Sequence(datasets.Value("int64")),
                    },
                    "references": {
                        "boxes": datasets.Sequence(datasets.Sequence(datasets.Value("float64"))),
                        "labels": datasets.Sequence(datasets.Value("int64")),
                    },
                }
            ),
        )

    def _compute(self, predictions, references, iou_threshold=0.5):
        ap = _m.average_precision_per_class(predictions, references, iou_threshold)
        return {"map": _m.mean_average_precision(predictions, references, iou_threshold), "ap_per_class": ap}
