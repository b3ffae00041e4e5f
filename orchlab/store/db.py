"""The store's database behind one small interface: SQLite (the embedded default, a file) or
PostgreSQL (a team's shared store, a `postgresql://` URL).

The store writes its SQL once, with `?` placeholders and in the SQL both engines accept; the
few things that differ (placeholders, DDL column types, JSON access, the catalogue, locking,
errors) live in the two `Database` classes, so no query is written twice.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

from orchlab.core import config
from orchlab.core.errors import StoreError

__all__ = ["SCHEMES", "Connection", "Database", "SqliteDatabase", "open_database", "statements"]


class Cursor(Protocol):
    """What the store reads back from a statement (sqlite3's and psycopg's cursors both are)."""

    rowcount: int
    description: Any

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class Connection(Protocol):
    """A connection inside one transaction, taking `?` placeholders on both engines."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...


class Database(Protocol):
    """One store's engine: transactions, and the dialect of its few engine-specific parts."""

    kind: str
    """"SQLite" or "PostgreSQL", as the sidebar names it."""
    shown: str
    """Where the store is, fit to show (a URL's password replaced by ***)."""
    location: str
    """Where the store is, as given: what reopens it (in a worker process, say)."""
    where: str
    """The file, or host:port/database: what the sidebar names (never a user or password)."""
    integrity_errors: tuple[type[Exception], ...]
    """A key already stored (a unique or primary key violated)."""
    errors: tuple[type[Exception], ...]
    """Anything the engine raises for a statement it cannot run."""
    lock_sql: str
    """Run first in the migrating transaction, so that concurrent openers of a new store
    apply the migrations one after the other."""
    columns_sql: str
    """The column names of the table given as its one parameter, one per row."""

    def tx(self) -> AbstractContextManager[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        ...

    def read(self) -> AbstractContextManager[Connection]:
        """A connection to read with (a snapshot on PostgreSQL, under the lock on SQLite)."""
        ...

    def ddl(self, statement: str) -> str:
        """A migration statement in this engine's column types."""
        ...

    def json_text(self, column: str, key: str) -> str:
        """SQL for the text at a top-level key of a JSON text column."""
        ...

    def close(self) -> None:
        """Release the connection (or the pool)."""
        ...


def statements(script: str) -> list[str]:
    """A migration script's statements (no `;` inside the store's own literals)."""
    return [s.strip() for s in script.split(";") if s.strip()]


class SqliteDatabase:
    """One SQLite file in WAL mode: one writing connection shared by threads under one lock,
    and reading connections of their own.

    A read never takes the write lock: in WAL mode readers and the writer do not block each
    other, so a page building a frame of 10,000 runs cannot hold up the commit of a run that
    has just finished (nor the runs in flight that wait for that commit's slot)."""

    kind = "SQLite"
    integrity_errors: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
    errors: tuple[type[Exception], ...] = (sqlite3.DatabaseError,)
    lock_sql = "BEGIN IMMEDIATE"  # the write lock, before anything is read
    columns_sql = "SELECT name FROM pragma_table_info(?)"
    IDLE_READERS = 8
    """Reading connections kept open between reads (more may be open at once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = self.shown = self.where = str(path)
        self._lock = threading.RLock()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._closed = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect("DEFERRED")
            conn.execute("PRAGMA journal_mode=WAL")
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(f"Cannot use {path} as the Orchestration Lab store: {exc}.") \
                from None
        self._conn = conn

    def _connect(self, isolation_level: Literal["DEFERRED"] | None) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False,
                               isolation_level=isolation_level)
        for pragma in ("synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000"):
            conn.execute(f"PRAGMA {pragma}")
        return conn

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        with self._lock:
            try:
                yield self._conn
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection of the reader's own, inside one read transaction: every statement
        of the block sees the same committed state, and no writer waits for it."""
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = self._connect(None)  # autocommit: the block's BEGIN is its transaction
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("ROLLBACK")  # a reader changes nothing
        except BaseException:
            conn.close()
            raise
        if self._closed or self._readers.qsize() >= self.IDLE_READERS:
            conn.close()
        else:
            self._readers.put(conn)

    def ddl(self, statement: str) -> str:
        return statement

    def json_text(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def close(self) -> None:
        self._closed = True
        with self._lock:
            self._conn.close()
        while not self._readers.empty():
            self._readers.get_nowait().close()


def _sqlite(location: str) -> Database:
    return SqliteDatabase(Path(location).expanduser())


def _postgresql(location: str) -> Database:
    from orchlab.store.db_postgres import PostgresDatabase  # psycopg is imported only for a URL

    return PostgresDatabase(location)


SCHEMES: dict[str, Callable[[str], Database]] = {"postgresql": _postgresql,
                                                 "postgres": _postgresql}
"""URL scheme -> the factory of its database; a file path is SQLite."""


def open_database(location: str) -> Database:
    """The database at a location: a file path (SQLite) or a URL whose scheme `SCHEMES` knows;
    anything else is refused in one sentence before anything is created."""
    scheme = config.url_scheme(location)
    if scheme is None:
        return _sqlite(location)
    if scheme not in SCHEMES:
        raise StoreError(f"The store {config.shown_location(location)} is a {scheme} URL, and "
                         "a store is a SQLite file path or a postgresql:// URL.")
    return SCHEMES[scheme](location)
