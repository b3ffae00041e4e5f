"""Learn: the two orchestration patterns and when to pick each."""

from __future__ import annotations

import streamlit as st

st.title("Code or LLM: who should orchestrate?")
st.markdown("""
A multi-agent workflow needs something that decides which agent runs next. There are two ways
to give that job out, and this lab runs both on the same inputs so you can see the difference.

### Code orchestration
Your program calls the agents in a fixed order: *write three drafts in parallel, ask the picker,
send the chosen one*. Each agent still uses a model, but the control flow is ordinary code.

- **Predictable.** Every run takes the same path, so the path entropy is 0 bits.
- **Auditable.** You can read the flow and test it like any other function.
- **Cheaper and faster** when the steps are known: no tokens are spent deciding what to do.
- **Rigid.** A case the code did not foresee gets the same steps anyway.

### LLM orchestration
An orchestrator agent receives the other agents as tools and decides what to call and when.

- **Flexible.** It can skip work, repeat a step, or take a branch nobody wrote down.
- **Variable.** Different runs take different paths; some break the rules (two emails
  instead of one). Measure how often, not whether.
- **Costlier.** Every decision is an extra model call that reads the whole conversation so far.

### Choosing
| the work is… | lean towards |
|---|---|
| a fixed, enumerable sequence that must be auditable | code |
| open-ended, where the next step depends on what was found | LLM |
| mostly fixed with one fuzzy decision | a hybrid: code flow, one LLM call for the decision |

Hybrids are common: the *troubleshooting* scenario's code form classifies a ticket with one LLM
call and then follows a fixed decision tree.

### Try it
1. **Run**: pick a scenario and run both forms a few times.
2. **Compare**: read the Findings. A difference is only claimed when its 95% bootstrap
   interval excludes "no difference"; with few runs the page says so.
3. **Trace**: open a run to see every agent, model call and tool call on a timeline.
4. **Agents**: change a prompt, save it as a variant, run it, and compare it with the original.

A small local model is a weak orchestrator: watch it loop on a tool until `max_turns`. That is
a real result about the pattern, not a bug in the lab.
""")
st.page_link("views/run.py", label="Go to Run", icon=":material/play_arrow:")
st.page_link("views/compare.py", label="Go to Compare", icon=":material/bar_chart:")
