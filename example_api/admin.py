"""
The ``admin`` blueprint: every user's bookmarks, for callers with the
``admin`` scope.
"""

from __future__ import annotations

from typing import Final

from flask import Blueprint
from flask.views import MethodView

from flask_servicecbv import ServiceAttr, register_factory
from flask_servicecbv.rest import (
    DeleteMixin,
    Pagination,
    ReadOnlyCollectionView,
    RetrieveMixin,
    requires,
)

from .auth import ADMIN, User
from .repository import BookmarkRepository, every_bookmark
from .schemas import AdminBookmarkSchema, BookmarkFilters
from .views import DATABASE_BUSY

admin = Blueprint("admin", __name__, url_prefix="/admin/v1")

# The blueprint's layer puts an unscoped repository in front of the app's,
# which is scoped to the caller: the same views' code, every user's rows.
register_factory(admin, BookmarkRepository, every_bookmark)

#: Every method of the blueprint needs the admin scope.
ADMIN_ONLY: Final = requires(ADMIN)


class AdminBookmarkList(ReadOnlyCollectionView):
    """Every user's bookmarks."""

    OPENAPI = DATABASE_BUSY
    PRINCIPAL = User
    REQUIRES = ADMIN_ONLY

    repository = ServiceAttr(BookmarkRepository)
    schema = AdminBookmarkSchema
    FILTERS = BookmarkFilters
    SORTABLE = BookmarkRepository.SORTABLE
    PAGINATION = Pagination(default=20, maximum=100)
    LOOKUP = "bookmark_id"
    ITEM_ENDPOINT = "admin.bookmark"


class AdminBookmarkItem(RetrieveMixin, DeleteMixin, MethodView):
    """Any user's bookmark."""

    OPENAPI = DATABASE_BUSY
    PRINCIPAL = User
    REQUIRES = ADMIN_ONLY

    repository = ServiceAttr(BookmarkRepository)
    schema = AdminBookmarkSchema
    LOOKUP = "bookmark_id"


admin.add_url_rule("/bookmarks", view_func=AdminBookmarkList.as_view("bookmarks"))
admin.add_url_rule(
    "/bookmarks/<id:bookmark_id>", view_func=AdminBookmarkItem.as_view("bookmark")
)
