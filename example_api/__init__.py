"""
A bookmarks API built with flask_servicecbv, on SQLAlchemy 2.

Run it with ``python3 dev.py serve`` (an SQLite file in the instance folder),
``flask --app example_api run``, or ``gunicorn 'example_api:create_app()'``;
set ``DATABASE_URL`` (``postgresql+psycopg://user:password@host/db``) to use
PostgreSQL, and any other setting of :data:`DEFAULTS` with a ``FLASK_``
environment variable (``FLASK_TRUSTED_HOSTS='["api.example.org"]'``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, request
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.wsgi import get_host

import flask_servicecbv as svc
from flask_servicecbv.health import HealthView
from flask_servicecbv.rest import IdConverter, json_errors
from flask_servicecbv.rest.openapi import OpenAPI

from .db import (
    create_schema,
    make_engine,
    mark_request_context,
    ping,
    transaction,
)
from .repository import BookmarkRepository, make_repository
from .views import Index, ReadOnlyEngine, api, reports

if TYPE_CHECKING:
    from collections.abc import Mapping

    from flask.typing import ResponseReturnValue

__all__ = ["DEFAULTS", "check_host", "create_app", "database_unavailable"]

log = logging.getLogger(__name__)

#: The defaults of what ``create_app()`` reads from ``app.config``.
DEFAULTS: Mapping[str, Any] = {
    # Extra keyword arguments of sqlalchemy.create_engine(): pool sizes, say.
    # A request waits pool_timeout seconds for a connection, then is answered
    # 503 with Retry-After.
    "DATABASE_ENGINE_OPTIONS": {"pool_size": 5, "max_overflow": 5, "pool_timeout": 10},
    # Seconds. PostgreSQL: how long opening a connection may take.
    "DATABASE_CONNECT_TIMEOUT": 5,
    # Seconds. PostgreSQL: how long a statement may run, lock waits included.
    "DATABASE_STATEMENT_TIMEOUT": 5,
    # Seconds. SQLite: how long a write waits for another writer's lock.
    "DATABASE_BUSY_TIMEOUT": 5,
    # Seconds, in the Retry-After of a 503 when the database is busy or gone.
    "DATABASE_RETRY_AFTER": 1,
    # The names the Host header may give (a leading dot: and its subdomains);
    # any other is answered 400. None trusts every name: only behind a proxy
    # that checks it.
    "TRUSTED_HOSTS": ["localhost", ".localhost", "127.0.0.1"],
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
    # One tag per blueprint, described for the people reading the document.
    "OPENAPI_TAGS": [
        {"name": "api", "description": "Bookmarks: list, create, read, change."},
        {"name": "reports", "description": "Read-only reports over the bookmarks."},
    ],
    "OPENAPI_DOCS_URL": "/docs",
}


def _swagger_ui_assets() -> str | None:
    """The local Swagger UI files, if swagger-ui-bundle-v2 is installed."""
    try:
        import swagger_ui_bundle  # type: ignore[import-untyped]  # noqa: PLC0415 -- optional
    except ImportError:  # pragma: no cover -- installed with the dev tools
        return None
    return str(swagger_ui_bundle.swagger_ui_path)


def check_host() -> None:
    """
    Refuse a ``Host`` header that ``TRUSTED_HOSTS`` does not name with
    ``400``, before it reaches an absolute URL (a ``Link`` header's).

    Flask 3.1 checks ``TRUSTED_HOSTS`` itself, when it routes a request;
    ``create_app()`` registers this function with older versions, as the
    first thing a request runs.

    Raises:
        werkzeug.exceptions.SecurityError: The host is not trusted (400).
    """
    trusted = current_app.config["TRUSTED_HOSTS"]
    if trusted is not None:
        # request.host, read later, checks against it too.
        request.trusted_hosts = trusted
        get_host(request.environ, trusted)


def database_unavailable(e: Exception) -> ResponseReturnValue:
    """
    Answer ``503`` with ``Retry-After`` when the database cannot serve the
    request now: no connection free in the pool within its ``pool_timeout``,
    or an operational error (a timeout, a lock not granted, a connection
    lost or refused).
    """
    log.warning("The database is unavailable: %s", e, exc_info=e)
    unavailable = ServiceUnavailable(
        "The database is busy or unreachable; try again later.",
        retry_after=current_app.config["DATABASE_RETRY_AFTER"],
    )
    # The app's JSON error handler builds the body, as for every error.
    return current_app.handle_http_exception(unavailable)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """
    Build the app.

    Args:
        test_config: Merged into ``app.config`` last: any key of
            :data:`DEFAULTS`, ``DATABASE_URL``, ``TESTING``.

    The configuration is :data:`DEFAULTS`, then the ``FLASK_``-prefixed
    environment variables (``FLASK_DATABASE_STATEMENT_TIMEOUT=2`` sets
    ``DATABASE_STATEMENT_TIMEOUT``; values are read as JSON where they
    parse), then *test_config*.
    ``DATABASE_URL`` comes from *test_config*, else from the environment
    variable of that name, else is an SQLite file in the instance folder;
    the tables are created if they do not exist.
    """
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    assets = _swagger_ui_assets()
    if assets is not None:
        app.config["OPENAPI_DOCS_ASSETS"] = assets
    app.config.from_prefixed_env()
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
    timeouts = {
        "connect_timeout": app.config["DATABASE_CONNECT_TIMEOUT"],
        "statement_timeout": app.config["DATABASE_STATEMENT_TIMEOUT"],
        "busy_timeout": app.config["DATABASE_BUSY_TIMEOUT"],
    }
    engine = make_engine(app.config["DATABASE_URL"], options, **timeouts)
    try:
        create_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    if engine.dialect.name == "sqlite":
        read_only = make_engine(engine.url, options, read_only=True, **timeouts)
    else:
        read_only = engine

    # The engines live as long as the app: closing the registry (at the end
    # of a test, or of a worker) closes their pools.
    svc.register_value(app, Engine, engine, on_registry_close=engine.dispose)
    svc.register_value(
        app, ReadOnlyEngine, read_only, on_registry_close=read_only.dispose
    )
    svc.register_factory(
        app, Connection, transaction(engine), ping=ping, name="database"
    )
    svc.register_factory(app, BookmarkRepository, make_repository)

    # First of all: a connection opened in this app context, and only
    # there, ends with the request's response.
    app.before_request(mark_request_context)
    if "TRUSTED_HOSTS" not in Flask.default_config:  # Flask 3.0
        app.before_request(check_host)
    app.url_map.converters["id"] = IdConverter
    json_errors(app)
    app.register_error_handler(PoolTimeoutError, database_unavailable)
    app.register_error_handler(OperationalError, database_unavailable)
    app.register_blueprint(api)
    app.register_blueprint(reports)
    app.add_url_rule("/", view_func=Index.as_view("index"))
    app.add_url_rule("/health", view_func=HealthView.as_view("health"))
    OpenAPI(app)
    return app
