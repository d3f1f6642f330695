"""The app that the page on checking the wiring checks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import flask_servicecbv as svc
from flask import Blueprint, Flask


@dataclass
class Settings:
    page_size: int = 20


class Database:
    def ping(self) -> None:
        pass


def connect() -> Iterator[Database]:
    yield Database()


class Search:
    pass


class BookmarkList(svc.ServiceView):
    services = {"db": Database, "settings": Settings}

    def get(self) -> dict[str, Any]:
        return {"page_size": self.settings.page_size}


class SearchView(svc.ServiceView):
    services = {"search": Search, "settings": Settings}

    def get(self) -> dict[str, Any]:
        return {"results": []}


def create_app() -> Flask:
    app = svc.init_app(Flask(__name__))
    svc.register_value(app, Settings, Settings())
    svc.register_factory(app, Database, connect, ping=Database.ping)
    health = svc.HealthView.as_view("health")
    app.add_url_rule("/health", view_func=health)

    api = Blueprint("api", __name__, url_prefix="/api")
    svc.register_factory(api, Search, Search)
    bookmarks = BookmarkList.as_view("bookmarks")
    api.add_url_rule("/bookmarks", view_func=bookmarks)
    api.add_url_rule("/search", view_func=SearchView.as_view("search"))
    app.register_blueprint(api)
    return app


def create_broken_app() -> Flask:
    """
    The same app, with the search view on the app too, where no layer
    provides Search.
    """
    app = create_app()
    app.add_url_rule("/search", view_func=SearchView.as_view("search"))
    return app
