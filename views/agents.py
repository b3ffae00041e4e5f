"""Agents: read and edit agent definitions; save edits as a named variant to run and compare."""

from __future__ import annotations

import streamlit as st

from orchlab.agentdefs import AgentDefError, agent_sources, check_variant, overwrite_shipped
from views._shared import get_scenarios, store_or_stop

st.title("Agents")
st.caption("Prompts live in `agents/<scenario>/*.md`. Edits are saved as named variants in the "
           "store; the shipped files change only if you say so below.")
store = store_or_stop()
scenarios = get_scenarios()
scenario = st.selectbox("Scenario", sorted(scenarios), key="agents_scenario")
tools = set(scenarios[scenario].tools())
sources = agent_sources(scenario)
edits: dict[str, str] = st.session_state.setdefault("agents_edits", {}).setdefault(scenario, {})

variants = store.list_variants(scenario)
base = st.selectbox("Start from", ["original", *variants], key="agents_base")
base_texts = store.load_variant(scenario, base) if base != "original" else {}
agent = st.selectbox("Agent", list(sources), key="agents_agent")
original = base_texts.get(agent) or sources[agent].read_text(encoding="utf-8")
text = st.text_area("Definition (YAML front matter + instructions)",
                    edits.get(agent, original), height=360, key=f"agents_text_{scenario}_{agent}")
if text != original:
    edits[agent] = text
elif agent in edits:
    del edits[agent]
merged = {**base_texts, **edits}
st.caption(f"Edited in this variant: {', '.join(sorted(merged)) or 'nothing yet'}")

name = st.text_input("Variant name", key="agents_variant_name",
                     placeholder="e.g. stricter-manager")
if st.button("Save as variant", type="primary", disabled=not (name.strip() and merged),
             key="agents_save"):
    try:
        check_variant(scenario, tools, merged)
    except AgentDefError as exc:
        st.error(str(exc))
    else:
        store.save_variant(scenario, name.strip(), merged)
        st.success(f"Saved variant {name.strip()!r}: choose it on the Run page, then compare it "
                   "with the original on Compare.")

with st.expander("Overwrite the shipped file instead"):
    sure = st.checkbox(f"Yes, overwrite {sources[agent].name} with the text above",
                       key="agents_overwrite_confirm")
    if st.button("Overwrite file", disabled=not sure, key="agents_overwrite"):
        try:
            path = overwrite_shipped(scenario, agent, text, tools)
        except AgentDefError as exc:
            st.error(str(exc))
        else:
            edits.pop(agent, None)
            st.success(f"Wrote {path}.")

st.subheader("Saved variants")
saved = store.list_variants(scenario)
if not saved:
    st.caption("None yet.")
for variant in saved:
    st.write(f"**{variant}**: {', '.join(sorted(store.load_variant(scenario, variant)))}")
