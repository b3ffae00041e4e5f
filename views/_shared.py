"""Widgets and cached resources every page shares: store, recorder, backend, sidebar."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import streamlit as st

from orchlab import backends
from orchlab.backends import Backend
from orchlab.core import config
from orchlab.core.backend_ids import is_local_id
from orchlab.core.records import ExperimentRecord
from orchlab.measure import pricing
from orchlab.measure.recorder import Recorder, install_recorder
from orchlab.running.jobs import STORE_CHANGES
from orchlab.scenario import Catalogue, Scenario, catalogue
from orchlab.store.store import Store, StoreError
from views._widgets import escape_md

OPENAI_DEFAULT_MODEL = "gpt-4.1-mini"
FRAMES_KEPT = 64
"""Frames each cache keeps at most (the least recently used go first)."""


@st.cache_resource
def get_store(location: str) -> Store:
    """One Store per file or database for the whole server process."""
    return Store(location)


@st.cache_resource
def get_recorder() -> Recorder:
    """Installed once per process: adding processors on every rerun would stack them."""
    return install_recorder()


@st.cache_resource(show_spinner="Starting backend…")
def get_backend(backend_id: str) -> Backend:
    """Backends (and the embedded model) load once per process."""
    return backends.resolve(backend_id)


@st.cache_resource(show_spinner="Loading scenarios…")
def get_catalogue(folders: str | None) -> Catalogue:
    """Scenarios from every source, loaded once per process and ORCHLAB_SCENARIOS value (a
    scenario module's code runs at import; edits to it need a restart)."""
    return catalogue()


def get_scenarios() -> dict[str, Scenario]:
    """Every scenario that loaded, by name."""
    return get_catalogue(config.env(config.ENV_SCENARIOS)).scenarios


def runs_frame(store_location: str, experiment_ids: tuple[str, ...] = (),
               scenario: str | None = None) -> pd.DataFrame:
    """Stored runs (these experiments', else the scenario's, else all), read again only when
    they may have changed: a run stored by a dashboard job of theirs, or a count of their
    stored runs that moved (another writer, a delete), or `clear_run_caches`. Shared by every
    session: one participant's experiment ending does not make the others read theirs."""
    return _latest(_runs_frame, (store_location, experiment_ids, scenario),
                   _runs_version(store_location, experiment_ids, scenario))


@st.cache_resource
def _frame_versions() -> dict[tuple[Any, ...], Any]:
    """Per cached frame function and arguments, the version last read (the whole process)."""
    return {}


def _latest(cached: Any, args: tuple[Any, ...], version: Any) -> pd.DataFrame:
    """`cached(*args, version)`; the frame of the version read before it, if another, is
    dropped: a frame is kept once, at its latest version, as when caches were cleared."""
    frame = cached(*args, version)
    seen = _frame_versions()
    key = (cached.__name__, *args)
    before, seen[key] = seen.get(key), version
    if before is not None and before != version:
        cached.clear(*args, before)
    return frame


def _runs_version(store_location: str, experiment_ids: tuple[str, ...],
                  scenario: str | None) -> tuple[Any, ...]:
    """What `runs_frame`'s cached frame is keyed on: this process's jobs' changes to these
    experiments (or the scenario), and for named experiments their stored run counts (one
    indexed count each)."""
    if not experiment_ids:
        return (STORE_CHANGES.scenario(scenario),)
    store = get_store(store_location)
    return (STORE_CHANGES.experiments(experiment_ids),
            tuple(store.count_runs(e) for e in experiment_ids))


@st.cache_data(show_spinner=False, max_entries=FRAMES_KEPT)
def _runs_frame(store_location: str, experiment_ids: tuple[str, ...], scenario: str | None,
                version: tuple[Any, ...]) -> pd.DataFrame:
    return get_store(store_location).load_runs(list(experiment_ids) or None, scenario)


def judgements_frame(store_location: str, experiment_ids: tuple[str, ...]) -> pd.DataFrame:
    """Stored judgements of these experiments' runs; read again after a judging pass or a
    delete (`clear_run_caches`) and when a dashboard job of theirs stored something (a
    replay carries its source's judgements at its end)."""
    return _latest(_judgements_frame, (store_location, experiment_ids),
                   STORE_CHANGES.experiments(experiment_ids))


@st.cache_data(show_spinner=False, max_entries=FRAMES_KEPT)
def _judgements_frame(store_location: str, experiment_ids: tuple[str, ...],
                      version: tuple[int, ...]) -> pd.DataFrame:
    return get_store(store_location).load_judgements(list(experiment_ids))


def pairwise_frame(store_location: str, experiment_ids: tuple[str, ...]) -> pd.DataFrame:
    """Stored pairwise judgements of these experiments' runs (`Store.load_pairwise`: what
    `orchlab.stats.pairwise` reads); read again as `judgements_frame` is."""
    return _latest(_pairwise_frame, (store_location, experiment_ids),
                   STORE_CHANGES.experiments(experiment_ids))


@st.cache_data(show_spinner=False, max_entries=FRAMES_KEPT)
def _pairwise_frame(store_location: str, experiment_ids: tuple[str, ...],
                    version: tuple[int, ...]) -> pd.DataFrame:
    return get_store(store_location).load_pairwise(list(experiment_ids))


@st.cache_data(show_spinner=False, max_entries=FRAMES_KEPT)
def labels_frame(store_location: str, experiment_ids: tuple[str, ...]) -> pd.DataFrame:
    """People's labels of these experiments' runs; cleared when a label is saved."""
    return get_store(store_location).load_labels(list(experiment_ids))


def clear_run_caches() -> None:
    """Call after runs, judgements or labels are saved or deleted by a page (History, Trace,
    Compare's judging): every frame read from the store is read again. Runs a dashboard job
    stores need no call: the frames are keyed on them (`runs_frame`)."""
    _runs_frame.clear()
    _judgements_frame.clear()
    _pairwise_frame.clear()
    labels_frame.clear()


def store_or_stop() -> Store:
    """The configured store, or an error on the page (and nothing else runs)."""
    try:
        return get_store(config.store_target())
    except StoreError as exc:
        st.error(str(exc))
        st.stop()
        raise  # unreachable: st.stop() raises


def sidebar() -> None:
    """Backend picker showing what is actually available, and the store in use."""
    get_recorder()
    bar = st.sidebar
    bar.header("Backend")
    options = _backend_options()
    kind = bar.selectbox("Model backend", list(options), key="sidebar_backend_kind")
    backend_id = options[kind]
    if kind == "OpenAI":
        model = bar.text_input("OpenAI model", OPENAI_DEFAULT_MODEL, key="sidebar_openai_model")
        backend_id = f"openai:{model.strip()}"
    elif kind == "OpenAI-compatible server":
        url = bar.text_input("Base URL", "http://127.0.0.1:11434/v1", key="sidebar_compat_url")
        model = bar.text_input("Model", "llama3.2", key="sidebar_compat_model")
        backend_id = f"compat:{model.strip()}@{url.strip()}"
    st.session_state["sidebar_backend_id"] = backend_id
    model = backend_id.partition(":")[2].rpartition("@")[0] or backend_id.partition(":")[2]
    bar.caption(f"`{backend_id}` · price: {pricing.price_label(backend_id, model)}")
    if is_local_id(backend_id):
        bar.caption("The embedded model runs in-process, one request at a time.")
    if not config.env("OPENAI_API_KEY"):
        bar.caption("OpenAI: set OPENAI_API_KEY (environment or .env) to enable it.")
    bar.divider()
    _scenario_sources(bar)
    try:
        store = get_store(config.store_target())
    except StoreError:
        bar.caption(f"Store: `{config.shown_location(config.store_target())}` (cannot be opened)")
        return
    bar.caption(f"Store: {store.kind} · `{store.where}`")


def _scenario_sources(bar: Any) -> None:
    """Which of the user's folders were read, and one line per scenario that did not load."""
    found = get_catalogue(config.env(config.ENV_SCENARIOS))
    if found.folders:
        shown = escape_md(", ".join(str(folder) for folder in found.folders))
        bar.caption(f"Scenario folders read: {shown}")
    else:
        bar.caption(f"Your own scenarios: set {config.ENV_SCENARIOS} to their folder.")
    for problem in found.problems:
        bar.warning(escape_md(problem), icon=":material/warning:")


def _backend_options() -> dict[str, str]:
    options: dict[str, str] = {}
    default = backends.default_backend_id()
    if default not in (backends.LOCAL_DEFAULT, backends.OPENAI_DEFAULT):
        options[f"Configured: {default}"] = default
    options["Embedded model (offline)"] = backends.LOCAL_DEFAULT
    if config.env("OPENAI_API_KEY"):
        options["OpenAI"] = f"openai:{OPENAI_DEFAULT_MODEL}"
    options["OpenAI-compatible server"] = "compat:"
    if default == backends.OPENAI_DEFAULT:  # a key and nothing else configured: OpenAI first
        options = {"OpenAI": default, **options}
    return options


def backend_id() -> str:
    """The backend chosen in the sidebar."""
    return str(st.session_state.get("sidebar_backend_id") or backends.default_backend_id())


def experiment_label(exp_id: str, scenario: str, variant: str | None, created: str) -> str:
    """One-line experiment label for select boxes."""
    return f"{created} · {scenario} · {variant or 'original'} · {exp_id}"


def experiment_choices(experiments: Iterable[ExperimentRecord]) -> dict[str, str]:
    """Select-box label -> experiment id, in the order given (newest first from the store)."""
    return {experiment_label(e.experiment_id, e.scenario, e.spec.get("variant"),
                             f"{e.created_at:%Y-%m-%d %H:%M}"): e.experiment_id
            for e in experiments}
