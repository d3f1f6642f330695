"""The tutorial's bookmarks API: one REST resource and its document."""

from __future__ import annotations

from typing import Any

import flask_servicecbv as svc
from flask import Flask
from flask_servicecbv.rest import (
    NO_NUL,
    CollectionView,
    IdConverter,
    InMemoryRepository,
    ItemView,
    json_errors,
)
from flask_servicecbv.rest.openapi import OpenAPI
from marshmallow import Schema, fields, validate


class BookmarkSchema(Schema):
    """A bookmark: what the API reads and what it sends back."""

    id = fields.Integer(dump_only=True)
    title = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=80), NO_NUL],
    )
    url = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=2000), NO_NUL],
    )


class Bookmarks(InMemoryRepository):
    """The service that stores the bookmarks, in memory for now."""


class BookmarkList(CollectionView):
    """The bookmarks: list them, or add one."""

    repository = svc.ServiceAttr(Bookmarks)
    schema = BookmarkSchema
    ITEM_ENDPOINT = ".bookmark"


class BookmarkItem(ItemView):
    """One bookmark: read, replace, change or delete it."""

    repository = svc.ServiceAttr(Bookmarks)
    schema = BookmarkSchema


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Make the app; `flask --app app run` calls this."""
    app = svc.init_app(Flask(__name__))
    app.config["OPENAPI_TITLE"] = "Bookmarks"
    app.config["OPENAPI_DOCS_URL"] = "/docs"
    app.config.update(test_config or {})

    json_errors(app)
    app.url_map.converters["id"] = IdConverter
    svc.register_value(app, Bookmarks, Bookmarks())

    app.add_url_rule(
        "/bookmarks/",
        view_func=BookmarkList.as_view("bookmarks"),
    )
    app.add_url_rule(
        "/bookmarks/<id:item_id>",
        view_func=BookmarkItem.as_view("bookmark"),
    )
    OpenAPI(app)
    return app
