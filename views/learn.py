"""Learn: the orchestration patterns, where each puts the decision, and when to pick it."""

from __future__ import annotations

import streamlit as st

from orchlab.core import forms
from views._shared import get_scenarios

st.title("Who should orchestrate?")
st.markdown("""
A multi-agent workflow needs something that decides which agent runs next. That decision can
sit in your code, in an LLM, or on a boundary between the two. This lab runs each pattern on the
same inputs, agents, tools and outcome checks, so the answer is a chart, not an opinion.

The patterns below run from code-driven to LLM-driven; every page lists forms in this order
and gives each one colour.
""")

scenarios = get_scenarios()
for pattern in forms.PATTERNS:
    st.subheader(f"{pattern.label[:1].upper()}{pattern.label[1:]} (`{pattern.id}`)")
    st.markdown(f"{pattern.what}\n\n- **Where the decision sits:** {pattern.decision}\n"
                f"- **Pick it when:** {pattern.when}\n- **Family:** {pattern.family}")
    having = [(name, s.form(pattern.id)) for name, s in sorted(scenarios.items())
              if pattern.id in s.form_ids]
    if having:
        st.markdown("\n".join(f"- *{name}*: {form.description}" for name, form in having))
    else:
        st.caption("No scenario here has this form yet.")
    st.page_link("views/compare.py", label=f"See {pattern.label} on Compare",
                 icon=":material/bar_chart:", query_params={"form": pattern.id})

st.subheader("Choosing")
st.markdown("""
| the work is… | lean towards |
|---|---|
| a fixed, enumerable sequence that must be auditable | code |
| a few known kinds of input, each with a fixed procedure | router |
| input-dependent steps you want checked before they run | plan-then-execute |
| a draft a reviewer can judge, where a bounded second try is worth its cost | evaluator-optimizer |
| open-ended, but some actions must never happen twice or without a reason | guarded LLM |
| distinct specialist areas that each need the whole conversation | handoffs |
| open-ended, where the next step depends on what was found | LLM |

### Try it
1. **Run**: pick a scenario, choose its forms, and run each a few times.
2. **Compare**: pick a baseline (code by default) and read how every other form differs from
   it. The scoreboard on top marks a difference only where one is claimed: its test, corrected
   over the comparison's 5 figures, says so; with few runs the page says so.
3. **Trace**: open a run to see every agent, model call, tool call and handoff on a timeline.
4. **Agents**: change a prompt, save it as a variant, run it, and compare it with the original.

A small local model is a weak orchestrator: watch it loop on a tool until `max_turns`, or
return a plan code refuses. That is a real result about the pattern, not a bug in the lab.
""")
st.page_link("views/run.py", label="Go to Run", icon=":material/play_arrow:")
