"""Evaluation for the LVM-Med downstream protocols: metrics (plain functions and local ``evaluate``
modules) and model cards."""

from . import metrics
from .metrics import *  # noqa: F403 (the names in metrics.__all__)

__all__ = list(metrics.__all__)
