"""Path signatures on hand-built span trees with known answers."""

from __future__ import annotations

from orchlab.core.records import SpanRecord
from orchlab.measure.paths import path_entropy, path_signature, top_path_share


def span(
    sid: str, parent: str | None, kind: str, name: str, start: float, end: float
) -> SpanRecord:
    return SpanRecord(span_id=sid, parent_id=parent, kind=kind, name=name, agent=None,
                      start_ms=start, end_ms=end)


def test_overlapping_siblings_form_one_sorted_set() -> None:
    spans = [span("a", None, "agent", "zeta", 0, 10), span("b", None, "agent", "alpha", 1, 9),
             span("c", None, "function", "send", 11, 12)]
    assert path_signature(spans) == "{alpha|zeta} > send"


def test_sequential_siblings_stay_in_order() -> None:
    spans = [span("a", None, "agent", "b", 0, 5), span("b", None, "agent", "a", 6, 9)]
    assert path_signature(spans) == "b > a"


def test_tool_calls_of_one_turn_are_parallel_even_without_overlap() -> None:
    spans = [span("ag", None, "agent", "boss", 0, 100), span("t1", "ag", "turn", "turn 1", 0, 50),
             span("f1", "t1", "function", "w2", 10, 11), span("f2", "t1", "function", "w1", 12, 13),
             span("t2", "ag", "turn", "turn 2", 50, 100),
             span("f3", "t2", "function", "send", 60, 61)]
    assert path_signature(spans) == "boss > {w1|w2} > send"


def test_agent_called_as_tool_is_one_step_and_its_own_steps_nest() -> None:
    spans = [span("ag", None, "agent", "boss", 0, 100), span("t1", "ag", "turn", "turn 1", 0, 90),
             span("f1", "t1", "function", "analyst", 1, 80), span("k", "f1", "task", "t", 2, 79),
             span("sub", "k", "agent", "analyst", 3, 78),
             span("st", "sub", "turn", "turn 1", 3, 70),
             span("g", "st", "generation", "m", 4, 5), span("f2", "st", "function", "grep", 6, 7)]
    assert path_signature(spans) == "boss > analyst > grep"


def test_parallel_members_with_sub_steps_show_them_in_parentheses() -> None:
    spans = [span("p", None, "custom", "parallel", 0, 10),
             span("a", "p", "agent", "x", 1, 2), span("a1", "a", "function", "t", 1.2, 1.5),
             span("b", "p", "agent", "y", 3, 4)]
    assert path_signature(spans) == "{x(t)|y}"


def test_entropy_and_top_share_have_known_values() -> None:
    assert path_entropy(["a"] * 5) == 0.0
    assert path_entropy(["a", "b", "c", "d"]) == 2.0
    assert abs(path_entropy(["a", "b", "c"]) - 1.584962500721156) < 1e-12
    assert top_path_share(["a", "a", "b", "c"]) == 0.5
    assert path_entropy([]) == 0.0 and top_path_share([]) == 0.0
