"""Builder discovery: script folders, the installed data_files location, broken scripts."""

from __future__ import annotations

import sys
from pathlib import Path

from _data_fixtures import BUILDER_SCRIPT

from lvmmed_hf.data.registry import available_sources, get_source, script_dirs


def test_repository_dataset_scripts_are_found():
    repo_scripts = Path(__file__).resolve().parents[2] / "dataset_scripts"
    assert repo_scripts.resolve() in script_dirs()


def test_scripts_installed_as_wheel_data_files_are_found(tmp_path, monkeypatch):
    """A wheel puts dataset_scripts/*.py under <prefix>/share/lvmmed_hf/dataset_scripts."""
    share = tmp_path / "prefix" / "share" / "lvmmed_hf" / "dataset_scripts"
    share.mkdir(parents=True)
    (share / "toy_sources.py").write_text(BUILDER_SCRIPT.replace('"toy_xray"', '"wheel_toy_xray"'))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))
    cls = get_source("wheel_toy_xray")
    assert cls.source_name == "wheel_toy_xray" and cls.modality == "X-ray"


def test_broken_script_does_not_hide_the_others(tmp_path, caplog):
    d = tmp_path / "s"
    d.mkdir()
    (d / "good.py").write_text(BUILDER_SCRIPT)
    (d / "broken.py").write_text("import does_not_exist_anywhere\n")
    (d / "_helpers.py").write_text("raise RuntimeError('helpers are not imported as builders')\n")
    names = available_sources([d])
    assert {"toy_ct", "toy_xray", "toy_mri", "embedded_pydicom"} <= set(names)
    assert "broken.py" in caplog.text and "_helpers" not in caplog.text


def test_embedded_corpus_is_registered_like_any_plug_in():
    """The embedded builders come through the ``lvmmed_hf.sources`` entry points (setup.cfg), and the
    registry imports no particular source (no import circle registry -> embedded -> prepare)."""
    import ast

    import lvmmed_hf.data.registry as registry

    refs = registry.discover_refs()
    for name in ("embedded_pydicom", "embedded_nilearn", "embedded_skimage"):
        assert refs[name].module_name == "lvmmed_hf.data.embedded" and refs[name].module_file is None
    tree = ast.parse(Path(registry.__file__).read_text())
    imported = {
        (node.module or "") + ":" + ",".join(a.name for a in node.names)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert not [m for m in imported if "embedded" in m or "prepare" in m], imported
    setup_cfg = (Path(__file__).resolve().parents[2] / "setup.cfg").read_text()
    assert "embedded_pydicom = lvmmed_hf.data.embedded:EmbeddedPydicom" in setup_cfg


def test_unknown_source_is_an_expected_error_naming_the_known_ones():
    import pytest

    from lvmmed_hf.cli import is_expected_error
    from lvmmed_hf.data.registry import UnknownSourceError

    with pytest.raises(UnknownSourceError, match="unknown source 'no_such_source'; known sources: .*kits19"):
        get_source("no_such_source")
    err = UnknownSourceError("unknown source 'x'")
    assert isinstance(err, KeyError) and is_expected_error(err) and str(err) == "unknown source 'x'"
