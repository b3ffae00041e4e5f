"""A workshop's rules below the pages: names, whose experiment is whose, a delete the store
refuses for anyone but its participant or the teacher, the participant carried through a run,
an export and an import, and the class board's pooling checked by simulation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sales_scripts import sales_backend
from test_store import make_experiment, make_run

from orchlab.core import config, workshop
from orchlab.core.errors import ImportFileError, SpecError, StoreError
from orchlab.running.runner import ExperimentSpec, run_experiment
from orchlab.running.spec import replay_spec
from orchlab.stats import analysis, estimates, summary
from orchlab.store import export, importer
from orchlab.store.store import Store
from orchlab.testing.simulate import World, covers, draw


@pytest.fixture
def store(any_store: Store) -> Store:
    """The store rules run on SQLite and on a real PostgreSQL server."""
    return any_store


# -- the setting and names --------------------------------------------------------------------


def test_without_the_setting_there_is_no_workshop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(workshop.ENV_WORKSHOP, raising=False)
    monkeypatch.setenv(workshop.ENV_TEACHER_PASSWORD, "a long password")
    found = workshop.read()
    assert not found.enabled and not found.has_teacher
    assert not found.is_password("a long password")  # a password alone opens nothing


def test_the_teacher_password_is_checked_and_never_shown(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setenv(workshop.ENV_WORKSHOP, "1")
    monkeypatch.setenv(workshop.ENV_TEACHER_PASSWORD, "chalk-and-board")
    found = workshop.read()
    assert found.enabled and found.has_teacher and found.problem is None
    assert found.is_password("chalk-and-board")
    assert not found.is_password("chalk-and-boar") and not found.is_password("")
    assert "chalk" not in repr(found)
    assert "chalk-and-board" not in config.redact("typed chalk-and-board here")  # a secret


def test_a_password_too_short_to_scrub_makes_no_teacher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(workshop.ENV_WORKSHOP, "yes")
    monkeypatch.setenv(workshop.ENV_TEACHER_PASSWORD, "short")
    found = workshop.read()
    assert found.enabled and not found.has_teacher and not found.is_password("short")
    assert found.problem is not None and "at least 8 characters" in found.problem


@pytest.mark.parametrize(("typed", "kept"), [("  Ada  ", "Ada"), ("Ada   Lovelace", "Ada Lovelace"),
                                             ("李雷", "李雷")])
def test_names_are_trimmed(typed: str, kept: str) -> None:
    assert workshop.checked_name(typed) == kept


@pytest.mark.parametrize(("typed", "needle"), [
    ("   ", "Type a name"), ("x" * 41, "at most 40 characters; this one has 41"),
    ("Ada\u202eevil", "control or invisible"), ("Ada\x00", "control or invisible")])
def test_a_name_that_is_not_one_is_one_sentence(typed: str, needle: str) -> None:
    with pytest.raises(workshop.WorkshopError, match=needle):
        workshop.checked_name(typed)


def test_who_may_delete_what() -> None:
    assert workshop.refusal("ada", "ada", teacher=False) is None
    assert workshop.refusal("ada", "bob", teacher=True) is None
    assert workshop.refusal("ada", None, teacher=False) is None  # no workshop: a single user
    assert workshop.refusal("ada", "bob", teacher=False) == (
        "This experiment is ada's: only they or the teacher can delete it.")
    assert "outside the workshop: only the teacher can resume it" in (
        workshop.refusal(None, "bob", teacher=False, action="resume") or "")


# -- the store ---------------------------------------------------------------------------------


def test_a_participant_deletes_only_their_own(store: Store) -> None:
    store.save_experiment(replace(make_experiment("exp-ada"), participant="ada"))
    store.save_run(make_run("exp-ada", "run-ada"))
    with pytest.raises(StoreError, match="This experiment is ada's: only they or the teacher"):
        store.delete_experiment("exp-ada", owner="bob")
    assert store.get_experiment("exp-ada") is not None  # nothing lost
    assert len(store.load_runs(["exp-ada"])) == 1
    store.delete_experiment("exp-ada", owner="ada")
    assert store.get_experiment("exp-ada") is None and store.load_runs().empty


def test_the_teacher_deletes_any_and_a_participant_none_from_outside(store: Store) -> None:
    store.save_experiment(replace(make_experiment("exp-ada"), participant="ada"))
    store.save_experiment(make_experiment("exp-solo"))  # recorded outside a workshop
    with pytest.raises(StoreError, match="outside the workshop: only the teacher"):
        store.delete_experiment("exp-solo", owner="ada")
    store.delete_experiment("exp-ada")  # the teacher's delete names no owner
    store.delete_experiment("exp-solo")
    assert store.list_experiments() == []
    store.delete_experiment("exp-gone", owner="ada")  # gone already: nothing to refuse


def test_a_run_records_its_participant_and_a_replay_is_its_starters(store: Store) -> None:
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"],
                          participant="ada")
    result = run_experiment(spec, store, backend=sales_backend())
    exp = store.get_experiment(result.experiment_id)
    assert exp is not None and exp.participant == "ada" and exp.spec["participant"] == "ada"
    assert replay_spec(exp, participant="bob").participant == "bob"
    assert replay_spec(exp).participant is None


def test_list_names_a_workshops_participant(store: Store, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    from orchlab.cli.main import main

    store.save_experiment(replace(make_experiment("exp-ada"), participant="ada"))
    store.save_experiment(make_experiment("exp-solo"))
    assert main(["list", "--store", store.location]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert lines["exp-ada"].endswith("by ada") and "by " not in lines["exp-solo"]


def test_a_spec_with_a_bad_participant_is_refused(store: Store) -> None:
    spec = ExperimentSpec("sales_email", forms=["code"], inputs=["dana-acme"], participant="")
    with pytest.raises(SpecError, match="participant: Type a name"):
        run_experiment(spec, store, backend=sales_backend())
    assert store.list_experiments() == []


# -- export and import -------------------------------------------------------------------------


def test_the_participant_travels_with_an_export(tmp_path: Path) -> None:
    source = Store(tmp_path / "a.sqlite")
    source.save_experiment(replace(make_experiment("exp-ada"), participant="ada"))
    source.save_run(make_run("exp-ada", "run-ada"))
    document = json.loads(export.to_json(source, "exp-ada"))
    assert document["version"] == 4 and document["experiment"]["participant"] == "ada"
    target = Store(tmp_path / "b.sqlite")
    importer.import_file(target, json.dumps(document).encode(), "class.json")
    assert target.get_experiment("exp-ada").participant == "ada"  # type: ignore[union-attr]


def test_a_file_from_before_participants_comes_in_with_none(tmp_path: Path) -> None:
    source = Store(tmp_path / "a.sqlite")
    source.save_experiment(make_experiment("exp-old"))
    source.save_run(make_run("exp-old", "run-old"))
    document = json.loads(export.to_json(source, "exp-old"))
    document["version"] = 3
    del document["experiment"]["participant"]
    target = Store(tmp_path / "b.sqlite")
    importer.import_file(target, json.dumps(document).encode(), "old.json")
    assert target.get_experiment("exp-old").participant is None  # type: ignore[union-attr]


def test_a_file_whose_participant_is_not_a_name_is_refused(tmp_path: Path) -> None:
    source = Store(tmp_path / "a.sqlite")
    source.save_experiment(replace(make_experiment("exp-x"), participant="ada"))
    source.save_run(make_run("exp-x", "run-x"))
    document = json.loads(export.to_json(source, "exp-x"))
    document["experiment"]["participant"] = "ada\u202e" + "x" * 100
    target = Store(tmp_path / "b.sqlite")
    with pytest.raises(ImportFileError, match="names its participant .* which is not a name"):
        importer.import_file(target, json.dumps(document).encode(), "bad.json")
    assert target.list_experiments() == []


# -- the class board's pooling -----------------------------------------------------------------


def _class(rng: np.random.Generator, world: World, participants: int, only_a: int
           ) -> pd.DataFrame:
    """A class: each participant's own experiment of `world` (their own inputs' latencies,
    their own machine's speed), the first `only_a` of them running form a alone."""
    frames = []
    for p in range(participants):
        runs = draw(world, rng, f"exp-{p}").runs
        runs = runs.assign(wall_ms=runs["wall_ms"] * rng.lognormal(0, 1.0))  # their machine
        frames.append(runs[runs["form"] == "a"] if p < only_a else runs)
    return pd.concat(frames, ignore_index=True)


def test_pooled_runs_pair_within_a_participant_never_across() -> None:
    rng = np.random.default_rng(7)
    runs = _class(rng, World(inputs=3), participants=4, only_a=1)
    rows_a, rows_b = estimates.pair_rows(runs, "a", "b")
    crossed = (runs["experiment_id"].to_numpy()[rows_a]
               != runs["experiment_id"].to_numpy()[rows_b]).sum()
    assert crossed > 0  # by input and repetition alone, a lone form-a run pairs with another's
    pooled = analysis.pooled(runs)
    rows_a, rows_b = estimates.pair_rows(pooled, "a", "b")
    assert len(rows_a) == 9  # three participants ran both forms on three inputs
    assert (pooled["experiment_id"].to_numpy()[rows_a]
            == pooled["experiment_id"].to_numpy()[rows_b]).all()
    assert pooled.drop(columns="repetition").equals(runs.drop(columns="repetition"))


def test_the_class_boards_interval_covers_the_truth_about_95_percent() -> None:
    """Twenty participants, three of whom ran one form only, each on a machine of their own
    speed: the pooled latency ratio's 95% interval, paired within participants, covers the
    true ratio about 95% of the time."""
    rng = np.random.default_rng(2026)
    world = World(inputs=2, latency_ratio=1.3)
    seen = []
    for _ in range(300):
        runs = analysis.pooled(_class(rng, world, participants=20, only_a=3))
        result = summary.summarize_runs(runs, baseline="b", by="group")
        block = next(b for b in result["comparisons"] if b["group"] == "a")
        seen.append(covers(block, "wall_ms", world.latency_ratio))
    given = [s for s in seen if s is not None]
    rate = sum(given) / len(given)
    print(f"class board latency interval: covers {rate:.1%} of {len(given)}")
    assert len(given) == 300 and 0.92 <= rate <= 0.98
