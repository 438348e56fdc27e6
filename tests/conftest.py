"""Shared test configuration: offline, deterministic, small thread pools."""

import os

# No test may reach a hub: fail loudly instead of downloading.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

# pytest-xdist runs two workers on a 2-core machine: one intra-op thread each.
torch.set_num_threads(1)
