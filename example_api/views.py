"""
The endpoints: bookmarks on ``api``, a tag report on the read-only
``reports`` blueprint, and the index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, NewType

from flask import Blueprint, current_app, url_for
from sqlalchemy import Connection, Engine

from flask_servicecbv import ServiceAttr, register_factory
from flask_servicecbv.rest import (
    CollectionView,
    ItemView,
    Pagination,
    RestView,
    returns,
)

from .db import ping, transaction
from .policy import TagPolicy
from .repository import BookmarkRepository, tag_counts
from .schemas import BookmarkFilters, BookmarkSchema, IndexSchema, TagReportSchema

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask_servicecbv import Container

#: The engine of the read-only connections; on PostgreSQL the app's engine.
ReadOnlyEngine = NewType("ReadOnlyEngine", Engine)

api = Blueprint("api", __name__, url_prefix="/api/v1")
reports = Blueprint("reports", __name__, url_prefix="/reports/v1")

#: What an operation on the database may answer besides its own errors:
#: create_app's handler sends it, with Retry-After, when the pool or the
#: database is busy. Declared for the API description.
DATABASE_BUSY: Final = {
    "responses": {503: "The database is busy or unreachable; try again later."}
}


# -- bookmarks -----------------------------------------------------------------


class BookmarkList(CollectionView):
    """Bookmarks."""

    OPENAPI = DATABASE_BUSY

    repository = ServiceAttr(BookmarkRepository)
    schema = BookmarkSchema
    FILTERS = BookmarkFilters
    PAGINATION = Pagination(default=20, maximum=100)
    LOOKUP = "bookmark_id"
    ITEM_ENDPOINT = "api.bookmark"


class BookmarkItem(ItemView):
    """A bookmark."""

    OPENAPI = DATABASE_BUSY

    repository = ServiceAttr(BookmarkRepository)
    schema = BookmarkSchema
    LOOKUP = "bookmark_id"


api.add_url_rule("/bookmarks", view_func=BookmarkList.as_view("bookmarks"))
api.add_url_rule(
    "/bookmarks/<id:bookmark_id>", view_func=BookmarkItem.as_view("bookmark")
)


# -- reports: the same database, read-only -----------------------------------


def read_only_connection(container: Container) -> Iterator[Connection]:
    """
    Open a read-only transaction: every request of the ``reports`` blueprint
    gets this connection instead of the app's.
    """
    engine = container.get(ReadOnlyEngine)
    yield from transaction(engine, read_only=True)()


# The blueprint's layer overrides the app's connection service, for every
# view of the blueprint and every service built on the connection.
register_factory(
    reports, Connection, read_only_connection, ping=ping, name="database-read-only"
)


class TagReport(RestView):
    """Tags."""

    OPENAPI = DATABASE_BUSY

    db = ServiceAttr(Connection)

    @returns(TagReportSchema, etag=True)
    def get(self) -> dict[str, Any]:
        """
        Count the bookmarks that carry each tag.

        The report lists the most used tags, as many as the reports'
        tag policy allows.
        """
        return {"tags": tag_counts(self.db, TagPolicy.from_context())}


reports.add_url_rule("/tags", view_func=TagReport.as_view("tags"))


# -- the index -----------------------------------------------------------------


class Index(RestView):
    """The index."""

    @returns(IndexSchema)
    def get(self) -> dict[str, Any]:
        """List what this service offers."""
        links = {
            "bookmarks": (url_for("api.bookmarks"), "Bookmarks, a page at a time."),
            "tags": (url_for("reports.tags"), "How many bookmarks carry each tag."),
            "health": (url_for("health"), "Whether the database answers."),
        }
        spec = current_app.config.get("OPENAPI_URL")
        if spec:
            links["openapi"] = (spec, "The OpenAPI document of this API.")
        docs = current_app.config.get("OPENAPI_DOCS_URL")
        if docs:
            links["docs"] = (docs, "The interactive API documentation.")
        return {
            "name": current_app.config["OPENAPI_TITLE"],
            "links": {
                name: {"href": href, "description": text}
                for name, (href, text) in links.items()
            },
        }
