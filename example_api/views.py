"""
The endpoints: bookmarks on ``api``, a tag report on the read-only
``reports`` blueprint, and the index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Final

from flask import Blueprint, current_app, url_for
from sqlalchemy import Connection

from flask_servicecbv import ServiceAttr
from flask_servicecbv.rest import (
    CollectionView,
    ItemView,
    Pagination,
    ReadOnlyCollectionView,
    RestView,
    public,
    requires,
    returns,
)
from flask_servicecbv.rest.pagination import CursorPagination
from flask_servicecbv.sqlalchemy import register_read_only

from .auth import READ, WRITE, User
from .policy import TagPolicy
from .repository import BookmarkRepository, tag_counts
from .schemas import BookmarkFilters, BookmarkSchema, IndexSchema, TagReportSchema

if TYPE_CHECKING:
    from collections.abc import Mapping

api = Blueprint("api", __name__, url_prefix="/api/v1")
reports = Blueprint("reports", __name__, url_prefix="/reports/v1")

#: What an operation on the database may answer besides its own errors:
#: create_app's handler sends it, with Retry-After, when the pool or the
#: database is busy. Declared for the API description.
DATABASE_BUSY: Final = {
    "responses": {503: "The database is busy or unreachable; try again later."}
}


#: Who may call the API: reads need bookmarks:read, writes bookmarks:write.
#: Checked before the request's inputs are read; no token, an unknown or a
#: revoked one is a 401, a token without the scope a 403.
CALLER_SCOPES: Final = {"read": requires(READ), "write": requires(WRITE)}


# -- bookmarks -----------------------------------------------------------------


class BookmarkList(CollectionView):
    """Bookmarks."""

    OPENAPI = DATABASE_BUSY

    PRINCIPAL = User
    REQUIRES = CALLER_SCOPES

    # The caller's bookmarks: the app's factory scopes them to the User.
    repository = ServiceAttr(BookmarkRepository)
    schema = BookmarkSchema
    FILTERS = BookmarkFilters
    #: ?sort=title,-created_at; the id breaks ties, and alone is the default.
    SORTABLE = BookmarkRepository.SORTABLE
    PAGINATION = Pagination(default=20, maximum=100)
    LOOKUP = "bookmark_id"
    ITEM_ENDPOINT = "api.bookmark"


class BookmarkScroll(ReadOnlyCollectionView):
    """
    Bookmarks, by cursor: the same filters and orders as the list, each page
    as quick as the first however deep, and no item missed or seen twice
    while others are added or deleted.
    """

    OPENAPI: ClassVar[Mapping[str, Any]] = {
        **DATABASE_BUSY,
        "get": {"summary": "List Bookmark items by cursor, a page at a time."},
    }

    PRINCIPAL = User
    REQUIRES = CALLER_SCOPES

    # The caller's bookmarks: the app's factory scopes them to the User.
    repository = ServiceAttr(BookmarkRepository)
    schema = BookmarkSchema
    FILTERS = BookmarkFilters
    SORTABLE = BookmarkRepository.SORTABLE
    PAGINATION = CursorPagination(default=20, maximum=100)
    LOOKUP = "bookmark_id"
    ITEM_ENDPOINT = "api.bookmark"


class BookmarkItem(ItemView):
    """A bookmark."""

    OPENAPI = DATABASE_BUSY

    PRINCIPAL = User
    REQUIRES = CALLER_SCOPES

    # The caller's bookmarks: the app's factory scopes them to the User.
    repository = ServiceAttr(BookmarkRepository)
    schema = BookmarkSchema
    LOOKUP = "bookmark_id"


api.add_url_rule("/bookmarks", view_func=BookmarkList.as_view("bookmarks"))
api.add_url_rule(
    "/bookmarks/by-cursor", view_func=BookmarkScroll.as_view("bookmarks_by_cursor")
)
api.add_url_rule(
    "/bookmarks/<id:bookmark_id>", view_func=BookmarkItem.as_view("bookmark")
)


# -- reports: the same database, read-only -----------------------------------


# The blueprint's layer overrides the app's connection service with read-only
# connections to the same database, for every view of the blueprint and every
# service built on the connection: a write fails in the database itself.
register_read_only(reports)


class TagReport(RestView):
    """Tags."""

    OPENAPI = DATABASE_BUSY
    PRINCIPAL = User
    REQUIRES = requires(READ)

    db = ServiceAttr(Connection)
    user = ServiceAttr(User)

    @returns(TagReportSchema, etag=True)
    def get(self) -> dict[str, Any]:
        """
        Count the caller's bookmarks that carry each tag.

        The report lists the most used tags, as many as the reports'
        tag policy allows.
        """
        policy = TagPolicy.from_context()
        return {"tags": tag_counts(self.db, policy, self.user.id)}


reports.add_url_rule("/tags", view_func=TagReport.as_view("tags"))


# -- the index -----------------------------------------------------------------


class Index(RestView):
    """The index."""

    REQUIRES = public

    @returns(IndexSchema)
    def get(self) -> dict[str, Any]:
        """List what this service offers."""
        links = {
            "bookmarks": (url_for("api.bookmarks"), "Bookmarks, a page at a time."),
            "tags": (url_for("reports.tags"), "How many bookmarks carry each tag."),
            "admin": (url_for("admin.bookmarks"), "Every user's bookmarks (admin)."),
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
