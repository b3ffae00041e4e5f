"""A store URL the product cannot open is refused in one sentence, never taken for a file path
(issue 17: `--store postgresql://user:password@host/db` used to become a local SQLite file
under a folder named `postgresql:`, with the password in its path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchlab.cli import main
from orchlab.store import Store, StoreError

URLS = ["postgresql://orch:s3cret-pass@db.example/orchlab", "postgres://u:s3cret-pass@h/db",
        "mysql://u:s3cret-pass@h/db", "sqlite:///tmp/x.sqlite"]


@pytest.mark.parametrize("url", URLS)
def test_a_url_is_refused_and_nothing_is_created(url: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError) as error:
        Store(url)
    message = str(error.value)
    assert "s3cret-pass" not in message and message.count(". ") == 0, message
    assert message.startswith("The store ")
    assert list(tmp_path.iterdir()) == []  # no folder named after the URL's scheme


def test_the_cli_refuses_a_url_in_one_line_with_exit_code_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["list", "--store", URLS[0]])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: The store "), err
    assert "s3cret-pass" not in err and "orch:***@db.example" in err
    assert list(tmp_path.iterdir()) == []


def test_the_environment_variable_is_refused_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCHLAB_STORE", URLS[0])
    with pytest.raises(StoreError, match=r"^The store postgresql://orch:\*\*\*@db\.example/"):
        Store()
    assert list(tmp_path.iterdir()) == []
