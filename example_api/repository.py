"""Bookmarks stored with SQLAlchemy Core, behind the generic views' protocol."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select, update

from .db import bookmark, bookmark_tag, fold, now
from .policy import TagPolicy

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from sqlalchemy import ColumnElement, Select

    from flask_servicecbv import Container

_COLUMNS = (
    bookmark.c.id,
    bookmark.c.url,
    bookmark.c.title,
    bookmark.c.notes,
    bookmark.c.created_at,
    bookmark.c.updated_at,
)
_WRITABLE = ("url", "title", "notes")
# The searched text, kept folded beside the text itself.
_FOLDED = {"title": "title_folded", "notes": "notes_folded"}


def with_folded(values: Mapping[str, Any]) -> dict[str, Any]:
    """
    Return the column *values* with the folded copies of those that ``?q=``
    searches.
    """
    out = dict(values)
    for name, folded in _FOLDED.items():
        if name in values:
            out[folded] = fold(values[name])
    return out


class BookmarkRepository:
    """
    Bookmarks as dicts, read and written on the request's connection.

    It implements :class:`flask_servicecbv.rest.Repository`.
    It never commits: the connection service commits the request's
    transaction once the view has succeeded.

    Args:
        conn: The connection of the current app context.

        policy: How tags are stored and looked up.
    """

    def __init__(self, conn: Connection, policy: TagPolicy) -> None:
        self.conn = conn
        self.policy = policy

    def __repr__(self) -> str:
        return f"<BookmarkRepository on {self.conn.engine.url!r}>"

    # -- reading -------------------------------------------------------------

    def _where(self, filters: Mapping[str, Any]) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        tag = filters.get("tag")
        if tag is not None:
            tagged = select(bookmark_tag.c.bookmark_id).where(
                bookmark_tag.c.tag == self.policy.tag(tag)
            )
            clauses.append(bookmark.c.id.in_(tagged))
        text = filters.get("q")
        if text is not None:
            # Both sides folded in Python: no lower() of the database's own.
            folded = fold(text)
            clauses.append(
                bookmark.c.title_folded.contains(folded, autoescape=True)
                | bookmark.c.notes_folded.contains(folded, autoescape=True)
            )
        return clauses

    def _items(self, query: Select[Any]) -> list[dict[str, Any]]:
        items = [dict(row._mapping) for row in self.conn.execute(query)]  # noqa: SLF001 -- SQLAlchemy's public row API
        tags = self._tags_of([item["id"] for item in items])
        for item in items:
            item["tags"] = tags.get(item["id"], [])
        return items

    def _tags_of(self, ids: Sequence[int]) -> dict[int, list[str]]:
        found: dict[int, list[str]] = defaultdict(list)
        if ids:
            rows = self.conn.execute(
                select(bookmark_tag.c.bookmark_id, bookmark_tag.c.tag).where(
                    bookmark_tag.c.bookmark_id.in_(ids)
                )
            )
            for bookmark_id, tag in rows:
                found[bookmark_id].append(tag)
        # Sorted here, not by the database, whose collation may order
        # punctuation otherwise: a representation is the same everywhere.
        return {key: sorted(tags) for key, tags in found.items()}

    def list(
        self, *, offset: int, limit: int, filters: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Return a page of bookmarks, oldest first."""
        query = (
            select(*_COLUMNS)
            .where(*self._where(filters))
            .order_by(bookmark.c.id)
            .offset(offset)
            .limit(limit)
        )
        return self._items(query)

    def count(self, *, filters: Mapping[str, Any]) -> int:
        """Return how many bookmarks *filters* select."""
        query = select(func.count()).select_from(bookmark).where(*self._where(filters))
        return int(self.conn.execute(query).scalar_one())

    def get(self, item_id: int) -> dict[str, Any] | None:
        """Return one bookmark, or ``None``."""
        items = self._items(select(*_COLUMNS).where(bookmark.c.id == item_id))
        return items[0] if items else None

    # -- writing -------------------------------------------------------------

    def _locked(self, item_id: int) -> dict[str, Any] | None:
        """
        Return a bookmark, or ``None``, read under a lock that keeps every
        other writer of it waiting until this transaction ends.

        PostgreSQL locks the row (``SELECT ... FOR UPDATE``): a concurrent
        writer of the same bookmark waits, then reads what this one wrote.
        SQLite has one writer at a time: the transaction becomes a write
        transaction (``BEGIN IMMEDIATE``) before the read, waiting at most
        the busy timeout for another writer to finish.
        """
        query = select(*_COLUMNS).where(bookmark.c.id == item_id)
        if self.conn.dialect.name == "sqlite":
            # sqlite3 opens a transaction before the first write, not before
            # a read: open a write transaction now, unless one is open.
            if not self.conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
                self.conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            query = query.with_for_update()
        items = self._items(query)
        return items[0] if items else None

    def _set_tags(self, bookmark_id: int, tags: Sequence[str]) -> None:
        self.conn.execute(
            delete(bookmark_tag).where(bookmark_tag.c.bookmark_id == bookmark_id)
        )
        if tags:
            self.conn.execute(
                insert(bookmark_tag),
                [{"bookmark_id": bookmark_id, "tag": tag} for tag in tags],
            )

    def create(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Insert a bookmark; return it with its id and times."""
        tags = self.policy.tags(data.get("tags", ()))
        stamp = now()
        values = {
            "url": data["url"],
            "title": data["title"],
            "notes": data.get("notes", ""),
        }
        row = self.conn.execute(
            insert(bookmark)
            .values(**with_folded(values), created_at=stamp, updated_at=stamp)
            .returning(*_COLUMNS)
        ).one()
        item = dict(row._mapping)  # noqa: SLF001 -- SQLAlchemy's public row API
        self._set_tags(item["id"], tags)
        item["tags"] = sorted(tags)
        return item

    def update(
        self,
        item_id: int,
        data: Mapping[str, Any],
        *,
        partial: bool,
        precondition: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any] | None:
        """
        Change a bookmark: every writable field (``PUT``) or those given
        (``PATCH``); return it, or ``None`` when there is none.

        With *precondition*, the bookmark is read under a lock (see
        :meth:`_locked`) and given to it, as :meth:`get` returns it; only if
        it returns is the bookmark changed, before any other writer can
        change it.
        What it raises propagates, and nothing is written.
        """
        if precondition is not None:
            current = self._locked(item_id)
            if current is None:
                return None
            precondition(current)
        if partial:
            values = {name: data[name] for name in _WRITABLE if name in data}
        else:
            values = {name: data.get(name, "") for name in _WRITABLE}
        tags = None
        if "tags" in data or not partial:
            tags = self.policy.tags(data.get("tags", ()))
        row = self.conn.execute(
            update(bookmark)
            .where(bookmark.c.id == item_id)
            .values(**with_folded(values), updated_at=now())
            .returning(*_COLUMNS)
        ).one_or_none()
        if row is None:
            return None
        item = dict(row._mapping)  # noqa: SLF001 -- SQLAlchemy's public row API
        if tags is None:
            item["tags"] = self._tags_of([item_id]).get(item_id, [])
        else:
            self._set_tags(item_id, tags)
            item["tags"] = sorted(tags)
        return item

    def delete(
        self,
        item_id: int,
        *,
        precondition: Callable[[dict[str, Any]], None] | None = None,
    ) -> bool:
        """
        Delete a bookmark, and with it its tags (the foreign key cascades);
        return whether there was one.

        With *precondition*, as in :meth:`update`: it is given the bookmark
        read under a lock, and the bookmark is deleted only if it returns.
        """
        if precondition is not None:
            current = self._locked(item_id)
            if current is None:
                return False
            precondition(current)
        deleted = self.conn.execute(delete(bookmark).where(bookmark.c.id == item_id))
        return deleted.rowcount > 0


def tag_counts(conn: Connection, policy: TagPolicy) -> dict[str, int]:
    """
    Return how many bookmarks carry each tag: the ``policy.max_tags`` most
    used tags.
    """
    tag = func.lower(bookmark_tag.c.tag) if policy.lowercase else bookmark_tag.c.tag
    number = func.count(func.distinct(bookmark_tag.c.bookmark_id))
    rows = conn.execute(
        select(tag.label("tag"), number.label("number"))
        .group_by(tag)
        .order_by(number.desc(), tag)
        .limit(policy.max_tags)
    )
    return {row.tag: row.number for row in rows}


def make_repository(container: Container) -> BookmarkRepository:
    """
    Build the repository on the connection of the same app context, with the
    tag policy of the request's blueprint.
    """
    return BookmarkRepository(container.get(Connection), TagPolicy.from_context())
