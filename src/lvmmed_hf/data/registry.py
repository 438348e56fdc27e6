"""Finding source builders: the embedded ones, ``dataset_scripts/*.py``, and plug-ins.

Source builders live outside the library (``dataset_scripts/<source>.py`` at the repository root) so
that each reads as a standalone file of facts. They are found, in this order:

1. directories in the ``LVMMED_DATASET_SCRIPTS`` environment variable (``os.pathsep``-separated)
   and any ``extra_dirs`` passed by the caller (``lvmmed prepare --scripts-dir``);
2. the repository's ``dataset_scripts/`` next to ``src/`` (editable installs and source checkouts);
3. ``<prefix>/share/lvmmed_hf/dataset_scripts/``, where a wheel installs them (setup.cfg
   ``[options.data_files]``; prefix = ``sys.prefix``, the user base or the scheme's data path), so a
   regular ``pip install lvmmed-hf`` finds them too;
4. the ``lvmmed_hf.sources`` entry-point group (``name = module:Class``): third-party packages,
   and this package's own embedded corpus (:mod:`lvmmed_hf.data.embedded`, declared in setup.cfg),
   so the registry imports no particular source.

A script module is imported by file path under ``lvmmed_hf_dataset_scripts.<stem>``; every
:class:`~.builder.LvmMedSourceBuilder` subclass it defines with a ``source_name`` is registered. The
first directory that defines a name wins (so a user's directory can override a shipped builder). A
module that fails to import is logged and skipped, so one broken script does not hide the others.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import site
import sys
import sysconfig
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from ..errors import LvmMedUserError
from .builder import LvmMedSourceBuilder

logger = logging.getLogger(__name__)

ENV_VAR = "LVMMED_DATASET_SCRIPTS"
ENTRY_POINT_GROUP = "lvmmed_hf.sources"
_MODULE_PREFIX = "lvmmed_hf_dataset_scripts"


class UnknownSourceError(LvmMedUserError, KeyError):
    """No builder is registered under the requested source name (a user's error: the CLI shows it
    as one line; still a ``KeyError`` for callers that catch that)."""

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
        module = (
            _import_script(Path(self.module_file))
            if self.module_file
            else importlib.import_module(self.module_name)
        )
        obj = module
        for part in self.qualname.split("."):
            obj = getattr(obj, part)
        return obj


def script_dirs(extra_dirs: list[str | os.PathLike] | tuple = ()) -> list[Path]:
    """The directories searched for ``*.py`` source builders, in priority order (existing only)."""
    dirs: list[Path] = [Path(d) for d in extra_dirs]
    env = os.environ.get(ENV_VAR, "")
    dirs += [Path(d) for d in env.split(os.pathsep) if d]
    package_root = Path(__file__).resolve().parents[3]  # src/lvmmed_hf/data -> repository root
    dirs.append(package_root / "dataset_scripts")
    # where a wheel's data_files land: the environment, a --user install, or a --prefix install
    for base in (sys.prefix, site.getuserbase(), sysconfig.get_path("data")):
        if base:
            dirs.append(Path(base) / "share" / "lvmmed_hf" / "dataset_scripts")
    seen, out = set(), []
    for d in dirs:
        d = d.expanduser().resolve()
        if d.is_dir() and d not in seen:
            seen.add(d)
            out.append(d)
    return out


def _import_script(path: Path):
    name = f"{_MODULE_PREFIX}.{path.stem}"
    mod = sys.modules.get(name)
    if mod is not None and getattr(mod, "__file__", None) == str(path):
        return mod
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import dataset script {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _builders_in(module) -> list[type[LvmMedSourceBuilder]]:
    out = []
    for obj in vars(module).values():
        if (
            isinstance(obj, type)
            and issubclass(obj, LvmMedSourceBuilder)
            and obj.__module__ == module.__name__
            and obj.__dict__.get("source_name")
        ):
            out.append(obj)
    return out


def discover_refs(extra_dirs: list[str | os.PathLike] | tuple = ()) -> dict[str, BuilderRef]:
    """Every discoverable builder, by source name (see the module docstring for the search order)."""
    refs: dict[str, BuilderRef] = {}

    def add(cls: type[LvmMedSourceBuilder], module_file: str | None) -> None:
        name = cls.source_name
        if name in refs:
            logger.debug("source %s from %s shadowed by %s", name, module_file or cls.__module__, refs[name])
            return
        refs[name] = BuilderRef(name, module_file, cls.__module__, cls.__qualname__)

    for d in script_dirs(extra_dirs):
        for path in sorted(d.glob("*.py")):
            if path.name.startswith("_"):
                continue
            try:
                module = _import_script(path)
            except Exception as e:  # a broken script must not hide the others
                logger.warning("skipping dataset script %s: %s: %s", path, type(e).__name__, e)
                continue
            for cls in _builders_in(module):
                add(cls, str(path))
    try:
        eps = entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # pragma: no cover - broken metadata of some other distribution
        eps = []
    for ep in eps:
        try:
            cls = ep.load()
        except Exception as e:
            logger.warning("skipping source plug-in %s: %s", ep.name, e)
            continue
        if isinstance(cls, type) and issubclass(cls, LvmMedSourceBuilder) and cls.source_name:
            add(cls, None)
    return refs


def available_sources(
    extra_dirs: list[str | os.PathLike] | tuple = (),
) -> dict[str, type[LvmMedSourceBuilder]]:
    """Source name -> builder class, sorted by name."""
    refs = discover_refs(extra_dirs)
    return {name: refs[name].load() for name in sorted(refs)}


def get_source(name: str, extra_dirs: list[str | os.PathLike] | tuple = ()) -> type[LvmMedSourceBuilder]:
    """The builder class registered as ``name``; :class:`UnknownSourceError` lists the known names."""
    return get_ref(name, extra_dirs).load()


def get_ref(name: str, extra_dirs: list[str | os.PathLike] | tuple = ()) -> BuilderRef:
    refs = discover_refs(extra_dirs)
    if name not in refs:
        known = ", ".join(sorted(refs)) or "(none)"
        raise UnknownSourceError(
            f"unknown source {name!r}; known sources: {known}. Builders are read from "
            f"{[str(d) for d in script_dirs(extra_dirs)]} and ${ENV_VAR}."
        )
    return refs[name]
