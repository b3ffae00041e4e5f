"""History: experiments with their spec and date; filter, delete, download CSV/JSON."""

from __future__ import annotations

import streamlit as st

from orchlab import export
from orchlab.backends import BackendError
from orchlab.jobs import ExperimentJob
from orchlab.runner import ExperimentSpec, prepare, remaining_runs
from views._shared import clear_run_caches, get_backend, store_or_stop

st.title("History")
store = store_or_stop()
experiments = store.list_experiments()
if not experiments:
    st.info("No experiments yet: run one on the Run page or with `python -m orchlab run`.")
    st.stop()
left, mid, right = st.columns(3)
scenarios = left.multiselect("Scenario", sorted({e.scenario for e in experiments}),
                             key="history_scenarios")
statuses = mid.multiselect("Status", sorted({e.status for e in experiments}),
                           key="history_statuses")
text = right.text_input("Search (id, backend, variant)", key="history_text").strip().lower()
shown = [
    e for e in experiments
    if (not scenarios or e.scenario in scenarios) and (not statuses or e.status in statuses)
    and (not text or text in f"{e.experiment_id} {e.backend} {e.spec.get('variant')}".lower())
]
health = store.run_health()
st.dataframe([{
    "Experiment": e.experiment_id, "Created (UTC)": f"{e.created_at:%Y-%m-%d %H:%M:%S}",
    "Scenario": e.scenario, "Backend": e.backend, "Variant": e.spec.get("variant") or "original",
    "Forms": ",".join(e.spec.get("forms", [])), "Repetitions": e.spec.get("repetitions"),
    "Model settings": ", ".join(f"{k}={v}" for k, v in (e.spec.get("model_settings") or {})
                                .items()) or "each agent's own",
    "Tool budget": e.spec.get("tool_budget") or "scenario's own",
    "Runs": f"{store.count_runs(e.experiment_id)}/{e.planned_runs}", "Status": e.status,
    "Failures by class": health.get(e.experiment_id, ("", 0))[0],
    "Retries": health.get(e.experiment_id, ("", 0))[1],
} for e in shown], hide_index=True, width="stretch")

if not shown:
    st.stop()
chosen = st.selectbox("Experiment", [e.experiment_id for e in shown], key="history_chosen")
exp = next(e for e in shown if e.experiment_id == chosen)
with st.expander("Spec"):
    st.json(exp.spec)
a, b = st.columns(2)
a.download_button("Download CSV", export.to_csv(store, chosen), f"{chosen}.csv", "text/csv",
                  key="history_csv")
b.download_button("Download JSON", export.to_json(store, chosen), f"{chosen}.json",
                  "application/json", key="history_json")
if exp.status in ("interrupted", "cancelled"):
    spec = ExperimentSpec(**exp.spec)
    try:
        missing = len(remaining_runs(store, chosen, prepare(spec).plan))
    except (LookupError, ValueError) as exc:  # e.g. an agent file changed since
        st.error(f"{chosen} cannot be resumed: {exc}")
        st.stop()
    st.warning(f"{chosen} is {exp.status}: {missing} planned runs never finished.")
    if st.button(f"Resume: run the {missing} missing runs", key="history_resume"):
        try:
            job = ExperimentJob(spec, store, backend=get_backend(spec.backend),
                                resume_id=chosen).start()
        except (BackendError, LookupError, ValueError) as exc:
            st.error(str(exc))
        else:
            st.session_state["run_job"] = job
            st.switch_page("views/run.py")
st.divider()
confirm = st.checkbox(f"Yes, delete {chosen} and its runs", key="history_confirm")
if st.button("Delete experiment", disabled=not confirm, key="history_delete"):
    store.delete_experiment(chosen)
    clear_run_caches()
    st.success(f"Deleted {chosen}.")
    st.rerun()
