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


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def run_tmp(tmp_path_factory):
    """A folder shared by every pytest-xdist worker of this run, and by this run only.

    With xdist each worker's base temp is ``.../pytest-N/popen-gwK``, so the run's folder is its
    parent; without xdist the base temp itself is the run's folder (its parent would be shared by
    every run of the user, and would serve stale data from an earlier checkout).
    """
    import os

    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
