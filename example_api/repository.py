"""Bookmarks on the library's SQLAlchemy repository, with tags in a second table."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Connection, delete, func, insert, select

from flask_servicecbv.sqlalchemy import Filter, Search, SQLAlchemyRepository

from .auth import User
from .db import bookmark, bookmark_tag, user_account
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

    Scoped to an *owner*, it sees that user's bookmarks only, and creates
    bookmarks for that user: another user's bookmark is not found, as if it
    did not exist.
    Unscoped (*owner* ``None``), it sees every user's, each with its
    ``owner``, the user's name; it cannot create.

    Args:
        conn: The connection of the current app context.

        policy: How tags are stored and looked up.

        owner: The id of the user whose bookmarks it holds, or ``None``.
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

    def __init__(
        self, conn: Connection, policy: TagPolicy, owner: int | None = None
    ) -> None:
        super().__init__(conn)
        self.policy = policy
        self.owner = owner

    # -- whose bookmarks ---------------------------------------------------------

    def scope(self) -> list[ColumnElement[bool]]:
        """The owner's bookmarks only, in every query; all when unscoped."""
        if self.owner is None:
            return []
        return [bookmark.c.owner_id == self.owner]

    def values(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        """The columns that *data* writes; a new bookmark is the owner's."""
        values = super().values(data, partial=partial)
        if not partial:
            values["owner_id"] = self.owner
        return values

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
        if self.owner is None:
            self._load_owners(items)

    def _load_owners(self, items: list[dict[str, Any]]) -> None:
        """Give each bookmark its owner's name, in one query for all of them."""
        owners = {item["owner_id"] for item in items}
        names = dict(
            self.conn.execute(
                select(user_account.c.id, user_account.c.name).where(
                    user_account.c.id.in_(owners)
                )
            ).all()
        )
        for item in items:
            item["owner"] = names[item["owner_id"]]

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


def tag_counts(conn: Connection, policy: TagPolicy, owner: int) -> dict[str, int]:
    """
    Return how many of *owner*'s bookmarks carry each tag: the
    ``policy.max_tags`` most used tags.
    """
    tag = func.lower(bookmark_tag.c.tag) if policy.lowercase else bookmark_tag.c.tag
    number = func.count(func.distinct(bookmark_tag.c.bookmark_id))
    rows = conn.execute(
        select(tag.label("tag"), number.label("number"))
        .join(bookmark, bookmark.c.id == bookmark_tag.c.bookmark_id)
        .where(bookmark.c.owner_id == owner)
        .group_by(tag)
        .order_by(number.desc(), tag)
        .limit(policy.max_tags)
    )
    return {row.tag: row.number for row in rows}


def callers_bookmarks(container: Container) -> BookmarkRepository:
    """
    Build the repository of the caller's bookmarks, on the connection of the
    same app context, with the tag policy of the request's blueprint: the
    caller (the :class:`~example_api.auth.User` service) is authenticated
    the first time a view touches it.
    """
    user = container.get(User)
    return BookmarkRepository(
        container.get(Connection), TagPolicy.from_context(), owner=user.id
    )


def every_bookmark(container: Container) -> BookmarkRepository:
    """Build the repository of every user's bookmarks, for the admin blueprint."""
    return BookmarkRepository(container.get(Connection), TagPolicy.from_context())
