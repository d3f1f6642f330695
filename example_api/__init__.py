"""
A bookmarks API built with flask_servicecbv, on SQLAlchemy 2.

Run it with ``python3 dev.py serve`` (an SQLite file in the instance folder),
``flask --app example_api run``, or ``gunicorn 'example_api:create_app()'``;
set ``DATABASE_URL`` (``postgresql+psycopg://user:password@host/db``) to use
PostgreSQL, and any other setting of :data:`DEFAULTS` with a ``FLASK_``
environment variable (``FLASK_TRUSTED_HOSTS='["api.example.org"]'``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, request
from sqlalchemy.engine import URL
from werkzeug.wsgi import get_host

import flask_servicecbv as svc
from flask_servicecbv import sqlalchemy as sqla
from flask_servicecbv.auth import Bearer, authenticate
from flask_servicecbv.health import HealthView
from flask_servicecbv.rest import IdConverter, json_errors
from flask_servicecbv.rest.openapi import OpenAPI

from .admin import admin
from .auth import TokenStore, User, make_token_store, tokens
from .db import check_database_url, create_schema, watch_calls
from .repository import BookmarkRepository, callers_bookmarks
from .views import Index, api, reports

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DATABASE_SETTINGS", "DEFAULTS", "check_host", "create_app"]

#: The example's own names of the settings of
#: :func:`flask_servicecbv.sqlalchemy.init_app`, kept from before the
#: example used it: each ``DATABASE_X`` is copied to ``SQLALCHEMY_X``.
DATABASE_SETTINGS: Mapping[str, str] = {
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "DATABASE_ENGINE_OPTIONS": "SQLALCHEMY_ENGINE_OPTIONS",
    "DATABASE_CONNECT_TIMEOUT": "SQLALCHEMY_CONNECT_TIMEOUT",
    "DATABASE_STATEMENT_TIMEOUT": "SQLALCHEMY_STATEMENT_TIMEOUT",
    "DATABASE_BUSY_TIMEOUT": "SQLALCHEMY_BUSY_TIMEOUT",
    "DATABASE_RETRY_AFTER": "SQLALCHEMY_RETRY_AFTER",
}

#: The defaults of what ``create_app()`` reads from ``app.config``.
DEFAULTS: Mapping[str, Any] = {
    # Extra keyword arguments of sqlalchemy.create_engine(): pool sizes, say.
    # A request waits pool_timeout seconds for a connection, then is answered
    # 503 with Retry-After.
    "DATABASE_ENGINE_OPTIONS": {"pool_size": 5, "max_overflow": 5, "pool_timeout": 10},
    # Seconds. PostgreSQL: how long opening a connection may take.
    "DATABASE_CONNECT_TIMEOUT": 5,
    # Seconds. PostgreSQL: how long a statement may run, lock waits included;
    # the client breaks a connection whose server is silent a second longer.
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
    "OPENAPI_DESCRIPTION": (
        "Each user's bookmarks with tags, and a report of the tags. Send "
        "Authorization: Bearer <token>; flask tokens create USER makes one."
    ),
    # One tag per blueprint, described for the people reading the document.
    "OPENAPI_TAGS": [
        {"name": "api", "description": "Bookmarks: list, create, read, change."},
        {"name": "reports", "description": "Read-only reports over the bookmarks."},
        {"name": "admin", "description": "Every user's bookmarks, for admins."},
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

    check_database_url(app.config["DATABASE_URL"])
    for ours, theirs in DATABASE_SETTINGS.items():
        app.config[theirs] = app.config[ours]

    # First: it checks SERVICES, and a bad configuration opens nothing. Then
    # the engine (disposed when the registry closes), a connection per app
    # context committed before the response leaves (rolled back on an
    # error), and 503 with Retry-After when the database is busy or gone.
    svc.init_app(app)
    sqla.init_app(app)
    engine = app.extensions[sqla.EXTENSION_KEY]
    try:
        create_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    watch_calls(engine, app.config["DATABASE_STATEMENT_TIMEOUT"])

    # Who calls: a bearer token, looked up by its hash in the token store,
    # the first time a view (or a service it builds) asks for the User.
    svc.register_factory(app, TokenStore, make_token_store)
    svc.register_factory(
        app,
        User,
        authenticate(
            Bearer(
                TokenStore,
                realm="bookmarks",
                description="A token from `flask --app example_api tokens create`.",
            )
        ),
    )
    # The caller's bookmarks, for every layer but admin's (see admin.py).
    svc.register_factory(app, BookmarkRepository, callers_bookmarks)

    if "TRUSTED_HOSTS" not in Flask.default_config:  # Flask 3.0
        app.before_request(check_host)
    app.url_map.converters["id"] = IdConverter
    json_errors(app)
    app.register_blueprint(api)
    app.register_blueprint(reports)
    app.register_blueprint(admin)
    app.cli.add_command(tokens)
    app.add_url_rule("/", view_func=Index.as_view("index"))
    app.add_url_rule("/health", view_func=HealthView.as_view("health"))
    OpenAPI(app)
    return app
