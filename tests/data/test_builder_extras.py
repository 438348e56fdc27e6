"""Extra columns of a builder: Image extras stored as bytes, and extras in the resume plan."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from lvmmed_hf.data.prepare import prepare_source

SCRIPT = textwrap.dedent(
    """
    import datasets
    from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record


    class ToyMasks(LvmMedSourceBuilder):
        source_name = "toy_masks"
        description = "images with optional masks"
        homepage = "https://example.org"
        license = "CC0"
        access = "tests"
        citation = ""
        modality = "ultrasound"
        organ = "fetal head"
        dimensionality = "2d"
        split_rule = "official_train"
        layout = "images/<n>.png + masks/<n>.png"
        extra_features = {"mask": datasets.Image()}

        def iter_records(self, data_dir):
            for p in sorted(data_dir.glob("images/*.png")):
                mask = data_dir / "masks" / p.name
                yield Record(paths=p, patient_id=p.stem, extras={"mask": mask} if mask.is_file() else {})
    """
)


def _write(root: Path, n: int, with_masks: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    masks = {}
    for i in range(n):
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(root / "images" / f"{i:03d}.png")
        if with_masks:
            (root / "masks").mkdir(parents=True, exist_ok=True)
            masks[f"{i:03d}"] = (rng.random((16, 16)) > 0.5).astype(np.uint8)
            Image.fromarray(masks[f"{i:03d}"]).save(root / "masks" / f"{i:03d}.png")
    return masks


def _load(out: Path, tmp_path: Path, tag: str) -> datasets.Dataset:
    return datasets.load_dataset(
        str(out), "toy_masks", split="train", cache_dir=str(tmp_path / f"cache_{tag}")
    )


def test_image_extras_are_stored_as_bytes_not_paths(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "toy_masks.py").write_text(SCRIPT)
    raw = tmp_path / "raw"
    masks = _write(raw, 3, with_masks=True)
    out = tmp_path / "out"
    prepare_source("toy_masks", raw, out, scripts_dirs=[scripts])
    shutil.rmtree(raw)  # the prepared dataset must not need the raw folder any more
    ds = _load(out, tmp_path, "a")
    assert len(ds) == 3
    for ex in ds:
        np.testing.assert_array_equal(np.asarray(ex["mask"]), masks[Path(ex["original_path"]).stem])


class _Interrupt(Exception):
    pass


def test_masks_added_before_a_resume_are_not_lost(tmp_path):
    """An interrupted run resumes its plan only if the records are the same, extras included."""
    import pytest

    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "toy_masks.py").write_text(SCRIPT)
    raw = tmp_path / "raw"
    _write(raw, 4, with_masks=False)
    out = tmp_path / "out"

    def crash_at_3rd(source, task, n, seen=[]):  # noqa: B006 (a counter local to this test)
        seen.append(task)
        if len(seen) == 3:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        prepare_source(
            "toy_masks", raw, out, scripts_dirs=[scripts], records_per_shard=1, on_example=crash_at_3rd
        )
    # The masks arrive before the resume (a second download into the same folder).
    shutil.rmtree(raw)
    masks = _write(raw, 4, with_masks=True)
    prepare_source("toy_masks", raw, out, scripts_dirs=[scripts], records_per_shard=1)
    ds = _load(out, tmp_path, "b")
    assert len(ds) == 4
    for ex in ds:  # every example, also those of shards finished before the interruption, has its mask
        assert ex["mask"] is not None, ex["original_path"]
        np.testing.assert_array_equal(np.asarray(ex["mask"]), masks[Path(ex["original_path"]).stem])


def test_builder_modules_keep_the_standard_library_paths(tmp_path):
    """datasets swaps Path/open/os.path for URL-aware wrappers (a URL parse per call) in the modules
    of a builder's classes unless they are marked; every builder module is: raw folders are local."""
    import os
    import pathlib
    import sys

    from lvmmed_hf.data.builder import LvmMedSourceBuilder
    from lvmmed_hf.data.registry import get_source

    for name in ("shenzhen_cxr", "tcga_kirc"):  # a plain script, and one on the TCIA layout base
        cls = get_source(name)
        (tmp_path / name).mkdir()
        cls(cache_dir=str(tmp_path / "cache"), data_dir=str(tmp_path / name))
        for klass in cls.__mro__:
            if issubclass(klass, LvmMedSourceBuilder):
                module = sys.modules[klass.__module__]
                assert module._patched_for_streaming is True, klass.__module__
                assert getattr(module, "Path", pathlib.Path) is pathlib.Path
                assert getattr(module, "os", os) is os
