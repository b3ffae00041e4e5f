"""Streamlit entry point: `streamlit run app.py`."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Orchestration Lab", layout="wide")
navigation = st.navigation([st.Page("pages/history.py", title="History", default=True)])
navigation.run()
