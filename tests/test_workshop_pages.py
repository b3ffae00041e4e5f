"""A workshop's pages in AppTest: the name asked once, "mine" and "the class" on History,
Compare and Trace, a delete refused for another's experiment and the teacher's allowed, the
class board's pooled counts; and nothing of it without the setting."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from apptest_pages import APP, app_on
from streamlit.testing.v1 import AppTest
from test_store import make_experiment, make_run

from orchlab.core import workshop
from orchlab.running.jobs import ExperimentJob
from orchlab.running.runner import ExperimentSpec
from orchlab.store.store import Store

PASSWORD = "chalk-and-board"


@pytest.fixture
def class_store(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A workshop's store: ada's and bob's experiments of sales_email, code and llm on the
    same input, and one recorded before the workshop."""
    monkeypatch.setenv(workshop.ENV_WORKSHOP, "1")
    monkeypatch.setenv(workshop.ENV_TEACHER_PASSWORD, PASSWORD)
    store = Store(app_env)
    for who in ("ada", "bob"):
        store.save_experiment(replace(make_experiment(f"exp-{who}"), participant=who))
        for form in ("code", "llm"):
            store.save_run(replace(make_run(f"exp-{who}", f"run-{who}-{form}"), form=form))
    store.save_experiment(make_experiment("exp-solo"))
    store.save_run(make_run("exp-solo", "run-solo"))
    yield store
    store.close()


def joined(name: str, page: str | None = None) -> AppTest:
    """A fresh session that gives its name, then opens `page`."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    at.text_input(key="workshop_join").input(name)
    at.button[0].click().run()  # the form's submit button
    assert not at.exception, at.exception
    if page is not None:
        at.switch_page(page).run()
        assert not at.exception, at.exception
    return at


def test_a_session_is_asked_its_name_once_and_nothing_runs_before(class_store: Store) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert [t.value for t in at.title] == ["Orchestration Lab: the workshop"]
    assert at.text_input(key="workshop_join").label == "Your name"
    at.text_input(key="workshop_join").input("   ")
    at.button[0].click().run()
    assert any("Type a name" in e.value for e in at.error)
    at.text_input(key="workshop_join").input(" Ada ")
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value != "Orchestration Lab: the workshop"  # the Run page now
    assert any("You are Ada." in c.value for c in at.sidebar.caption)


def test_history_shows_mine_then_the_class(class_store: Store) -> None:
    at = joined("ada", "views/history.py")
    shown = at.dataframe[0].value["Experiment"].tolist()
    assert shown == ["exp-ada"]
    at.toggle(key="history_class").set_value(True).run()
    assert sorted(at.dataframe[0].value["Experiment"]) == ["exp-ada", "exp-bob", "exp-solo"]
    assert set(at.dataframe[0].value["Participant"]) == {"ada", "bob", "(none)"}


def test_a_participant_cannot_delete_anothers_experiment(class_store: Store) -> None:
    at = joined("ada", "views/history.py")
    at.toggle(key="history_class").set_value(True).run()
    at.selectbox(key="history_chosen").set_value("exp-bob").run()
    assert any("This experiment is bob's: only they or the teacher can delete it." in c.value
               for c in at.caption)
    assert at.button(key="history_delete").disabled
    assert at.checkbox(key="history_confirm_exp-bob").disabled
    at.selectbox(key="history_chosen").set_value("exp-ada").run()
    at.checkbox(key="history_confirm_exp-ada").check().run()
    at.button(key="history_delete").click().run()
    assert class_store.get_experiment("exp-ada") is None
    assert class_store.get_experiment("exp-bob") is not None


def test_the_teacher_deletes_anothers_and_sees_the_class_board(class_store: Store) -> None:
    at = joined("Ms Lee")
    at.text_input(key="workshop_password").input("wrong password")
    at.button(key="workshop_sign_in").click().run()
    assert any("not the teacher's password" in e.value for e in at.sidebar.error)
    at.text_input(key="workshop_password").input(PASSWORD)
    at.button(key="workshop_sign_in").click().run()
    assert any("the teacher." in c.value for c in at.sidebar.caption)
    at.switch_page("views/board.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Participants": "2", "Experiments": "2", "Runs": "4"}  # not exp-solo
    assert at.dataframe[0].value["Figure"].tolist()[:1] == ["Success rate"]
    at.toggle(key="board_present").set_value(True).run()  # large type: a table, not a grid
    assert not at.exception and at.table and "Success rate" in at.table[0].value.index
    at.switch_page("views/history.py").run()
    at.toggle(key="history_class").set_value(True).run()
    at.selectbox(key="history_chosen").set_value("exp-bob").run()
    at.checkbox(key="history_confirm_exp-bob").check().run()
    at.button(key="history_delete").click().run()
    assert class_store.get_experiment("exp-bob") is None


def test_a_participant_never_sees_the_board(class_store: Store) -> None:
    at = joined("bob")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/board.py")  # the page is not in a participant's navigation


def test_compare_and_trace_show_mine_by_default(class_store: Store) -> None:
    at = joined("bob", "views/compare.py")
    assert at.multiselect(key="compare_experiments_sales_email").options == [
        o for o in at.multiselect(key="compare_experiments_sales_email").options
        if "exp-bob" in o]
    at.toggle(key="compare_class").set_value(True).run()
    assert len(at.multiselect(key="compare_experiments_sales_email").options) == 3
    at.switch_page("views/trace.py").run()
    assert [o for o in at.selectbox(key="trace_experiment").options if "exp-" in o] == [
        o for o in at.selectbox(key="trace_experiment").options if "exp-bob" in o]


def test_without_the_setting_nothing_changes(app_env: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    monkeypatch.delenv(workshop.ENV_WORKSHOP, raising=False)
    store = Store(app_env)
    store.save_experiment(replace(make_experiment("exp-ada"), participant="ada"))
    store.save_experiment(make_experiment("exp-solo"))
    at = app_on("views/history.py")
    assert "Participant" not in at.dataframe[0].value.columns
    assert sorted(at.dataframe[0].value["Experiment"]) == ["exp-ada", "exp-solo"]
    assert not at.toggle or all(t.key != "history_class" for t in at.toggle)
    assert not any(h.value == "Workshop" for h in at.sidebar.header)



def timers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The periodic fragments (the browser's rerun timers) script runs register from now on,
    by fragment id: cleared by the caller before the run it counts."""
    from streamlit.runtime.forward_msg_queue import ForwardMsgQueue

    found: list[str] = []
    original = ForwardMsgQueue.enqueue

    def enqueue(self: ForwardMsgQueue, msg: Any) -> None:
        if msg.WhichOneof("type") == "auto_rerun":
            found.append(msg.auto_rerun.fragment_id)
        original(self, msg)

    monkeypatch.setattr(ForwardMsgQueue, "enqueue", enqueue)
    return found


def a_running_job(store: Store) -> ExperimentJob:
    """A job as a page sees one that runs: not finished (never started, so it stays so for
    the whole test)."""
    spec = ExperimentSpec("sales_email", forms=["code", "llm"], inputs=["dana-acme"],
                          backend="scripted:sales")
    return ExperimentJob(spec, store)


def test_a_page_has_one_periodic_fragment_at_a_time(class_store: Store,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamlit can drop a finished script run's messages when another timer's rerun request
    arrives just after it (`views._class.page_is_live`): with the stage watch beside the Run
    page's live panel and end watch (three timers), 2 of 20 pages of a class never showed
    their result. A page that draws a live fragment looks at the stage from it instead."""
    from views._class import stage

    registered = timers(monkeypatch)
    at = joined("ada")  # the Run page, idle: the stage watch only
    registered.clear()
    at.run()
    assert len(registered) == 1, registered
    idle_watch = registered[0]

    at.session_state["run_job"] = a_running_job(class_store)
    registered.clear()
    at.run()
    assert not at.exception, at.exception
    assert any(s.label.startswith("Running 0/") for s in at.status)
    assert len(set(registered)) == 1 and idle_watch not in registered, registered

    job = a_running_job(class_store)
    stage().show(job, "ada's experiment, replayed")
    try:
        registered.clear()
        at.switch_page("views/stage.py").run()
        assert not at.exception, at.exception
        assert any("runs replayed" in c.value for c in at.caption)
        assert len(set(registered)) == 1 and idle_watch not in registered, registered
    finally:
        stage.clear()
