"""Engine, connection and session services: one transaction per request."""

from __future__ import annotations

import logging
import os
import sqlite3
import unicodedata
import weakref
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from flask import Flask, after_this_request, current_app
from flask.globals import _cv_app, _cv_request
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, ServiceUnavailable

import flask_servicecbv as svc
from flask_servicecbv.exceptions import ConfigurationError
from flask_servicecbv.rest.errors import error_body
from flask_servicecbv.rest.response import json_bytes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from flask import Blueprint, Response
    from flask.typing import ResponseReturnValue
    from sqlalchemy.engine import URL

    from flask_servicecbv import Container

__all__ = [
    "EXTENSION_KEY",
    "connection_factory",
    "database_unavailable",
    "fold",
    "init_app",
    "is_unavailable",
    "make_engine",
    "ping",
    "register_read_only",
    "request_transaction",
    "session_factory",
]

log = logging.getLogger("flask_servicecbv")

#: Where :func:`init_app` keeps the app's engine in ``app.extensions``.
EXTENSION_KEY: Final = "servicecbv.sqlalchemy"

#: The SQL function that SQLite connections of :func:`make_engine` get:
#: :func:`fold` in the database.
FOLD_FUNCTION: Final = "servicecbv_fold"

FlaskAppT = TypeVar("FlaskAppT", bound=Flask)


# -- engines -----------------------------------------------------------------

# Every engine made here. A forked child (a gunicorn worker, also with
# --preload) must not use the connections its parent opened: both would talk
# over the same socket or file.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_parent_connections() -> None:
    """
    In a forked child, give every engine a new, empty pool.

    ``close=False`` leaves the parent's connections alone: closing them here
    would end the parent's sessions too.
    """
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_parent_connections)


def fold(value: str) -> str:
    """
    Return *value* folded for a search that ignores case: Unicode case
    folding of the canonical decomposition, composed again (``"ÉCOLE"`` and
    ``"école"`` both give ``"école"``, ``"Straße"`` gives ``"strasse"``).
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", value).casefold())


def _fold_in_sqlite(value: object) -> object:
    # SQLite hands over NULL, numbers and blobs as they are.
    return fold(value) if isinstance(value, str) else value


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLite leaves foreign keys off unless each connection asks, and its
    # lower() only knows ASCII: searches call fold() instead.
    dbapi_connection.create_function(
        FOLD_FUNCTION, 1, _fold_in_sqlite, deterministic=True
    )
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _timeouts(
    backend: str,
    connect_timeout: float | None,
    statement_timeout: float | None,
    busy_timeout: float | None,
) -> dict[str, Any]:
    """The driver's connect arguments that bound how long a database may take."""
    if backend == "sqlite":
        # sqlite3 waits this long for another writer's lock, then raises
        # "database is locked".
        return {} if busy_timeout is None else {"timeout": busy_timeout}
    args: dict[str, Any] = {}
    if connect_timeout is not None:
        # libpq takes whole seconds, and treats less than 2 as 2.
        args["connect_timeout"] = max(2, round(connect_timeout))
    if statement_timeout is not None:
        milliseconds = max(1, round(statement_timeout * 1000))
        args["options"] = f"-c statement_timeout={milliseconds}"
    return args


def make_engine(
    url: str | URL,
    options: Mapping[str, Any] | None = None,
    *,
    connect_timeout: float | None = None,
    statement_timeout: float | None = None,
    busy_timeout: float | None = None,
) -> Engine:
    """
    Return an engine for *url* that is safe across ``fork``: a forked child
    starts with an empty pool instead of sharing its parent's connections.

    SQLite connections get foreign keys on and the SQL function
    ``servicecbv_fold()`` (:func:`fold`), which searches use.

    Args:
        url: The database's URL.

        options: Keyword arguments of :func:`sqlalchemy.create_engine`; their
            ``connect_args`` win over the timeouts.

        connect_timeout: Seconds; PostgreSQL: how long opening a connection
            may take (libpq's ``connect_timeout``, whole seconds, at least 2).

        statement_timeout: Seconds; PostgreSQL: how long one statement may
            run, lock waits included; the server cancels it after that.

        busy_timeout: Seconds; SQLite: how long a statement waits for
            another connection's write lock before it fails with "database
            is locked".
    """
    parsed = make_url(url)
    settings = dict(options or {})
    connect_args = _timeouts(
        parsed.get_backend_name(), connect_timeout, statement_timeout, busy_timeout
    )
    settings["connect_args"] = {**connect_args, **settings.get("connect_args", {})}
    engine = create_engine(parsed, **settings)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
    _engines.add(engine)
    return engine


# -- one transaction per request ----------------------------------------------


class Transactional(Protocol):
    """What :func:`request_transaction` ends: a connection or a session."""

    def commit(self) -> None:
        """Commit the transaction."""

    def rollback(self) -> None:
        """Roll the transaction back."""


T = TypeVar("T", bound=Transactional)


def request_transaction(resource: T) -> Iterator[T]:
    """
    Yield *resource* (a :class:`~sqlalchemy.engine.Connection` or an ORM
    :class:`~sqlalchemy.orm.Session`) in one transaction per app context: a
    generator for a factory to ``yield from``.

    In a request, the transaction is committed just before the response is
    sent if its status is below 400, and rolled back otherwise; a commit that
    fails is answered with ``500``.
    Outside a request, and in any other app context than the request's own
    (one pushed inside a view, a health check's ping, a thread's), it is
    committed when the app context ends without an exception and rolled back
    when one ends it; a commit that fails then is logged, not raised, so a
    command that must know commits itself.

    .. code-block:: python

        def connection() -> Iterator[Connection]:
            with engine.connect() as conn:
                yield from request_transaction(conn)
    """
    ended = False
    if _cv_request.get(None) is not None:
        made_in = _cv_app.get(None)

        def end_with_response(response: Response) -> Response:
            # Flask runs it in the request's app context. A transaction of
            # another app context (pushed in a view, or in a thread with a
            # copy of the request's context variables) ends with that
            # context: its teardown may have come already, or may still be
            # to come, in another thread.
            nonlocal ended
            if not ended and _cv_app.get(None) is made_in:
                # Ended before the commit: a commit that fails is answered
                # 500, and Flask then runs this again.
                ended = True
                if response.status_code < 400:  # noqa: PLR2004 -- success or redirection
                    resource.commit()
                else:
                    resource.rollback()
            return response

        after_this_request(end_with_response)
    try:
        yield resource
    except BaseException:
        ended = True
        resource.rollback()
        raise
    if not ended:
        ended = True
        resource.commit()


def _read_only(conn: Connection) -> bool:
    """
    Make every transaction of *conn* read-only; return whether SQLite's
    setting must be undone before the connection goes back to the pool.

    Raises:
        flask_servicecbv.exceptions.ConfigurationError: The database is
            neither PostgreSQL nor SQLite.
    """
    name = conn.dialect.name
    if name == "postgresql":
        # Reset by SQLAlchemy when the connection goes back to the pool.
        conn.execution_options(postgresql_readonly=True)
        return False
    if name == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")
        return True
    msg = (
        f"Read-only connections are made for PostgreSQL and SQLite, not "
        f"{name!r}; register a connection factory of your own for it."
    )
    raise ConfigurationError(msg)


def _writable_again(conn: Connection) -> None:
    try:
        conn.exec_driver_sql("PRAGMA query_only = OFF")
    except Exception:
        # Never hand a read-only connection to the next request.
        log.exception("Could not make an SQLite connection writable again.")
        conn.invalidate()


def connection_factory(
    engine_key: object = Engine, *, read_only: bool = False
) -> Callable[[Container], Iterator[Connection]]:
    """
    Return a factory of connections from the engine service *engine_key*,
    each in one transaction per request (see :func:`request_transaction`).

    Args:
        engine_key: The key of the engine service.

        read_only: Every write fails in the database itself: PostgreSQL's
            transactions are read-only, SQLite's connection is
            ``query_only`` until it goes back to the pool.
            Other databases raise
            :exc:`~flask_servicecbv.exceptions.ConfigurationError` on first
            use.
    """

    def connection(container: Container) -> Iterator[Connection]:
        engine: Engine = container.get(engine_key)
        with engine.connect() as conn:
            undo = read_only and _read_only(conn)
            try:
                yield from request_transaction(conn)
            finally:
                if undo:
                    _writable_again(conn)

    # What `flask services list` shows.
    connection.__qualname__ = "read_only_connection" if read_only else "connection"
    return connection


def session_factory(
    engine_key: object = Engine, **options: Any
) -> Callable[[Container], Iterator[Session]]:
    """
    Return a factory of ORM sessions on the engine service *engine_key*, each
    in one transaction per request (see :func:`request_transaction`).

    Args:
        engine_key: The key of the engine service.

        options: Keyword arguments of :class:`sqlalchemy.orm.Session`.
    """

    def session(container: Container) -> Iterator[Session]:
        with Session(container.get(engine_key), **options) as opened:
            yield from request_transaction(opened)

    # What `flask services list` shows.
    session.__qualname__ = "session"
    return session


def ping(db: Connection | Session) -> None:
    """Check that the database answers, on a connection or a session."""
    db.execute(text("SELECT 1")).scalar_one()


def register_read_only(
    target: Flask | Blueprint,
    *,
    key: object = Connection,
    engine_key: object = Engine,
    name: str = "database-read-only",
) -> None:
    """
    Register read-only connections for *key* on *target*: registered on a
    blueprint, every view of it (and every service built on *key* in its
    requests) reads the same database and cannot write to it.

    Args:
        target: The app or a blueprint.

        key: The key of the connection service to register.

        engine_key: The key of the engine service.

        name: What health checks call it.
    """
    svc.register_factory(
        target,
        key,
        connection_factory(engine_key, read_only=True),
        ping=ping,
        name=name,
    )


# -- a database that cannot serve now: 503 -------------------------------------

# What SQLite says when another writer holds the database, or the file cannot
# be reached: the request may succeed later. Other operational errors of
# SQLite ("no such table", a syntax error) are mistakes in the code.
_SQLITE_UNAVAILABLE: Final = (
    "database is locked",
    "database table is locked",
    "unable to open database file",
    "disk I/O error",
)


def is_unavailable(error: BaseException) -> bool:
    """
    Whether *error* says that the database cannot serve the request now but
    may later: no connection free in the pool within its ``pool_timeout``, a
    connection lost or refused, a timeout or a lock not granted.
    """
    if isinstance(error, PoolTimeoutError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError):
        return False
    if isinstance(error.orig, sqlite3.Error):
        return str(error.orig).startswith(_SQLITE_UNAVAILABLE)
    return True


def database_unavailable(e: Exception) -> ResponseReturnValue:
    """
    The error handler that :func:`init_app` registers for pool timeouts and
    operational errors: ``503`` with ``Retry-After`` (``SQLALCHEMY_RETRY_AFTER``
    seconds) when :func:`is_unavailable` says so, answered by the app's
    handler of HTTP errors (see :func:`~flask_servicecbv.rest.json_errors`),
    else in the same JSON shape; any other error is raised again, a ``500``.
    """
    if not is_unavailable(e):
        raise e
    log.warning("The database is unavailable: %s", e, exc_info=e)
    app = current_app
    unavailable = ServiceUnavailable(
        "The database is busy or unreachable; try again later.",
        retry_after=app.config.get("SQLALCHEMY_RETRY_AFTER", 1),
    )
    handled = app.handle_http_exception(unavailable)
    if not isinstance(handled, HTTPException):
        return handled
    # No handler of the app's: the JSON error shape all the same.
    return app.response_class(
        json_bytes(app, error_body(unavailable)),
        status=503,
        mimetype="application/json",
        headers={"Retry-After": str(unavailable.retry_after)},
    )


# -- the app -------------------------------------------------------------------


def _seconds(app: Flask, name: str) -> float | None:
    value = app.config.get(name)
    if value is None or (
        isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    ):
        return value
    msg = (
        f"app.config[{name!r}] is {value!r}; give a positive number of seconds or None."
    )
    raise ConfigurationError(msg)


def init_app(app: FlaskAppT, *, session: bool = False) -> FlaskAppT:
    """
    Make the app's engine from its config and register the database services:
    the :class:`~sqlalchemy.engine.Engine`, disposed by
    :func:`~flask_servicecbv.close_registry`; a
    :class:`~sqlalchemy.engine.Connection` per app context, in one
    transaction per request, pinged as ``"database"``; with *session*, an ORM
    :class:`~sqlalchemy.orm.Session` the same way, pinged as
    ``"database-session"``.
    Pool timeouts and operational errors that say the database cannot serve
    now are answered ``503`` (see :func:`database_unavailable`).

    It calls :func:`flask_servicecbv.init_app` first, if that has not run.

    The settings it reads from ``app.config``:

    - ``SQLALCHEMY_DATABASE_URI`` (required): the database's URL.
    - ``SQLALCHEMY_ENGINE_OPTIONS``: keyword arguments of
      :func:`sqlalchemy.create_engine` (``pool_size``, ``pool_timeout``...).
    - ``SQLALCHEMY_CONNECT_TIMEOUT``, ``SQLALCHEMY_STATEMENT_TIMEOUT``,
      ``SQLALCHEMY_BUSY_TIMEOUT``: seconds, see :func:`make_engine`; ``None``
      (the default) keeps the driver's.
    - ``SQLALCHEMY_RETRY_AFTER``: the ``Retry-After`` of a ``503``, in
      seconds (default 1).

    Returns:
        The app.

    Raises:
        flask_servicecbv.exceptions.ConfigurationError:
            ``SQLALCHEMY_DATABASE_URI`` is missing, a timeout
            is not a positive number, or init_app already ran for the app.
    """
    if EXTENSION_KEY in app.extensions:
        msg = (
            f"flask_servicecbv.sqlalchemy.init_app() already ran for the app "
            f"{app.name!r}; call it once, where the app is made."
        )
        raise ConfigurationError(msg)
    url = app.config.get("SQLALCHEMY_DATABASE_URI")
    if not url:
        msg = (
            "app.config['SQLALCHEMY_DATABASE_URI'] is not set; give the "
            "database's URL, such as 'sqlite:////path/to/app.sqlite3'."
        )
        raise ConfigurationError(msg)
    timeouts = {
        "connect_timeout": _seconds(app, "SQLALCHEMY_CONNECT_TIMEOUT"),
        "statement_timeout": _seconds(app, "SQLALCHEMY_STATEMENT_TIMEOUT"),
        "busy_timeout": _seconds(app, "SQLALCHEMY_BUSY_TIMEOUT"),
    }
    svc.init_app(app)
    engine = make_engine(url, app.config.get("SQLALCHEMY_ENGINE_OPTIONS"), **timeouts)
    app.extensions[EXTENSION_KEY] = engine
    svc.register_value(app, Engine, engine, on_registry_close=engine.dispose)
    svc.register_factory(
        app, Connection, connection_factory(), ping=ping, name="database"
    )
    if session:
        svc.register_factory(
            app, Session, session_factory(), ping=ping, name="database-session"
        )
    app.register_error_handler(PoolTimeoutError, database_unavailable)
    app.register_error_handler(OperationalError, database_unavailable)
    return app
