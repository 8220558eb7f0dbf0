"""Which datasets exist: found when asked for, never imported by name.

A dataset is a :class:`~.base.Dataset` subclass with a ``name``. They are found in every module
of this package, and in the entry points of the ``ops_pipeline.datasets`` group, so that another
installed package can bring its own kinds of input file::

    [project.entry-points."ops_pipeline.datasets"]
    maps-export = "ops_maps.export:MapsExport"      # a Dataset subclass, or a module holding some

Each dataset's finding codes are registered beside the generic ones when it is found; two
datasets may share a code only with the same severity and meaning.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType

from ..errors import PipelineError, UsageError
from ..findings import merge_codes
from .base import Dataset

ENTRY_POINT_GROUP = "ops_pipeline.datasets"
#: Modules of this package that hold no dataset.
_NOT_DATASETS = frozenset({"base", "registry"})


@dataclass(frozen=True)
class Catalogue:
    """The datasets found, by name, and every finding code they and the stages may emit."""

    datasets: dict[str, type[Dataset]]
    #: name → where it came from (a module, or an entry point of a distribution)
    origins: dict[str, str]
    codes: dict[str, tuple[str, str]]

    def dataset(self, name: str) -> Dataset:
        try:
            return self.datasets[name]()
        except KeyError:
            raise UsageError(f"unknown dataset {name!r} (known: {', '.join(self.names())})") from None

    def names(self) -> list[str]:
        return sorted(self.datasets)


#: The catalogue found on each import path (``sys.path``) in this process.
_FOUND: dict[tuple[str, ...], Catalogue] = {}


def discover() -> Catalogue:
    """Find every dataset: the modules of ``ops_pipeline.datasets``, then the entry points.

    A module that fails to import, a name claimed twice, or a finding code declared twice with
    different meanings stops here with one line naming the culprit: a silently missing dataset
    would look like a typo in ``--dataset``.

    What is found is kept for the rest of the process, per import path (``sys.path``): reading
    every installed distribution's entry points took about half of a small file's run (a run asks
    nine times), and a poller asks for every file. A package added to the import path is found at
    once; one installed into the environment while a poller runs is found when it restarts.
    """
    path = tuple(sys.path)
    catalogue = _FOUND.get(path)
    if catalogue is None:
        catalogue = _FOUND[path] = _discover()
    return catalogue


def _discover() -> Catalogue:
    found: dict[str, type[Dataset]] = {}
    origins: dict[str, str] = {}
    package = importlib.import_module(__package__)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name in _NOT_DATASETS or info.name.startswith("_"):
            continue
        module = _import(f"{__package__}.{info.name}", f"module {__package__}.{info.name}")
        for cls in _datasets_in(module):
            _add(found, origins, cls, f"module {module.__name__}")
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {entry.name!r} of {entry.dist.name if entry.dist else 'an unknown package'}"
        try:
            target = entry.load()
        except Exception as exc:
            raise _broken(where, exc) from None
        classes = _datasets_in(target) if isinstance(target, ModuleType) else [target]
        for cls in classes:
            if not (inspect.isclass(cls) and issubclass(cls, Dataset) and cls.name):
                raise PipelineError(f"{where} names {target!r}, which is not a Dataset subclass with a name",
                                    hint="fix or uninstall that package")
            _add(found, origins, cls, where)
    ordered = sorted(found)
    try:
        codes = merge_codes(*(found[n].finding_codes for n in ordered),
                            owners=tuple(f"dataset {n!r} ({origins[n]})" for n in ordered))
    except ValueError as exc:
        raise PipelineError(str(exc), hint="give the dataset's code another name") from None
    return Catalogue(datasets=found, origins=origins, codes=codes)


def get_dataset(name: str) -> Dataset:
    """A new instance of the dataset called ``name``; UsageError naming the known ones otherwise."""
    return discover().dataset(name)


def dataset_names() -> list[str]:
    return discover().names()


def _datasets_in(module: ModuleType) -> list[type[Dataset]]:
    """The named Dataset subclasses a module defines (not those it imports)."""
    return [cls for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Dataset) and cls is not Dataset and cls.name and cls.__module__ == module.__name__]


def _add(found: dict, origins: dict, cls: type[Dataset], where: str) -> None:
    if cls.name in found and found[cls.name] is not cls:
        raise PipelineError(f"two datasets are called {cls.name!r}: in {origins[cls.name]} and in {where}",
                            hint="rename one, or uninstall the package that brings it")
    found[cls.name] = cls
    origins.setdefault(cls.name, where)


def _import(name: str, where: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise _broken(where, exc) from None


def _broken(where: str, exc: BaseException) -> PipelineError:
    return PipelineError(f"the datasets cannot be listed: {where} fails to load ({type(exc).__name__}: {exc})",
                         hint="fix or uninstall that package")
