"""Trainer callbacks: GPU memory and utilisation in the logs (NVML via nvidia-ml-py)."""

from __future__ import annotations

import logging

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


class GpuMonitorCallback(TrainerCallback):
    """Adds ``gpu{i}_mem_used_gib``, ``gpu{i}_mem_total_gib`` and ``gpu{i}_util_pct`` for every
    NVIDIA device of the node to each log (main process only).

    Silently disabled when ``pynvml`` is missing or NVML cannot start (no NVIDIA driver / GPU).
    Insert it before the reporting callbacks so the reporters see the keys
    (:class:`~lvmmed_hf.training.trainer.GraphMatchingTrainer` does this).
    """

    def __init__(self) -> None:
        self.handles: list = []
        self._nvml = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            self._nvml = pynvml
        except Exception as err:  # ImportError or an NVMLError subclass: no NVIDIA GPU here
            logger.debug("GPU monitoring off: %s", err)
            self.handles = []

    @property
    def enabled(self) -> bool:
        return bool(self.handles)

    def snapshot(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for i, handle in enumerate(self.handles):
            try:
                mem = self._nvml.nvmlDeviceGetMemoryInfo(handle)
                util = self._nvml.nvmlDeviceGetUtilizationRates(handle)
            except Exception as err:  # a device can vanish (reset, MIG change): stop quietly
                logger.debug("GPU %d monitoring failed: %s", i, err)
                continue
            out[f"gpu{i}_mem_used_gib"] = round(mem.used / 2**30, 3)
            out[f"gpu{i}_mem_total_gib"] = round(mem.total / 2**30, 3)
            out[f"gpu{i}_util_pct"] = float(util.gpu)
        return out

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.enabled and logs is not None and state.is_world_process_zero:
            logs.update(self.snapshot())
