"""`orchlab new-scenario NAME`: a runnable scenario written into a folder of the user's.

One module with a code form and an LLM form, two agent files, and a test that runs both forms
on scripted models, from the Jinja2 templates in `templates/new_scenario/` (package data).
The example domain is an online shop's order-status question: one tool (`lookup_order`,
written the lab's way: a plain `_impl(deps, ...)` body behind a function tool), a worker agent
the code form calls, and an orchestrator agent that has the tool and the worker as tools.

Every refusal is one sentence (a `ScaffoldError`) raised before anything is written: a name
that is no scenario module's name, a name the lab already knows, a target file that exists,
a folder that cannot be created.
"""

from __future__ import annotations

import contextlib
import keyword
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from orchlab.core import config
from orchlab.core.errors import ScenarioError
from orchlab.scenario.discovery import catalogue

TEMPLATES = Path(__file__).resolve().parent / "templates" / "new_scenario"
"""The templates, package data of `orchlab.scenario` (pyproject.toml)."""
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
EXAMPLE_NAME = "order_status"

FILES = {
    "{name}.py": "scenario.py.j2",
    "agents/{name}/reply_writer.md": "reply_writer.md.j2",
    "agents/{name}/support_agent.md": "support_agent.md.j2",
    "tests/test_{name}.py": "test_scenario.py.j2",
}
"""Where each file goes in the folder (for a scenario `name`), and its template."""


class ScaffoldError(ScenarioError):
    """`new-scenario` refused; the message is one sentence and nothing was written."""


@dataclass(frozen=True)
class Written:
    """What `new_scenario` wrote, and what to run next."""

    name: str
    """The scenario's name."""
    folder: Path
    """The folder as the user gave it (relative stays relative)."""
    files: list[Path]
    """Every file written, in the order of FILES."""

    @property
    def next_commands(self) -> list[str]:
        """Run it on the embedded model, then run its test."""
        folder = shlex.quote(str(self.folder))
        test = shlex.quote(str(self.folder / "tests" / f"test_{self.name}.py"))
        return [f"python -m orchlab run --scenarios {folder} --scenario {self.name} "
                "--backend local:smollm2-135m",
                f"python -m pytest {test}"]


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a new scenario module, as one sentence (None: it can)."""
    if name.startswith("_"):
        return (f"{name!r} cannot be a scenario name: a module whose name starts with _ is a "
                "helper, never read as a scenario.")
    if name.startswith("test"):
        return (f"{name!r} cannot be a scenario name: names starting with test are left to "
                "test files.")
    if not NAME_PATTERN.fullmatch(name) or not name.isidentifier():
        return (f"{name!r} cannot be a scenario name: use a lower-case Python identifier "
                f"(a-z, 0-9 and _, starting with a letter), e.g. {EXAMPLE_NAME}.")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"{name!r} cannot be a scenario name: it is a Python keyword."
    return None


def render(name: str) -> dict[str, str]:
    """Each file's path inside the folder -> its text, for a scenario `name`."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return {target.format(name=name): env.get_template(template).render(name=name)
            for target, template in FILES.items()}


def new_scenario(name: str, folder: str | os.PathLike[str] = ".") -> Written:
    """Write the scenario `name` into `folder` (created if need be), or raise ScaffoldError
    with nothing written."""
    problem = name_problem(name)
    if problem:
        raise ScaffoldError(problem)
    base = Path(folder)
    known = _known_scenarios(base)
    if name in known:
        raise ScaffoldError(f"A scenario named {name!r} already exists ({known[name]}); pick "
                            "another name.")
    texts = render(name)
    targets = {base / relative: text for relative, text in texts.items()}
    for target in targets:
        if target.exists() or target.is_symlink():
            raise ScaffoldError(f"{target} already exists; nothing was written (pick another "
                                "name or --dir).")
    folders = sorted({t.parent for t in targets}, key=lambda p: len(p.parts))
    for needed in folders:
        why = _cannot_create(needed)
        if why:
            raise ScaffoldError(f"The folder {needed} cannot be created: {why}.")
    try:
        for needed in folders:
            needed.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScaffoldError(f"The folder {base} cannot be created: "
                            f"{exc.strerror or exc}.") from None
    for target, text in targets.items():
        target.write_text(text, encoding="utf-8")
    return Written(name, base, list(targets))


def _known_scenarios(folder: Path) -> dict[str, str]:
    """Scenario name -> where it comes from: every source the lab reads, and the target folder
    itself when it exists (a module there may define the name under another file name)."""
    extra = [str(folder)] if folder.is_dir() else []
    writes_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # reading the folder leaves no __pycache__ in it
    try:
        with config.scenarios_in_env(extra) if extra else contextlib.nullcontext():
            return dict(catalogue().origins)
    finally:
        sys.dont_write_bytecode = writes_bytecode


def _cannot_create(folder: Path) -> str | None:
    """Why `folder` can neither be used nor created, as a clause (None: it can)."""
    if folder.is_dir():
        return None if os.access(folder, os.W_OK | os.X_OK) else f"{folder} is not writable"
    if folder.exists() or folder.is_symlink():
        return f"{folder} is a file, not a folder"
    parent = folder.parent
    if parent == folder:
        return f"{folder} does not exist"
    return _cannot_create(parent)
