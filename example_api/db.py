"""
The database: its tables, its engines, and one transaction per request.

The same code runs on SQLite (the default: a file in the instance folder) and
on PostgreSQL through psycopg 3; only the engine's URL differs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
import time
import unicodedata
import weakref
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flask import after_this_request, g, has_request_context
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import Protocol

    class _DriverConnection(Protocol):
        """What the watchdog needs of a driver's connection (psycopg's)."""

        @property
        def closed(self) -> bool: ...

        def fileno(self) -> int: ...

    from flask import Response
    from sqlalchemy.engine import Dialect

log = logging.getLogger(__name__)

UTC = timezone.utc


class UTCDateTime(TypeDecorator[datetime]):
    """
    A timezone-aware datetime, always handed back in UTC.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value
    is stored as UTC without one and given ``UTC`` back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            msg = f"{value!r} is a naive datetime; give it a time zone."
            raise ValueError(msg)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 -- SQLAlchemy's signature
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()

# BIGINT ids on PostgreSQL; on SQLite only INTEGER PRIMARY KEY counts up.
_ID = BigInteger().with_variant(Integer, "sqlite")

bookmark = Table(
    "bookmark",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("url", String(2048), nullable=False),
    Column("title", String(200), nullable=False),
    Column("notes", Text, nullable=False),
    # The title and notes folded by fold(): what ?q= searches, the same way
    # on every database.
    Column("title_folded", Text, nullable=False),
    Column("notes_folded", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Never hand out the id of a deleted bookmark again.
    sqlite_autoincrement=True,
)

bookmark_tag = Table(
    "bookmark_tag",
    metadata,
    Column(
        "bookmark_id",
        _ID,
        ForeignKey("bookmark.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag", String(50), primary_key=True),
    Index("ix_bookmark_tag_tag", "tag"),
)


# -- engines -----------------------------------------------------------------

# Every engine this process made. A forked child (a gunicorn worker, also
# with --preload) must not use the connections its parent opened: the two
# would talk over the same socket or file handle.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_parent_connections() -> None:
    """
    In a forked child, give every engine a new, empty pool.

    ``close=False`` leaves the parent's connections alone: closing them here
    would end the parent's sessions too.
    """
    for engine in list(_engines):
        engine.dispose(close=False)


# -- a deadline on every database call, kept by the client ---------------------


class _Watchdog:
    """
    Break the connection of a database call that outlives its deadline.

    ``statement_timeout`` is the server's: a server that no longer answers
    (a frozen proxy in between still takes the bytes, so TCP sees nothing
    wrong) cancels nothing, and psycopg waits for its answer for ever.
    A thread of this process checks the calls in flight a few times a
    second, and shuts down the socket of one past its deadline: psycopg then
    fails at once with an ``OperationalError``, SQLAlchemy discards the
    connection, and the request is answered ``503``.

    One per process, for every engine: its thread starts with the first
    call, and again in a forked child, which has no threads.
    """

    #: How often the thread looks, in seconds.
    INTERVAL = 0.1

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # Also in a forked child: the parent's lock may have been held.
        self._lock = threading.Lock()
        self._calls: dict[int, tuple[float, weakref.ref[_DriverConnection]]] = {}
        self._thread: threading.Thread | None = None

    def begin(self, connection: _DriverConnection, limit: float) -> None:
        """Watch a call on *connection* that may take *limit* seconds."""
        deadline = time.monotonic() + limit
        with self._lock:
            self._calls[id(connection)] = (deadline, weakref.ref(connection))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="example_api watchdog", daemon=True
                )
                self._thread.start()

    def end(self, connection: _DriverConnection) -> None:
        """Stop watching the call on *connection*."""
        with self._lock:
            self._calls.pop(id(connection), None)

    @contextlib.contextmanager
    def watching(self, connection: _DriverConnection, limit: float) -> Iterator[None]:
        """Watch the calls of the block on *connection*."""
        self.begin(connection, limit)
        try:
            yield
        finally:
            self.end(connection)

    def _run(self) -> None:
        while True:
            time.sleep(self.INTERVAL)
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        """Break the connections whose call is past its deadline at *now*."""
        with self._lock:
            late = [
                key for key, (deadline, _) in self._calls.items() if deadline <= now
            ]
            for key in late:
                _, ref = self._calls.pop(key)
                connection = ref()
                if connection is not None and not connection.closed:
                    log.warning("A database call ran past its deadline; breaking it.")
                    _shut_down(connection.fileno())


def _shut_down(fd: int) -> None:
    """Shut down the socket *fd*: the call blocked on it fails at once."""
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


_watchdog = _Watchdog()

#: Seconds a PostgreSQL call may take beyond ``statement_timeout`` before the
#: client breaks its connection.
CLIENT_GRACE = 1.0

# The client's deadline of each engine's calls, for the commit.
_call_limits: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()


def _watch_calls(engine: Engine, limit: float) -> None:
    """Give every statement on *engine*'s connections *limit* seconds."""

    def begin(_conn: Connection, cursor: Any, *_: Any) -> None:
        _watchdog.begin(cursor.connection, limit)

    def end(_conn: Connection, cursor: Any, *_: Any) -> None:
        _watchdog.end(cursor.connection)

    def failed(context: Any) -> None:
        # No cursor when the error is not a statement's (a connect, a commit).
        cursor = getattr(context, "cursor", None)
        if cursor is not None:
            _watchdog.end(cursor.connection)

    event.listen(engine, "before_cursor_execute", begin)
    event.listen(engine, "after_cursor_execute", end)
    event.listen(engine, "handle_error", failed)


def _after_fork_in_child() -> None:
    _forget_parent_connections()
    _watchdog._reset()  # noqa: SLF001 -- this module's own object


os.register_at_fork(after_in_child=_after_fork_in_child)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite leaves foreign keys off unless each connection asks.
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def fold(value: str) -> str:
    """
    Return *value* folded for a search that ignores case: Unicode case
    folding of the canonical decomposition, composed again (``"ÉCOLE"`` and
    ``"école"`` both give ``"école"``, ``"Straße"`` gives ``"strasse"``).

    Python folds, not the database, so that SQLite (whose ``lower()`` only
    knows ASCII) and PostgreSQL (whose ``lower()`` depends on the database's
    locale) search alike.
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", value).casefold())


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
    read_only: bool = False,
    connect_timeout: float | None = None,
    statement_timeout: float | None = None,
    busy_timeout: float | None = None,
) -> Engine:
    """
    Return an engine for *url*, with *options* for :func:`sqlalchemy.create_engine`.

    With *read_only*, an SQLite file is opened with ``mode=ro``: every write
    fails in the database itself.
    Other databases get read-only transactions from :func:`transaction`
    instead, on the same engine.

    The timeouts, in seconds, bound how long a request waits for the
    database (``None``: the driver's default):

    Args:
        url: The database's URL.

        options: Keyword arguments of :func:`sqlalchemy.create_engine`; their
            ``connect_args`` win over the timeouts.

        read_only: Open an SQLite file read-only.

        connect_timeout: PostgreSQL: how long opening a connection may take
            (libpq's ``connect_timeout``, whole seconds, at least 2).

        statement_timeout: PostgreSQL: how long one statement may run,
            waiting for locks included (``statement_timeout``); the server
            cancels it after that, and should the server not answer, the
            client breaks the connection :data:`CLIENT_GRACE` seconds later.

        busy_timeout: SQLite: how long a statement waits for another
            connection's write lock before it fails with "database is
            locked".
    """
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and (parsed.database or ":memory:") == ":memory:":
        # Each connection would get a database of its own.
        msg = (
            f"DATABASE_URL {parsed!r} is not an SQLite file; use "
            "sqlite:////absolute/path.sqlite3."
        )
        raise ValueError(msg)
    if read_only:
        if not sqlite:
            msg = f"Only SQLite gets a read-only engine, not {parsed!r}."
            raise ValueError(msg)
        parsed = _sqlite_read_only(parsed)
    settings = dict(options or {})
    connect_args = _timeouts(
        parsed.get_backend_name(), connect_timeout, statement_timeout, busy_timeout
    )
    settings["connect_args"] = {**connect_args, **settings.get("connect_args", {})}
    engine = create_engine(parsed, **settings)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif statement_timeout is not None:
        # The server cancels a statement after statement_timeout; the client
        # gives up a little later, should the server not be heard from.
        limit = statement_timeout + CLIENT_GRACE
        _call_limits[engine] = limit
        _watch_calls(engine, limit)
    _engines.add(engine)
    return engine


def _sqlite_read_only(url: URL) -> URL:
    database = url.database or ""
    return url.set(
        database=f"file:{quote(database)}",
        query={**url.query, "mode": "ro", "uri": "true"},
    )


def create_schema(engine: Engine, *, attempts: int = 3) -> None:
    """
    Create the tables that do not exist yet.

    Two gunicorn workers may both find a table missing and both create it;
    the loser's error is retried, and then finds the table there.
    """
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as conn:
                metadata.create_all(conn)
        except DBAPIError:  # noqa: PERF203 -- runs once, at startup
            if attempt == attempts:
                raise
            log.info("Creating the schema raced another process; retrying.")
        else:
            break
    _check_columns(engine)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            # Readers do not block the writer, nor the writer the readers.
            conn.exec_driver_sql("PRAGMA journal_mode = WAL")


class SchemaMismatchError(RuntimeError):
    """
    Raised at startup when an existing table lacks columns that this code
    uses: the database was made by an older version of the example.
    """


def _check_columns(engine: Engine) -> None:
    """Fail at startup, not at every request, on tables made by older code."""
    found = inspect(engine)
    for table in metadata.sorted_tables:
        have = {column["name"] for column in found.get_columns(table.name)}
        missing = [column.name for column in table.columns if column.name not in have]
        if missing:
            msg = (
                f"Table {table.name!r} of {engine.url!r} has no column "
                f"{', '.join(missing)}: an older version made it; migrate it "
                "or start from a new database."
            )
            raise SchemaMismatchError(msg)


# -- one transaction per request ----------------------------------------------


def _end_transaction(conn: Connection, response: Response) -> Response:
    """
    Commit the request's transaction before its response leaves, if the view
    succeeded; roll it back if not.

    A commit that fails here raises, and Flask answers ``500`` instead of the
    response: a client is never told ``201`` for a write that was lost.
    """
    limit = _call_limits.get(conn.engine)
    if response.status_code >= 400:  # noqa: PLR2004 -- an error
        conn.rollback()
    elif limit is None:
        conn.commit()
    else:
        driver = conn.connection.driver_connection
        with _watchdog.watching(driver, limit):  # type: ignore[arg-type]
            conn.commit()
    return response


# Set on g by mark_request_context(), before anything else of a request runs.
_REQUEST_MARK = "_example_api_request"


def _in_the_request() -> bool:
    """
    Whether the current app context is the one the current request runs in.

    A health check may ping in an app context of its own while the request's
    context variables are still visible (a thread started with a copy of
    them): a connection opened there is not the request's, and must not be
    committed or rolled back by the request's thread when its response
    leaves, since the ping may still be using it.
    """
    return has_request_context() and g.get(_REQUEST_MARK) is True


def mark_request_context() -> None:
    """
    Mark the app context of the current request: connections opened in it
    (and only in it) end with the request's response.

    Registered as the app's first ``before_request`` function.
    """
    setattr(g, _REQUEST_MARK, True)


def transaction(
    engine: Engine, *, read_only: bool = False
) -> Callable[[], Iterator[Connection]]:
    """
    Return a generator factory of connections, one transaction per request.

    In a request, the transaction is committed just before the response is
    sent if the view succeeded (a status below 400), and rolled back
    otherwise.
    The container throws an exception that ends the request into the
    generator at its ``yield``: the transaction is rolled back.
    The connection always goes back to *engine*'s pool, and whatever was
    not committed is rolled back there.
    Outside a request (a command, a shell), and in an app context other
    than the request's (a health check's ping), commit yourself: the
    connection is closed, and what was not committed rolled back, when that
    app context ends.

    With *read_only* on another database than SQLite, each transaction starts
    with ``SET TRANSACTION READ ONLY``.
    """
    set_read_only = read_only and engine.dialect.name != "sqlite"

    def connection() -> Iterator[Connection]:
        with engine.connect() as conn:
            if set_read_only:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            if _in_the_request():
                after_this_request(functools.partial(_end_transaction, conn))
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise

    return connection


def ping(conn: Connection) -> None:
    """Check that the database answers."""
    conn.execute(text("SELECT 1")).scalar_one()


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)
