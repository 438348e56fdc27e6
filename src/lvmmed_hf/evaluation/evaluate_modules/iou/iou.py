"""Local `evaluate` module: iou per class (2D slices or 3D volumes).
Wraps ``lvmmed_hf.evaluation.metrics.iou_per_class``.

Load it offline from its folder, never by Hub name::

    from lvmmed_hf.evaluation import metric_paths
    metric = evaluate.load(metric_paths()["iou"])
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

_DESCRIPTION = """IoU per class over integer label maps. Empty-reference convention as MONAI's default
(ignore_empty=True): a sample whose reference lacks a class scores NaN for it and is left out of the
means. Give volume_ids and slice_indices to stack slices into 3D volumes and score per volume."""

_KWARGS_DESCRIPTION = """Args:
    predictions: N label maps (H, W).
    references: N label maps (H, W).
    num_classes: C.
    ignore_empty: NaN-exclude empty references (default True); False: both empty = 1.0.
    ignore_index: reference label to ignore.
    volume_ids, slice_indices: optional, (N,) each: score 3D volumes stacked from slices.
Returns:
    {'mean_iou': float (mean over classes, NaN left out), 'per_class_iou': list of C floats}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class IoU(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Sequence(datasets.Value("int64"))),
                    "references": datasets.Sequence(datasets.Sequence(datasets.Value("int64"))),
                }
            ),
        )

    def _compute(
        self,
        predictions,
        references,
        num_classes,
        ignore_empty=True,
        ignore_index=None,
        volume_ids=None,
        slice_indices=None,
    ):
        if (volume_ids is None) != (slice_indices is None):
            raise ValueError("give both volume_ids and slice_indices for 3D evaluation, or neither")
        if volume_ids is not None:
            per_class = _m.volume_dice_iou(
                predictions, references, volume_ids, slice_indices, num_classes, ignore_empty, ignore_index
            )["iou_per_class"]
        else:
            per_class = _m.iou_per_class(predictions, references, num_classes, ignore_empty, ignore_index)
        return {"mean_iou": _m._nanmean(per_class), "per_class_iou": [float(x) for x in per_class]}
