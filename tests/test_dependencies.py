"""Nothing works by accident: every third-party module the code imports is declared.

scipy was imported for weeks and declared nowhere; CI passed because the machine's own Python
had it. These tests read every module's imports (at any depth: a lazy import inside a function
counts, it is what a user reaches on a click), find the installed distribution that provides
each, and fail when that distribution is named in no requirements file meant for that code:
the product in requirements.txt or an optional extra, tests and benchmarks in
requirements-dev.txt. A module that is not installed at all fails too: nothing declares it.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = [ROOT / "app.py", *(p for d in ("orchlab", "views", "scenarios")
                              for p in sorted((ROOT / d).rglob("*.py")))]
DEV_CODE = [p for d in ("tests", "bench") for p in sorted((ROOT / d).rglob("*.py"))]
OPTIONAL_EXTRAS = ("postgres", "ray", "litellm")
"""pyproject extras the product may import from (each only where its feature is chosen)."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(path: Path, seen: set[Path] | None = None) -> set[str]:
    """Distributions a requirements file names, following `-r` includes."""
    seen = set() if seen is None else seen
    if path in seen:
        return set()
    seen.add(path)
    names: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            names |= requirement_names(path.parent / line[2:].strip(), seen)
        elif line and not line.startswith("-"):
            names.add(canonical(Requirement(line).name))
    return names


def requirement_specs(path: Path) -> set[str]:
    """A requirements file's own lines (no includes), normalised for comparison."""
    specs = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            specs.add(normalised(line))
    return specs


def normalised(spec: str) -> str:
    req = Requirement(spec)
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{canonical(req.name)}{extras}{req.specifier}"


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def local_modules() -> set[str]:
    """Top-level names that are the project's own (packages, and test/bench helpers)."""
    names = {p.stem for d in ("tests", "bench", "tests/netguard") for p in (ROOT / d).glob("*.py")}
    return names | {"orchlab", "views", "scenarios"}


def imports(path: Path) -> set[str]:
    """Absolute module names a file imports, at any depth."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@cache
def owners() -> dict[str, str]:
    """Installed file (relative to its site directory) -> the distribution that installed it."""
    index: dict[str, str] = {}
    for dist in md.distributions():
        name = canonical(dist.metadata["Name"])  # parsed once per distribution, not per file
        for file in dist.files or ():
            index.setdefault(str(file), name)
    return index


def distribution_of(module: str) -> str | None:
    """The distribution whose files hold `module` (the deepest part found on sys.path),
    without importing anything: `opentelemetry` is a namespace several distributions share,
    so the module's own file decides, not its top-level name."""
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        stem = "/".join(parts[:depth])
        for candidate in (f"{stem}/__init__.py", f"{stem}.py"):
            for entry in map(Path, sys.path):
                if (entry / candidate).is_file() and candidate in owners():
                    return owners()[candidate]
        for entry in map(Path, sys.path):  # compiled modules: stem.cpython-311-...so
            parent = entry / stem
            for so in parent.parent.glob(parent.name + ".*.so") if parent.parent.is_dir() else ():
                rel = str(so.relative_to(entry))
                if rel in owners():
                    return owners()[rel]
    tops = md.packages_distributions().get(parts[0])
    return canonical(tops[0]) if tops else None


def undeclared(files: list[Path], declared: set[str], root: Path = ROOT) -> list[str]:
    local = local_modules()
    problems = set()
    for path in files:
        for module in imports(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in local or top == "__future__":
                continue
            where = path.relative_to(root)
            dist = distribution_of(module)
            if dist is None:
                problems.add(f"{where} imports {module}, which no installed distribution "
                             "provides: declare it")
            elif dist not in declared:
                problems.add(f"{where} imports {module} from {dist}, declared nowhere")
    return sorted(problems)


def test_the_product_imports_only_what_requirements_txt_and_the_extras_declare() -> None:
    project = pyproject()
    declared = requirement_names(ROOT / "requirements.txt")
    for extra in OPTIONAL_EXTRAS:
        declared |= {canonical(Requirement(r).name)
                     for r in project["optional-dependencies"][extra]}
    assert undeclared(PRODUCT, declared) == []


def test_tests_and_benchmarks_import_only_what_requirements_dev_txt_declares() -> None:
    assert undeclared(DEV_CODE, requirement_names(ROOT / "requirements-dev.txt")) == []


def test_an_undeclared_import_is_caught(tmp_path: Path) -> None:
    """The check itself can fail: scipy imported inside a function, with scipy declared
    nowhere, is named (as it was the day it hid)."""
    module = tmp_path / "stats_page.py"
    module.write_text("def p_value(a, b):\n    from scipy.stats import wilcoxon\n"
                      "    return wilcoxon(a, b)\n")
    declared = requirement_names(ROOT / "requirements.txt") - {"scipy"}
    assert undeclared([module], declared, root=tmp_path) == [
        "stats_page.py imports scipy.stats from scipy, declared nowhere"]
    assert undeclared([module], declared | {"scipy"}, root=tmp_path) == []


def test_pyproject_declares_what_the_requirements_files_do() -> None:
    """One list per purpose, written twice for the two ways in (pip -r, pip install .[x]):
    they must say the same, ranges included."""
    project = pyproject()
    extras = project["optional-dependencies"]
    runtime = {normalised(r) for r in project["dependencies"]}
    assert requirement_specs(ROOT / "requirements.txt") == \
        runtime | {normalised(r) for r in extras["postgres"]}
    assert requirement_specs(ROOT / "requirements-cluster.txt") == \
        {normalised(r) for r in extras["ray"]}
    assert requirement_specs(ROOT / "requirements-dev.txt") == \
        {normalised(r) for r in extras["dev"] + extras["litellm"]}


@pytest.mark.slow  # a new Python process importing the dashboard or the CLI
@pytest.mark.parametrize("page", ["app.py", "orchlab/cli/main.py"])
def test_opening_the_dashboard_or_the_cli_loads_no_scipy(page: str) -> None:
    """scipy is imported where a test statistic is computed, not by opening a page or the
    CLI: memory and start-up time the user does not need to pay."""
    import subprocess

    module = "orchlab.cli.main" if page.endswith("main.py") else None
    code = ("import sys, importlib; "
            + (f"importlib.import_module({module!r}); " if module else
               "import views._shared, orchlab.stats.summary, orchlab.present.report; ")
            + "print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"
