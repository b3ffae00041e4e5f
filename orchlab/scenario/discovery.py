"""Where scenarios come from: the bundled package, the user's folders, installed packages.

A scenario is the user's own code, so one that fails to import must cost only itself:
discovery collects one sentence per problem instead of raising, the CLI and the dashboard's
sidebar show them, and every other scenario still loads. Sources are read in a fixed order
(bundled, the folders of `ORCHLAB_SCENARIOS`, the `orchlab.scenarios` entry points, then
`register()`ed ones); a name defined twice keeps its first definition and names both places.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import pkgutil
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from orchlab.core import config
from orchlab.core.errors import ScenarioError, first_line
from orchlab.scenario.contract import Scenario

ENTRY_POINT_GROUP = "orchlab.scenarios"
"""Entry-point group an installed package registers scenarios under: each entry names a
Scenario object or a module exposing `SCENARIO`."""
USER_PACKAGE_PREFIX = "orchlab_user_scenarios_"
"""Folder modules import as `<prefix><hash>.<name>`, so helpers beside them import relatively
(`from ._data import ROWS`) and two folders may both have a `_data.py`."""

_REGISTERED: dict[str, Scenario] = {}


@dataclass
class Catalogue:
    """Every scenario found, where each came from, and what could not be loaded."""

    scenarios: dict[str, Scenario] = field(default_factory=dict)
    """Scenarios by name."""
    origins: dict[str, str] = field(default_factory=dict)
    """Scenario name -> the file or entry point it came from."""
    problems: list[str] = field(default_factory=list)
    """One sentence per module or entry point that gave no scenario, and per duplicate."""
    folders: list[Path] = field(default_factory=list)
    """The user's scenario folders that were read (from ORCHLAB_SCENARIOS or --scenarios)."""
    failed: dict[str, str] = field(default_factory=dict)
    """Module stem -> its problem, so an unknown name can say why it is missing."""

    def add(self, scenario: Scenario, origin: str) -> None:
        """Keep the first scenario of a name; a second is a problem naming both places."""
        if scenario.name in self.scenarios:
            self.problems.append(
                f"Scenario {scenario.name!r} is defined twice, in "
                f"{self.origins[scenario.name]} and in {origin}; the second is not loaded.")
            return
        self.scenarios[scenario.name] = scenario
        self.origins[scenario.name] = origin

    def fail(self, stem: str, sentence: str) -> None:
        """Record one source that gave no scenario."""
        self.problems.append(sentence)
        self.failed.setdefault(stem, sentence)


def register(scenario: Scenario) -> None:
    """Make a scenario defined in running code (a notebook, a test) runnable by name, exactly
    as a discovered one. It must say where its agent files are (`agents_dir`)."""
    if scenario.agents_dir is None:
        raise ScenarioError(f"register(): scenario {scenario.name!r} needs agents_dir, the "
                            f"folder holding {scenario.name}/*.md.")
    _REGISTERED[scenario.name] = scenario


def unregister(name: str) -> None:
    """Forget a registered scenario."""
    _REGISTERED.pop(name, None)


def catalogue() -> Catalogue:
    """Every scenario from every source, with the problems met on the way."""
    import scenarios as bundled

    found = Catalogue(folders=config.scenario_folders())
    for bundled_folder in bundled.__path__:
        _read_folder(Path(bundled_folder), "scenarios", found)
    for folder in found.folders:
        if not folder.is_dir():
            found.fail(folder.name, f"Scenario folder {folder} does not exist or is not a "
                                    "folder.")
            continue
        _read_folder(folder, _folder_package(folder), found)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        _read_entry_point(entry, found)
    for name, scenario in _REGISTERED.items():
        found.add(scenario, f"register() of {name!r}")
    return found


def discover() -> dict[str, Scenario]:
    """Every scenario that loaded, by name (problems: see `catalogue`)."""
    return catalogue().scenarios


def get_scenario(name: str) -> Scenario:
    """A scenario by name, or ScenarioError listing the valid names (and, when a module of that
    name failed to load, why)."""
    found = catalogue()
    if name in found.scenarios:
        return found.scenarios[name]
    why = f" {found.failed[name]}" if name in found.failed else ""
    raise ScenarioError(f"Unknown scenario {name!r}; scenarios: "
                        f"{', '.join(sorted(found.scenarios)) or 'none'}.{why}")


def _modules(folder: Path) -> Iterator[str]:
    for info in pkgutil.iter_modules([str(folder)]):
        if not info.name.startswith("_") and not info.ispkg:
            yield info.name


def _read_folder(folder: Path, package: str, found: Catalogue) -> None:
    for stem in sorted(_modules(folder)):
        path = folder / f"{stem}.py"
        try:
            module = importlib.import_module(f"{package}.{stem}")
        except Exception as exc:  # the user's code: any error is that module's problem only
            found.fail(stem, f"{path} cannot be loaded: {_why(exc, path)}.")
            continue
        _take(module, stem, str(path), folder, found)


def _take(module: ModuleType, stem: str, origin: str, folder: Path, found: Catalogue) -> None:
    scenario = getattr(module, "SCENARIO", None)
    if not isinstance(scenario, Scenario):
        what = "no SCENARIO" if scenario is None else f"SCENARIO of type {type(scenario).__name__}"
        found.fail(stem, f"{origin} exposes {what}; a scenario module sets "
                         "SCENARIO = Scenario(...).")
        return
    if scenario.agents_dir is None:  # the documented default: agents/<name>/ beside the module
        scenario.agents_dir = folder / "agents"
    agents = scenario.agents_dir / scenario.name
    if not agents.is_dir():
        found.fail(stem, f"{origin}: scenario {scenario.name!r} has no agent folder "
                         f"{agents}.")
        return
    found.add(scenario, origin)


def _read_entry_point(entry: importlib.metadata.EntryPoint, found: Catalogue) -> None:
    origin = f"entry point {entry.name!r} ({entry.value})"
    try:
        loaded = entry.load()
    except Exception as exc:  # an installed package's code: its problem only
        found.fail(entry.name, f"{origin} cannot be loaded: {_why(exc, None)}.")
        return
    module = loaded if isinstance(loaded, ModuleType) else sys.modules.get(entry.module)
    file = getattr(module, "__file__", None)
    if isinstance(loaded, ModuleType):
        loaded = getattr(loaded, "SCENARIO", None)
    if not isinstance(loaded, Scenario) or file is None:
        found.fail(entry.name, f"{origin} names no Scenario; it must name a Scenario object "
                               "or a module exposing SCENARIO.")
        return
    holder = ModuleType(entry.module)
    holder.SCENARIO = loaded  # type: ignore[attr-defined]
    _take(holder, entry.name, origin, Path(file).parent, found)


def _folder_package(folder: Path) -> str:
    """The package a user folder's modules import under, made once per folder and process."""
    resolved = folder.resolve()
    name = USER_PACKAGE_PREFIX + hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    if name not in sys.modules:
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(resolved)]
        sys.modules[name] = importlib.util.module_from_spec(spec)
    return name


def _why(exc: BaseException, path: Path | None) -> str:
    """The error in one clause, with the line of the module's own code it was raised from."""
    line = ""
    if path is not None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if Path(f.filename).resolve() == path.resolve()]
        if frames:
            line = f" (line {frames[-1].lineno})"
        elif isinstance(exc, SyntaxError) and exc.lineno:
            line = f" (line {exc.lineno})"
    return f"{type(exc).__name__}: {first_line(exc).rstrip('.')}{line}"
