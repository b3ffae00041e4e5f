"""Compare: a scoreboard first (forms as columns, figures as rows, claimed differences
marked), then the findings' sentences, the judges (`_compare_judges`: what the scenario's
rubric judges scored per group and how far each agrees with people, each pairwise judge's win
rate, and "Judge these runs"), distributions, per-agent cost, paths and outcomes."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from orchlab.present import figures, report
from orchlab.stats import analysis, estimates, frontier, paths, summary
from orchlab.stats.findings import factor_note, label, title
from views._class import class_toggle, visible
from views._compare_judges import judges_section
from views._shared import experiment_choices, get_scenarios, runs_frame, store_or_stop
from views._widgets import escape_md, money, table


def runs_per_experiment(runs: pd.DataFrame, names: dict[str, str]) -> str:
    """Which runs come from which experiment, so a mixed comparison is never a surprise.
    Markdown: an experiment's id and variant may come from someone else's file."""
    counts = runs.groupby("experiment_id").size()
    parts = [f"{n} run{'s' if n != 1 else ''} from {escape_md(names.get(exp_id, exp_id))}"
             for exp_id, n in counts.items()]
    return "Runs compared: " + "; ".join(parts) + "."


def pick_baseline(groups: list[str], focus: str | None) -> str:
    """The group every other is compared with (default: the most code-driven form)."""
    default = analysis.default_baseline(groups)
    if focus in groups and focus == default and len(groups) > 1:
        default = groups[1]  # the linked form is compared with something else
    return st.selectbox("Baseline", groups, index=groups.index(default), key="compare_baseline",
                        format_func=title,
                        help="Every other group is compared with this one, one block each.")


def comparison(block: dict[str, Any]) -> None:
    """One group against another: what the comparison varies (a warning when it varies
    several factors at once), then its findings (from the summary the CLI prints too). A
    group's name holds its prompt variant's, which a user or someone else's file chose: every
    sentence naming it is escaped."""
    note, warn = factor_note(block["group"], block["baseline"], block["factor"])
    (st.warning if warn else st.caption)(escape_md(note))
    st.info("\n".join(f"- {escape_md(s)}" for s in block["sentences"]))


def cost_projection(runs: pd.DataFrame) -> None:
    """Monthly cost per group at a chosen volume, money formatted by magnitude."""
    per_month = st.number_input("Runs per month", 1, 100_000_000, 10_000, step=1000,
                                key="compare_runs_per_month")
    projection = analysis.cost_projection(runs, int(per_month), "group")
    for row in projection.itertuples(index=False):
        if row.priced:
            ranged = not analysis.is_missing(row.monthly_low)
            said = (f"95% interval of the mean {money(row.monthly_low)} – "
                    f"{money(row.monthly_high)} from {row.runs} runs" if ranged else
                    f"from {row.runs} run: no interval from fewer than 2")
            st.metric(f"{escape_md(label(row.group))} per month", money(row.monthly_mean),
                      help=said)
            st.caption(said)
        else:
            st.metric(f"{escape_md(label(row.group))} per month", "unknown price")


st.title("Compare")
store = store_or_stop()
experiments = visible(store.list_experiments(), class_toggle("compare_class"))
if not experiments:
    st.info("No experiments yet: run one on the Run page.")
    st.stop()
loaded = get_scenarios()  # the ones this dashboard loaded first; every stored one is offered
names = sorted({e.scenario for e in experiments}, key=lambda n: (n not in loaded, n))
focus = st.query_params.get("form")  # a Learn page link: show this form's comparison first
ran_focus = [e for e in experiments if focus in e.spec.get("forms", []) and e.scenario in names]
if focus and not ran_focus:
    st.info(f"No experiment has run {escape_md(label(focus))} yet: run it on the Run page "
            "(Forms) to see it here.")  # `focus` is the URL's: anyone can write a link
scenario = st.selectbox("Scenario", names, key="compare_scenario",
                        index=names.index(ran_focus[0].scenario) if ran_focus else 0)
if scenario not in loaded:  # runs are stored whole: they compare without the module
    st.caption(f"{escape_md(scenario)} is not loaded by this dashboard (its folder is not in "
               "ORCHLAB_SCENARIOS, or it was imported from elsewhere): its stored runs are "
               "shown as recorded; to run it again, add its folder.")
mine = [e for e in experiments if e.scenario == scenario]
labels = experiment_choices(mine)
first = [k for k, v in labels.items() if any(e.experiment_id == v for e in ran_focus)][:1]
chosen = st.multiselect("Experiments", list(labels), default=first or list(labels)[:1],
                        key=f"compare_experiments_{scenario}")  # one choice per scenario
if not chosen:
    st.info(f"Pick at least one experiment of {escape_md(scenario)} above to compare its runs.")
    st.stop()
runs = runs_frame(store.location, tuple(labels[c] for c in chosen))
if runs.empty:
    st.warning("These experiments have no finished runs yet: pick another experiment, or run "
               "this scenario on the Run page.")
    st.stop()
if len(chosen) > 1:
    st.caption(runs_per_experiment(runs, {v: k for k, v in labels.items()}))
report_ids = [labels[c] for c in chosen]
st.download_button("Download report", lambda: report.report_file(store, report_ids).data,
                   file_name=report.file_name(report_ids), mime=report.MIME,
                   key="compare_report", help="One HTML file with these experiments' findings, "
                   "charts, failures and an example trace per group; it opens offline (the "
                   "same bytes as `python -m orchlab report`).")
by_variant = analysis.variants_differ(runs) and st.toggle(  # a replay counts as a variant
    "Split groups by prompt variant (and replay)", value=True, key="compare_by_variant")
by_backend = analysis.backends_differ(runs) and st.toggle(  # per run, never the experiment's
    "Split groups by backend", value=True, key="compare_by_backend",
    help="Each group is one form on one backend; a comparison varies the form with the "
         "backend held, or the backend with the form held.")
by_assignment = analysis.assignments_differ(runs) and st.toggle(
    "Split groups by agent assignment", value=True, key="compare_by_assignment",
    help="An assignment runs some agents on other backends than the run's (e.g. the writer "
         "on a cheaper model); a comparison varies the assignment with the form held, or the "
         "form with the assignment held.")
runs = analysis.grouped(runs, by_variant, by_backend, by_assignment)
if by_backend:
    st.caption(escape_md("Backends: " + "; ".join(
        f"{name} = {key}" for key, name in analysis.backend_labels(runs).items()) + "."))
groups = analysis.ordered_groups(runs["group"])
colors = figures.group_colors(groups)  # one map per render: a group keeps its colour everywhere

st.subheader("Findings")
result: dict[str, Any] | None = None
if len(groups) < 2:
    st.info(f"Only {escape_md(title(groups[0]))} ran in these experiments: run another form "
            "(or pick another experiment) to compare.")
else:
    baseline = pick_baseline(groups, focus)
    detect = st.slider("Difference to detect (share of the baseline's mean)", 0.05, 1.0,
                       summary.DETECT, 0.05, key="compare_detect",
                       help="For 'about N runs per group would detect it': the runs each group "
                            "needs for 80% power, from the spread observed here.")
    paired = st.toggle("Pair runs by input and repetition", value=True, key="compare_paired",
                       help="On: each figure is estimated from the differences within pairs "
                            "(the same input, run back to back), when at least 5 pairs exist. "
                            "Off: each group is resampled on its own (unpaired).")
    result = summary.summarize_runs(runs, baseline, by="group", detect=detect, paired=paired)
    st.dataframe(summary.scoreboard(result).rename(columns={"figure": "Figure"}),
                 hide_index=True, width="stretch", key="compare_scoreboard")
    st.caption(summary.SCOREBOARD_NOTE)
    blocks = sorted(result["comparisons"],
                    key=lambda b: analysis.split_group(b["group"])[0] != focus)
    for n, block in enumerate(blocks):
        with st.expander(escape_md(f"{title(block['group'])} vs {label(block['baseline'])}"),
                         expanded=n < 3):
            comparison(block)
table(analysis.summarize(runs, by=["group"]))

st.subheader("Judges")
judges_section(store, runs, report_ids, scenario, loaded.get(scenario))

TABS = {"Latency": ("latency", "latency_ecdf"), "Tokens & cost": ("tokens", "cost"),
        "Calls": ("calls",), "Paths": ("paths",), "Outcomes": ("outcomes", "outcome_counts"),
        "Reliability": ("pass_k",), "Failures": (), "Cost projection": (),
        "Success vs cost": ("frontier",)}
"""Compare's tabs and the charts each draws. Only the open tab is drawn: nine tabs' eleven
figures were built on the server (0.4 s of a render at 100 runs, 0.7-1.9 s at 10,000:
`bench/dashboard.py`) and laid out in the browser on every rerun, for the one tab anyone
sees (`bench/classroom.py`)."""


@st.fragment
def charts_and_tables(runs: pd.DataFrame, colors: figures.Colors,
                      result: dict[str, Any] | None) -> None:
    """The tabs. A fragment: opening a tab reruns only this, not the statistics above."""
    tabs = st.tabs(list(TABS), key="compare_tab", on_change="rerun")
    opened, shown = next(((name, tab) for name, tab in zip(TABS, tabs, strict=True)
                          if tab.open), ("Latency", tabs[0]))
    charts = figures.compare_charts(runs, "group", colors, only=TABS[opened])  # the report's

    def chart(name: str) -> None:
        """One of Compare's charts, or the sentence saying why the runs give none."""
        item = charts[name]
        if isinstance(item, str):
            st.caption(item)
        else:
            st.plotly_chart(item, width="stretch")

    with shown:
        if opened == "Latency":
            chart("latency")
            chart("latency_ecdf")
        elif opened == "Tokens & cost":
            chart("tokens")
            chart("cost")
        elif opened == "Calls":
            chart("calls")
        elif opened == "Paths":
            table(paths.path_variance(runs, "group"))
            if result is not None:
                st.markdown("\n".join(f"- {escape_md(s)}"
                                       for s in summary.deviation_sentences(result)))
            chart("paths")
        elif opened == "Outcomes":
            chart("outcomes")
            st.caption("Each rate is over the runs where its field applies (n). Runs stopped "
                       "by the environment or a cancel are left out of every outcome but "
                       "`status ok`.")
            rates = analysis.outcome_rates(runs, "group")
            table(rates.assign(outcome=rates["outcome"].str.replace("_", " ")))
            if "outcome_counts" in charts:
                chart("outcome_counts")
                st.caption("Whole-number outcomes per run (emails sent, guard refusals, tool "
                           "calls): a guard's work shows as fewer emails and as refusals.")
        elif opened == "Reliability":
            chart("pass_k")
            if not isinstance(charts["pass_k"], str):
                st.caption("pass^k: the chance that k runs of one input all succeed (does it still "
                           "work the k-th time?); pass@k: that at least one of k does. Averaged "
                           "over inputs, for k up to the fewest runs any input has.")
                table(estimates.reliability(runs, "group"))
        elif opened == "Failures":
            st.caption("Runs that did not end normally, by error class, and provider calls "
                       "retried.")
            table(analysis.failure_table(runs, "group"))
        elif opened == "Cost projection":
            cost_projection(runs)
        elif opened == "Success vs cost":
            chart("frontier")
            found = frontier.frontier(runs, "group") if result is None else result["frontier"]
            if found["points"]:
                st.caption(escape_md(found["sentence"]))
                st.dataframe(frontier.frontier_table(found), hide_index=True, width="stretch")


charts_and_tables(runs, colors, result)
