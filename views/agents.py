"""Agents: read and edit agent definitions; save edits as a named variant to run and compare."""

from __future__ import annotations

import streamlit as st

from orchlab.core.errors import StoreError
from orchlab.scenario import Scenario
from orchlab.scenario.agentdefs import (
    AgentDefError,
    agent_sources,
    check_variant,
    overwrite_shipped,
)
from orchlab.store.store import Store
from views._shared import get_scenarios, store_or_stop
from views._widgets import escape_md

SAVED_VERBS = {"refuse": "Saved variant", "merge": "Merged into", "replace": "Replaced"}


def write_variant(store: Store, scenario: Scenario, name: str, texts: dict[str, str],
                  on_existing: str) -> None:
    """Check what the variant will hold, write it, and rerun so every list on the page shows
    the stored state; the message is kept for the rerun."""
    existing = store.load_variant(scenario.name, name) if on_existing == "merge" else {}
    try:
        check_variant(scenario.name, set(scenario.tools()), {**existing, **texts},
                      scenario.agents_home)
        held = store.save_variant(scenario.name, name, texts, on_existing)
    except (AgentDefError, StoreError) as exc:
        st.error(escape_md(exc))
        return
    st.session_state["agents_notice"] = escape_md(
        f"{SAVED_VERBS[on_existing]} {name!r}, which now holds {', '.join(sorted(held))}: "
        "choose it on the Run page, then compare it with the original on Compare.")
    st.rerun()


def describe_overlap(name: str, existing: dict[str, str], texts: dict[str, str]) -> None:
    """What the name holds and what this save would change, before anything is written.
    Names are escaped: a variant's name and agents may come from a shared store or a file."""
    added = sorted(set(texts) - set(existing))
    changed = sorted(a for a in texts if a in existing and texts[a] != existing[a])
    same = sorted(a for a in texts if a in existing and texts[a] == existing[a])
    only_old = sorted(set(existing) - set(texts))

    def names(agents: list[str]) -> str:
        return escape_md(", ".join(agents))

    st.warning(f"A variant named {escape_md(repr(name))} already exists; it holds "
               f"{names(sorted(existing))}. Nothing is written until you merge into it "
               "or replace it.")
    lines = [f"- This save adds {names(added)}." if added else "",
             f"- It changes the text of {names(changed)}." if changed else "",
             f"- Same text in both: {names(same)}." if same else "",
             f"- Only in {escape_md(name)}: {names(only_old)} (Merge keeps it, Replace drops "
             "it)." if only_old else "",
             "- This save changes nothing." if not (added or changed) else ""]
    st.markdown("\n".join(line for line in lines if line))


def existing_name_actions(store: Store, scenario: Scenario, name: str,
                          existing: dict[str, str], texts: dict[str, str]) -> None:
    """Merge or Replace, each an explicit choice; Replace only after its own confirmation,
    which belongs to this name (its key holds the name) and resets after each replace."""
    describe_overlap(name, existing, texts)
    dropped = sorted(set(existing) - set(texts))
    nonce = st.session_state.get("agents_replace_nonce", 0)
    merge_col, replace_col = st.columns(2)
    shown = escape_md(name)
    if merge_col.button(f"Merge into {shown}", type="primary", key="agents_merge"):
        write_variant(store, scenario, name, texts, "merge")
    sure = replace_col.checkbox(
        f"Yes, replace {shown}" + (f" and drop {escape_md(', '.join(dropped))}" if dropped
                                   else ""),
        key=f"agents_replace_confirm_{scenario.name}_{name}_{nonce}")
    if replace_col.button(f"Replace {shown}", disabled=not sure, key="agents_replace") and sure:
        st.session_state["agents_replace_nonce"] = nonce + 1  # a fresh, unticked box next
        write_variant(store, scenario, name, texts, "replace")
        st.session_state["agents_replace_nonce"] = nonce  # not written: the tick stays


st.title("Agents")
store = store_or_stop()
scenarios = get_scenarios()
scenario = st.selectbox("Scenario", sorted(scenarios), key="agents_scenario")
chosen = scenarios[scenario]
tools = set(chosen.tools())
st.caption(f"Prompts live in {escape_md(chosen.agents_home / scenario)}, one Markdown file per "
           "agent. Edits are saved as named variants in the store; the files change only if "
           "you say so below.")
sources = agent_sources(scenario, chosen.agents_home)

variants = store.list_variants(scenario)
base = st.selectbox("Start from", ["original", *variants], key="agents_base")
base_texts = store.load_variant(scenario, base) if base != "original" else {}
# Edits belong to their starting point: a text typed over the original is not an edit of a
# variant, and the definition box is keyed by base so it shows the chosen base's text.
edits: dict[str, str] = (st.session_state.setdefault("agents_edits", {})
                         .setdefault(scenario, {}).setdefault(base, {}))
agent = st.selectbox("Agent", list(sources), key="agents_agent")
original = base_texts.get(agent) or sources[agent].read_text(encoding="utf-8")
text = st.text_area("Definition (YAML front matter + instructions)", edits.get(agent, original),
                    height=360, key=f"agents_text_{scenario}_{base}_{agent}")
if text != original:
    edits[agent] = text
elif agent in edits:
    del edits[agent]
merged = {**base_texts, **edits}
st.caption(f"Edited in this variant: {escape_md(', '.join(sorted(merged))) or 'nothing yet'}")

if notice := st.session_state.pop("agents_notice", None):
    st.success(notice)
name = st.text_input("Variant name", key="agents_variant_name",
                     placeholder="e.g. stricter-manager").strip()
existing = store.load_variant(scenario, name) if name else {}
if st.button("Save as variant", type="primary", disabled=not (name and merged),
             key="agents_save"):
    if existing:
        st.warning(f"Nothing saved: a variant named {escape_md(repr(name))} already exists. "
                   "Merge into it or replace it below.")
    else:
        write_variant(store, chosen, name, merged, "refuse")
if existing and merged:
    existing_name_actions(store, chosen, name, existing, merged)

with st.expander("Overwrite the shipped file instead"):
    sure = st.checkbox(f"Yes, overwrite {sources[agent].name} with the text above",
                       key="agents_overwrite_confirm")
    if st.button("Overwrite file", disabled=not sure, key="agents_overwrite"):
        try:
            path = overwrite_shipped(scenario, agent, text, tools, chosen.agents_home)
        except AgentDefError as exc:
            st.error(escape_md(exc))
        else:
            edits.pop(agent, None)
            st.success(escape_md(f"Wrote {path}."))

st.subheader("Saved variants")
saved = store.list_variants(scenario)
if not saved:
    st.caption("None yet.")
for variant in saved:
    agents = ", ".join(sorted(store.load_variant(scenario, variant)))
    st.markdown(f"**{escape_md(variant)}**: {escape_md(agents)}")  # a shared store's names
