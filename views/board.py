"""Class board (a workshop's teacher only): every participant's runs of one scenario and its
forms pooled, paired by input within each participant's experiment, with Compare's statistics
and a count of participants; large enough to project. And the replay the teacher starts for
the whole class (`views/_class.py`'s stage)."""

from __future__ import annotations

import streamlit as st

from orchlab.running.jobs import ExperimentJob
from orchlab.running.spec import replay_spec
from orchlab.stats import analysis, summary
from orchlab.stats.findings import label, title
from views._class import SEEN_KEY, is_teacher, stage
from views._race import presenter_style
from views._replay import speed_slider
from views._shared import experiment_choices, runs_frame, store_or_stop
from views._widgets import escape_md

BOARD_CSS = """<style>
[data-testid="stMain"] [data-testid="stMetricValue"] { font-size: 4rem; }
[data-testid="stMain"] [data-testid="stTable"] { font-size: 1.35rem; }
</style>"""
"""Presenter mode's counts and scoreboard, read from the back of a room."""

st.title("Class board")
if not is_teacher():  # the page is listed for the teacher only; a stale link lands here
    st.info("The class board is the teacher's: sign in under Workshop in the sidebar.")
    st.stop()
store = store_or_stop()
present = st.toggle("Presenter mode", value=st.query_params.get("present") == "1",
                    key="board_present", help="Large type, for a projector.")
if present:
    presenter_style()
    st.markdown(BOARD_CSS, unsafe_allow_html=True)
experiments = [e for e in store.list_experiments()
               if e.participant is not None and e.replay_of is None]
if not experiments:
    st.info("No participant has run an experiment yet: the board fills as they do.")
else:
    names = sorted({e.scenario for e in experiments})
    scenario = st.selectbox("Scenario", names, key="board_scenario")
    theirs = [e for e in experiments if e.scenario == scenario]
    runs = runs_frame(store.location, tuple(e.experiment_id for e in theirs))
    ran = analysis.ordered_groups(runs["form"]) if not runs.empty else []
    forms = st.multiselect("Forms", ran, default=ran, key=f"board_forms_{scenario}",
                           format_func=label)
    runs = runs[runs["form"].isin(forms)] if not runs.empty else runs
    if runs.empty:
        st.info("No finished runs of these forms yet.")
    else:
        owners = {e.experiment_id: e.participant for e in theirs}
        who = runs["experiment_id"].map(owners)
        counts = st.columns(3)
        counts[0].metric("Participants", who.nunique())
        counts[1].metric("Experiments", runs["experiment_id"].nunique())
        counts[2].metric("Runs", len(runs))
        runs = analysis.grouped(analysis.pooled(runs))
        groups = analysis.ordered_groups(runs["group"])
        st.caption("Runs pair by input within each participant's experiment (the same input, "
                   "run back to back), never across participants.")
        if len(groups) < 2:
            st.info(f"Only {escape_md(title(groups[0]))} has runs: pick two forms or more.")
        else:
            result = summary.summarize_runs(runs, by="group")
            board = summary.scoreboard(result).rename(columns={"figure": "Figure"})
            if present:  # a table's type grows with the page's; a data grid's stays small
                st.table(board.set_index("Figure"))
            else:
                st.dataframe(board, hide_index=True, width="stretch", key="board_scoreboard")
            st.caption(summary.SCOREBOARD_NOTE)
            for block in result["comparisons"]:
                st.subheader(escape_md(f"{title(block['group'])} vs {label(block['baseline'])}"))
                st.info("\n".join(f"- {escape_md(s)}" for s in block["sentences"]))
        per_participant = (runs.assign(participant=who.to_numpy())
                           .pivot_table(index="participant", columns="form", values="run_id",
                                        aggfunc="count", fill_value=0))
        with st.expander("Runs per participant"):
            st.dataframe(per_participant, width="stretch")

st.divider()
st.subheader("Replay for the class")
st.caption("Every participant's page switches to Class replay and shows the same race.")
replayable = [e for e in store.list_experiments() if e.records_calls and e.status != "running"]
if not replayable:
    st.info("No recorded experiment yet: run one first.")
    st.stop()
choices = experiment_choices(replayable)
picked = st.selectbox("Recording", list(choices), key="board_replay_source")
speed = speed_slider("board_replay_speed")
if st.button("Replay for the class", key="board_replay", type="primary"):
    source = next(e for e in replayable if e.experiment_id == choices[picked])
    try:
        job = ExperimentJob(replay_spec(source, speed), store).start()
    except (LookupError, ValueError) as exc:
        st.error(escape_md(f"{source.experiment_id} cannot be replayed: {exc}"))
    else:
        showing = stage().show(job, picked)
        st.session_state[SEEN_KEY] = showing.number  # the teacher watches it here
        st.switch_page("views/stage.py")
