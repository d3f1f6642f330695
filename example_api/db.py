"""
The database: the bookmarks' tables, the schema check at startup, and a
client-side deadline on PostgreSQL calls.

Engines, connections and one transaction per request come from
:mod:`flask_servicecbv.sqlalchemy`; what is here is particular to this API.
The same code runs on SQLite (the default: a file in the instance folder) and
on PostgreSQL through psycopg 3; only the engine's URL differs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import weakref
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

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
    event,
    inspect,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Protocol

    from sqlalchemy.engine import Connection, Dialect, Engine
    from sqlalchemy.engine.default import DefaultExecutionContext

    class _DriverConnection(Protocol):
        """What the watchdog needs of a driver's connection (psycopg's)."""

        @property
        def closed(self) -> bool: ...

        def fileno(self) -> int: ...


log = logging.getLogger(__name__)

UTC = timezone.utc


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


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


def _created_at(context: DefaultExecutionContext) -> Any:
    """A new row's updated_at: its created_at, the same instant."""
    return context.get_current_parameters()["created_at"]


metadata = MetaData()

# BIGINT ids on PostgreSQL; on SQLite only INTEGER PRIMARY KEY counts up.
_ID = BigInteger().with_variant(Integer, "sqlite")

user_account = Table(
    "user_account",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False, default=now),
)

# A token is kept as its SHA-256 only: the database never holds its text.
access_token = Table(
    "access_token",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column(
        "user_id",
        _ID,
        ForeignKey("user_account.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("digest", String(64), nullable=False, unique=True),
    # Space-separated, as OAuth 2.0 writes scopes.
    Column("scopes", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, default=now),
)

bookmark = Table(
    "bookmark",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    # Who created it: the only user who sees it on the API.
    Column(
        "owner_id",
        _ID,
        ForeignKey("user_account.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("url", String(2048), nullable=False),
    Column("title", String(200), nullable=False),
    Column("notes", Text, nullable=False, default=""),
    # The title and notes folded by fold(): what ?q= searches, the same way
    # on every database.
    Column("title_folded", Text, nullable=False),
    Column("notes_folded", Text, nullable=False),
    # Filled by SQLAlchemy (Python-side defaults: no change to the tables).
    Column("created_at", UTCDateTime, nullable=False, default=now),
    Column(
        "updated_at", UTCDateTime, nullable=False, default=_created_at, onupdate=now
    ),
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


def check_database_url(url: str | URL) -> None:
    """
    Refuse an in-memory SQLite database: every connection of the pool
    would get a database of its own.

    Raises:
        ValueError: *url* is SQLite in memory.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and (
        (parsed.database or ":memory:") == ":memory:"
    ):
        msg = (
            f"DATABASE_URL {parsed!r} is not an SQLite file; use "
            "sqlite:////absolute/path.sqlite3."
        )
        raise ValueError(msg)


# -- the schema ----------------------------------------------------------------


def create_schema(engine: Engine, *, attempts: int = 3) -> None:
    """
    Create the tables that do not exist yet, then check those that do.

    Two gunicorn workers may both find a table missing and both create it;
    the loser's error is retried, and then finds the table there.

    Raises:
        SchemaMismatchError: A table lacks columns: an older version made it.
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


# -- a deadline on every PostgreSQL call, kept by the client -------------------


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

# A forked child has no watchdog thread, and maybe a lock its parent held.
os.register_at_fork(after_in_child=_watchdog._reset)  # noqa: SLF001 -- this module's own object

#: Seconds a PostgreSQL call may take beyond ``statement_timeout`` before the
#: client breaks its connection.
CLIENT_GRACE = 1.0


def watch_calls(engine: Engine, statement_timeout: float | None) -> None:
    """
    Give every statement and every commit on *engine*'s PostgreSQL
    connections ``statement_timeout`` + :data:`CLIENT_GRACE` seconds, after
    which the client breaks the connection; SQLite's calls are local, and
    ``None`` sets no deadline.
    """
    if engine.dialect.name == "sqlite" or statement_timeout is None:
        return
    limit = statement_timeout + CLIENT_GRACE

    def begin(_conn: Connection, cursor: Any, *_: Any) -> None:
        _watchdog.begin(cursor.connection, limit)

    def end(_conn: Connection, cursor: Any, *_: Any) -> None:
        _watchdog.end(cursor.connection)

    def failed(context: Any) -> None:
        # No cursor when the error is not a statement's (a connect, a commit).
        cursor = getattr(context, "cursor", None)
        if cursor is not None:
            _watchdog.end(cursor.connection)

    def committing(conn: Connection) -> None:
        # Watched until the connection is back in the pool: the commit, and
        # the pool's reset after it.
        _watchdog.begin(conn.connection.driver_connection, limit)  # type: ignore[arg-type]

    def checked_in(dbapi_connection: Any, _record: Any) -> None:
        # None when the connection was discarded (the watchdog broke it).
        if dbapi_connection is not None:
            _watchdog.end(dbapi_connection)

    event.listen(engine, "before_cursor_execute", begin)
    event.listen(engine, "after_cursor_execute", end)
    event.listen(engine, "handle_error", failed)
    event.listen(engine, "commit", committing)
    event.listen(engine.pool, "checkin", checked_in)
