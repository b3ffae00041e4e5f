"""The troubleshooting knowledge base: bundled JSON articles in an in-memory SQLite FTS5 index.

Built once per process on first use; guarded by a lock because the dashboard runs experiments
in a worker thread and tests run them in the main thread.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

from scenarios._common import load_json

FIELDS = ("id", "title", "symptoms", "cause", "fix", "tags")
BM25_WEIGHTS = (0.0, 6.0, 2.0, 2.0, 1.0, 4.0)
"""Per-column weights for bm25 (id, title, symptoms, cause, fix, tags): titles and tags
describe what an article is about better than its prose."""
DEFAULT_LIMIT = 3
STOPWORDS = frozenset({
    "a", "after", "all", "an", "and", "any", "are", "as", "at", "be", "before", "but", "by",
    "can", "do", "does", "every", "for", "from", "has", "have", "how", "i", "if", "in", "into",
    "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "so", "that", "the",
    "their", "then", "there", "this", "to", "up", "was", "we", "what", "when", "which", "who",
    "why", "will", "with", "you", "your",
})

_lock = threading.Lock()
_db: sqlite3.Connection | None = None


@dataclass
class Article:
    """One KB article."""

    id: str
    title: str
    symptoms: str
    cause: str
    fix: str
    tags: list[str]


def articles() -> dict[str, Article]:
    """Every bundled article by id."""
    return {a["id"]: Article(**a) for a in load_json("troubleshooting/kb.json")["articles"]}


def _index() -> sqlite3.Connection:
    """The FTS5 table, created on first call (porter stemming: 'crashes' finds 'crash')."""
    global _db
    if _db is None:
        db = sqlite3.connect(":memory:", check_same_thread=False)
        db.execute(f"CREATE VIRTUAL TABLE kb USING fts5(id UNINDEXED, {', '.join(FIELDS[1:])}, "
                   "tokenize='porter unicode61')")
        db.executemany(
            "INSERT INTO kb VALUES (?, ?, ?, ?, ?, ?)",
            [(a.id, a.title, a.symptoms, a.cause, a.fix, " ".join(a.tags))
             for a in articles().values()],
        )
        db.commit()
        _db = db
    return _db


def fts_query(text: str) -> str:
    """Free text -> an FTS5 OR-query of quoted terms, so any user text is a valid query."""
    terms: list[str] = []
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if len(word) > 1 and word not in STOPWORDS and word not in terms:
            terms.append(word)
    return " OR ".join(f'"{t}"' for t in terms)


def search(query: str, limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """Best-matching articles first (bm25), as dicts with id, title, cause and fix."""
    match = fts_query(query)
    if not match:
        return []
    weights = ", ".join(str(w) for w in BM25_WEIGHTS)
    with _lock:
        rows = _index().execute(
            f"SELECT id, title, cause, fix FROM kb WHERE kb MATCH ? "
            f"ORDER BY bm25(kb, {weights}) LIMIT ?", (match, limit),
        ).fetchall()
    return [dict(zip(("id", "title", "cause", "fix"), row, strict=True)) for row in rows]
