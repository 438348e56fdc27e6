"""``GraphMatchingTrainer``: transformers' Trainer running the LVM-Med graph-matching loss."""

from __future__ import annotations

import logging
from functools import partial

import torch
from torch.optim.lr_scheduler import LambdaLR
from transformers import Trainer

from .callbacks import GpuMonitorCallback
from .views import TwoViewAugmentation

logger = logging.getLogger(__name__)


def _halving_factor(step: int, num_training_steps: int, num_halvings: int) -> float:
    phase = min(num_halvings, (step * (num_halvings + 1)) // max(1, num_training_steps))
    return 0.5**phase


def step_halving_schedule(optimizer, num_training_steps: int, num_halvings: int = 4) -> LambdaLR:
    """The paper's recipe "lr 2e-3, halved four times": ``num_halvings + 1`` equal phases, the
    learning rate halved at the start of each phase after the first."""
    return LambdaLR(
        optimizer, partial(_halving_factor, num_training_steps=num_training_steps, num_halvings=num_halvings)
    )


class GraphMatchingTrainer(Trainer):
    """Trainer for ``LvmMed*ForPretraining``.

    * ``compute_loss`` runs the model (its output carries the graph-matching loss); if the batch
      holds raw ``images`` + ``image_sizes`` (``GraphMatchingCollator(on_device=True)``) the two
      views are made here, on the training device.
    * Logs ``matching_accuracy`` (mean over the steps since the last log, averaged over processes)
      and ``solver_seconds`` (forward + backward solves per optimisation step, main process).
    * ``lr_halvings``: if set, the learning-rate schedule is :func:`step_halving_schedule`.
    * ``gpu_monitor``: adds :class:`GpuMonitorCallback` (a no-op without NVIDIA GPUs).

    TrainingArguments must have ``remove_unused_columns=False`` (the collator's keys are not model
    arguments of the dataset) and ``label_names=[]``.
    """

    # compute_loss returns a per-batch mean: let the Trainer divide by the accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        *args,
        view_augmentation: TwoViewAugmentation | None = None,
        lr_halvings: int | None = None,
        gpu_monitor: bool = True,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if self.args.remove_unused_columns:
            raise ValueError("GraphMatchingTrainer needs TrainingArguments(remove_unused_columns=False)")
        self.view_augmentation = view_augmentation or TwoViewAugmentation()
        self.lr_halvings = lr_halvings
        self._accuracy_sum = 0.0
        self._accuracy_count = 0
        self._solver_seconds_mark = 0.0
        self._steps_mark = 0
        if gpu_monitor:
            self.callback_handler.callbacks.insert(0, GpuMonitorCallback())

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_halvings is None:
            return super().create_scheduler(num_training_steps, optimizer)
        if self.lr_scheduler is None:
            self.lr_scheduler = step_halving_schedule(
                optimizer or self.optimizer, num_training_steps, self.lr_halvings
            )
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def _make_views(self, inputs: dict) -> dict:
        if "images" in inputs:
            inputs = dict(inputs)
            inputs.update(self.view_augmentation(inputs.pop("images"), inputs.pop("image_sizes", None)))
        return inputs

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**self._make_views(inputs), return_dict=True)
        if model.training:
            self._accuracy_sum += float(outputs.matching_accuracy)
            self._accuracy_count += 1
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            outputs = model(**self._make_views(inputs), return_dict=True)
        return outputs.loss.detach(), None, None

    def _graph_matching(self):
        model = self.accelerator.unwrap_model(self.model) if hasattr(self, "accelerator") else self.model
        return getattr(model, "graph_matching", None)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self._accuracy_count and "loss" in logs:
            mean = torch.tensor(self._accuracy_sum / self._accuracy_count, device=self.args.device)
            logs["matching_accuracy"] = round(float(self.accelerator.gather(mean.reshape(1)).mean()), 4)
            self._accuracy_sum, self._accuracy_count = 0.0, 0
            gm = self._graph_matching()
            steps = self.state.global_step - self._steps_mark
            if gm is not None and steps > 0:
                logs["solver_seconds"] = round((gm.timer.seconds - self._solver_seconds_mark) / steps, 5)
                self._solver_seconds_mark, self._steps_mark = gm.timer.seconds, self.state.global_step
        super().log(logs, start_time)


__all__ = ["GraphMatchingTrainer", "step_halving_schedule"]
