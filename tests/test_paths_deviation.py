"""Distance from the designed flow, on hand-made structured paths with known answers."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from orchlab.measure.paths import edit_distance, flat_steps
from orchlab.stats.paths import (
    DEVIATION_COLUMNS,
    deviation_sentence,
    path_deviation,
    reference_paths,
)

WRITERS = ("concise_writer", "humorous_writer", "professional_writer")


def step(name: str, kind: str = "agent", *steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "kind": kind, "steps": list(steps)}


def par(*members: str | dict[str, Any]) -> dict[str, Any]:
    return {"parallel": [step(m) if isinstance(m, str) else m for m in members]}


def code_path(*writers: str) -> list[dict[str, Any]]:
    """The designed sales flow: writers in parallel, the picker, the send."""
    return [par(*writers), step("picker"), step("send_email", "function")]


CODE_A = code_path(*WRITERS)
FLAT_A = [*WRITERS, "picker", "send_email"]


def test_a_parallel_set_flattens_to_its_members_in_sorted_order() -> None:
    assert flat_steps(code_path("professional_writer", "concise_writer", "humorous_writer")) \
        == flat_steps(code_path(*WRITERS)) == FLAT_A
    assert flat_steps([par("c", "b", "a")]) == flat_steps([par("b", "a", "c")]) == ["a", "b", "c"]


def test_steps_flatten_depth_first_with_members_sub_steps_after_them() -> None:
    path = [step("boss", "agent", par(step("y"), step("x", "agent", step("t", "function"))),
                 step("send", "function")), step("done")]
    assert flat_steps(path) == ["boss", "x", "t", "y", "send", "done"]
    assert flat_steps([]) == []


@pytest.mark.parametrize(("a", "b", "distance"), [
    ([], [], 0),
    (["a", "b"], ["a", "b"], 0),
    ([], ["a", "b", "c"], 3),
    (["a", "b", "c"], ["a", "c"], 1),  # one deletion
    (["a", "b", "c"], ["a", "x", "c"], 1),  # one substitution
    (["a", "b"], ["b", "a"], 2),  # no transpositions in Levenshtein
    (list("kitten"), list("sitting"), 3),
    (FLAT_A, ["sales_manager", *WRITERS, "send_email"], 2),
])
def test_edit_distance_on_known_pairs(a: list[str], b: list[str], distance: int) -> None:
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def run(form: str, input_id: str, steps: list[dict[str, Any]], n: int) -> dict[str, Any]:
    return {"run_id": f"{form}-{n}", "form": form, "group": form, "input_id": input_id,
            "repetition": n, "path_steps": steps, "success": True}


def sample() -> pd.DataFrame:
    x = [step("x", "function")]
    y = [step("y", "function")]
    rows = [
        run("code", "in-a", CODE_A, 0), run("code", "in-a", CODE_A, 1),
        run("code", "in-b", y, 2), run("code", "in-b", x, 3),  # a tie: x sorts first
        run("llm", "in-a", code_path("humorous_writer", "professional_writer"), 0),  # 1
        run("llm", "in-a", code_path(*reversed(WRITERS)), 1),  # identical: 0
        run("llm", "in-a", [step("sales_manager", "agent", par(*WRITERS),
                                 step("send_email", "function"))], 2),  # +manager -picker: 2
        run("llm", "in-a", code_path(), 3),  # no writers: 3
        run("llm", "in-c", x, 4),  # code did not run in-c: not compared
        run("llm", "in-b", x, 5),  # the in-b reference: 0
    ]
    return pd.DataFrame(rows)


def test_reference_is_the_reference_forms_most_common_path_per_input() -> None:
    refs = reference_paths(sample())
    assert refs == {"in-a": FLAT_A, "in-b": ["x"]}
    assert reference_paths(sample(), "llm")["in-c"] == ["x"]
    assert reference_paths(sample(), "plan") == {}


def test_path_deviation_counts_distances_deviations_and_skipped_steps() -> None:
    table = path_deviation(sample())
    assert list(table.columns) == ["group", *DEVIATION_COLUMNS]
    assert list(table["group"]) == ["code", "llm"]  # the catalogue's order
    code, llm = (table.iloc[i].to_dict() for i in range(2))
    assert (code["runs"], code["compared"], code["deviated"]) == (4, 4, 1)
    assert code["mean_distance"] == pytest.approx(0.25)  # the in-b y run: one substitution
    assert code["skipped"] == {"x": 1}
    assert (llm["runs"], llm["compared"], llm["deviated"]) == (6, 5, 3)
    assert llm["mean_distance"] == pytest.approx((1 + 0 + 2 + 3 + 0) / 5)
    assert llm["skipped"] == {"concise_writer": 2, "humorous_writer": 1, "picker": 1,
                              "professional_writer": 1}
    assert list(llm["skipped"]) == ["concise_writer", "humorous_writer", "picker",
                                    "professional_writer"]  # most skipped first


def test_skipped_steps_are_counted_as_a_multiset() -> None:
    ref = [par("w", step("w", "function")), step("send", "function")]  # w twice
    frame = pd.DataFrame([
        run("code", "in", ref, 0),
        run("llm", "in", [step("w"), step("send", "function"), step("send", "function")], 1),
        run("llm", "in", [step("send", "function")], 2),
    ])
    llm = path_deviation(frame).set_index("group").loc["llm"]
    assert llm["skipped"] == {"w": 2}  # both runs lack a w, an extra send makes up for nothing
    assert llm["mean_distance"] == pytest.approx((1 + 2) / 2)  # w > send > send: one swap


def test_without_a_group_column_groups_are_forms_and_other_columns_work() -> None:
    frame = sample().drop(columns="group")
    assert list(path_deviation(frame)["group"]) == ["code", "llm"]
    by_form = path_deviation(frame, by="form")
    assert list(by_form.columns) == ["form", *DEVIATION_COLUMNS]
    assert list(by_form["deviated"]) == [1, 3]
    assert path_deviation(frame.iloc[0:0]).empty


def test_a_group_with_no_reference_inputs_has_no_mean() -> None:
    frame = pd.DataFrame([run("code", "in-a", CODE_A, 0), run("llm", "in-z", CODE_A, 1)])
    llm = path_deviation(frame).iloc[1]
    assert (llm["runs"], llm["compared"], llm["deviated"], llm["skipped"]) == (1, 0, 0, {})
    assert math.isnan(llm["mean_distance"])
    assert deviation_sentence(llm, "LLM-orchestrated", "code-orchestrated") == (
        "LLM-orchestrated runs: no reference path to compare with (code-orchestrated did not "
        "run their inputs).")


def test_the_sentence_names_the_mean_the_share_and_the_most_skipped_steps() -> None:
    table = path_deviation(sample()).set_index("group", drop=False)
    assert deviation_sentence(table.loc["llm"], "LLM-orchestrated", "code-orchestrated") == (
        "LLM-orchestrated runs deviated from the code-orchestrated path by 1.2 steps on average "
        "(3 of 5 runs); 2 of 5 skipped concise_writer and 1 of 5 skipped humorous_writer.")
    row = {"compared": 12, "deviated": 4, "mean_distance": 28 / 12,
           "skipped": {"concise_writer": 4}}
    assert deviation_sentence(row, "LLM-orchestrated", "code-orchestrated") == (
        "LLM-orchestrated runs deviated from the code-orchestrated path by 2.3 steps on average "
        "(4 of 12 runs); 4 of 12 skipped concise_writer.")
    row = {"compared": 3, "deviated": 1, "mean_distance": 1.0, "skipped": {}}
    assert deviation_sentence(row, "Plan", "code") == (
        "Plan runs deviated from the code path by 1.0 step on average (1 of 3 runs).")


def test_the_sentence_says_when_every_run_followed_the_reference() -> None:
    row = {"compared": 12, "deviated": 0, "mean_distance": 0.0, "skipped": {}}
    assert deviation_sentence(row, "Guarded", "code-orchestrated") == (
        "Guarded runs followed the code-orchestrated path in all 12 runs.")
