"""Every command README.md and docs/ show runs as written, from the project root, in a user's
environment; README.md stays short and its links lead somewhere.

The README and every Markdown file under docs/ are read when the tests are collected, so a
command added to any of them is checked from then on; a command no check here knows fails
(`test_readme_command[...]`), so none slips in untested.

Commands are every line of the documents' shell code blocks (continuation lines joined) and
every code span in their tables that starts with a program name and has arguments (a lone
`export` or `pytest` in a table names a module or a tool) or is a path to a script. A block is
a shell block when its language is a shell's, or when it has none and its first command starts
with a program name (so an unlabelled diagram or output is not a command). How each kind is
checked:

- `python bench/<x>.py ...`: `--help` exits 0 quickly, listing every option the docs pass.
  The benchmark itself runs to its figure in tests/test_bench.py: a short run of every
  bench/ script, passing every option a documented command gives it (checked there).
- `python -m orchlab <cmd> ...`, and `orchlab <cmd> ...` (the console script `pip install -e .`
  installs; checked as `python -m orchlab`, the same command): `<cmd> --help` (the top-level
  `--help` when no command is given) exits 0 and lists every option shown (and each of `a|b`
  alternatives); `list` also runs for real against a temporary store given by ORCHLAB_STORE;
  a file given to `--inputs-file` exists and reads for its `--scenario` (tests/test_inputs_file.py
  runs that command for real on a scripted backend).
- `streamlit run app.py [--section.option value ...]`: every option shown is one of
  streamlit's (`streamlit config show`); the app is started headless on a free port on
  127.0.0.1 (never on the address a document shows), GET /_stcore/health answers "ok" (and /
  answers 200), then it is stopped.
- `pip install -r <file>` / `pip install <requirement>`: every requirement (files included with
  `-r`, and the requirements of each extra asked for) is installed and satisfies its specifier.
  `pip install -e .`: pyproject.toml's dependencies are installed, and its `orchlab` console
  script names a function that exists (tests/test_packaging.py installs it for real).
- `python -m pytest ...`: the command `.ci/run` runs; the files it names exist, a `-k`
  keyword selects a test in them, and a `-m` expression names only registered markers.

README.md is at most 8,000 characters, and every relative link in it and in docs/ (images
included) leads to a file that exists, and to a heading of that file when it has an anchor.

Subprocesses get a user's environment: PATH (with this interpreter's directory first, so
`python`, `pip` and `streamlit` are the ones under test), HOME and locale, and a PYTHONPATH that
holds only the loopback-only network guard conftest put there: never the project root.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from waiting import stop

from orchlab.testing.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").rglob("*.md"))]
"""Every document whose commands are checked: the README, then docs/ (subfolders included)."""
README_MAX_CHARS = 8_000
NETGUARD = (ROOT / "tests" / "netguard").resolve()
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console", "zsh"}
PROGRAMS = {"python", "python3", "pip", "pip3", "streamlit", "bash", "sh", "apt-get", "apt",
            "sudo", "uv", "pipx", "make", "docker", "npm", "npx", "curl", "wget", "git", "pytest",
            "ruff", "mypy", "playwright", "export", "cd", "source", "chromium", "orchlab"}
"""First words that make a table's code span a command (code blocks: every line is one)."""
HELP_TIMEOUT_S = 60.0
"""Generous: the machine is shared; a script's --help takes ~0.2 s, the CLI's ~4 s."""
BENCH_HELP_S = 10.0
"""A benchmark's --help must answer before its heavy imports."""


@dataclass(frozen=True)
class Command:
    """One command shown in the README or docs/."""

    text: str
    """As written, continuation lines joined."""
    where: str
    """Where a document shows it (the first place, when several do)."""

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)


def readme_commands(text: str, name: str = "README.md") -> list[Command]:
    """Commands in code blocks and tables, first occurrence of each, in document order."""
    found: dict[str, Command] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^\s*(```+|~~~+)\s*([\w+-]*)", line)
        if fence:
            marker, language = fence.group(1), fence.group(2).lower()
            start = i + 1
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                i += 1
            block = lines[start:i]
            if _is_shell_block(language, block):
                for cmd in _block_commands(block):
                    found.setdefault(cmd, Command(cmd, f"code block at {name}:{start}"))
        elif line.lstrip().startswith("|"):
            for span in re.findall(r"`([^`]+)`", line):
                if _is_command(span) and (len(span.split()) > 1 or "/" in span):
                    found.setdefault(span.strip(), Command(span.strip(),
                                                           f"table at {name}:{i + 1}"))
        i += 1
    return list(found.values())


def _is_command(text: str) -> bool:
    """Starts with a program name (or a path to one)."""
    words = text.split()
    return bool(words) and (words[0] in PROGRAMS or words[0].startswith(("./", ".ci/")))


def _is_shell_block(language: str, block: list[str]) -> bool:
    """A shell's block; one without a language only when its first command names a program
    (an unlabelled diagram or output is no command); never a block that shows a file."""
    if language not in SHELL_LANGUAGES or _is_file_content(block):
        return False
    if language:
        return True
    first = next(iter(_block_commands(block)), "")
    return _is_command(re.sub(r"^\$\s+", "", first))


def _is_file_content(block: list[str]) -> bool:
    """A block that shows a file (its first line a comment naming it, e.g. `# .env`)."""
    first = next((b.strip() for b in block if b.strip()), "")
    return bool(re.fullmatch(r"#\s*[\w-]*[./][\w./-]+", first))


def _block_commands(block: list[str]) -> list[str]:
    commands, current = [], ""
    for raw in block:
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        line = re.sub(r"^\$\s+", "", line)  # a console prompt
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
            continue
        commands.append((current + line).strip())
        current = ""
    if current:
        commands.append(current.strip())
    return commands


def document_commands(documents: list[Path]) -> list[Command]:
    """Every document's commands, first occurrence of each across all of them."""
    found: dict[str, Command] = {}
    for path in documents:
        name = path.relative_to(ROOT).as_posix()
        for command in readme_commands(path.read_text(encoding="utf-8"), name):
            found.setdefault(command.text, command)
    return list(found.values())


README_COMMANDS = readme_commands(README.read_text(encoding="utf-8"))
COMMANDS = document_commands(DOCUMENTS)
"""The README's commands, then those only docs/ show."""


def test_the_readme_shows_commands() -> None:
    """The extraction itself works: the README's own install, run and test commands are seen."""
    texts = {c.text for c in README_COMMANDS}
    assert {"pip install -r requirements.txt", "streamlit run app.py",
            "python -m pytest"} <= texts, texts


def test_the_docs_commands_are_checked_too() -> None:
    """docs/ is read: the CLI reference's commands are among those checked."""
    assert len(DOCUMENTS) > 1, DOCUMENTS
    docs = [c for c in COMMANDS if c.where.split(" at ")[1].startswith("docs/")]
    assert any(c.argv[:3] == ["python", "-m", "orchlab"] for c in docs), docs


def settings_and_argv(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """A command's leading `NAME=value` settings (the shell's way to set them for one
    command) and the command after them."""
    settings: dict[str, str] = {}
    while argv and re.fullmatch(r"[A-Z][A-Z0-9_]*=.*", argv[0]):
        name, _, value = argv[0].partition("=")
        settings[name] = value
        argv = argv[1:]
    return settings, argv


def starts_a_process(command: Command) -> bool:
    """Its check runs the program (`--help`, the dashboard, `list` for real): slow, a new
    Python process (see tests/conftest.py); the pip and pytest checks read files."""
    argv = settings_and_argv(command.argv)[1]
    return (argv[:3] == ["python", "-m", "orchlab"] or argv[:1] in (["orchlab"], ["streamlit"])
            or (argv[:1] == ["python"] and len(argv) > 1 and argv[1].startswith("bench/")))


@pytest.mark.parametrize("command", [
    pytest.param(c, marks=[pytest.mark.slow] if starts_a_process(c) else []) for c in COMMANDS
], ids=[c.text[:60] for c in COMMANDS])
def test_readme_command(command: Command, tmp_path: Path) -> None:
    settings, argv = settings_and_argv(command.argv)
    check = checker_for(argv)
    if check is None:
        pytest.fail(f"command {command.text!r} ({command.where}) has no check in "
                    "tests/test_readme_commands.py: add one (or fix the document)")
    if settings:  # the dashboard started with them (a workshop's): none other takes any
        assert check is check_streamlit, f"{command.text!r}: settings only for streamlit run"
        check_streamlit(argv, tmp_path, settings)
        return
    check(argv, tmp_path)


def checker_for(argv: list[str]) -> Callable[[list[str], Path], None] | None:
    """The check for a documented command, or None when no check knows it."""
    if argv[:2] in (["pip", "install"], ["pip3", "install"]):
        if argv[2:] == ["-e", "."]:
            return lambda _argv, _tmp: check_editable_install()
        return lambda argv, _tmp: check_pip_install(argv[2:])
    if argv[:3] == ["streamlit", "run", "app.py"]:
        return check_streamlit
    if argv[:3] == ["python", "-m", "pytest"]:
        return lambda argv, _tmp: check_pytest(argv)
    if argv[:3] == ["python", "-m", "orchlab"] and len(argv) > 3:
        return check_cli
    if argv[:1] == ["orchlab"] and len(argv) > 1:
        return lambda argv, tmp: check_cli(["python", "-m", *argv], tmp)
    if argv[:1] == ["python"] and len(argv) > 1 and argv[1].startswith("bench/"):
        return lambda argv, _tmp: check_bench(argv)
    return None


def test_a_new_kind_of_command_cannot_slip_in() -> None:
    sample = "\n".join([
        "```bash", "# set up", "make docs", "python -m orchlab list \\", "    --store x", "```",
        "```", "# .env", "ORCHLAB_BACKEND=x", "```",
        "```python", "print('not a command')", "```",
        "| what | command |", "|---|---|", "| serve | `docker compose up` and `local:x` |",
        "| `export` | the module, no command | `./run.sh` |",
    ])
    found = [c.text for c in readme_commands(sample)]
    assert found == ["make docs", "python -m orchlab list --store x", "docker compose up",
                     "./run.sh"]
    assert checker_for(shlex.split("make docs")) is None
    assert checker_for(shlex.split("docker compose up")) is None
    assert checker_for(shlex.split("python -m orchlab list --store x")) is check_cli
    assert checker_for(shlex.split("orchlab list --store x")) is not None
    assert checker_for(shlex.split("pip install -e .")) is not None
    assert checker_for(shlex.split("pip install -e ../other")) is not None  # and it fails
    unlabelled = "\n".join(["```", "CLI (orchlab/cli/main.py) -> run", "```",
                            "```", "$ orchlab forms", "```", "```text", "make docs", "```"])
    assert [c.text for c in readme_commands(unlabelled, "docs/X.md")] == ["orchlab forms"]
    assert readme_commands(unlabelled, "docs/X.md")[0].where == "code block at docs/X.md:4"


# -- a user's environment ---------------------------------------------------------------------

def user_env(**extra: str) -> dict[str, str]:
    """What a user's shell has, plus the network guard; never the project on PYTHONPATH."""
    guard = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
             if p and Path(p).resolve() == NETGUARD]
    assert guard, "conftest puts tests/netguard on PYTHONPATH for every subprocess"
    env = {k: os.environ[k] for k in ("HOME", "USER", "LANG", "LC_ALL", "TERM", "TMPDIR")
           if k in os.environ}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                   os.environ.get("PATH", os.defpath)])
    env["PYTHONPATH"] = guard[0]
    env.update(extra)
    return env


def run(argv: list[str], timeout: float = HELP_TIMEOUT_S,
        **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, env=user_env(**env), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@cache
def run_once(*argv: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """`run(argv)` the first time it is asked for, with how long it took; the same answer after
    that. Many documented commands share one `--help` (`run --help` for a dozen), which says
    the same each time it is asked: each command's own options are checked against it."""
    started = time.monotonic()
    result = run(list(argv))
    return result, time.monotonic() - started


def test_the_environment_is_a_users() -> None:
    """The subprocess sees the guard but not the project: `import orchlab` works only from
    the project root's own mechanisms (python -m from the root, a script's own path setup)."""
    probe = ("import sys, orchlab_netguard; "
             "print(orchlab_netguard.installed()); print(repr(sys.path))")
    result = subprocess.run([sys.executable, "-c", probe], cwd="/", env=user_env(),
                            capture_output=True, text=True, timeout=HELP_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    installed, path = result.stdout.splitlines()
    assert installed == "True"
    assert str(ROOT) not in ast.literal_eval(path)


def options(argv: list[str]) -> list[str]:
    """Option names the README passes, brackets of optional parts removed."""
    return [w.strip("[]").split("=")[0] for w in argv if w.strip("[]").startswith("-")]


def alternatives(argv: list[str]) -> list[str]:
    """Each value of an `a|b` choice the README shows."""
    return [alt for w in argv if "|" in w for alt in w.strip("[]").split("|")]


# -- checks -----------------------------------------------------------------------------------

def check_bench(argv: list[str]) -> None:
    script = ROOT / argv[1]
    assert script.is_file(), f"{argv[1]} does not exist"
    result, took = run_once("python", argv[1], "--help")
    assert result.returncode == 0, f"{' '.join(argv)} --help failed:\n{result.stderr[-3000:]}"
    assert result.stdout.startswith("usage:"), result.stdout[:500]
    assert took < BENCH_HELP_S, f"{argv[1]} --help took {took:.1f}s: parse before importing"
    for option in options(argv[2:]):
        assert option in result.stdout, f"{argv[1]} has no option {option}"


def check_cli(argv: list[str], tmp_path: Path) -> None:
    words = argv[3:]
    command = words[0] if words and not words[0].startswith("-") else ""
    shown = words[1:] if command else words
    name = " ".join(["python -m orchlab", command]).strip()
    result, _took = run_once("python", "-m", "orchlab", *([command] if command else []), "--help")
    assert result.returncode == 0, f"{name} --help:\n{result.stderr}"
    for option in options(shown):
        assert re.search(rf"(^|[\s,\[]){re.escape(option)}\b", result.stdout), (
            f"{name} has no option {option}:\n{result.stdout}")
    for value in alternatives(shown):
        assert value in result.stdout, f"{name} does not offer {value}"
    if "--inputs-file" in shown:  # the file it names exists and reads as `run` reads it
        from orchlab.scenario import get_scenario, read_inputs_file

        scenario = get_scenario(shown[shown.index("--scenario") + 1])
        read_inputs_file(ROOT / shown[shown.index("--inputs-file") + 1], scenario.input_model)
    if command == "list":
        from orchlab.core.records import ExperimentRecord, utcnow
        from orchlab.store.store import Store

        store_file = tmp_path / "readme.sqlite"
        store = Store(store_file)
        store.save_experiment(ExperimentRecord(
            experiment_id="exp-readme-list", scenario="sales_email",
            backend="local:smollm2-135m", created_at=utcnow(), spec={}, planned_runs=2,
            status="completed"))
        store.close()
        listed = run(argv, ORCHLAB_STORE=str(store_file))
        assert listed.returncode == 0, listed.stderr
        assert "exp-readme-list" in listed.stdout, listed.stdout


def check_streamlit(argv: list[str], tmp_path: Path, settings: dict[str, str] | None = None
                    ) -> None:
    """The dashboard starts and answers, in the environment a document's settings give it
    (its pages under those settings are tests/test_workshop_pages.py's)."""
    shown = argv[3:]
    if shown:
        known = streamlit_options()
        names = [w for w in shown if w.startswith("-")]
        assert names and all(w.startswith("--") for w in names), f"streamlit flags {shown}"
        unknown = [w for w in names if w[2:].split("=")[0] not in known]
        assert not unknown, f"streamlit has no option {unknown}"
        argv = argv[:3]  # started on loopback whatever address a document shows
    port = free_port()
    flags = ["--server.headless", "true", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    log = tmp_path / "streamlit.log"
    with log.open("w") as out:
        proc = subprocess.Popen(argv + flags, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env=user_env(ORCHLAB_STORE=str(tmp_path / "ui.sqlite"),
                                             **(settings or {})))
    try:
        health = _wait_for(f"http://127.0.0.1:{port}/_stcore/health", proc, log, 90.0)
        assert health == "ok", health
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200
    finally:
        stop(proc, 15.0)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def streamlit_options() -> set[str]:
    """`section.option` names `streamlit config show` lists (set or commented out)."""
    result, _took = run_once("streamlit", "config", "show")
    assert result.returncode == 0, result.stderr
    names, section = set(), ""
    for line in result.stdout.splitlines():
        header = re.fullmatch(r"\[(\w+)\]", line.strip())
        if header:
            section = header.group(1)
        setting = re.match(r"^#?\s*(\w+) = ", line)
        if section and setting:
            names.add(f"{section}.{setting.group(1)}")
    assert "server.port" in names, result.stdout[:2000]
    return names


def _wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode().strip())
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"no answer at {url} after {timeout:.0f}s:\n{log.read_text()[-3000:]}")


def check_pip_install(args: list[str]) -> None:
    if args[:1] == ["-r"] and len(args) == 2:
        path = ROOT / args[1]
        assert path.is_file(), f"{args[1]} does not exist"
        requirements = requirement_lines(path)
    else:
        assert args and not any(a.startswith("-") for a in args), f"pip install {args}"
        requirements = args
    problems = [p for line in requirements for p in unsatisfied(Requirement(line))]
    assert not problems, "\n".join(problems)


def check_editable_install() -> None:
    """`pip install -e .`: the project's dependencies are installed, and the console script
    names a function that exists (tests/test_packaging.py runs the install itself)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    problems = [p for line in project["dependencies"] for p in unsatisfied(Requirement(line))]
    assert not problems, "\n".join(problems)
    target = project["scripts"]["orchlab"]
    module, _, function = target.partition(":")
    assert callable(getattr(importlib.import_module(module), function, None)), target


def requirement_lines(path: Path) -> list[str]:
    """Requirement specifiers of a requirements file, following `-r other.txt`."""
    lines: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            lines += requirement_lines(path.parent / line.split(maxsplit=1)[1])
        elif line.startswith("-"):
            pytest.fail(f"{path.name}: option line {line!r} is not checked here")
        else:
            lines.append(line)
    return lines


def unsatisfied(req: Requirement, extra: str = "") -> list[str]:
    """Why an installed environment does not satisfy `req` (empty: it does)."""
    if req.marker is not None and not req.marker.evaluate({"extra": extra}):
        return []
    try:
        version = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        return [f"{req} is not installed"]
    if not req.specifier.contains(version, prereleases=True):
        return [f"{req}: {req.name} {version} is installed"]
    problems = []
    for extra_name in sorted(req.extras):
        for dep in importlib.metadata.requires(req.name) or []:
            dep_req = Requirement(dep)
            marker = dep_req.marker
            if marker is not None and marker.evaluate({"extra": extra_name}) and not (
                    marker.evaluate({"extra": ""})):
                dep_req.marker = None
                problems += [f"{p} (for {req.name}[{extra_name}])"
                             for p in unsatisfied(dep_req)]
    return problems


def check_pytest(argv: list[str]) -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_commands = [line.strip() for line in ci.splitlines()
                   if line.strip().startswith(("python -m pytest", "pytest"))]
    assert ci_commands == ["python -m pytest"], f".ci/run runs {ci_commands}"
    files = [a for a in argv[3:] if not a.startswith("-") and ("/" in a or ".py" in a)]
    for name in files:
        assert (ROOT / name.split("::")[0]).exists(), f"{name} does not exist"
    if "-k" in argv:
        keyword = argv[argv.index("-k") + 1]
        sources = [ROOT / f for f in files] or sorted((ROOT / "tests").glob("test_*.py"))
        names = [n for f in sources for n in re.findall(r"^\s*(?:async )?def (test_\w+)",
                                                        f.read_text(encoding="utf-8"), re.M)]
        assert any(keyword in n for n in names), f"-k {keyword} selects no test in {files}"
    if "-m" in argv[3:]:
        expression = argv[argv.index("-m", 3) + 1]
        config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        markers = {m.split(":")[0].strip()
                   for m in config["tool"]["pytest"]["ini_options"]["markers"]}
        named = set(re.findall(r"\w+", expression)) - {"and", "or", "not"}
        assert named and named <= markers, f"-m {expression!r}: registered markers {markers}"


# -- the README stays short, and its links lead somewhere ---------------------------------------

def test_the_readme_is_short() -> None:
    """A pitch, the two commands, a first result, the common commands and links: the rest is
    in docs/."""
    size = len(README.read_text(encoding="utf-8"))
    assert size <= README_MAX_CHARS, f"README.md is {size:,} characters (at most 8,000)"


def links(text: str) -> list[str]:
    """Targets of the Markdown links and images outside code."""
    text = re.sub(r"^\s*(```+|~~~+).*?^\s*\1", "", text, flags=re.M | re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings (outside code blocks)."""
    text = re.sub(r"^\s*(```+|~~~+).*?^\s*\1", "", text, flags=re.M | re.S)
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def broken_links(path: Path) -> list[str]:
    """The relative links of a document that lead to no file, or to no heading of it."""
    broken = []
    for target in links(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # http:, https:, mailto:
        file_part, _, anchor = urllib.parse.unquote(target).partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.is_file():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(
                linked.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    return broken


def test_the_readme_links_to_docs_that_exist() -> None:
    targets = links(README.read_text(encoding="utf-8"))
    assert any(t.startswith("docs/") and t.endswith(".png") for t in targets), targets
    assert sum(t.startswith("docs/") for t in targets) >= 5, targets
    assert broken_links(README) == []


@pytest.mark.parametrize("document", DOCUMENTS[1:],
                         ids=[p.relative_to(ROOT).as_posix() for p in DOCUMENTS[1:]])
def test_the_docs_links_resolve(document: Path) -> None:
    assert broken_links(document) == []


def test_the_link_checks_see_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## Where data goes: here\n\n```\n# no\n```\n")
    page.write_text("[a](other.md#where-data-goes-here) [b](other.md#no) [c](missing.md) "
                    "![d](other.md) `[e](x.md)` [f](https://example.org/x.md) [g](#top)\n"
                    "# Top\n")
    assert broken_links(page) == ["other.md#no: no heading #no in other.md",
                                  f"missing.md: no file {tmp_path / 'missing.md'}"]
