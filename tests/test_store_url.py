"""A store URL the product cannot open is refused in one sentence, its password never shown,
and never taken for a file path (issue 17: `--store postgresql://user:password@host/db` used to
become a local SQLite file under a folder named `postgresql:`, with the password in its path).
PostgreSQL URLs are opened; one that cannot be used says why: a wrong URL, a refused
connection, a refused login, a missing database."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchlab.cli.main import main
from orchlab.store.store import Store, StoreError
from orchlab.testing.pgserver import PostgresServer
from orchlab.testing.ports import free_port

OTHER_SCHEMES = ["mysql://u:s3cret-pass@h/db", "sqlite:///tmp/x.sqlite"]


def refused(location: str) -> str:
    with pytest.raises(StoreError) as error:
        Store(location)
    message = str(error.value)
    assert "s3cret-pass" not in message and message.count(". ") == 0, message
    assert "\n" not in message and message.endswith("."), message
    return message


@pytest.mark.parametrize("url", OTHER_SCHEMES)
def test_a_url_of_another_kind_is_refused_and_nothing_is_created(
        url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    message = refused(url)
    assert message.startswith("The store ") and "postgresql://" in message
    assert list(tmp_path.iterdir()) == []  # no folder named after the URL's scheme


def test_a_refused_connection_is_one_sentence(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    message = refused(f"postgresql://orch:s3cret-pass@127.0.0.1:{port}/orchlab")
    assert message == (f"Cannot connect to the PostgreSQL store at 127.0.0.1:{port}: the "
                       "connection was refused (no server is listening there).")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_database_a_refused_login_and_a_wrong_url_each_say_so(
        pg_server: PostgresServer) -> None:
    server = f"127.0.0.1:{pg_server.port}"
    assert refused(pg_server.url("nowhere").replace("orchlab@", "orchlab:s3cret-pass@")) == (
        f"The PostgreSQL server at {server} has no database 'nowhere': create it "
        "(createdb nowhere) or name one it has.")
    login = refused(f"postgresql://nobody:s3cret-pass@{server}/postgres")
    assert login.startswith(f"The PostgreSQL server at {server} refused the login: ")
    assert "nobody" in login
    assert refused("postgresql://u:s3cret-pass@127.0.0.1:port/db") == (
        "The store postgresql://u:***@127.0.0.1:port/db is not a PostgreSQL URL: its port is "
        "not a number.")


def test_the_cli_refuses_in_one_line_with_exit_code_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["list", "--store", f"postgresql://orch:s3cret-pass@127.0.0.1:{free_port()}/x"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: Cannot connect "), err
    assert "s3cret-pass" not in err
    assert list(tmp_path.iterdir()) == []


def test_the_environment_variable_is_refused_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCHLAB_STORE", OTHER_SCHEMES[0])
    with pytest.raises(StoreError, match=r"^The store mysql://u:\*\*\*@h/db is a mysql URL"):
        Store()
    assert list(tmp_path.iterdir()) == []
