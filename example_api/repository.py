"""Bookmarks stored in the database service."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask_servicecbv import Container


class BookmarkRepository:
    """
    Reads and writes bookmarks through one connection.

    Every write is its own transaction, committed before the method returns,
    so that a failing commit (say, "database is locked") raises in the view
    and the client gets an error, not a success for a write that was lost.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def list(self) -> list[dict[str, Any]]:
        """Every bookmark, oldest first."""
        rows = self.conn.execute("SELECT id, url, title FROM bookmark ORDER BY id")
        return [dict(row) for row in rows]

    def get(self, bookmark_id: int) -> dict[str, Any] | None:
        """One bookmark, or None."""
        row = self.conn.execute(
            "SELECT id, url, title FROM bookmark WHERE id = ?", (bookmark_id,)
        ).fetchone()
        return None if row is None else dict(row)

    def add(self, url: str, title: str) -> dict[str, Any]:
        """Store and commit a bookmark, and return it with its id."""
        # The connection as a context manager commits on success and rolls
        # back if the INSERT or the commit itself fails.
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO bookmark (url, title) VALUES (?, ?)", (url, title)
            )
        return {"id": cur.lastrowid, "url": url, "title": title}

    def delete(self, bookmark_id: int) -> bool:
        """Delete a bookmark and commit; False if there was none."""
        with self.conn:
            cur = self.conn.execute("DELETE FROM bookmark WHERE id = ?", (bookmark_id,))
        return cur.rowcount > 0


def make_repository(container: Container) -> BookmarkRepository:
    """The repository uses the connection of the same app context."""
    return BookmarkRepository(container.get(sqlite3.Connection))
