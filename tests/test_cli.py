"""The CLI against a temp store: run, list, export (JSON and CSV), and one-line user errors."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_calls import run_cli
from sales_scripts import sales_backend

from orchlab import backends
from orchlab.store.store import Store


@pytest.fixture(autouse=True)
def scripted_prefix() -> Iterator[None]:
    backends.register("scripted", lambda _rest: sales_backend(), "test backend")
    yield
    backends.unregister("scripted")


def test_run_list_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = str(tmp_path / "cli.sqlite")
    code, out, err = run_cli(capsys, "run", "--scenario", "sales_email", "--forms", "code,llm",
                             "--repeat", "2", "--concurrency", "3", "--backend", "scripted:x",
                             "--input", "dana-acme", "--store", store)
    assert code == 0, err
    for column in ("wall_ms_median", "wall_ms_p90", "tokens_mean", "cost_usd_mean",
                   "llm_calls_mean", "distinct_paths"):
        assert column in out
    exp_id = out.strip().splitlines()[-1].split()[1]
    assert exp_id.startswith("exp-")
    assert err.count("] code") == 2 and err.count("] llm") == 2

    code, out, _ = run_cli(capsys, "--store", store, "list")
    assert code == 0 and exp_id in out and "4/4 runs" in out

    code, out, _ = run_cli(capsys, "export", exp_id, "--format", "json", "--store", store)
    runs = json.loads(out)["runs"]
    assert len(runs) == 4
    first = runs[0]
    for field in ("run_id", "experiment_id", "scenario", "form", "input_id", "repetition",
                  "backend", "model", "started_at", "wall_ms", "status", "error_type",
                  "error_message", "final_output", "llm_calls", "tool_calls", "input_tokens",
                  "output_tokens", "cached_tokens", "reasoning_tokens", "cost_usd", "path",
                  "per_agent", "outcome", "spans", "outbox"):
        assert field in first, field
    span = first["spans"][0]
    for field in ("name", "kind", "parent", "start_ms", "end_ms", "model", "input_tokens",
                  "output_tokens"):
        assert field in span
    assert sum(s["input_tokens"] for s in first["spans"]) == first["input_tokens"]

    code, out, _ = run_cli(capsys, "export", exp_id[:12], "--format", "csv", "--store", store)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 4
    assert {"outcome_emails_sent", "outcome_writers_consulted", "outcome_picked"} <= set(rows[0])
    assert {r["outcome_emails_sent"] for r in rows} == {"1"}


@pytest.mark.parametrize("argv,needle", [
    (["run", "--scenario", "nope"], "Unknown scenario 'nope'"),
    (["run", "--scenario", "sales_email", "--input", "ghost", "--backend", "scripted:x"],
     "no input 'ghost'"),
    (["run", "--scenario", "sales_email", "--repeat", "0", "--backend", "scripted:x"],
     "repetitions must be between 1 and"),
    (["run", "--scenario", "sales_email", "--backend", "bogus"], "not of the form"),
    (["export", "exp-does-not-exist"], "No single experiment matches"),
])
def test_user_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], needle: str
) -> None:
    code, _, err = run_cli(capsys, "--store", str(tmp_path / "s.sqlite"), *argv)
    assert code == 2
    assert needle in err and err.count("\n") == 1


def test_store_that_is_not_sqlite(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bogus = tmp_path / "x.sqlite"
    bogus.write_bytes(b"\x00garbage" * 200)
    code, _, err = run_cli(capsys, "--store", str(bogus), "list")
    assert code == 2 and "Cannot use" in err


@pytest.mark.parametrize(("extra", "note", "expected"), [
    (["--repeat", "3"], "--repeat 3 replaces quick-start's 1 repetition",
     {"repetitions": 3, "max_turns": 4, "timeout_s": 90.0, "max_tokens": 128}),
    (["--max-tokens", "256", "--timeout", "60"],
     "--max-tokens 256 replaces quick-start's 128 tokens per reply; --timeout 60 replaces "
     "quick-start's 90 s per run",
     {"repetitions": 1, "max_turns": 4, "timeout_s": 60.0, "max_tokens": 256}),
])
def test_an_option_the_preset_sets_too_wins_and_says_so(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str], note: str,
        expected: dict[str, Any]) -> None:
    """`run --preset quick-start --repeat 3` ran one repetition without a word (issue 30): the
    option typed wins, stderr says what it replaced, and the experiment no longer claims the
    preset, whose limits it does not run with."""
    store = tmp_path / "p.sqlite"
    code, out, err = run_cli(capsys, "run", "--scenario", "sales_email", "--forms", "code",
                             "--input", "dana-acme", "--backend", "scripted:sales",
                             "--preset", "quick-start", *extra, "--store", str(store))
    assert code == 0, err
    assert f"note: {note}; the experiment is not recorded as quick-start" in err
    [exp] = Store(store).list_experiments()
    spec = exp.spec
    assert spec["preset"] is None
    assert {"repetitions": spec["repetitions"], "max_turns": spec["max_turns"],
            "timeout_s": spec["timeout_s"],
            "max_tokens": spec["model_settings"]["max_tokens"]} == expected


def test_the_preset_alone_or_an_option_equal_to_it_keeps_its_name(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = tmp_path / "p.sqlite"
    for extra in ([], ["--repeat", "1"]):
        code, _, err = run_cli(capsys, "run", "--scenario", "sales_email", "--forms", "code",
                               "--input", "dana-acme", "--backend", "scripted:sales",
                               "--preset", "quick-start", *extra, "--store", str(store))
        assert code == 0 and "note:" not in err, err
    assert [e.spec["preset"] for e in Store(store).list_experiments()] == ["quick-start"] * 2
