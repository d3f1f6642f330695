"""The bookmarks endpoints."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, request
from marshmallow import Schema, ValidationError, fields, validate

from flask_servicecbv import ServiceAttr, ServiceView

from .repository import BookmarkRepository

api = Blueprint("api", __name__)


class BookmarkSchema(Schema):
    """What a client may send to create a bookmark."""

    url = fields.Url(required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))


class BookmarkList(ServiceView):
    """``/api/bookmarks``: list and create."""

    bookmarks = ServiceAttr(BookmarkRepository)

    def get(self) -> dict[str, Any]:
        return {"items": self.bookmarks.list()}

    def post(self) -> tuple[dict[str, Any], int]:
        try:
            data = BookmarkSchema().load(request.get_json(silent=True) or {})
        except ValidationError as e:
            return {"error": "Unprocessable Entity", "messages": e.messages}, 422
        return self.bookmarks.add(data["url"], data["title"]), 201


class BookmarkItem(ServiceView):
    """``/api/bookmarks/<id>``: read and delete."""

    bookmarks = ServiceAttr(BookmarkRepository)

    def get(self, bookmark_id: int) -> dict[str, Any]:
        found = self.bookmarks.get(bookmark_id)
        if found is None:
            abort(404, f"No bookmark {bookmark_id}.")
        return found

    def delete(self, bookmark_id: int) -> tuple[str, int]:
        if not self.bookmarks.delete(bookmark_id):
            abort(404, f"No bookmark {bookmark_id}.")
        return "", 204


api.add_url_rule("/bookmarks", view_func=BookmarkList.as_view("bookmarks"))
api.add_url_rule(
    "/bookmarks/<int:bookmark_id>", view_func=BookmarkItem.as_view("bookmark")
)
