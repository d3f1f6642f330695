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
    """Return a generator factory: commit on success, roll back on error."""

    def connection() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(database)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
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
