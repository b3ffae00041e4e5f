"""A workshop's widgets: a name per browser session, the teacher's sign-in, "mine" or "the
class", and the stage on which the teacher replays a recording for everyone. Outside a
workshop (`orchlab.core.workshop`) every function here is a no-op or returns what a single
user would see."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import plotly.graph_objects as go
import streamlit as st

from orchlab.core import workshop
from orchlab.core.records import ExperimentRecord
from orchlab.running.jobs import ExperimentJob
from views._widgets import escape_md

NAME_KEY = "workshop_name"
"""The session's participant name, once given."""
TEACHER_KEY = "workshop_teacher"
"""True once this session gave the teacher's password."""
SEEN_KEY = "workshop_stage_seen"
"""The stage's last replay this session was taken to."""
WRONG_PASSWORD_WAIT_S = 1.0
"""A wrong password answers after this long: guessing from a laptop in the room stays slow."""


def setting() -> workshop.Workshop:
    """The workshop setting, from the server's environment (and `.env`), which is set when it
    starts (a few dictionary reads: no cache to go stale)."""
    return workshop.read()


def participant() -> str | None:
    """This session's name in a workshop; None outside one (or before the name is given)."""
    if not setting().enabled:
        return None
    name = st.session_state.get(NAME_KEY)
    return str(name) if name else None


def is_teacher() -> bool:
    """Whether this session signed in as the teacher."""
    return setting().has_teacher and bool(st.session_state.get(TEACHER_KEY))


def _join() -> None:
    try:
        st.session_state[NAME_KEY] = workshop.checked_name(st.session_state["workshop_join"])
    except workshop.WorkshopError as exc:
        st.session_state["workshop_join_error"] = str(exc)


def join_gate() -> None:
    """In a workshop, a session without a name sees only the question and nothing else runs:
    every experiment it starts records the name."""
    if not setting().enabled or participant():
        return
    st.title("Orchestration Lab: the workshop")
    st.write("Your experiments are kept under your name, so you can find yours among the "
             "class's. Anyone in the room could type the same name: it is a label, not an "
             "account.")
    with st.form("workshop_join_form"):
        st.text_input("Your name", key="workshop_join", max_chars=workshop.NAME_MAX_CHARS)
        st.form_submit_button("Join the class", on_click=_join)
    if error := st.session_state.pop("workshop_join_error", None):
        st.error(escape_md(error))
    warm_charts()
    st.stop()


WARM_CSS = "<style>.st-key-workshop_warm_charts { display: none; }</style>"
"""Hides the empty chart `warm_charts` draws."""


def warm_charts() -> None:
    """Load the browser's chart library while a participant gives their name.

    Plotly's script is 4.7 MB: the first chart a browser session draws costs it about 1.5 s
    of CPU, and in a class that first chart is Compare, opened while twenty browsers draw
    their results on the same machine. An empty chart nobody sees, drawn on the name page
    (the class is idle then), has the browser load and compile it; the element is gone at
    the next run, the library stays."""
    st.markdown(WARM_CSS, unsafe_allow_html=True)
    with st.container(key="workshop_warm_charts"):
        st.plotly_chart(go.Figure(), key="workshop_warm_chart")


def _sign_in() -> None:
    attempt = st.session_state.pop("workshop_password", "")
    if setting().is_password(attempt):
        st.session_state[TEACHER_KEY] = True
    else:
        time.sleep(WRONG_PASSWORD_WAIT_S)
        st.session_state["workshop_sign_in_error"] = "That is not the teacher's password."


def sidebar_box() -> None:
    """Who this session is, and the teacher's sign-in (when the server set a password)."""
    found = setting()
    if not found.enabled:
        return
    bar = st.sidebar
    bar.header("Workshop")
    who = participant()
    bar.caption(escape_md(f"You are {who}" + (", the teacher." if is_teacher() else ".")))
    if found.problem:
        bar.warning(escape_md(found.problem))
    if found.has_teacher and not is_teacher():
        with bar.expander("Teacher"):
            st.text_input("Teacher's password", type="password", key="workshop_password")
            st.button("Sign in", key="workshop_sign_in", on_click=_sign_in)
            if error := st.session_state.pop("workshop_sign_in_error", None):
                st.error(error)


def class_toggle(key: str) -> bool:
    """The "the class" toggle of a workshop's History, Compare and Trace (off: mine); False
    outside a workshop, where every experiment is the user's."""
    if not setting().enabled:
        return False
    return st.toggle("Show the class's experiments", value=False, key=key,
                     help="Off: only the experiments you started. On: every participant's.")


def visible(experiments: Iterable[ExperimentRecord], show_class: bool
            ) -> list[ExperimentRecord]:
    """The experiments a page lists: all of them, or in a workshop this session's own."""
    me = participant()
    return [e for e in experiments if show_class or workshop.mine(e.participant, me)]


def delete_owner() -> str | None:
    """Who a delete is checked against (`Store.delete_experiment`'s owner): this session's
    name in a workshop, none for the teacher or a single user (they may delete any)."""
    return None if is_teacher() else participant()


# -- the stage: one replay the teacher starts for the whole class ---------------------------


@dataclass(frozen=True)
class Showing:
    """A replay on the class's stage."""

    number: int
    """Which replay this is since the server started: a session compares it with the last it
    was shown, so each starts exactly one switch."""
    job: ExperimentJob
    """The replay's job, one for the class: every session draws the same snapshots."""
    title: str
    """What is replayed, as the teacher chose it."""
    started: float
    """When the teacher started it (monotonic seconds)."""

    def fresh(self) -> bool:
        """Whether a session should still be taken to it: it runs, or ended moments ago (a
        short replay may end before a session's next look)."""
        return (not self.job.finished
                or time.monotonic() - self.started < STAGE_FRESH_S)


class Stage:
    """What the teacher put on the class's screens, shared by every session of the server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._showing: Showing | None = None

    def show(self, job: ExperimentJob, title: str) -> Showing:
        """Put a started replay on the stage (the one before stays as it is: it was started
        and is stored)."""
        with self._lock:
            self._showing = Showing(next(self._numbers), job, title, time.monotonic())
            return self._showing

    @property
    def showing(self) -> Showing | None:
        """The replay on the stage, if the teacher started one."""
        return self._showing


@st.cache_resource
def stage() -> Stage:
    """The server's one stage."""
    return Stage()


STAGE_CHECK_S = 5.0
"""How often a session looks for a replay the teacher started: a class's screens switch within
this. A look is one attribute read on the server, but each is a script run that a browser
answers by laying its whole page out again (25-75 ms of its main thread on a Run page): at
3 s, twenty idle pages were a third of the browsers' work in `bench/classroom.py`."""


STAGE_FRESH_S = 60.0
"""A replay that ended less than this long ago still takes a session to it."""

LIVE_KEY = "workshop_page_live"
"""Set during a script run by a page that draws a periodic fragment of its own."""


def look_at_stage() -> None:
    """Takes this session to the class replay once per replay the teacher starts."""
    showing = stage().showing
    if showing is None or st.session_state.get(SEEN_KEY) == showing.number:
        return
    st.session_state[SEEN_KEY] = showing.number
    # The teacher watches it already; a replay long over is not sprung on a session that
    # joins later.
    if not is_teacher() and showing.fresh():
        st.switch_page("views/stage.py")


def page_is_live() -> None:
    """Called by a page about to draw a periodic fragment (a running job's live panel): that
    fragment looks at the stage itself (`look_at_stage`) and `watch_the_stage` draws no timer
    of its own beside it.

    A page has at most one periodic fragment, because Streamlit (1.67) can drop a finished
    script run's messages: when a fragment's timed rerun request reaches the server after the
    run's thread has stopped but before its messages were sent (the server's event loop busy
    with other sessions), a new script runner takes the request and the old one's messages
    are ignored ("Ignoring event from non-current ScriptRunner" in its debug log). With a
    second timer on the page, the lost run could be the one that drew an experiment's result,
    and that page then showed the live panel forever: 2 of 20 pages in some rounds of
    `bench/classroom.py`, every experiment stored. A timer whose fragment the finished run no
    longer draws is refused before it can do this; one the run drew anew starts only once the
    run's messages arrived."""
    st.session_state[LIVE_KEY] = True


@st.fragment(run_every=STAGE_CHECK_S)
def stage_watch() -> None:
    """A workshop page's periodic look at the stage, when the page has no timer of its own."""
    look_at_stage()


def watch_the_stage() -> None:
    """In a workshop, after the page (app.py): the stage watch in the sidebar, unless the page
    drew a periodic fragment of its own in this run (`page_is_live`)."""
    if st.session_state.pop(LIVE_KEY, False) or not setting().enabled:
        return
    with st.sidebar:
        stage_watch()
