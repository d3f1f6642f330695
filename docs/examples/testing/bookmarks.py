"""The app that the testing guide tests: bookmarks in SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import flask_servicecbv as svc
from flask import Flask, current_app


class Database:
    """A connection to the bookmarks database."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path)

    def bookmarks(self) -> list[str]:
        rows = self.conn.execute(
            "select 'https://flask.palletsprojects.com'"
        )
        return [url for (url,) in rows]

    def ping(self) -> None:
        self.conn.execute("select 1")

    def close(self) -> None:
        self.conn.close()


def connect() -> Iterator[Database]:
    # Factories run in the app context, so current_app is this app.
    db = Database(current_app.config["DATABASE"])
    try:
        yield db
    finally:
        db.close()


class BookmarkList(svc.ServiceView):
    services = {"db": Database}

    def get(self) -> dict[str, Any]:
        return {"items": self.db.bookmarks()}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = svc.init_app(Flask(__name__))
    app.config["DATABASE"] = "bookmarks.db"
    app.config.update(config or {})
    # A lambda calls the ping of whatever is registered, fakes too;
    # ping=Database.ping would call the real method on the fake.
    svc.register_factory(
        app, Database, connect, ping=lambda db: db.ping()
    )
    bookmarks = BookmarkList.as_view("bookmarks")
    app.add_url_rule("/bookmarks", view_func=bookmarks)
    app.add_url_rule(
        "/health", view_func=svc.HealthView.as_view("health")
    )
    return app
