"""History: experiments in the store (the full dashboard builds on this page)."""

from __future__ import annotations

import streamlit as st

from orchlab.store import Store, StoreError


@st.cache_resource
def get_store() -> Store:
    return Store()


st.title("Orchestration Lab")
st.caption("Code-orchestrated vs LLM-orchestrated multi-agent workflows, measured.")
try:
    store = get_store()
except StoreError as exc:
    st.error(str(exc))
    st.stop()
st.write(f"Store: `{store.path}`")
experiments = store.list_experiments()
if not experiments:
    st.info("No experiments yet. Run one with `python -m orchlab run --scenario sales_email`.")
for exp in experiments:
    st.write(f"**{exp.experiment_id}** · {exp.scenario} · {exp.backend} · {exp.status} · "
             f"{store.count_runs(exp.experiment_id)}/{exp.planned_runs} runs")
