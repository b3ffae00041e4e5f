"""Helpers shared by scenarios: span counting, keyword matching and bundled-data loading.

Skipped by discovery (leading underscore): it defines no scenario.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchlab.scenario import SpanRecord

DATA_DIR = Path(__file__).parent / "data"


def function_calls(spans: Iterable[SpanRecord], names: Iterable[str]) -> int:
    """Function spans whose tool name is in `names` (a real tool, not an agent called as one)."""
    wanted = set(names)
    return sum(1 for s in spans if s.kind == "function" and s.name in wanted)


def matches_groups(text: str | None, groups: Sequence[Sequence[str]]) -> bool:
    """True when every group has at least one phrase in `text` (case-insensitive).

    Groups are AND, phrases within a group are OR: [["clock", "ntp"], ["vpn"]].
    """
    if not text or not groups:
        return False
    folded = " ".join(text.lower().split())
    return all(any(phrase.lower() in folded for phrase in group) for group in groups)


def mentions_id(text: str | None, article_id: str) -> bool:
    """Whether `text` names an id like KB-104, tolerating 'KB104', 'kb 104' and 'KB–104'."""
    if not text:
        return False
    prefix, _, number = article_id.partition("-")
    pattern = rf"\b{re.escape(prefix)}\s*[-\u2010-\u2015 ]?\s*{re.escape(number)}\b"
    return re.search(pattern, text, re.IGNORECASE) is not None


@cache
def load_json(relative: str) -> Any:
    """A bundled JSON file under scenarios/data, read once per process (treat as read-only)."""
    return json.loads((DATA_DIR / relative).read_text(encoding="utf-8"))
