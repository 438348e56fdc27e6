"""The package and its command line: version, lazy imports, Auto registration, one-line errors."""

import errno
import subprocess
import sys

import pytest

import lvmmed_hf
from lvmmed_hf.cli import SUBCOMMANDS, build_parser, is_expected_error, main

HEAVY = ("torch", "transformers", "datasets", "numpy", "sklearn")


def _run(*code_or_args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True, timeout=300)


def test_version_is_exposed():
    assert lvmmed_hf.__version__.count(".") >= 2


def test_version_flag():
    out = _run("-m", "lvmmed_hf.cli", "--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"lvmmed {lvmmed_hf.__version__}"


def test_cli_lists_every_subcommand():
    help_text = build_parser().format_help()
    for name in SUBCOMMANDS:
        assert name in help_text


def test_console_script_runs():
    out = _run("-m", "lvmmed_hf.cli", "--help")
    assert out.returncode == 0, out.stderr
    assert "lvmmed" in out.stdout


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"], ["sources", "--help"], ["--version"]])
def test_help_imports_no_heavy_library(argv):
    code = (
        "import sys\n"
        "from lvmmed_hf.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 'lvmmed_hf.commands.demo' in sys.modules  # the parser was really built\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    out = _run("-c", code)
    assert out.returncode == 0, out.stderr[-2000:]
    top_level = set(eval(out.stdout.strip().splitlines()[-1]))
    assert not top_level & set(HEAVY)


def test_import_registers_auto_classes_when_transformers_loads():
    code = (
        "import sys, lvmmed_hf\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "from transformers import AutoConfig, AutoModel\n"
        "model = AutoModel.from_config(AutoConfig.for_model('lvmmed_cnn', depths=[1, 1, 1, 1],"
        " hidden_sizes=[8, 8, 8, 8], embedding_size=8, layer_type='basic'))\n"
        "assert type(model).__name__ == 'LvmMedCnnModel', type(model)\n"
        "assert AutoConfig.for_model('lvmmed_vit').model_type == 'lvmmed_vit'\n"
    )
    out = _run("-c", code)
    assert out.returncode == 0, out.stderr[-3000:]


def test_import_after_transformers_registers_at_once():
    out = _run("-c", "import transformers, lvmmed_hf; transformers.AutoConfig.for_model('lvmmed_vit')")
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.slow
def test_every_module_the_registrations_import_can_be_imported_first():
    # Importing transformers runs the Auto registrations (``import lvmmed_hf.models``). A module that
    # the registrations import, and that imports transformers at its top, would find itself
    # half-initialised when imported first in a fresh process (``import lvmmed_hf.intensity`` did).
    listing = _run(
        "-c",
        "import sys, lvmmed_hf.models\nprint(sorted(m for m in sys.modules if m.startswith('lvmmed_hf.')))",
    )
    assert listing.returncode == 0, listing.stderr[-3000:]
    modules = eval(listing.stdout.strip().splitlines()[-1])
    assert "lvmmed_hf.intensity" in modules and "lvmmed_hf.models.modeling_lvmmed_vit" in modules
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import {name}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in modules
    }
    failures = {name: proc.communicate(timeout=600)[1][-500:] for name, proc in procs.items()}
    assert not {name: err for name, err in failures.items() if procs[name].returncode}


def test_lazy_names_match_the_models_module():
    import lvmmed_hf.models

    defined = {name for name in vars(lvmmed_hf.models) if name.startswith("LvmMed")}
    assert set(lvmmed_hf._MODEL_NAMES) == defined == set(lvmmed_hf.models.__all__)
    assert lvmmed_hf.LvmMedCnnModel is lvmmed_hf.models.LvmMedCnnModel
    with pytest.raises(AttributeError, match="no attribute 'NotAModel'"):
        _ = lvmmed_hf.NotAModel


def test_expected_error_is_one_line_and_exit_code_2(capsys):
    assert main(["demo", "--max-steps", "0"]) == 2
    err = capsys.readouterr().err
    assert err == "lvmmed demo: error: --max-steps must be >= 1, got 0\n"


def test_output_path_under_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["sources", "--markdown", "--out", str(blocker / "sub" / "sources.md")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and str(blocker) in err


def test_debug_shows_the_traceback():
    with pytest.raises(ValueError, match="--max-steps must be >= 1"):
        main(["--debug", "demo", "--max-steps", "0"])


def test_expected_error_classes():
    from lvmmed_hf.errors import LvmMedUserError

    class UnknownSource(LvmMedUserError):
        pass

    assert is_expected_error(UnknownSource("no such source"))
    assert is_expected_error(FileNotFoundError(errno.ENOENT, "No such file", "x"))
    assert is_expected_error(IsADirectoryError(errno.EISDIR, "Is a directory", "x"))
    assert is_expected_error(OSError(errno.ENOSPC, "No space left on device"))
    assert is_expected_error(ValueError("bad option"))
    # Bugs keep their traceback.
    assert not is_expected_error(RuntimeError("bug"))
    assert not is_expected_error(KeyError("k"))
    assert not is_expected_error(OSError(errno.EIO, "I/O error"))


def test_demo_flags_default_to_the_demo_config():
    from lvmmed_hf.commands.demo import config_from_args
    from lvmmed_hf.downstream.demo import DemoConfig

    args = build_parser().parse_args(["demo"])
    assert config_from_args(args) == DemoConfig()


# ----------------------------------------------------------------------------- repository documents

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    lines = [
        line for line in readme.splitlines() if "pytest" in line and line.startswith("bash scripts/setup.sh")
    ]
    assert lines, "README lost its test command"
    return lines[0]


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert "lvmmed demo" in first_block and _readme_test_command() in first_block


def test_ci_lints_before_running_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = _readme_test_command()
    assert test_cmd in ci
    assert ci.index("ruff check .") < ci.index(test_cmd)
    assert ci.index("ruff format --check .") < ci.index(test_cmd)
    assert "ruff" in (ROOT / "setup.cfg").read_text()


def test_documents_link_to_existing_files_and_hold_no_machine_paths():
    import re

    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert not (ROOT / "docs" / "CONTRIBUTING-internal.md").exists()
    assert (ROOT / "docs" / "method.md").is_file()
    for page in pages:
        text = page.read_text()
        # machine paths of a build or home folder (written split so this file holds none itself)
        assert not re.search("/" + "(work|home|root)/", text), page
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
