"""
Checked by ``mypy --strict``: REST views written as the docs show them.

Decorated methods keep their signatures, service attributes keep their
types, and the generic views take a repository service and a schema.
``tests/test_rest_declarations.py`` imports this module and runs the views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from marshmallow import Schema, fields
from typing_extensions import assert_type

from flask_servicecbv import ServiceAttr
from flask_servicecbv.rest import (
    CollectionView,
    InMemoryRepository,
    ItemView,
    Pagination,
    ReadOnlyCollectionView,
    ReadOnlyItemView,
    Repository,
    RestView,
    reads,
    returns,
)


@dataclass
class Result:
    """One search result."""

    title: str


class SearchClient:
    """A service that finds results."""

    def find(self, q: str) -> list[Result]:
        """Return the results for *q*."""
        return [Result(q)]


class SearchArgs(Schema):
    """The query of a search."""

    q = fields.String(required=True)


class ResultSchema(Schema):
    """A result as sent."""

    title = fields.String()


class Search(RestView):
    """A view that reads the query and returns many results."""

    search = ServiceAttr(SearchClient)

    @reads(SearchArgs, location="query")
    @returns(ResultSchema, many=True)
    def get(self, *, query: dict[str, Any]) -> list[Result]:
        """Find results."""
        assert_type(self.search, SearchClient)
        return self.search.find(query["q"])


class SearchInstance(RestView):
    """Schema instances and async handlers are accepted too."""

    search = ServiceAttr(SearchClient)

    @reads(SearchArgs(), location="query", arg="args")
    @returns(ResultSchema(many=True), status=200, etag=True)
    async def get(self, *, args: dict[str, Any]) -> tuple[list[Result], int]:
        """Find results, asynchronously."""
        return self.search.find(args["q"]), 200


if TYPE_CHECKING:
    # Decorated methods keep their signatures.
    assert_type(Search().get(query={"q": "x"}), list[Result])


class BookmarkSchema(Schema):
    """A bookmark."""

    id = fields.Integer(dump_only=True)
    title = fields.String()


class BookmarkRepository(InMemoryRepository):
    """The service key of the bookmarks."""


class BookmarkList(CollectionView):
    """Bookmarks, paged and created."""

    repository = ServiceAttr(BookmarkRepository)
    schema = BookmarkSchema
    PAGINATION = Pagination(default=10, maximum=50)

    def create_item(self, data: dict[str, Any]) -> Any:
        """Create a bookmark with a default title."""
        return super().create_item({"title": "untitled", **data})


class BookmarkItem(ItemView):
    """One bookmark."""

    repository = ServiceAttr(BookmarkRepository)
    schema = BookmarkSchema
    REQUIRE_IF_MATCH = True


def repository_of(repository: Repository[dict[str, Any]]) -> int:
    """An InMemoryRepository is a Repository of dicts."""
    return repository.count(filters={})


repository_of(BookmarkRepository())


class PublicBookmarks(ReadOnlyCollectionView):
    """Bookmarks, listed only."""

    repository = ServiceAttr(BookmarkRepository)
    schema = BookmarkSchema


class PublicBookmark(ReadOnlyItemView):
    """One bookmark, retrieved only."""

    repository = ServiceAttr(BookmarkRepository)
    schema = BookmarkSchema


def retitle(
    repository: Repository[dict[str, Any]], title: str
) -> dict[str, Any] | None:
    """A conditional update: the precondition sees the current item."""
    seen: list[dict[str, Any]] = []
    return repository.update(
        1, {"title": title}, partial=True, precondition=seen.append
    )


assert_type(retitle(BookmarkRepository([{"title": "a"}]), "b"), "dict[str, Any] | None")
