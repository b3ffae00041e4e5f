"""`pip install -e .` then `orchlab --help`, as the README says, in a fresh virtual environment.

Offline: the new environment has no packages of its own and sees this one's through a .pth file
(so the build backend and the dependencies are the ones requirements-dev.txt installed); this
environment's pip installs into it (`--python`) without build isolation and without resolving
dependencies, so nothing is downloaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def site_packages(env: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(env), "platbase": str(env)}))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(with_pip=False).create(env)  # its own setuptools would shadow ours
    (site_packages(env) / "outer.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", env / "bin" / "python", "install",
                    "--quiet", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
                    "-e", str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=300,
                   env={**os.environ, "PIP_NO_INDEX": "1"})
    return env


def test_the_console_script_answers_help(installed: Path, tmp_path: Path) -> None:
    out = subprocess.run([installed / "bin" / "orchlab", "--help"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: orchlab") and "copy-store" in out.stdout


def test_the_console_script_lists_the_bundled_scenarios_from_anywhere(
        installed: Path, tmp_path: Path) -> None:
    """Run from another folder: the scenarios and their agent files are found through the
    install, not the working directory."""
    out = subprocess.run([installed / "bin" / "orchlab", "forms"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "ORCHLAB_STORE": str(tmp_path / "lab.db")})
    assert out.returncode == 0, out.stderr
    assert {"sales_email", "troubleshooting", "weather"} <= set(out.stdout.split())
    assert "A sales manager agent gets the writers" in out.stdout


def test_the_install_uses_this_checkout(installed: Path, tmp_path: Path) -> None:
    out = subprocess.run([installed / "bin" / "python", "-c",
                          "import orchlab, scenarios; print(orchlab.__file__); "
                          "print(scenarios.__file__)"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True)
    assert [Path(line).parent.parent for line in out.stdout.split()] == [ROOT, ROOT]


def test_python_dash_m_stays_the_same_command() -> None:
    out = subprocess.run([sys.executable, "-m", "orchlab", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("usage: orchlab")


def test_a_wheel_carries_every_bundled_agent_file(tmp_path: Path) -> None:
    """A non-editable install (`pip install .`, a wheel) has no checkout to read prompts from:
    each bundled scenario's agent files must be package data beside its module. Built from a
    copy: a build writes build/ and *.egg-info/ beside the sources."""
    import shutil
    import zipfile

    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "*.egg-info", "__pycache__", ".*_cache", "tests", "bench"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "-w", str(tmp_path),
                    str(source)], check=True, capture_output=True, text=True, timeout=300,
                   env={**os.environ, "PIP_NO_INDEX": "1"})
    (wheel,) = tmp_path.glob("*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(ROOT).as_posix()
               for p in (ROOT / "scenarios" / "agents").rglob("*.md")}
    assert len(shipped) >= 20 and shipped <= inside, sorted(shipped - inside)
