"""
A bookmarks API built with flask_servicecbv, on SQLAlchemy 2.

Run it with ``python3 dev.py serve`` (an SQLite file in the instance folder),
``flask --app example_api run``, or ``gunicorn 'example_api:create_app()'``;
set ``DATABASE_URL`` (``postgresql+psycopg://user:password@host/db``) to use
PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

import flask_servicecbv as svc
from flask_servicecbv.health import HealthView
from flask_servicecbv.rest import IdConverter, json_errors
from flask_servicecbv.rest.openapi import OpenAPI

from .db import create_schema, make_engine, ping, transaction
from .repository import BookmarkRepository, make_repository
from .views import Index, ReadOnlyEngine, api, reports

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["create_app"]

#: The defaults of what ``create_app()`` reads from ``app.config``.
DEFAULTS: Mapping[str, Any] = {
    # Extra keyword arguments of sqlalchemy.create_engine(): pool sizes, say.
    "DATABASE_ENGINE_OPTIONS": {"pool_size": 5, "max_overflow": 5, "pool_timeout": 10},
    "SERVICES": {
        # Commands and the shell, outside both blueprints, write as the API.
        "__app__": {"example_api.policy.TagPolicy": {"max_tags": 20}},
        # A bookmark carries at most 20 tags, folded to lower case ...
        "api": {"example_api.policy.TagPolicy": {"max_tags": 20, "lowercase": True}},
        # ... and a report lists the 100 most used.
        "reports": {
            "example_api.policy.TagPolicy": {"max_tags": 100, "lowercase": True}
        },
    },
    "OPENAPI_TITLE": "Bookmarks",
    "OPENAPI_VERSION": "1.0.0",
    "OPENAPI_DESCRIPTION": "Bookmarks with tags, and a report of the tags.",
    "OPENAPI_DOCS_URL": "/docs",
}


def _swagger_ui_assets() -> str | None:
    """The local Swagger UI files, if swagger-ui-bundle-v2 is installed."""
    try:
        import swagger_ui_bundle  # type: ignore[import-untyped]  # noqa: PLC0415 -- optional
    except ImportError:  # pragma: no cover -- installed with the dev tools
        return None
    return str(swagger_ui_bundle.swagger_ui_path)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """
    Build the app.

    Args:
        test_config: Merged into ``app.config`` last: ``DATABASE_URL``,
            ``DATABASE_ENGINE_OPTIONS``, ``SERVICES``, the ``OPENAPI_*``
            keys, ``TESTING``.

    ``DATABASE_URL`` comes from *test_config*, else from the environment
    variable of that name, else is an SQLite file in the instance folder;
    the tables are created if they do not exist.
    """
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    assets = _swagger_ui_assets()
    if assets is not None:
        app.config["OPENAPI_DOCS_ASSETS"] = assets
    if "DATABASE_URL" in os.environ:
        app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    app.config.from_mapping(test_config or {})
    if not app.config.get("DATABASE_URL"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        database = Path(app.instance_path) / "bookmarks.sqlite3"
        url = URL.create("sqlite", database=str(database))
        app.config["DATABASE_URL"] = url.render_as_string()

    # First: it checks SERVICES, and a bad configuration opens nothing.
    svc.init_app(app)
    options = app.config["DATABASE_ENGINE_OPTIONS"]
    engine = make_engine(app.config["DATABASE_URL"], options)
    try:
        create_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    if engine.dialect.name == "sqlite":
        read_only = make_engine(engine.url, options, read_only=True)
    else:
        read_only = engine

    # The engines live as long as the app: closing the registry (at the end
    # of a test, or of a worker) closes their pools.
    svc.register_value(app, Engine, engine, on_registry_close=engine.dispose)
    svc.register_value(
        app, ReadOnlyEngine, read_only, on_registry_close=read_only.dispose
    )
    svc.register_factory(app, Connection, transaction(engine), ping=ping)
    svc.register_factory(app, BookmarkRepository, make_repository)

    app.url_map.converters["id"] = IdConverter
    json_errors(app)
    app.register_blueprint(api)
    app.register_blueprint(reports)
    app.add_url_rule("/", view_func=Index.as_view("index"))
    app.add_url_rule("/health", view_func=HealthView.as_view("health"))
    OpenAPI(app)
    return app
