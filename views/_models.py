"""The Run page's model choices (issue 28): the backends every form runs on (two or more: a
model matrix) and a model per agent (an assignment). Layout only: the pairs are read by
`orchlab.running.spec.parse_agent_backends` and the automatic name comes from
`assignment_name`, the CLI's own functions; `prepare` checks them all."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from orchlab import backends
from orchlab.core import config
from orchlab.running.spec import assignment_name, parse_agent_backends
from orchlab.scenario import Scenario
from orchlab.scenario.agentdefs import agent_sources

BACKENDS_KEY = "run_backends"
"""The Backends multiselect's key."""
BACKENDS_FROM = "run_backends_from"
"""The sidebar backend the Backends choice started from: another one starts it over."""
ASSIGNMENT_KEY = "run_assignment"
"""The assignment-name field's key."""


def agents_key(scenario: str) -> str:
    """The Agent models table's key: one table per scenario (its agents are the rows)."""
    return f"run_agent_backends_{scenario}"


def offered_backends(sidebar_id: str) -> list[str]:
    """What the Backends list offers: the sidebar's backend, the configured default, the
    embedded model and, with a key, OpenAI. Any other id can be typed in."""
    ids = [sidebar_id, backends.default_backend_id(), backends.LOCAL_DEFAULT]
    if config.env("OPENAI_API_KEY"):
        ids.append(backends.OPENAI_DEFAULT)
    return list(dict.fromkeys(i for i in ids if i.partition(":")[2].strip()))


def backends_choice(sidebar_id: str) -> list[str]:
    """The backends every form runs on, in the order picked; the sidebar's alone by default
    (and again whenever the sidebar's changes). Two or more: a model matrix."""
    if st.session_state.get(BACKENDS_FROM) != sidebar_id or BACKENDS_KEY not in st.session_state:
        st.session_state[BACKENDS_KEY] = [sidebar_id]
        st.session_state[BACKENDS_FROM] = sidebar_id
    offered = offered_backends(sidebar_id)
    typed = [b for b in st.session_state[BACKENDS_KEY] if b not in offered]
    chosen = st.multiselect(
        "Backends", [*offered, *typed], key=BACKENDS_KEY, accept_new_options=True,
        placeholder="Choose or type a backend id",
        help="Every form runs on each backend, interleaved, in one experiment: two or more "
             "make a model matrix, which Compare splits by backend. Type any id to add it: "
             "local:smollm2-135m, openai:gpt-4.1-mini, compat:<model>@<base_url>.")
    return [b.strip() for b in chosen if b.strip()]


def agent_models(scenario: Scenario) -> tuple[dict[str, str], str | None]:
    """A model per agent: the scenario's agents (its judges' files are not run agents), each
    with a backend (blank: the run's backend), and the assignment's short name (blank: the
    automatic one, shown as the placeholder). Returns (`agent_backends`, `assignment`) as the CLI's
    `--agent-backend`/`--assignment` would give them."""
    agents = list(agent_sources(scenario.name, scenario.agents_home, judges=False))
    with st.expander("Agent models: a model per agent (optional)"):
        st.caption("Leave a backend blank to run that agent on the run's backend (on each "
                   "backend of a matrix). The runs are labelled with the assignment's name.")
        table = st.data_editor(
            pd.DataFrame({"Agent": agents, "Backend": [""] * len(agents)}),
            key=agents_key(scenario.name), hide_index=True, num_rows="fixed",
            disabled=["Agent"], width="stretch",
            column_config={"Backend": st.column_config.TextColumn(
                "Backend", help="A backend id, e.g. local:smollm2-135m, openai:gpt-4.1-nano or "
                                "compat:<model>@<base_url>; blank: the run's backend.")})
        pairs = [f"{agent}={backend}" for agent, backend in zip(table["Agent"], table["Backend"],
                                                                  strict=True)
                 if isinstance(backend, str) and backend.strip()]
        agent_backends = parse_agent_backends(pairs)
        name = st.text_input(
            "Assignment name (optional)", key=ASSIGNMENT_KEY,
            placeholder=(assignment_name(agent_backends) if agent_backends
                         else "named from the table once an agent has a backend"),
            help="A short name shown wherever its runs are; blank: made from the table.")
    return agent_backends, name.strip() or None
