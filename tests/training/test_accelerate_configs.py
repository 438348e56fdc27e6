"""The accelerate configs in training/: the CPU one really starts two ranks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

RANK_SCRIPT = """
import os
from transformers import TrainingArguments
import torch.distributed as dist

args = TrainingArguments(output_dir=os.environ["OUT_DIR"], use_cpu=True, report_to="none")
# one file per rank: two processes printing to one pipe can interleave their lines
line = f"rank={args.process_index} world={args.world_size} backend={dist.get_backend()}"
with open(os.path.join(os.environ["RANKS_DIR"], f"rank{args.process_index}.txt"), "w") as fh:
    fh.write(line)
"""


@pytest.mark.slow
def test_cpu_config_starts_two_gloo_ranks(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    ranks = tmp_path / "ranks"
    ranks.mkdir()
    accelerate = Path(sys.executable).with_name("accelerate")
    result = subprocess.run(
        [
            str(accelerate),
            "launch",
            "--config_file",
            str(REPO / "training" / "accelerate_config_cpu.yaml"),
            "--main_process_port",
            "29533",
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ, OMP_NUM_THREADS="1", OUT_DIR=str(tmp_path / "out"), RANKS_DIR=str(ranks)),
    )
    lines = sorted(p.read_text() for p in ranks.glob("rank*.txt"))
    # the old MULTI_CPU config started one process with no RANK / WORLD_SIZE
    assert lines == ["rank=0 world=2 backend=gloo", "rank=1 world=2 backend=gloo"], (
        result.stdout[-2000:] + result.stderr[-3000:]
    )


def test_fsdp_config_gathers_a_full_state_dict():
    config = yaml.safe_load((REPO / "training" / "accelerate_config_fsdp.yaml").read_text())
    assert config["distributed_type"] == "FSDP"
    assert config["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert config["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    ddp = yaml.safe_load((REPO / "training" / "accelerate_config.yaml").read_text())
    assert ddp["distributed_type"] == "MULTI_GPU"
