"""The database connection service: one SQLite connection per app context."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS bookmark (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    title TEXT NOT NULL
)
"""


def connect(database: str) -> Callable[[], Iterator[sqlite3.Connection]]:
    """
    Return a generator factory: roll back on error, then close.

    It never commits: the repository commits each write inside the request,
    where a failing commit is an error the view answers with a 500.
    A commit here, in the cleanup, would run after the response is built, and
    its failure would only be logged: the client would get a 201 for a write
    that was lost.
    """

    def connection() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(database)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        except BaseException:
            # The container throws the request's unhandled exception in here:
            # undo whatever it wrote and did not commit.
            conn.rollback()
            raise
        finally:
            # Closing discards anything left uncommitted.
            conn.close()

    return connection


def ping(conn: sqlite3.Connection) -> None:
    """Check that the database answers."""
    conn.execute("SELECT 1").fetchone()


def init_schema(database: str) -> None:
    """Create the tables if they do not exist."""
    with sqlite3.connect(database) as conn:
        conn.execute(SCHEMA)
    conn.close()
