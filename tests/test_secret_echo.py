"""A model that repeats this machine's secrets: every scenario and form runs against a server
that writes them into its answers, its tool arguments and its emails, and none of them reaches
the store (its file and WAL), an export, the report, the logs, the terminal or an OTLP payload
(issue 25: redaction at one boundary, covering every configured secret)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchlab.cli.main import main
from orchlab.scenario import discover
from orchlab.store.store import Store
from orchlab.testing.devserver import FakeOpenAIServer, policy_reply
from orchlab.testing.recording import RecordingServer

SECRETS = {
    "ORCHLAB_COMPAT_API_KEY": "sk-compat-ECHO-0123456789",
    "AWS_SECRET_ACCESS_KEY": "aws-ECHO-abcdefghij0123",
    "DB_PASSWORD": "pw-ECHO-qrstuvwxyz",
    "GITHUB_TOKEN": "ghp_ECHO_klmnopqrst4567",
    "BACKUP_STORE_URL": "postgresql://lab:pgpass-ECHO-9876@db.example/orchlab",
}
"""Configured on this machine: a provider key, secrets named otherwise than *_API_KEY, and a
password inside a store URL."""
LEAKS = [v for k, v in SECRETS.items() if k != "BACKUP_STORE_URL"] + ["pgpass-ECHO-9876"]
"""What must never be written: each secret value, and the URL's password on its own."""
SAID = " ".join(LEAKS)


def echoing(request: dict[str, Any]) -> dict[str, Any]:
    """The fake server's policy, with every secret appended to each text it writes."""
    message = policy_reply(request)
    if message.get("content"):
        message["content"] += f" (psst: {SAID})"
    for call in message.get("tool_calls") or []:
        args = json.loads(call["function"]["arguments"])
        call["function"]["arguments"] = json.dumps(
            {k: f"{v} {SAID}" if isinstance(v, str) else v for k, v in args.items()})
    return message


@pytest.fixture
def collector() -> Iterator[RecordingServer]:
    """An OTLP/HTTP receiver on 127.0.0.1 that keeps every payload it is sent."""
    with RecordingServer(content_type="application/x-protobuf") as receiver:
        yield receiver


def test_secrets_a_model_repeats_reach_nothing_the_lab_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collector: RecordingServer,
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ORCHLAB_OTLP_CONTENT", "1")  # message text too: the strictest case
    store = tmp_path / "store.sqlite"
    written: list[str] = []
    with FakeOpenAIServer(api_key=SECRETS["ORCHLAB_COMPAT_API_KEY"], policy=echoing) as server:
        monkeypatch.setenv("ORCHLAB_COMPAT_BASE_URL", server.base_url)
        for scenario in sorted(discover()):
            code = main(["--store", str(store), "run", "--scenario", scenario, "--forms",
                         "all", "--repeat", "1", "--backend",
                         f"compat:fake-model@{server.base_url}", "--otlp", collector.url])
            out, err = capsys.readouterr()
            written += [out, err]
            assert code in (0, 1), err
    assert server.stats.requests > 10 and collector.bodies
    exported = tmp_path / "exports"
    ids = [e.experiment_id for e in Store(store).list_experiments()]
    assert len(ids) == len(discover())
    for exp_id in ids:
        for fmt in ("json", "csv"):
            target = exported / f"{exp_id}.{fmt}"
            exported.mkdir(exist_ok=True)
            assert main(["--store", str(store), "export", exp_id, "--format", fmt,
                         "--output", str(target)]) == 0
        assert main(["--store", str(store), "report", exp_id, "-o",
                     str(exported / f"{exp_id}.html")]) == 0
        assert main(["--store", str(store), "summary", exp_id, "--format", "json"]) == 0
    written += [*capsys.readouterr(), caplog.text]
    files = [*exported.iterdir(), *tmp_path.glob("store.sqlite*")]
    places = {str(p): p.read_bytes() for p in files}
    places |= {f"otlp payload {i}": body for i, body in enumerate(collector.bodies)}
    places |= {f"terminal or log {i}": text.encode() for i, text in enumerate(written)}
    found = {where: [leak for leak in LEAKS if leak.encode() in data]
             for where, data in places.items()}
    found = {where: leaks for where, leaks in found.items() if leaks}
    assert not found, f"secrets written to: {found}"
    assert any(b"[REDACTED]" in data for data in places.values())  # they were there to hide


def test_a_secret_stored_before_it_was_configured_never_reaches_an_export(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sales_scripts import sales_backend

    from orchlab.running.runner import ExperimentSpec, run_experiment
    from orchlab.store import export

    store = Store(tmp_path / "s.sqlite")
    spec = ExperimentSpec("sales_email", inputs=["dana-acme"], backend="scripted:sales")
    result = run_experiment(spec, store, backend=sales_backend())
    exp_id = result.experiment_id
    body = store.load_outbox(result.records[0].run_id)[0]["body"]  # text a model wrote
    word = re.findall(r"[A-Za-z]{9,}", body)[0]
    monkeypatch.setenv("LATER_API_KEY", word)  # it turns out to be someone's key
    for fmt in ("json", "csv"):
        data = export.export_file(store, exp_id, fmt).data  # type: ignore[arg-type]
        assert word.encode() not in data and b"[REDACTED]" in data, fmt


def test_a_secret_pasted_into_an_inputs_file_never_reaches_the_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Someone else's cases file holds this machine's key in a cell: the experiment stores
    its inputs (and the prompts carry them), so the rows are scrubbed on their way in."""
    from sales_scripts import sales_backend

    from orchlab import backends

    key = SECRETS["GITHUB_TOKEN"]
    monkeypatch.setenv("GITHUB_TOKEN", key)
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"id": "dana", "name": "Dana", "role": f"CFO {key}",
                                 "company": "Acme", "email": "dana@acme.example"}) + "\n")
    store = tmp_path / "store.sqlite"
    backends.register("scripted", lambda _rest: sales_backend(), "test backend")
    try:
        assert main(["--store", str(store), "run", "--scenario", "sales_email",
                     "--inputs-file", str(cases), "--backend", "scripted:x"]) == 0
        assert main(["--store", str(store), "list"]) == 0
    finally:
        backends.unregister("scripted")
    out, err = capsys.readouterr()
    (experiment,) = Store(store).list_experiments()
    assert experiment.spec["input_rows"][0]["data"]["role"] == "CFO [REDACTED]"
    for path in tmp_path.glob("store.sqlite*"):
        assert key.encode() not in path.read_bytes(), path
    assert key not in out + err
