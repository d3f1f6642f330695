"""Bookmarks on the library's SQLAlchemy repository, with tags in a second table."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Connection, delete, func, insert, select

from flask_servicecbv.sqlalchemy import Filter, Search, SQLAlchemyRepository

from .db import bookmark, bookmark_tag
from .policy import TagPolicy

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy import ColumnElement

    from flask_servicecbv import Container


class BookmarkRepository(SQLAlchemyRepository):
    """
    Bookmarks as dicts, read and written on the request's connection.

    :class:`~flask_servicecbv.sqlalchemy.SQLAlchemyRepository` does the
    queries, the ordering, the cursors and the conditional writes; this class
    adds what is particular to bookmarks: the tags, kept in a second table
    and folded by the tag policy, and the filter by tag.
    It never commits: the connection service commits the request's
    transaction once the view has succeeded.

    Args:
        conn: The connection of the current app context.

        policy: How tags are stored and looked up.
    """

    table = bookmark
    WRITABLE: ClassVar[Sequence[str]] = ("url", "title", "notes")
    # ?q= searches the folded copies, kept beside the text by values().
    FOLDED: ClassVar[Mapping[str, str]] = {
        "title": "title_folded",
        "notes": "notes_folded",
    }
    FILTERS: ClassVar[Mapping[str, Filter]] = {"q": Search("title", "notes")}
    SORTABLE: ClassVar[Sequence[str]] = ("title", "created_at", "updated_at")

    def __init__(self, conn: Connection, policy: TagPolicy) -> None:
        super().__init__(conn)
        self.policy = policy

    # -- the tags, in their own table --------------------------------------------

    def filter_clause(self, name: str, value: Any) -> ColumnElement[bool]:
        """``?tag=``: the bookmarks that carry the tag, as the policy folds it."""
        if name != "tag":
            return super().filter_clause(name, value)
        tagged = select(bookmark_tag.c.bookmark_id).where(
            bookmark_tag.c.tag == self.policy.tag(value)
        )
        return bookmark.c.id.in_(tagged)

    def load_related(self, items: list[dict[str, Any]]) -> None:
        """Give each bookmark its tags, read in one query for all of them."""
        found: dict[int, list[str]] = defaultdict(list)
        rows = self.conn.execute(
            select(bookmark_tag.c.bookmark_id, bookmark_tag.c.tag).where(
                bookmark_tag.c.bookmark_id.in_([item["id"] for item in items])
            )
        )
        for bookmark_id, tag in rows:
            found[bookmark_id].append(tag)
        for item in items:
            # Sorted here, not by the database, whose collation may order
            # punctuation otherwise: a representation is the same everywhere.
            item["tags"] = sorted(found.get(item["id"], ()))

    def write_related(
        self, item: dict[str, Any], data: Mapping[str, Any], *, partial: bool
    ) -> None:
        """
        Replace the bookmark's tags with those *data* gives, folded by the
        policy; a ``PATCH`` without tags keeps them.

        Raises:
            RequestValidationError: More tags than the policy allows (``422``);
                the request's transaction is then rolled back.
        """
        if partial and "tags" not in data:
            self.load_related([item])
            return
        tags = self.policy.tags(data.get("tags", ()))
        bookmark_id = item["id"]
        self.conn.execute(
            delete(bookmark_tag).where(bookmark_tag.c.bookmark_id == bookmark_id)
        )
        if tags:
            self.conn.execute(
                insert(bookmark_tag),
                [{"bookmark_id": bookmark_id, "tag": tag} for tag in tags],
            )
        item["tags"] = sorted(tags)


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
