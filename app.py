"""Streamlit entry point: `streamlit run app.py`.

Streamlit runs this file as `__main__`. A process a page starts (the experiment process, its
workers) re-runs it as `__mp_main__`, as Python's multiprocessing does with a main module:
there it only defines `main`, draws nothing and imports no page.
"""

from __future__ import annotations


def main() -> None:
    import streamlit as st

    from views._class import is_teacher, join_gate, setting, sidebar_box, watch_the_stage
    from views._shared import sidebar

    st.set_page_config(page_title="Orchestration Lab", page_icon=":material/science:",
                       layout="wide")
    join_gate()  # a workshop's session gives its name before any page runs
    pages = [
        st.Page("views/run.py", title="Run", icon=":material/play_arrow:", default=True),
        st.Page("views/compare.py", title="Compare", icon=":material/bar_chart:"),
        st.Page("views/trace.py", title="Trace", icon=":material/account_tree:"),
        st.Page("views/history.py", title="History", icon=":material/history:"),
        st.Page("views/agents.py", title="Agents", icon=":material/edit_note:"),
        st.Page("views/learn.py", title="Learn", icon=":material/school:"),
    ]
    if setting().enabled:
        pages.append(st.Page("views/stage.py", title="Class replay", icon=":material/cast:"))
    if is_teacher():
        pages.append(st.Page("views/board.py", title="Class board", icon=":material/groups:"))
    navigation = st.navigation(pages)
    sidebar()
    sidebar_box()
    try:
        navigation.run()
    finally:  # also when the page stopped early (st.stop: an empty History, say)
        watch_the_stage()


if __name__ == "__main__":
    main()
