"""transformers' Trainer for the graph-matching loss, its step free of host reads (checks at logging)."""

from __future__ import annotations

import hashlib
import logging
import math

import torch
from torch.optim.lr_scheduler import MultiStepLR
from transformers import Trainer

from .callbacks import GpuMonitorCallback
from .collator import make_views
from .views import TwoViewAugmentation

logger = logging.getLogger(__name__)


def step_halving_schedule(optimizer, num_training_steps: int, num_halvings: int = 4) -> MultiStepLR:
    """The paper's "lr 2e-3, halved four times": ``MultiStepLR`` (gamma 0.5) at the starts of phases
    2 .. ``num_halvings + 1`` of equal length (repeated milestones halve more than once: tiny runs)."""
    if num_halvings < 0:
        raise ValueError(f"num_halvings must be >= 0, got {num_halvings}")
    total = max(1, int(num_training_steps))
    milestones = [math.ceil(i * total / (num_halvings + 1)) for i in range(1, num_halvings + 1)]
    return MultiStepLR(optimizer, milestones=milestones, gamma=0.5)


def step_seed(seed: int, global_step: int, micro_step: int, process_index: int) -> int:
    """A 63-bit seed for one forward pass's random numbers (device views, Gumbel noise) from the run's
    seed, step, micro-step and process: a resumed run draws what the uninterrupted run drew."""
    digest = hashlib.blake2b(
        f"lvmmed-step:{seed}:{global_step}:{micro_step}:{process_index}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class GraphMatchingTrainer(Trainer):
    """Trainer for ``LvmMed*ForPretraining`` (``remove_unused_columns=False``): device views, a seeded
    generator per step (:func:`step_seed`), ``matching_accuracy`` / ``solver_seconds`` logs, loss checks."""

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
        if lr_halvings is not None and lr_halvings < 0:
            raise ValueError(f"lr_halvings must be >= 0 or None, got {lr_halvings}")
        self.view_augmentation = view_augmentation or TwoViewAugmentation()
        self.lr_halvings = lr_halvings
        self._accuracy_sum: torch.Tensor | None = None  # on the training device
        self._accuracy_count = 0
        self._solver_seconds_mark = 0.0
        self._steps_mark = 0
        self._micro = (-1, 0)  # (global step, micro-step) of the last forward pass
        if self.args.logging_nan_inf_filter and self.args.device.type == "cuda":
            logger.warning(
                "logging_nan_inf_filter=True synchronises the GPU with the host every step; "
                "PretrainingArguments turns it off (non-finite losses are reported at logging steps)"
            )
        if gpu_monitor:
            self.callback_handler.callbacks.insert(0, GpuMonitorCallback())

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_halvings is None:
            return super().create_scheduler(num_training_steps, optimizer)
        if self.lr_scheduler is None:
            optimizer = optimizer or self.optimizer
            self.lr_scheduler = step_halving_schedule(optimizer, num_training_steps, self.lr_halvings)
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def _step_generator(self, device: torch.device) -> torch.Generator:
        step = self.state.global_step
        micro = self._micro[1] + 1 if self._micro[0] == step else 0
        self._micro = (step, micro)
        seed = step_seed(self.args.seed, step, micro, self.args.process_index)
        return torch.Generator(device=device).manual_seed(seed)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        generator = None
        if model.training:
            tensors = (value for value in inputs.values() if isinstance(value, torch.Tensor))
            generator = self._step_generator(next((t.device for t in tensors), torch.device("cpu")))
        inputs = make_views(inputs, self.view_augmentation, generator=generator)
        outputs = model(**inputs, generator=generator, return_dict=True)
        if model.training and outputs.matching_accuracy is not None:
            # a tensor stays on its device: no host round trip until the next logging step
            value = torch.as_tensor(outputs.matching_accuracy).detach().to(dtype=torch.float32)
            self._accuracy_sum = value if self._accuracy_sum is None else self._accuracy_sum + value
            self._accuracy_count += 1
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            outputs = model(**make_views(inputs, self.view_augmentation), return_dict=True)
        return outputs.loss.detach(), None, None

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:
            self._add_graph_matching_logs(logs)
        super().log(logs, start_time)

    def _add_graph_matching_logs(self, logs: dict[str, float]) -> None:
        model = self.accelerator.unwrap_model(self.model) if hasattr(self, "accelerator") else self.model
        gm = getattr(model, "graph_matching", None)
        check = getattr(gm, "raise_if_nonfinite", None)  # deferred in sync-free mode: one host read
        if check is not None:
            check()
        if not math.isfinite(logs["loss"]):
            raise FloatingPointError(
                f"the training loss is {logs['loss']} over steps {self._steps_mark + 1}-"
                f"{self.state.global_step} (non-finite embeddings, affinities or a diverged model); "
                "lower the learning rate or resume from an earlier checkpoint"
            )
        if not self._accuracy_count:
            return
        mean = (self._accuracy_sum.to(self.args.device) / self._accuracy_count).reshape(1)
        logs["matching_accuracy"] = round(float(self.accelerator.gather(mean).mean()), 4)
        self._accuracy_sum, self._accuracy_count = None, 0
        steps = self.state.global_step - self._steps_mark
        timer = getattr(gm, "timer", None)
        if timer is not None and steps > 0:
            logs["solver_seconds"] = round((timer.seconds - self._solver_seconds_mark) / steps, 5)
            self._solver_seconds_mark = timer.seconds
        self._steps_mark = self.state.global_step
