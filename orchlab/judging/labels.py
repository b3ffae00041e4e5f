"""People's labels of stored runs: a person answers a judge's question about one run (on the
judge's scale, or pass/fail, with a note), and the label is stored with who gave it and when.

Labels are what a judge is measured against (`orchlab.stats.agreement`). Every check is made
here, before anything is stored, each a sentence of its own: the run must be in the store, its
scenario must declare the judge, the score must be on that judge's scale; the store then
checks the person's name and that they have not labelled the run for that judge already
(`Store.save_label`).
"""

from __future__ import annotations

from orchlab.core.errors import LabelError, ScenarioError
from orchlab.core.records import Label, new_label_id
from orchlab.scenario import get_scenario
from orchlab.store.store import Store, checked_who

__all__ = ["label_run"]


def label_run(store: Store, run_id: str, judge: str, score: float | str, who: str,
              note: str | None = None, replace: bool = False) -> Label:
    """Store `who`'s label of a run (its id, or a unique prefix of it) for one of its
    scenario's judges and return it as stored; `score` as the judge scores (a whole number
    on its scale, or pass/fail). LabelError (LabelExists for a second label by the same
    person, unless `replace`) in one sentence otherwise, and nothing is stored."""
    checked_who(who)  # the cheapest refusal first
    found = store.locate_run(run_id)
    if found is None:
        raise LabelError(f"The store {store.shown} holds no run {run_id!r} (or more than one "
                         "starts with it).")
    full_id, experiment_id, scenario_name = found
    try:
        rubric = get_scenario(scenario_name).judge(judge)
    except ScenarioError as exc:
        raise LabelError(str(exc)) from None
    label = Label(label_id=new_label_id(), run_id=full_id, experiment_id=experiment_id,
                  judge=rubric.name, score=rubric.label_score(score), who=who,
                  note=(note or "").strip() or None)
    return store.save_label(label, replace=replace)
