"""Streamlit entry point: `streamlit run app.py`."""

from __future__ import annotations

import streamlit as st

from pages._shared import sidebar

st.set_page_config(page_title="Orchestration Lab", page_icon=":material/science:", layout="wide")
navigation = st.navigation([
    st.Page("pages/run.py", title="Run", icon=":material/play_arrow:", default=True),
    st.Page("pages/compare.py", title="Compare", icon=":material/bar_chart:"),
    st.Page("pages/trace.py", title="Trace", icon=":material/account_tree:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
    st.Page("pages/agents.py", title="Agents", icon=":material/edit_note:"),
    st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
])
sidebar()
navigation.run()
