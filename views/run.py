"""Run: one scenario in the chosen forms, side by side, with a live race, progress and a
Cancel button; presenter mode (`?present=1`) shows one run per form in large type."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from typing import Any

import streamlit as st

from orchlab.backends import BackendError
from orchlab.core.backend_ids import is_local_id
from orchlab.core.records import RunRecord
from orchlab.running import cluster as cluster_module
from orchlab.running import presets, runner, timing, workers
from orchlab.running.jobs import ExperimentJob, JobSnapshot
from orchlab.running.spec import plan_runs
from orchlab.scenario import DEFAULT_FORMS
from orchlab.stats import summary
from orchlab.stats.findings import label, title
from views._class import look_at_stage, participant
from views._models import agent_models, backends_choice
from views._race import (
    drawing_live,
    final_outputs,
    how_drawn,
    presenter_style,
    race_view,
    waits_for_end,
)
from views._setup import (
    file_input_choices,
    file_key,
    inputs_upload,
    presenter_form,
    preset_choice,
)
from views._shared import (
    backend_id,
    get_backend,
    get_scenarios,
    runs_frame,
    store_or_stop,
)
from views._widgets import code_md, escape_md, run_card

REFRESH_S = 2.0
"""The live panel redraws every two seconds, no faster than people read it: each redraw costs
the dashboard (for every session watching a race) and the browser (a picture drawn again),
and a class of twenty on two cores fell tens of seconds behind at one a second (issue 30).
The race itself is computed once per change of the job (`views._race.current_race`)."""
RESULT_SHOWN = "run_result_shown"
"""The job whose result the live panel drew in place; its next redraw is the full rerun."""
FIRST_DRAW = "run_live_first_draw"
"""The live panel's session key for `views._race.drawing_live`: a full script run that draws
the panel of a job started before it (a page opened again, a widget changed) does not wait;
the run that starts the job does, so an experiment shorter than a redraw shows its result at
once."""


def _sync_present() -> None:
    """Keep `?present=1` in the URL while presenter mode is on, so the link opens it."""
    if st.session_state["run_present"]:
        st.query_params["present"] = "1"
    else:
        st.query_params.pop("present", None)


st.title("Run an experiment")
store = store_or_stop()
scenarios = get_scenarios()
if "run_present" not in st.session_state:
    st.session_state["run_present"] = st.query_params.get("present") == "1"
present = st.toggle("Presenter mode", key="run_present", on_change=_sync_present,
                    help="Large type, one input, one run per form, no settings: the race big.")
if present:
    presenter_style()
name = st.selectbox("Scenario", sorted(scenarios), key="run_scenario")
scenario = scenarios[name]
st.caption(scenario.description)
defaults = runner.ExperimentSpec(scenario=name)  # the CLI's defaults too


def planned(forms: list[str], input_ids: list[str], reps: int,
            backend_ids: list[str]) -> list[runner.PlannedRun]:
    """The core's own plan of these choices (forms x backends x inputs x repetitions)."""
    return plan_runs(runner.ExperimentSpec(scenario=name, forms=forms, repetitions=reps,
                                           backend=backend_ids[0], backends=backend_ids),
                     input_ids)


def plan_line(forms: list[str], input_ids: list[str], reps: int,
              backend_ids: list[str]) -> str:
    """How many runs Run will start, counted by the core's own plan (never recounted here)."""
    if not forms or not input_ids or not backend_ids:
        missing = "form" if not forms else "input" if not input_ids else "backend"
        return f"Choose at least one {missing}: nothing would run."
    size = len(planned(forms, input_ids, reps, backend_ids))

    def n(count: int, word: str) -> str:
        return f"{count} {word}{'s' if count != 1 else ''}"

    matrix = f" x {n(len(backend_ids), 'backend')}" if len(backend_ids) > 1 else ""
    return (f"This will start {n(size, 'run')}: {n(len(forms), 'form')}{matrix} x "
            f"{n(len(input_ids), 'input')} x {n(reps, 'repetition')}.")


def settings_form() -> runner.ExperimentSpec | None:
    """The full settings; once Run was pressed (`PRESSED`) with an input chosen, the spec of
    the values this rerun draws, i.e. the ones the page shows."""
    with st.expander(f"The forms of {name}"):
        st.markdown("\n".join(f"- **{title(f.id)}** (`{f.id}`, {f.family}): {f.description}"
                               for f in scenario.forms))
    chosen_backends = backends_choice(backend_id())
    # Quick start is offered when the embedded model is among them (the sidebar's, or any).
    preset_choice(next((b for b in chosen_backends if presets.offered(b)), backend_id()))
    loaded, refused = inputs_upload(scenario)  # a file's rows replace the scenario's inputs
    top_left, top_right = st.columns(2)
    if loaded is None:
        input_labels = {i.label: i.id for i in scenario.inputs}
        chosen = top_left.multiselect("Inputs", list(input_labels),
                                      default=list(input_labels)[:1], key=f"run_inputs_{name}")
    else:
        input_labels = file_input_choices(loaded)
        chosen = top_left.multiselect("Inputs (from the file)", list(input_labels),
                                      default=list(input_labels),
                                      key=f"run_inputs_{name}_{file_key(loaded)}")
    forms = top_left.multiselect("Forms", scenario.form_ids,
                                 default=[f for f in DEFAULT_FORMS if f in scenario.form_ids],
                                 key=f"run_forms_{name}", format_func=label)
    reps = top_right.number_input("Repetitions per form and input", 1, runner.MAX_REPETITIONS,
                                  key="run_reps")
    agent_backends, assignment = agent_models(scenario)
    with st.container(border=True):
        choices = _settings_fields(forms, [input_labels[c] for c in chosen], int(reps),
                                   chosen_backends, refused)
    if time.monotonic() - st.session_state.get(PRESSED, -PRESS_KEPT_S) >= PRESS_KEPT_S:
        return None
    if refused:  # Run is disabled; a press from before the file came is not answered
        return None
    if not chosen or not chosen_backends:
        st.error(f"Choose at least one {'input' if not chosen else 'backend'}.")
        return None
    # As `orchlab run --backend A --backend B --agent-backend AGENT=BACKEND --assignment NAME`
    # builds it (cli.main.spec_from_args): `backends` only for a matrix of two or more.
    return presets.experiment_spec(
        name, chosen_backends[0],
        backends=chosen_backends if len(chosen_backends) > 1 else [], forms=forms,
        repetitions=int(reps), inputs=[input_labels[c] for c in chosen],
        input_rows=loaded.rows if loaded else None, agent_backends=agent_backends,
        assignment=assignment, **choices)


PRESSED = "run_pressed"
"""When Run's callback ran (monotonic seconds); cleared once the press is answered (a job
started, or why not)."""
PRESS_KEPT_S = 10.0
"""A press left unanswered longer (the user went to another page at once) starts nothing:
returning to Run later must not start an experiment nobody is waiting for."""
RUN_KEY = "run_start"
"""Run's widget key."""


def _press_run() -> None:
    """Run's callback, called as the press arrives, before the page reruns (issue 23).

    A press often comes with a field still being typed in, which commits on blur, i.e. on
    this very click. A form's submit button sent the press at once and the commit right after,
    whose rerun stopped the press's before any callback ran: a lost click. A plain button's
    press goes with the pending commit, in one rerun, or after it. Kept in the session, the
    press also outlives a rerun stopped later on: the next one, drawing the values shown,
    starts the experiment."""
    st.session_state[PRESSED] = time.monotonic()


def _settings_fields(forms: list[str], input_ids: list[str], reps: int,
                     backend_ids: list[str], refused: bool = False) -> dict[str, Any]:
    """The settings under the inputs, as spec fields, with the run count, the runs-needed
    hint, the expected duration and Run (see `_press_run`; disabled while an inputs file is
    refused). No `st.form`: every field commits itself, so those lines always follow what is
    shown."""
    left, right = st.columns(2)
    variant = left.selectbox("Prompt variant", ["original", *store.list_variants(name)],
                             key="run_variant")
    concurrency = right.number_input("Concurrency", 1, runner.MAX_CONCURRENCY,
                                     defaults.concurrency, key="run_concurrency")
    n_workers = right.number_input(
        "Workers (processes, or Ray actors)", 1, workers.MAX_WORKERS, defaults.workers,
        key="run_workers",
        help="Spread the runs over workers, one event loop each (OpenAI and compatible "
             f"servers only). Helps when a fast server keeps one process busy; this machine "
             f"has {workers.cpu_count()} cores.")
    cluster = _cluster_field(right)
    override = right.checkbox("Override every agent's temperature", value=False,
                              key="run_override_temperature",
                              help="Off: each agent runs with the temperature in its own file "
                                   "(the picker's 0.0, for instance).")
    temperature = right.slider("Temperature for every agent (when overridden)", 0.0, 2.0, 0.7,
                               0.1, key="run_temperature")
    max_turns = right.number_input("max_turns", 1, 50, key="run_max_turns")
    max_tokens = right.number_input("Max tokens per reply (0: each agent's own limit)", 0,
                                    32_000, key="run_max_tokens")
    timeout = right.number_input("Per-run timeout (s)", 1, 3600, key="run_timeout",
                                 help="A run still going after this is stopped (timeout).")
    tool_budget = left.number_input(
        f"Tool budget per run (0: this scenario's own, {scenario.tool_budget})", 0, 10_000, 0,
        key="run_tool_budget", help="Every tool call counts, agents called as tools included; "
        "the call over the budget stops the run (error class tool_budget).")
    st.caption(plan_line(forms, input_ids, reps, backend_ids))
    stored = runs_frame(store.location, (), name)
    hint = summary.suggest_runs(stored, forms, reps * len(input_ids))
    if hint:
        st.caption(hint)
    if forms and input_ids and backend_ids:
        first = backend_ids[0]  # a matrix's duration: from its first backend's runs
        st.caption(timing.expected_text(
            stored, first, dict(Counter(p.form for p in planned(forms, input_ids, reps,
                                                                 backend_ids))),
            int(concurrency), is_local_id(first)))
    st.button("Run", type="primary", key=RUN_KEY, on_click=_press_run, disabled=refused)
    return {
        "concurrency": int(concurrency), "workers": int(n_workers), "cluster": cluster,
        "max_turns": int(max_turns),
        "timeout_s": float(timeout), "tool_budget": int(tool_budget) or None,
        "model_settings": {k: v for k, v in (("temperature", temperature if override else None),
                                             ("max_tokens", int(max_tokens) or None))
                           if v is not None},
        "agent_overrides": store.load_variant(name, variant) if variant != "original" else {},
        "variant": None if variant == "original" else variant,
    }


def _cluster_field(column: Any) -> str:
    """Where the workers run: this machine, a local Ray, or a Ray cluster's address."""
    missing = cluster_module.missing_ray()
    where = column.selectbox(
        "Run the workers on", list(CLUSTER_CHOICES), key="run_cluster",
        help=missing or "Ray: each worker is a Ray actor; the runs are stored here.")
    address = column.text_input("Ray cluster address", "ray://127.0.0.1:10001",
                                key="run_cluster_address",
                                help="Used with \"a Ray cluster\": ray://HOST:PORT")
    chosen = CLUSTER_CHOICES[where]
    return address.strip() if chosen == "address" else chosen


CLUSTER_CHOICES = {"this machine": "", "Ray on this machine": "ray", "a Ray cluster": "address"}
"""The Run page's choices for ExperimentSpec.cluster ("address": the address typed)."""


def start(spec: runner.ExperimentSpec) -> None:
    """Start the spec's job for this session, or say in one sentence why it cannot start.
    In a workshop the experiment records the session's participant."""
    spec = dataclasses.replace(spec, participant=participant())
    try:
        runner.prepare(spec)
        # Every backend of a matrix opens (cached) and is checked here, before anything is
        # stored; the job runs on the first, and the runner resolves and checks the others
        # and the agents' own backends again before it stores the experiment.
        opened = [runner.check_backend(spec, get_backend(b)) for b in spec.backend_ids]
        st.session_state["run_last_spec"] = spec
        # The press is answered before the job starts: a session-state write checks for a
        # newer rerun first and may stop this one, which must then not start a second job.
        st.session_state.pop(PRESSED, None)
        st.session_state["run_job"] = ExperimentJob(spec, store, backend=opened[0]).start()
    except (BackendError, LookupError, ValueError) as exc:  # may quote a server's reply
        st.error(escape_md(exc))


try:
    new_spec = presenter_form(store, scenario, backend_id()) if present else settings_form()
    job: ExperimentJob | None = st.session_state.get("run_job")
    started: ExperimentJob | None = None
    if new_spec is not None and not (job and not job.snapshot().finished):
        start(new_spec)
        job = started = st.session_state.get("run_job")
except Exception:  # an error answers the press too: it must not start a later rerun
    st.session_state.pop(PRESSED, None)
    raise
# Answered: started, refused in a sentence, or a job still runs. A rerun that interrupts this
# run before (Streamlit's control exceptions are no Exception) leaves the press to the next.
st.session_state.pop(PRESSED, None)


FORMS_PER_ROW = 3
"""Side by side up to three forms; more wrap to further rows, so a card stays readable."""


def show_results(snap: JobSnapshot, job: ExperimentJob, cards: bool = True) -> None:
    """Each form's progress and, with `cards`, a picker of its runs and the picked one's card
    (the latest unless one was picked)."""
    forms = [f for f in job.spec.forms if snap.planned_by_form.get(f) or snap.done_by_form.get(f)]
    per_row = min(FORMS_PER_ROW, max(1, len(forms)))
    columns = [c for start in range(0, len(forms), per_row) for c in st.columns(per_row)]
    for column, form in zip(columns, forms, strict=False):
        records: list[RunRecord] = [r for r in snap.records if r.form == form]
        with column:
            st.subheader(escape_md(title(form)))
            done, planned = snap.done_by_form.get(form, 0), snap.planned_by_form.get(form, 0)
            st.progress(done / max(planned, 1), text=f"{done}/{planned} runs")
            if records and cards:
                run_card(_picked_run(form, records), scenario.rule)


def _picked_run(form: str, records: list[RunRecord]) -> RunRecord:
    """The run shown for a form: the latest, unless the user picked one that still exists.

    Options are run ids, not positions, and the latest is set before the widget is drawn:
    a position kept from an earlier rerun would point at another run once runs are added."""
    by_id = {r.run_id: r for r in records}
    key = f"run_pick_{form}"
    if st.session_state.get(f"run_pinned_{form}") not in by_id:
        st.session_state[key] = records[-1].run_id
    chosen = st.selectbox("Run", list(by_id), key=key, on_change=_pin, args=(form,),
                          format_func=lambda run_id: _run_label(by_id[run_id]))
    return by_id[chosen]


def _pin(form: str) -> None:
    """The user picked a run: keep showing it while later runs arrive."""
    st.session_state[f"run_pinned_{form}"] = st.session_state[f"run_pick_{form}"]


def settings_line(spec: runner.ExperimentSpec) -> str:
    """What the runs run with: overrides, or each agent's own settings; the budget in force.
    Markdown, its values escaped: a resumed experiment's spec may come from someone's file."""
    overrides = escape_md(", ".join(f"{k}={v}" for k, v in spec.model_settings.items()))
    budget = spec.budget(scenarios[spec.scenario])
    source = "set for this experiment" if spec.tool_budget else "the scenario's own"
    preset = f"Preset: {escape_md(spec.preset)} · " if spec.preset else ""
    return (f"{preset}Model settings: {overrides or 'each agent' + chr(39) + 's own'} · "
            f"max_turns {spec.max_turns} · runs stopped at {spec.timeout_s:g} s · tool budget "
            f"{budget} calls per run ({source}).")


def _run_label(record: RunRecord) -> str:
    return (f"{record.input_id} #{record.repetition} · {record.error_class or record.status} · "
            f"{record.metrics.wall_ms:,.0f} ms")


@st.fragment(run_every=REFRESH_S)
def live_panel(current: ExperimentJob, big: bool) -> None:
    """Redraws every two seconds while the job runs and then watches for its end. The result
    is drawn where the live panel was, at once and without the page above it: a result that
    waited for a full rerun was drawn again with the whole settings form, which on a class's
    shared machine took its browser seconds (bench/classroom.py). The full rerun that stops
    this timer comes at the next redraw; it draws the result again, so a result whose run
    Streamlit dropped (`views._class.page_is_live`) shows then. The page's one periodic
    fragment: it also looks at a workshop's stage."""
    look_at_stage()
    draw = how_drawn(FIRST_DRAW)
    snap = current.snapshot()
    if snap.finished:
        if draw == "redraw" and st.session_state.get(RESULT_SHOWN) != current.job_id:
            st.session_state[RESULT_SHOWN] = current.job_id
            final_panel(current, big, st.empty())
            return
        # Nothing drawn before it: an element this run drew in the result's place reached the
        # browser whenever it was sent before the rerun started, and the result was built
        # anew, closing what the user had opened (tests/test_browser_result.py).
        st.rerun()  # a full run draws the result outside the fragment and stops its timer
    slot = st.empty()
    head, body = panel_parts(slot)
    with head:
        eta = timing.eta_text(len(snap.records), snap.total, snap.elapsed_s)
        with st.status(f"Running {len(snap.records)}/{snap.total} runs… {eta}",
                       state="running"):
            st.write(f"Backend {code_md(' + '.join(current.spec.backend_ids))}; runs are "
                     "saved as they finish.")
            st.write(settings_line(current.spec))
        if st.button("Cancel", key="run_cancel"):
            current.cancel()
        # The picture, not the plotly figure, unless presenting: this redraws on every
        # participant's page every two seconds (bench/classroom.py).
        race_view(current, snap, big, key="run_race_live", drawing="figure" if big else "picture")
    if not big:
        with body:
            # No run cards (keyed widgets) in the run that may draw the result in their
            # place: a key is drawn once per run. That run has just started the job.
            show_results(snap, current, cards=draw != "wait")
    if not waits_for_end(current, draw):
        return
    if draw == "redraw":
        st.rerun(scope="fragment")  # the next run of this fragment draws the result
    st.session_state[RESULT_SHOWN] = current.job_id
    final_panel(current, big, slot)  # the full run that started the job: in place


def panel_parts(slot: Any) -> tuple[Any, Any]:
    """The live panel's and the result's one layout: a head (status, race) and a body (each
    form's progress and run card), in `slot` (an `st.empty`, whose content a later draw in the
    same run replaces). The result drawn in the live panel's place and the result the full
    rerun after it draws put the same elements at the same places, so the browser updates
    the result it shows: drawn one level higher, it was built anew, and a section the user
    had opened in the meantime closed (tests/test_browser_result.py)."""
    with slot.container():
        return st.container(), st.container()


def final_panel(current: ExperimentJob, big: bool, slot: Any) -> None:
    """The experiment as the store counts it (`Store.run_counts`, as History and the CLI):
    green only when every planned run finished, so a dead server is never a success. The
    race as it ended: its sentence and lanes, and its figure on request. Drawn in `slot`, in
    the live panel's layout (`panel_parts`)."""
    snap = current.snapshot()
    head, body = panel_parts(slot)
    with head:
        if snap.error:  # a job's sentences may quote a provider's error or a file's ids
            st.error(escape_md(snap.error))
            return
        if snap.result is None:
            return
        if snap.warning:  # it holds a command with a URL to copy: a code span keeps it exact
            st.warning(code_md(snap.warning))
        counts = current.store.run_counts(snap.result.experiment_id)
        done = snap.result.status == "completed" and counts.missing == 0
        st.status(escape_md(f"Experiment {snap.result.experiment_id}: {snap.result.status}, "
                            f"{counts.sentence()}"), state="complete" if done else "error")
        if counts.missing:
            st.caption(f"History can resume it: a resume runs the {counts.missing} planned "
                       "runs that never finished, under the same experiment id.")
        st.caption(settings_line(current.spec))  # its runs are in every frame read from now on
        if big:
            race_view(current, snap, big, key="run_race_final")
            final_outputs(snap, current.spec.forms)
            return
        with st.expander("The race, as it ended", expanded=False):
            # On request only: a collapsed expander's figure is still drawn, and a browser
            # spent ~0.8 s of CPU on it after every result (bench/classroom.py: twenty pages).
            drawn = st.toggle("Draw the race's figure", key="run_final_race_figure")
            race_view(current, snap, big, key="run_race_final",
                      drawing="figure" if drawn else "")
    with body:
        show_results(snap, current)


if job is None:
    st.info("Choose a scenario and its forms and press Run. The results of each form appear "
            "side by side." if not present else "Choose a scenario and an input and press "
            "Start: each form runs once, side by side.")
elif not job.finished:
    drawing_live(FIRST_DRAW, wait=job is started)
    live_panel(job, present)
else:
    with st.container():  # where the live panel's fragment was: its result is updated in place
        final_panel(job, present, st.empty())
