"""History: experiments with their spec and date; filter, delete, download CSV/JSON, import
a JSON export, replay a recorded one."""

from __future__ import annotations

import streamlit as st

from orchlab.backends import BackendError
from orchlab.core import workshop
from orchlab.core.errors import ImportFileError, StoreError
from orchlab.running.jobs import ExperimentJob
from orchlab.running.runner import ExperimentSpec
from orchlab.running.spec import replay_spec
from orchlab.scenario.inputs import input_table
from orchlab.store import export, importer
from orchlab.store.store import recorded_here
from views._class import class_toggle, delete_owner, is_teacher, participant, setting, visible
from views._replay import replay_note, speed_slider
from views._shared import clear_run_caches, get_backend, store_or_stop
from views._widgets import escape_md

st.title("History")
store = store_or_stop()
if deleted := st.session_state.pop("history_deleted", None):  # set by the Delete callback
    st.success(escape_md(deleted))  # ids, and below sentences, may come from a file
if refused_delete := st.session_state.pop("history_refused", None):  # the store's refusal
    st.error(escape_md(refused_delete))


def import_upload() -> None:
    """The upload's callback: it imports a file once when it is chosen (never again on a
    rerun), before the render that shows the outcome and lists the experiment."""
    upload = st.session_state.get("history_upload")
    if upload is None:
        return
    try:
        result = importer.import_file(store, upload.getvalue(), upload.name)
    except (ImportFileError, StoreError) as exc:  # one sentence; nothing was stored
        st.session_state["history_imported"] = ("error", str(exc))
        return
    clear_run_caches()
    st.session_state["history_imported"] = ("success", result.sentence())
    if result.notice:
        st.session_state["history_import_notice"] = result.notice


show_class = class_toggle("history_class")
experiments = visible(store.list_experiments(), show_class)
with st.expander("Import an experiment file", expanded=not experiments):
    st.file_uploader("JSON written by Download JSON or `python -m orchlab export`",
                     type=["json"], key="history_upload", on_change=import_upload)
if imported := st.session_state.pop("history_imported", None):
    kind, sentence = imported
    if kind == "success":
        st.success(escape_md(sentence))
    else:
        st.error(escape_md(sentence))
if notice := st.session_state.pop("history_import_notice", None):
    st.info(escape_md(notice))
if not experiments:
    st.info("No experiments yet: run one on the Run page or with `python -m orchlab run`.")
    st.stop()
left, mid, right = st.columns(3)
scenarios = left.multiselect("Scenario", sorted({e.scenario for e in experiments}),
                             key="history_scenarios")
statuses = mid.multiselect("Status", sorted({e.status for e in experiments}),
                           key="history_statuses")
text = right.text_input("Search (id, backend, variant, assignment)",
                        key="history_text").strip().lower()
shown = [
    e for e in experiments
    if (not scenarios or e.scenario in scenarios) and (not statuses or e.status in statuses)
    and (not text or text in f"{e.experiment_id} {e.backend} {e.spec.get('variant')} "
                             f"{e.spec.get('assignment')}".lower())
]
health = store.run_health()
st.dataframe([{
    "Experiment": e.experiment_id, "Created (UTC)": f"{e.created_at:%Y-%m-%d %H:%M:%S}",
    **({"Participant": e.participant or "(none)"} if setting().enabled else {}),
    "Scenario": e.scenario, "Backend": e.backend, "Variant": e.spec.get("variant") or "original",
    "Agent assignment": e.spec.get("assignment") or "none",
    "Forms": ",".join(e.spec.get("forms", [])), "Repetitions": e.spec.get("repetitions"),
    "Preset": e.spec.get("preset") or "",
    "Model settings": ", ".join(f"{k}={v}" for k, v in (e.spec.get("model_settings") or {})
                                .items()) or "each agent's own",
    "Tool budget": e.spec.get("tool_budget") or "scenario's own",
    "Runs": "{0.finished}/{0.planned}".format(store.run_counts(e.experiment_id)),
    "Status": e.status,
    "Failures by class": health.get(e.experiment_id, ("", 0))[0],
    "Retries": health.get(e.experiment_id, ("", 0))[1],
} for e in shown], hide_index=True, width="stretch")

if not shown:
    st.stop()
chosen = st.selectbox("Experiment", [e.experiment_id for e in shown], key="history_chosen")
exp = next(e for e in shown if e.experiment_id == chosen)
with st.expander("Spec"):
    st.json(exp.spec)
stored_rows = exp.spec.get("input_rows")
with st.expander(f"Inputs ({len(stored_rows)})" if isinstance(stored_rows, list) else "Inputs"):
    if isinstance(stored_rows, list):  # what ran, as stored: a table shows its text as text
        st.dataframe(input_table(stored_rows), hide_index=True, width="stretch")
    else:
        st.caption("Not stored with this experiment (recorded before inputs were kept in "
                   "the spec): it ran the scenario's own inputs.")
for column, fmt in zip(st.columns(2), ("csv", "json"), strict=True):
    exported = export.export_file(store, chosen, fmt)  # the bytes `orchlab export` writes
    column.download_button(f"Download {fmt.upper()}", exported.data, exported.file_name,
                           exported.mime, key=f"history_{fmt}")
st.caption(escape_md(replay_note(exp)))
if exp.records_calls and exp.status != "running":
    speed_column, button_column = st.columns([3, 1])
    with speed_column:
        speed = speed_slider("history_replay_speed")
    if button_column.button("Replay on the Run page", key="history_replay"):
        try:  # the backend reads the recording as the job starts: never a cached copy
            job = ExperimentJob(replay_spec(exp, speed, participant=participant()),
                                store).start()
        except (LookupError, ValueError) as exc:
            st.error(escape_md(f"{chosen} cannot be replayed: {exc}"))
        else:
            st.session_state["run_job"] = job
            st.switch_page("views/run.py")
counts = store.run_counts(chosen)  # what the Run page, the table and the CLI state
if exp.status != "running" and counts.missing:
    st.warning(escape_md(f"{chosen} is {exp.status}: {counts.sentence()}."))
    foreign = not recorded_here(exp)
    if foreign:  # an imported file chose this backend, not the user of this machine
        st.text(f"Recorded elsewhere: the missing runs would go to backend {exp.backend}.")
    # a resume writes runs into the experiment: its participant's, or the teacher's
    refused = workshop.refusal(exp.participant, participant(), is_teacher(), "resume")
    if refused:
        st.caption(escape_md(refused))
    agreed = refused is None and (
        not foreign or st.checkbox(f"Resume on {escape_md(exp.backend)}", key="history_resume_ok"))
    if st.button(f"Resume: run the {counts.missing} missing runs", key="history_resume",
                 disabled=not agreed):
        spec = ExperimentSpec(**exp.spec)
        try:  # start() plans again: an agent file changed since is one sentence here
            job = ExperimentJob(spec, store, backend=get_backend(spec.backend),
                                resume_id=chosen).start()
        except (BackendError, LookupError, ValueError) as exc:
            st.error(escape_md(f"{chosen} cannot be resumed: {exc}"))
        else:
            st.session_state["run_job"] = job
            st.switch_page("views/run.py")
st.divider()


def delete_experiment(experiment_id: str) -> None:
    """The Delete button's callback: it runs before the next render, so that render shows the
    message and starts from a fresh selection (a confirmation is never carried over). In a
    workshop the store deletes only the session's own (the teacher's: any), whatever the
    page offered."""
    try:
        store.delete_experiment(experiment_id, owner=delete_owner())
    except StoreError as exc:
        st.session_state["history_refused"] = str(exc)
        return
    clear_run_caches()
    st.session_state.pop("history_chosen", None)
    st.session_state["history_deleted"] = f"Deleted {experiment_id}."


refusal = workshop.refusal(exp.participant, participant(), is_teacher())
if refusal:
    st.caption(escape_md(refusal))
# Keyed by experiment: a tick confirms this one only, and is gone once another is chosen.
confirm = st.checkbox(f"Yes, delete {escape_md(chosen)} and its runs",
                      key=f"history_confirm_{chosen}", disabled=refusal is not None)
st.button("Delete experiment", disabled=not confirm or refusal is not None, key="history_delete",
          on_click=delete_experiment, args=(chosen,))
