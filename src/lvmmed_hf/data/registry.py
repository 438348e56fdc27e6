"""Finding source builders by name: dataset script folders, then the ``lvmmed_hf.sources`` entry
points (search order in docs/data.md, "How builders are found"). The first definition of a name
wins; a script that fails to import is logged and skipped."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import operator
import os
import site
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from ..errors import LvmMedUserError
from .builder import LvmMedSourceBuilder

logger = logging.getLogger(__name__)

ENV_VAR = "LVMMED_DATASET_SCRIPTS"
ENTRY_POINT_GROUP = "lvmmed_hf.sources"
_MODULE_PREFIX = "lvmmed_hf_dataset_scripts"
Dirs = Sequence[str | os.PathLike]


class UnknownSourceError(LvmMedUserError, KeyError):
    """No builder is registered under the requested source name (a ``KeyError`` shown as one line)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclass(frozen=True)
class BuilderRef:
    """Where a builder class comes from, so a worker process can import it again (pickle-free)."""

    source_name: str
    module_file: str | None  # a dataset script, imported by path
    module_name: str  # an importable module (embedded, plug-ins)
    qualname: str

    def load(self) -> type[LvmMedSourceBuilder]:
        if self.module_file:
            module = _import_script(Path(self.module_file))
        else:
            module = importlib.import_module(self.module_name)
        return operator.attrgetter(self.qualname)(module)


def script_dirs(extra_dirs: Dirs = ()) -> list[Path]:
    """The directories searched for ``*.py`` source builders, in priority order (existing only)."""
    dirs = [*extra_dirs, *(d for d in os.environ.get(ENV_VAR, "").split(os.pathsep) if d)]
    dirs.append(Path(__file__).resolve().parents[3] / "dataset_scripts")  # the repository root's
    # where a wheel's data_files land: the environment, a --user install, or a --prefix install
    bases = (sys.prefix, site.getuserbase(), sysconfig.get_path("data"))
    dirs += [Path(base, "share", "lvmmed_hf", "dataset_scripts") for base in bases if base]
    resolved = (Path(d).expanduser().resolve() for d in dirs)
    return list(dict.fromkeys(d for d in resolved if d.is_dir()))


def _import_script(path: Path):
    name = f"{_MODULE_PREFIX}.{path.stem}"
    mod = sys.modules.get(name)
    if mod is not None and getattr(mod, "__file__", None) == str(path):
        return mod
    spec = importlib.util.spec_from_file_location(name, path)  # a .py file: always a source loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _is_builder(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, LvmMedSourceBuilder) and bool(obj.source_name)


def discover_refs(extra_dirs: Dirs = ()) -> dict[str, BuilderRef]:
    """Every discoverable builder, by source name (see the module docstring for the search order)."""
    refs: dict[str, BuilderRef] = {}

    def add(cls: type[LvmMedSourceBuilder], module_file: str | None) -> None:
        name = cls.source_name
        if name in refs:
            logger.debug("source %s from %s shadowed by %s", name, module_file or cls.__module__, refs[name])
            return
        refs[name] = BuilderRef(name, module_file, cls.__module__, cls.__qualname__)

    for d in script_dirs(extra_dirs):
        for path in sorted(d.glob("[!_]*.py")):  # not _helpers.py
            try:
                module = _import_script(path)
            except Exception as e:  # a broken script must not hide the others
                logger.warning("skipping dataset script %s: %s: %s", path, type(e).__name__, e)
                continue
            for obj in vars(module).values():
                if _is_builder(obj) and obj.__module__ == module.__name__ and "source_name" in obj.__dict__:
                    add(obj, str(path))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as e:
            logger.warning("skipping source plug-in %s: %s", ep.name, e)
            continue
        if _is_builder(cls):
            add(cls, None)
    return refs


def available_sources(extra_dirs: Dirs = ()) -> dict[str, type[LvmMedSourceBuilder]]:
    """Source name -> builder class, sorted by name."""
    refs = discover_refs(extra_dirs)
    return {name: refs[name].load() for name in sorted(refs)}


def get_source(name: str, extra_dirs: Dirs = ()) -> type[LvmMedSourceBuilder]:
    """The builder class registered as ``name``; :class:`UnknownSourceError` lists the known names."""
    return get_ref(name, extra_dirs).load()


def get_ref(name: str, extra_dirs: Dirs = ()) -> BuilderRef:
    refs = discover_refs(extra_dirs)
    if name not in refs:
        known = ", ".join(sorted(refs)) or "(none)"
        raise UnknownSourceError(
            f"unknown source {name!r}; known sources: {known}. Builders are read from "
            f"{[str(d) for d in script_dirs(extra_dirs)]} and ${ENV_VAR}."
        )
    return refs[name]
