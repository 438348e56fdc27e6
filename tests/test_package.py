import subprocess
import sys

import lvmmed_hf
from lvmmed_hf.cli import SUBCOMMANDS, build_parser


def test_version_is_exposed():
    assert lvmmed_hf.__version__.count(".") >= 2


def test_cli_lists_every_subcommand():
    help_text = build_parser().format_help()
    for name in SUBCOMMANDS:
        assert name in help_text


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "lvmmed_hf.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "lvmmed" in out.stdout
