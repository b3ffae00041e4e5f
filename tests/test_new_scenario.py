"""`orchlab new-scenario NAME [--dir DIR]`: what it writes runs, passes its own test and the
project's lint, is found by `forms` and `run --scenarios DIR`, and every refusal is one sentence
with nothing written.

The scenario written here is named `parcel_desk` (not the docs' `order_status`), so the name
given is seen to reach the module, its agent folder and its test.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from agents.testing import assistant_message, function_call
from cli_calls import run_cli
from real_model import RECORDED_ENDINGS

from orchlab import backends
from orchlab.scenario import scaffold
from orchlab.store.store import Store
from orchlab.testing.scripted import scripted_backend

ROOT = Path(__file__).resolve().parent.parent
NAME = "parcel_desk"
LAYOUT = [f"{NAME}.py", f"agents/{NAME}/reply_writer.md", f"agents/{NAME}/support_agent.md",
          f"tests/test_{NAME}.py"]
"""Every file new-scenario writes, relative to DIR, in the order it lists them."""
REPLY = "Your order A-1001 has shipped with DHL and should arrive on 2025-05-14."


def order_backend(backend_id: str = "newscenario:x") -> backends.Backend:
    """Scripts for the generated scenario's two agents (the same steps its own test uses)."""
    return scripted_backend({
        "reply_writer": lambda: [{"output": [assistant_message(REPLY)]}],
        "support_agent": lambda: [
            {"output": [function_call("lookup_order", {"order_id": "A-1001"}, call_id="a")]},
            {"output": [function_call("reply_writer", {"input": "A-1001: shipped, DHL."},
                                      call_id="b")]},
            {"output": [assistant_message(REPLY)]},
        ],
    }, backend_id=backend_id)


@pytest.fixture
def newscenario_backend() -> Iterator[None]:
    backends.register("newscenario", lambda _rest: order_backend(), "new-scenario test backend")
    yield
    backends.unregister("newscenario")


def files_under(folder: Path) -> list[str]:
    """Every file below `folder`, relative, bytecode caches left out."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


@pytest.fixture
def written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The scenario written into tmp_path/lab by the CLI."""
    folder = tmp_path / "lab"
    code, out, err = run_cli(capsys, "new-scenario", NAME, "--dir", str(folder))
    assert code == 0 and err == "", err
    assert out.splitlines() == [
        f"Wrote scenario {NAME!r}:",
        *(f"  {folder / f}" for f in LAYOUT),
        "Next, run it on the embedded model, then run its test:",
        f"  python -m orchlab run --scenarios {shlex.quote(str(folder))} --scenario {NAME} "
        "--backend local:smollm2-135m",
        f"  python -m pytest {shlex.quote(str(folder / 'tests' / f'test_{NAME}.py'))}",
    ]
    assert files_under(folder) == sorted(LAYOUT)
    return folder


def test_the_layout_and_the_name_everywhere(written: Path) -> None:
    module = (written / f"{NAME}.py").read_text(encoding="utf-8")
    assert f'name="{NAME}"' in module and "{{" not in module
    assert "def lookup_order_impl(deps: RunDeps" in module
    assert 'env.call_tool("lookup_order", lookup_order_impl' in module
    assert "rule=" in module
    test = (written / "tests" / f"test_{NAME}.py").read_text(encoding="utf-8")
    assert f'ExperimentSpec("{NAME}"' in test and "ORCHLAB_SCENARIOS" in test
    orchestrator = (written / "agents" / NAME / "support_agent.md").read_text(encoding="utf-8")
    assert "tools: [lookup_order, reply_writer]" in orchestrator
    assert all((written / f).read_text(encoding="utf-8").endswith("\n") for f in LAYOUT)


@pytest.mark.slow  # a new Python process: pytest run on the generated folder, as a user runs it
def test_the_generated_test_passes_under_pytest(written: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(written / "tests"), "-q", "-p", "no:cacheprovider"],
        cwd=written, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "3 passed" in done.stdout, done.stdout[-3000:]


def ruff_binary() -> str:
    """The ruff requirements-dev.txt installs (a native binary: no Python start-up)."""
    for folder in (Path(sys.executable).parent, *os.get_exec_path()):
        candidate = Path(folder) / "ruff"
        if candidate.is_file():
            return str(candidate)
    pytest.fail("ruff is not installed (requirements-dev.txt)")


def test_the_generated_files_pass_the_projects_lint(written: Path) -> None:
    """The project's own ruff rules (pyproject.toml); it does not use `ruff format`."""
    done = subprocess.run(
        [ruff_binary(), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
         str(written)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    checked = subprocess.run(
        [ruff_binary(), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
         "--show-files", str(written)], capture_output=True, text=True, timeout=120)
    assert {Path(line).name for line in checked.stdout.split()} >= {
        f"{NAME}.py", f"test_{NAME}.py"}, checked.stdout


def test_forms_lists_the_two_forms(written: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "forms", "--scenarios", str(written))
    assert code == 0 and "warning" not in err, err
    section = out[out.index(f"{NAME}\n"):].splitlines()[1:3]
    assert [line.split()[:2] for line in section] == [["code", "code"], ["llm", "llm"]]
    code, out, _ = run_cli(capsys, "--scenarios", str(written), "forms", "--scenario", NAME)
    assert code == 0 and out.splitlines()[0] == NAME and len(out.splitlines()) == 3


def test_run_records_both_forms(written: Path, tmp_path: Path, newscenario_backend: None,
                                capsys: pytest.CaptureFixture[str]) -> None:
    store_file = tmp_path / "runs.sqlite"
    code, out, err = run_cli(capsys, "run", "--scenarios", str(written), "--scenario", NAME,
                             "--backend", "newscenario:x", "--store", str(store_file))
    assert code == 0, err
    store = Store(store_file)
    runs = store.load_runs().sort_values(["form", "input_id"])
    store.close()
    assert list(runs["status"]) == ["ok"] * 6
    assert list(runs["path"]) == ["lookup_order > reply_writer"] * 3 + [
        "support_agent > lookup_order > reply_writer"] * 3
    assert list(runs["llm_calls"]) == [1] * 3 + [4] * 3
    assert list(runs["tool_calls"]) == [1] * 3 + [2] * 3
    # the scripted writer always says "shipped": right for A-1001 only
    assert [bool(s) for s in runs["success"]] == [True, False, False] * 2
    assert [o["status_stated"] for o in runs["outcome"]] == [True, False, False] * 2


def refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str) -> str:
    """Run a command that must be refused: exit 2, nothing on stdout, nothing written; the
    sentence it printed (one line)."""
    before = files_under(tmp_path)
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == "", (code, out, err)
    assert files_under(tmp_path) == before
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err.removeprefix("error: ").rstrip("\n")


@pytest.mark.parametrize(("name", "sentence"), [
    ("Parcel-Desk", "'Parcel-Desk' cannot be a scenario name: use a lower-case Python identifier "
                    "(a-z, 0-9 and _, starting with a letter), e.g. order_status."),
    ("parcelDesk", "'parcelDesk' cannot be a scenario name: use a lower-case Python identifier "
                   "(a-z, 0-9 and _, starting with a letter), e.g. order_status."),
    ("2parcels", "'2parcels' cannot be a scenario name: use a lower-case Python identifier "
                 "(a-z, 0-9 and _, starting with a letter), e.g. order_status."),
    ("_parcels", "'_parcels' cannot be a scenario name: a module whose name starts with _ is a "
                 "helper, never read as a scenario."),
    ("test_parcels", "'test_parcels' cannot be a scenario name: names starting with test are "
                     "left to test files."),
    ("class", "'class' cannot be a scenario name: it is a Python keyword."),
    ("weather", f"A scenario named 'weather' already exists ({ROOT / 'scenarios' / 'weather.py'});"
                " pick another name."),
])
def test_a_name_is_refused(name: str, sentence: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    assert refused(capsys, tmp_path, "new-scenario", name, "--dir",
                   str(tmp_path / "out")) == sentence
    assert not (tmp_path / "out").exists()


def test_a_name_from_a_scenario_folder_is_refused(
        written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sentence = refused(capsys, tmp_path, "--scenarios", str(written), "new-scenario", NAME,
                       "--dir", str(tmp_path / "other"))
    assert sentence == (f"A scenario named {NAME!r} already exists ({written / f'{NAME}.py'}); "
                        "pick another name.")


def test_a_name_defined_in_the_target_folder_is_refused(
        written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DIR itself is read: its modules' names are taken, whatever their file is called."""
    (written / f"{NAME}.py").rename(written / "renamed.py")
    sentence = refused(capsys, tmp_path, "new-scenario", NAME, "--dir", str(written))
    assert sentence == (f"A scenario named {NAME!r} already exists ({written / 'renamed.py'}); "
                        "pick another name.")


@pytest.mark.parametrize("existing", LAYOUT)
def test_an_existing_file_is_refused(existing: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Any one target file there already (a module that fails to load is no known scenario,
    but its file is still in the way) stops the command before it writes anything."""
    folder = tmp_path / "lab"
    (folder / existing).parent.mkdir(parents=True)
    (folder / existing).write_text("raise RuntimeError('mine')\n", encoding="utf-8")
    sentence = refused(capsys, tmp_path, "new-scenario", NAME, "--dir", str(folder))
    assert sentence == (f"{folder / existing} already exists; nothing was written (pick another "
                        "name or --dir).")


@pytest.mark.parametrize(("where", "blocker"), [
    ("afile", "afile"),
    ("afile/deeper", "afile"),
    ("lab", "lab/agents"),
])
def test_a_folder_that_cannot_be_created_is_refused(
        where: str, blocker: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / blocker).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / blocker).write_text("in the way\n", encoding="utf-8")
    folder = tmp_path / where
    needed = folder if where != "lab" else folder / "agents" / NAME
    sentence = refused(capsys, tmp_path, "new-scenario", NAME, "--dir", str(folder))
    assert sentence == (f"The folder {needed} cannot be created: {tmp_path / blocker} is a "
                        "file, not a folder.")


def test_the_default_folder_is_the_current_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What docs/SCENARIOS.md shows: the command, and exactly what it prints."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "new-scenario", NAME)
    assert code == 0 and files_under(tmp_path) == sorted(LAYOUT)
    assert f"  python -m orchlab run --scenarios . --scenario {NAME} " in out
    assert out.rstrip().endswith(f"  python -m pytest tests/test_{NAME}.py")
    code, out, _ = run_cli(capsys, "new-scenario", "order_status", "--dir", "my_scenarios")
    assert code == 0
    docs = (ROOT / "docs" / "SCENARIOS.md").read_text(encoding="utf-8")
    assert "python -m orchlab new-scenario order_status --dir my_scenarios" in docs
    assert f"```text\n{out}```" in docs, out


def test_the_templates_are_package_data() -> None:
    """A wheel carries them: pyproject.toml's package-data for orchlab.scenario matches each
    (tests/test_packaging.py builds a wheel from the same configuration)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["orchlab.scenario"]
    package = ROOT / "orchlab" / "scenario"
    templates = sorted(p.relative_to(package).as_posix() for p in scaffold.TEMPLATES.iterdir())
    assert [t.rsplit("/", 1)[1] for t in templates] == sorted(scaffold.FILES.values())
    assert [t for t in templates if any(fnmatch.fnmatch(t, p) for p in patterns)] == templates


@pytest.mark.real_model
def test_the_generated_scenario_runs_on_the_embedded_model(
        written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The printed next command, on one input: SmolLM2-135M runs both forms to an ending the
    lab records (the code form to its fixed path)."""
    store_file = tmp_path / "local.sqlite"
    code, _out, err = run_cli(capsys, "run", "--scenarios", str(written), "--scenario", NAME,
                              "--backend", "local:smollm2-135m", "--input", "a-1001",
                              "--max-turns", "4", "--max-tokens", "96", "--seed", "7",
                              "--timeout", "900", "--store", str(store_file))
    assert code == 0, err
    store = Store(store_file)
    runs = store.load_runs().set_index("form")
    store.close()
    assert sorted(runs.index) == ["code", "llm"]
    code_run = runs.loc["code"]
    assert code_run["status"] == "ok", code_run["error_message"]
    assert code_run["path"] == "lookup_order > reply_writer"
    assert set(code_run["outcome"]) == {"status_stated", "lookups", "success"}
    llm_run = runs.loc["llm"]
    assert llm_run["status"] == "ok" or llm_run["error_class"] in RECORDED_ENDINGS, (
        llm_run["error_class"], llm_run["error_message"])
    assert int(llm_run["llm_calls"]) >= 1
