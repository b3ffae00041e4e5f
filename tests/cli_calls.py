"""One way for tests to call the CLI in-process and read what it printed."""

from __future__ import annotations

import pytest

from orchlab.cli.main import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`orchlab ARGV...` in this process: its exit code, stdout and stderr (capsys is read, so
    what came before the call is left out)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
