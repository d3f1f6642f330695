"""
A small bookmarks API built with flask_servicecbv.

Run it with ``python3 dev.py serve``; it keeps its data in an embedded SQLite
database in the app's instance folder unless ``DATABASE`` says otherwise.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

import flask_servicecbv as svc
from flask_servicecbv.health import HealthView

from .db import connect, init_schema, ping
from .repository import BookmarkRepository, make_repository
from .views import api


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; *config* overrides the defaults (e.g. ``DATABASE``)."""
    app = Flask(__name__)
    app.config["DATABASE"] = str(Path(app.instance_path) / "bookmarks.sqlite3")
    app.config.update(config or {})
    svc.init_app(app)

    svc.register_factory(
        app, sqlite3.Connection, connect(app.config["DATABASE"]), ping=ping
    )
    svc.register_factory(app, BookmarkRepository, make_repository)
    app.register_blueprint(api, url_prefix="/api")
    app.add_url_rule("/health", view_func=HealthView.as_view("health"))

    @app.errorhandler(HTTPException)
    def json_error(e: HTTPException) -> tuple[Any, int]:
        return jsonify(error=e.name, message=e.description), e.code or 500

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    init_schema(app.config["DATABASE"])
    return app
