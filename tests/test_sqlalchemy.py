"""
Tests for flask_servicecbv.sqlalchemy: engine, connection and session
services, the read-only layer, 503s, and SQLAlchemyRepository; on SQLite
always, on PostgreSQL when SERVICECBV_TEST_POSTGRESQL_URL names a database.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import importlib
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
import warnings
from decimal import Decimal
from typing import Any
from unittest.mock import Mock

import pytest
from flask import Blueprint, Flask, abort, redirect
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, registry
from sqlalchemy.types import UserDefinedType
from werkzeug.exceptions import PreconditionFailed

import flask_servicecbv as svc
from flask_servicecbv import ServiceAttr
from flask_servicecbv.exceptions import (
    ConfigurationError,
    RequestValidationError,
    RestDeclarationError,
)
from flask_servicecbv.health import HealthView
from flask_servicecbv.rest import CollectionView, ItemView, json_errors
from flask_servicecbv.rest.pagination import _decode_value, encode_cursor
from flask_servicecbv.sqlalchemy import (
    MAX_CURSOR_LENGTH,
    AtLeast,
    AtMost,
    Equals,
    OneOf,
    Search,
    SQLAlchemyRepository,
    _services,
    connection_factory,
    fold,
    init_app,
    is_unavailable,
    make_engine,
    ping,
    register_read_only,
    request_transaction,
    session_factory,
)
from flask_servicecbv.sqlalchemy._repository import _python_type

#: The environment variable that names a PostgreSQL database the tests may
#: use: postgresql+psycopg://user:password@127.0.0.1:5432/dbname
POSTGRESQL_URL = "SERVICECBV_TEST_POSTGRESQL_URL"


# -- which databases -----------------------------------------------------------


def _can_connect(url: str) -> str | None:
    """Return why *url* cannot be reached, or None when it can."""
    engine = make_engine(url, connect_timeout=5)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as e:
        return str(e.orig).strip() or type(e.orig).__name__
    finally:
        engine.dispose()
    return None


def postgresql_url(environ, can_connect=_can_connect) -> str:
    """
    Return the test database's URL; without one the test is skipped, and in
    CI (``CI`` set) it fails, as it does when the database cannot be reached.
    """
    url = environ.get(POSTGRESQL_URL)
    in_ci = bool(environ.get("CI"))
    if not url:
        if in_ci:
            pytest.fail(f"CI must set {POSTGRESQL_URL} to a PostgreSQL database.")
        pytest.skip(f"PostgreSQL tests skipped: {POSTGRESQL_URL} is not set.")
    problem = can_connect(url)
    if problem is not None:
        message = f"PostgreSQL at {POSTGRESQL_URL} cannot be reached: {problem}"
        if in_ci:
            pytest.fail(message)
        pytest.skip(message)
    return url


class TestPostgreSQLURL:
    def test_skipped_without_url(self):
        """Without the variable, the PostgreSQL tests are skipped, saying why."""
        with pytest.raises(pytest.skip.Exception, match=f"{POSTGRESQL_URL} is not"):
            postgresql_url({})

    def test_fails_in_ci(self):
        """In CI, a missing URL fails the test instead."""
        with pytest.raises(pytest.fail.Exception, match="CI must set"):
            postgresql_url({"CI": "true"})

    @pytest.mark.parametrize(
        ("ci", "outcome"),
        [("", pytest.skip.Exception), ("true", pytest.fail.Exception)],
        ids=["skip", "ci-fails"],
    )
    def test_unreachable(self, ci, outcome):
        """A database that cannot be reached is skipped, or fails in CI."""
        environ = {POSTGRESQL_URL: "postgresql+psycopg://x@127.0.0.1:1/x", "CI": ci}
        with pytest.raises(outcome, match="cannot be reached: refused"):
            postgresql_url(environ, can_connect=lambda _: "refused")

    def test_reachable(self):
        """A database that answers is used."""
        url = "postgresql+psycopg://x@127.0.0.1/x"
        assert postgresql_url({POSTGRESQL_URL: url}, can_connect=lambda _: None) == url

    def test_can_connect(self, tmp_path):
        """_can_connect says why a database cannot be reached, or None."""
        assert _can_connect(f"sqlite:///{tmp_path / 'ok.sqlite3'}") is None
        assert "unable to open" in _can_connect(f"sqlite:///{tmp_path}/no/x.db")


# -- the tables ------------------------------------------------------------------

metadata = MetaData()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


book = Table(
    "book",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("author", String(100), nullable=False),
    Column("year", Integer, nullable=False),
    Column("notes", Text, nullable=False, default=""),
    Column("price", Numeric(10, 2), nullable=True),
    # What ?q= searches of the title: kept by the repository.
    Column("title_folded", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, default=_now),
    Column("updated_at", DateTime(timezone=True), nullable=True, onupdate=_now),
)

book_tag = Table(
    "book_tag",
    metadata,
    Column(
        "book_id", Integer, ForeignKey("book.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("tag", String(50), primary_key=True),
)


class BookRepository(SQLAlchemyRepository):
    """Books with tags in a second table."""

    table = book
    FILTERS = {
        "author": Equals("author"),
        "year": OneOf("year"),
        "year_from": AtLeast("year"),
        "year_to": AtMost("year"),
        "q": Search("title", "notes"),
    }
    SORTABLE = ("title", "year", "created_at")
    FOLDED = {"title": "title_folded"}

    def filter_clause(self, name, value):
        if name == "tag":
            tagged = select(book_tag.c.book_id).where(book_tag.c.tag == value)
            return book.c.id.in_(tagged)
        return super().filter_clause(name, value)

    def load_related(self, items):
        ids = [item["id"] for item in items]
        tags: dict[int, list[str]] = {}
        rows = self.conn.execute(
            select(book_tag.c.book_id, book_tag.c.tag)
            .where(book_tag.c.book_id.in_(ids))
            .order_by(book_tag.c.tag)
        )
        for book_id, tag in rows:
            tags.setdefault(book_id, []).append(tag)
        for item in items:
            item["tags"] = tags.get(item["id"], [])

    def write_related(self, item, data, *, partial):
        if partial and "tags" not in data:
            self.load_related([item])
            return
        self.conn.execute(delete(book_tag).where(book_tag.c.book_id == item["id"]))
        tags = sorted(set(data.get("tags", ())))
        if tags:
            self.conn.execute(
                insert(book_tag), [{"book_id": item["id"], "tag": t} for t in tags]
            )
        item["tags"] = tags


class Database:
    """A database for one test: its URL and the engine options that reach it."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self.url = url
        self.options = options
        self.name = url.split(":", 1)[0].split("+", maxsplit=1)[0]

    def engine(self, **options: Any) -> Engine:
        return make_engine(self.url, {**self.options, **options}, busy_timeout=10)

    def rows(self, table: Table = book) -> list[dict[str, Any]]:
        """Every row of *table*, read on a connection of its own."""
        engine = self.engine()
        try:
            with engine.connect() as conn:
                found = conn.execute(select(table).order_by(*table.primary_key))
                return [dict(row._mapping) for row in found]
        finally:
            engine.dispose()


@pytest.fixture(name="database", params=["sqlite", "postgresql"])
def _database(request, tmp_path):
    """
    An empty database with the test tables: an SQLite file, or a schema of
    its own in the PostgreSQL test database (others may use it meanwhile).
    """
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'books.sqlite3'}", {})
        engine = database.engine()
        metadata.create_all(engine)
        engine.dispose()
        yield database
        return
    url = postgresql_url(os.environ)
    schema = f"servicecbv_sa_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    database = Database(url, {"connect_args": {"options": f"-c search_path={schema}"}})
    engine = database.engine()
    metadata.create_all(engine)
    engine.dispose()
    try:
        yield database
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(name="engine")
def _engine(database):
    engine = database.engine()
    yield engine
    engine.dispose()


@pytest.fixture(name="conn")
def _conn(engine):
    with engine.connect() as conn:
        yield conn


@pytest.fixture(name="repo")
def _repo(conn):
    return BookRepository(conn)


def _app(database: Database, **config: Any) -> Flask:
    app = Flask("sa_app")
    app.config.update(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database.url,
            "SQLALCHEMY_ENGINE_OPTIONS": database.options,
            "SQLALCHEMY_BUSY_TIMEOUT": 10,
            **config,
        }
    )
    return init_app(app, session=True)


@pytest.fixture(name="sa_app")
def _sa_app(database):
    app = _app(database)
    yield app
    svc.close_registry(app)


def _book(**fields: Any) -> dict[str, Any]:
    return {"title": "Dune", "author": "Herbert", "year": 1965, **fields}


def _insert(app: Flask) -> int:
    """Insert a book on the app context's connection; return how many."""
    conn = svc.get(Connection)
    return conn.execute(insert(book).values(**_book(title_folded="dune"))).rowcount


# -- importing -------------------------------------------------------------------


class TestImport:
    def _reimport(self, monkeypatch):
        for name in list(sys.modules):
            if name.startswith("flask_servicecbv.sqlalchemy"):
                monkeypatch.delitem(sys.modules, name)
        return importlib.import_module("flask_servicecbv.sqlalchemy")

    def test_without_sqlalchemy(self, monkeypatch):
        """Without SQLAlchemy, importing the module says what to install."""
        monkeypatch.setitem(sys.modules, "sqlalchemy", None)
        with pytest.raises(
            ImportError, match=r"pip install flask-servicecbv\[sqlalchemy\]"
        ):
            self._reimport(monkeypatch)

    def test_old_sqlalchemy(self, monkeypatch):
        """SQLAlchemy 1.x is refused, naming its version and the fix."""
        import sqlalchemy  # noqa: PLC0415

        monkeypatch.setattr(sqlalchemy, "__version__", "1.4.52")
        with pytest.raises(ImportError, match=r"not 1\.4\.52; upgrade it with"):
            self._reimport(monkeypatch)

    def test_core_never_imports_it(self):
        """The core and the REST layer never import SQLAlchemy."""
        code = (
            "import sys, flask_servicecbv, flask_servicecbv.rest, "
            "flask_servicecbv.health; "
            "assert 'sqlalchemy' not in sys.modules, 'imported'"
        )
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)  # noqa: S603 -- our own interpreter


# -- engines -------------------------------------------------------------------


class TestMakeEngine:
    @pytest.mark.parametrize(
        ("backend", "timeouts", "expected"),
        [
            ("sqlite", (1, 2, 3), {"timeout": 3}),
            ("sqlite", (1, 2, None), {}),
            (
                "postgresql",
                (0.5, 1.5, 3),
                {"connect_timeout": 2, "options": "-c statement_timeout=1500"},
            ),
            ("postgresql", (None, None, 3), {}),
        ],
    )
    def test_timeouts(self, backend, timeouts, expected):
        """Each database gets the driver arguments of its own timeouts."""
        assert _services._timeouts(backend, *timeouts) == expected

    def test_sqlite_connections(self, tmp_path):
        """SQLite connections get foreign keys on and the fold() function."""
        engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                folded = conn.exec_driver_sql(
                    "SELECT servicecbv_fold('ÉCOLE Straße'), servicecbv_fold(3)"
                ).one()
                assert tuple(folded) == ("école strasse", 3)
        finally:
            engine.dispose()

    def test_connect_args_win(self, tmp_path):
        """The options' connect_args win over the timeouts."""
        seen = []
        engine = make_engine(
            f"sqlite:///{tmp_path / 'x.sqlite3'}",
            {"connect_args": {"timeout": 7}},
            busy_timeout=1,
        )
        event.listen(engine, "do_connect", lambda *a: seen.append(a[3]))
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
        assert seen[0]["timeout"] == 7

    def test_statement_timeout(self, database):
        """On PostgreSQL, the statement timeout reaches the server."""
        if database.name != "postgresql":
            pytest.skip("statement_timeout is PostgreSQL's")
        engine = make_engine(database.url, statement_timeout=1.5, connect_timeout=5)
        try:
            with engine.connect() as conn:
                assert (
                    conn.exec_driver_sql("SHOW statement_timeout").scalar() == "1500ms"
                )
        finally:
            engine.dispose()

    def test_fold(self):
        """fold() ignores case and composition the Unicode way."""
        assert fold("ÉCOLE") == fold("e\u0301cole") == "école"
        assert fold("Straße") == "strasse"


class TestFork:
    def test_child_starts_with_an_empty_pool(self, tmp_path):
        """
        A forked child does not reuse its parent's pooled connections, and
        the parent's stay usable.
        """
        engine = make_engine(f"sqlite:///{tmp_path / 'fork.sqlite3'}")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert engine.pool.checkedin() == 1
        read, write = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12 warns about fork() in a process with threads.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover -- the child's coverage is not saved
            try:
                empty = engine.pool.checkedin() == 0
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                os.write(write, b"ok" if empty else b"reused")
            finally:
                os._exit(0)
        os.close(write)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        else:  # pragma: no cover -- only when the child hangs
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child did not end")
        with os.fdopen(read, "rb") as pipe:
            assert pipe.read() == b"ok"
        assert os.waitstatus_to_exitcode(status) == 0
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        assert engine.pool.checkedin() == 1
        engine.dispose()

    def test_forget_parent_connections(self, tmp_path):
        """
        What runs in the child empties every engine's pool, and leaves the
        parent's connections open.
        """
        engine = make_engine(f"sqlite:///{tmp_path / 'fork.sqlite3'}")
        with engine.connect() as conn:
            parents = conn.connection.dbapi_connection
        _services._forget_parent_connections()
        assert engine.pool.checkedin() == 0
        assert parents.execute("SELECT 1").fetchone() == (1,)
        # A child leaves it to the parent; this test is the parent, and
        # closes it (Python 3.13 warns of a connection left unclosed).
        parents.close()
        engine.dispose()


# -- the connection service --------------------------------------------------------


def _routes(app: Flask) -> None:
    @app.post("/books")
    def create():
        _insert(app)
        return {"ok": True}, 201

    @app.post("/books-then-<int:status>")
    def create_then(status):
        _insert(app)
        abort(status)

    @app.post("/books-then-redirect")
    def create_then_redirect():
        _insert(app)
        return redirect("/elsewhere")

    @app.post("/books-then-raise")
    def create_then_raise():
        _insert(app)
        msg = "the view failed"
        raise RuntimeError(msg)

    @app.get("/count")
    def count():
        conn = svc.get(Connection)
        return {"count": conn.execute(select(func.count()).select_from(book)).scalar()}


class TestConnection:
    @pytest.fixture(name="client")
    def _client(self, sa_app):
        _routes(sa_app)
        sa_app.config["PROPAGATE_EXCEPTIONS"] = False
        return sa_app.test_client()

    def test_registered(self, sa_app):
        """init_app registers the engine, the connection and the session."""
        with sa_app.app_context():
            engine, conn, session = svc.get(Engine, Connection, Session)
            assert conn.engine is engine
            assert session.get_bind() is engine
        assert sa_app.extensions["servicecbv.sqlalchemy"] is engine

    def test_engine_disposed(self, database):
        """close_registry() closes the connections of the engine's pool."""
        app = _app(database)
        with app.app_context():
            engine = svc.get(Engine)
            svc.get(Connection)
        assert engine.pool.checkedin() == 1
        svc.close_registry(app)
        assert engine.pool.checkedin() == 0

    def test_listed_readably(self, sa_app):
        """The factories read well in `flask services list`."""
        output = sa_app.test_cli_runner().invoke(args=["services", "list"]).output
        assert "Connection: factory connection, ping ping" in output
        assert "Session: factory session, ping ping" in output

    @pytest.mark.parametrize(
        ("path", "status", "written"),
        [
            ("/books", 201, 1),
            ("/books-then-redirect", 302, 1),
            ("/books-then-409", 409, 0),
            ("/books-then-404", 404, 0),
            ("/books-then-raise", 500, 0),
        ],
    )
    def test_commit_below_400(self, client, database, path, status, written):
        """
        A response below 400 commits the request's transaction; any other
        rolls it back.
        """
        assert client.post(path).status_code == status
        assert len(database.rows()) == written

    def test_committed_before_the_response(self, sa_app, client, database):
        """The commit is done when the app's after_request functions run."""
        seen = []
        sa_app.after_request(
            lambda response: seen.append(len(database.rows())) or response
        )
        assert client.post("/books").status_code == 201
        assert seen == [1]

    def test_failing_commit_is_500(self, sa_app, client, database, caplog):
        """A commit that fails is answered 500, and nothing is written."""
        with sa_app.app_context():
            engine = svc.get(Engine)

        def fail(conn):
            msg = "the commit failed"
            raise RuntimeError(msg)

        event.listen(engine, "commit", fail)
        with caplog.at_level(logging.ERROR):
            response = client.post("/books")
        assert response.status_code == 500
        assert "the commit failed" in caplog.text
        event.remove(engine, "commit", fail)
        assert database.rows() == []
        assert client.get("/count").json == {"count": 0}

    def test_outside_a_request_commits_at_teardown(self, sa_app, database):
        """
        Outside a request the transaction is committed when the app context
        ends, and rolled back when an exception ends it.
        """
        with sa_app.app_context():
            _insert(sa_app)
        assert len(database.rows()) == 1

        def insert_then_fail():
            with sa_app.app_context():
                _insert(sa_app)
                msg = "stop"
                raise RuntimeError(msg)

        with pytest.raises(RuntimeError, match="stop"):
            insert_then_fail()
        assert len(database.rows()) == 1

    def test_ping(self, sa_app):
        """The connection and the session are pinged."""
        with sa_app.app_context():
            pings = {each.name: each for each in svc.get_pings()}
            assert set(pings) == {"database", "database-session"}
            for each in pings.values():
                each.ping()

    def test_health(self, sa_app):
        """The health check pings in an app context of its own, and passes."""
        sa_app.add_url_rule("/health", view_func=HealthView.as_view("health"))
        response = sa_app.test_client().get("/health")
        # The pings' threads end their app contexts after answering: let them
        # give their connections back before the pool closes.
        [
            thread.join(timeout=10)
            for thread in threading.enumerate()
            if thread.name.startswith("flask_servicecbv ping")
        ]
        assert response.status_code == 200
        assert response.json["services"] == {
            "database": "ok",
            "database-session": "ok",
        }

    def test_app_context_pushed_in_a_view(self, sa_app, database):
        """
        An app context pushed inside a view has a transaction of its own,
        committed when that context ends; the request's response, a 409
        that rolls back the request's own, does not touch it (its connection
        is back in the pool by then).
        """

        @sa_app.post("/nested")
        def nested():
            with sa_app.app_context():
                _insert(sa_app)
            _insert(sa_app)
            return {}, 409

        assert sa_app.test_client().post("/nested").status_code == 409
        assert len(database.rows()) == 1

    def test_thread_outliving_the_response(self, sa_app, database):
        """
        An app context pushed in a thread with a copy of the request's
        context variables is not the request's: its transaction, still open
        when the request's 409 is sent, is committed when the thread's
        context ends, not rolled back by the response.
        """
        inserted = threading.Event()
        answered = threading.Event()
        outcome = []

        def elsewhere():
            try:
                with sa_app.app_context():
                    _insert(sa_app)
                    outcome.append("inserted")
                    inserted.set()
                    answered.wait(timeout=10)
                    outcome.append(svc.get(Connection).in_transaction())
            finally:
                inserted.set()

        thread = None

        @sa_app.post("/elsewhere")
        def start():
            nonlocal thread
            context = contextvars.copy_context()
            thread = threading.Thread(target=context.run, args=(elsewhere,))
            thread.start()
            inserted.wait(timeout=10)
            return {}, 409

        assert sa_app.test_client().post("/elsewhere").status_code == 409
        answered.set()
        thread.join(timeout=10)
        assert outcome == ["inserted", True]
        assert len(database.rows()) == 1

    def test_without_init_app(self, database):
        """
        connection_factory() works on an app that did not call init_app(): a
        request's app context is taken for the request's.
        """
        app = svc.init_app(Flask("plain"))
        engine = database.engine()
        svc.register_value(app, Engine, engine, on_registry_close=engine.dispose)
        svc.register_factory(app, Connection, connection_factory())
        _routes(app)
        assert app.test_client().post("/books").status_code == 201
        assert app.test_client().post("/books-then-409").status_code == 409
        assert len(database.rows()) == 1
        svc.close_registry(app)

    def test_without_session(self, database):
        """Without session=True, no Session service is registered."""
        app = Flask("nosession")
        app.config["SQLALCHEMY_DATABASE_URI"] = database.url
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = database.options
        init_app(app)
        with app.app_context():
            names = {each.name for each in svc.get_pings()}
        assert names == {"database"}
        svc.close_registry(app)

    def test_init_app_twice(self, sa_app):
        """init_app runs once per app."""
        with pytest.raises(ConfigurationError, match="already ran for the app"):
            init_app(sa_app)

    def test_no_url(self):
        """An app without SQLALCHEMY_DATABASE_URI is refused, saying so."""
        with pytest.raises(ConfigurationError, match="SQLALCHEMY_DATABASE_URI"):
            init_app(Flask("nourl"))

    @pytest.mark.parametrize("value", [0, -1, "5", True])
    def test_bad_timeout(self, value):
        """A timeout that is not a positive number of seconds is refused."""
        app = Flask("badtimeout")
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
        app.config["SQLALCHEMY_STATEMENT_TIMEOUT"] = value
        with pytest.raises(ConfigurationError, match="SQLALCHEMY_STATEMENT_TIMEOUT"):
            init_app(app)


class TestRequestTransaction:
    def test_recipe(self):
        """
        request_transaction() ends anything with commit() and rollback(): a
        fake's commit runs before the response, and not again.
        """
        fake = Mock(spec_set=["commit", "rollback"])
        app = svc.init_app(Flask("fake"))

        def tx():
            yield from request_transaction(fake)

        svc.register_factory(app, "tx", tx)

        @app.get("/")
        def index():
            svc.get("tx")
            return {}

        assert app.test_client().get("/").status_code == 200
        fake.commit.assert_called_once_with()
        fake.rollback.assert_not_called()


# -- 503 -------------------------------------------------------------------------


class TestUnavailable:
    @pytest.mark.parametrize("with_handler", [True, False])
    def test_pool_exhausted(self, database, with_handler):
        """
        A request that gets no connection in time is answered 503 with
        Retry-After, in the JSON error shape, whether or not the app has
        handlers of its own.
        """
        app = _app(
            database,
            SQLALCHEMY_ENGINE_OPTIONS={
                **database.options,
                "pool_size": 1,
                "max_overflow": 0,
                "pool_timeout": 0.05,
            },
            SQLALCHEMY_RETRY_AFTER=7,
        )
        if with_handler:
            json_errors(app)
        _routes(app)
        with app.app_context():
            engine = svc.get(Engine)
        with engine.connect():
            response = app.test_client().get("/count")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "7"
        assert response.json == {
            "code": 503,
            "status": "Service Unavailable",
            "message": "The database is busy or unreachable; try again later.",
        }
        assert app.test_client().get("/count").json == {"count": 0}
        svc.close_registry(app)

    def test_other_errors_are_500(self, sa_app):
        """An operational error that is a mistake (no such table) is a 500."""

        @sa_app.get("/missing")
        def missing():
            conn = svc.get(Connection)
            return {"rows": conn.exec_driver_sql("SELECT * FROM no_such_table").all()}

        sa_app.config["PROPAGATE_EXCEPTIONS"] = False
        assert sa_app.test_client().get("/missing").status_code == 500

    @pytest.mark.parametrize(
        ("error", "expected"),
        [
            (PoolTimeoutError("no connection"), True),
            (ValueError("no"), False),
            (
                DBAPIError("SELECT 1", {}, Exception("x"), connection_invalidated=True),
                True,
            ),
            (IntegrityError("INSERT", {}, Exception("duplicate")), False),
            (
                OperationalError(
                    "UPDATE", {}, sqlite3.OperationalError("database is locked")
                ),
                True,
            ),
            (
                OperationalError(
                    "SELECT", {}, sqlite3.OperationalError("no such table: x")
                ),
                False,
            ),
            (OperationalError("SELECT", {}, Exception("server closed")), True),
        ],
    )
    def test_is_unavailable(self, error, expected):
        """Which errors say that the database cannot serve now."""
        assert is_unavailable(error) is expected


# -- read-only -------------------------------------------------------------------


class TestReadOnly:
    @pytest.fixture(name="ro_app")
    def _ro_app(self, database):
        # One connection in the pool: a read-only one would be handed on.
        app = _app(
            database,
            SQLALCHEMY_ENGINE_OPTIONS={
                **database.options,
                "pool_size": 1,
                "max_overflow": 0,
            },
            PROPAGATE_EXCEPTIONS=False,
        )
        reports = Blueprint("reports", __name__, url_prefix="/reports")
        register_read_only(reports)

        @reports.post("/books")
        def write():
            return {"inserted": _insert(app)}, 201

        @reports.get("/count")
        def count():
            conn = svc.get(Connection)
            return {
                "count": conn.execute(select(func.count()).select_from(book)).scalar()
            }

        app.register_blueprint(reports)
        _routes(app)
        yield app
        svc.close_registry(app)

    def test_write_fails(self, ro_app, database):
        """A write through the read-only layer fails, and writes nothing."""
        client = ro_app.test_client()
        assert client.post("/reports/books").status_code == 500
        assert database.rows() == []
        assert client.get("/reports/count").json == {"count": 0}

    def test_connection_writable_again(self, ro_app, database):
        """The pooled connection is writable again for the app's views."""
        client = ro_app.test_client()
        assert client.get("/reports/count").status_code == 200
        assert client.post("/books").status_code == 201
        assert client.get("/reports/count").json == {"count": 1}
        assert len(database.rows()) == 1

    def test_health_names(self, ro_app):
        """The blueprint's connection is pinged under its own name."""
        with ro_app.test_request_context("/reports/count"):
            names = {each.name for each in svc.get_pings()}
        assert "database-read-only" in names

    def test_undo_fails(self, caplog):
        """A connection that cannot be made writable again is invalidated."""
        conn = Mock(spec_set=["exec_driver_sql", "invalidate"])
        conn.exec_driver_sql.side_effect = RuntimeError("gone")
        with caplog.at_level(logging.ERROR, logger="flask_servicecbv"):
            _services._writable_again(conn)
        conn.invalidate.assert_called_once_with()
        assert "writable again" in caplog.text

    def test_other_databases(self):
        """Read-only connections are refused on other databases."""
        conn = Mock()
        conn.dialect.name = "mysql"
        with pytest.raises(ConfigurationError, match="not 'mysql'"):
            _services._read_only(conn)


# -- sessions -------------------------------------------------------------------


class Book:
    """A mapped class, for the ORM session."""

    id: int
    title: str

    def __init__(self, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(self, name, value)


mapper_registry = registry()
mapper_registry.map_imperatively(Book, book)


class TestSession:
    @pytest.fixture(name="client")
    def _client(self, sa_app):
        @sa_app.post("/books-then-<int:status>")
        def create(status):
            session = svc.get(Session)
            session.add(Book(**_book(title_folded="dune")))
            session.flush()
            return {}, status

        @sa_app.get("/books/<int:book_id>")
        def one(book_id):
            found = svc.get(Session).get(Book, book_id)
            return {"title": found.title}

        return sa_app.test_client()

    def test_commit_and_rollback(self, client, database):
        """The session commits below 400 and rolls back otherwise."""
        assert client.post("/books-then-201").status_code == 201
        assert client.post("/books-then-422").status_code == 422
        assert [row["title"] for row in database.rows()] == ["Dune"]
        assert client.get("/books/1").json == {"title": "Dune"}

    def test_options(self, database):
        """session_factory() passes its options to the Session."""
        app = svc.init_app(Flask("sessions"))
        engine = database.engine()
        svc.register_value(app, Engine, engine)
        svc.register_factory(app, Session, session_factory(autoflush=False))
        with app.app_context():
            assert svc.get(Session).autoflush is False
        engine.dispose()


class TestFlaskSQLAlchemy:
    def test_recipe(self, tmp_path):
        """
        Flask-SQLAlchemy's db.session as the Session service, in one
        transaction per request.
        """
        db = SQLAlchemy()
        app = Flask("fsa")
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'f.sqlite3'}"
        app.config["PROPAGATE_EXCEPTIONS"] = False
        db.init_app(app)
        svc.init_app(app)

        def db_session():
            yield from request_transaction(db.session())

        svc.register_factory(app, Session, db_session, ping=ping)
        with app.app_context():
            metadata.create_all(db.engine)

        @app.post("/books-then-<int:status>")
        def create(status):
            session = svc.get(Session)
            session.execute(insert(book).values(**_book(title_folded="dune")))
            return {}, status

        client = app.test_client()
        assert client.post("/books-then-201").status_code == 201
        assert client.post("/books-then-400").status_code == 400
        with app.app_context():
            count = select(func.count()).select_from(book)
            assert db.session.execute(count).scalar() == 1
            svc.get_pings()[0].ping()
        # Once the app context has ended, and so has the session: a
        # connection it still held would not be closed by dispose().
        with app.app_context():
            db.engine.dispose()


# -- the repository ------------------------------------------------------------


def _many(repo, count, **fields):
    return [
        repo.create(_book(title=f"Book {i:03}", year=1900 + i % 7, **fields))
        for i in range(count)
    ]


class TestRepositoryMethods:
    def test_create_get(self, repo):
        """create() returns the item with its id and defaults; get() finds it."""
        item = repo.create(_book(tags=["sf", "classic", "sf"]))
        assert item["id"] == 1
        assert item["notes"] == ""
        assert item["tags"] == ["classic", "sf"]
        assert item["created_at"] is not None
        assert "title_folded" not in item
        assert repo.get(1) == item
        assert repo.get(2) is None

    def test_put(self, repo):
        """A PUT writes every writable column: those left out get their default."""
        repo.create(_book(notes="n", price=Decimal("9.50"), tags=["a"]))
        item = repo.update(1, _book(title="Dune Messiah"), partial=False)
        assert item["title"] == "Dune Messiah"
        assert item["notes"] == ""
        assert item["price"] is None
        assert item["tags"] == []
        assert item["updated_at"] is not None

    def test_patch(self, repo):
        """A PATCH writes what it gives; other tables' rows are kept."""
        created = repo.create(_book(notes="n", tags=["a"]))
        item = repo.update(1, {"notes": "m"}, partial=True)
        assert item["notes"] == "m"
        assert item["title"] == "Dune"
        assert item["tags"] == ["a"]
        assert item["created_at"] == created["created_at"]

    def test_patch_only_related(self, repo):
        """A PATCH of other tables alone still finds the item and stamps it."""
        repo.create(_book(tags=["a"]))
        item = repo.update(1, {"tags": ["b"]}, partial=True)
        assert item["tags"] == ["b"]
        assert item["updated_at"] is not None
        assert repo.update(2, {"tags": ["b"]}, partial=True) is None

    def test_update_missing(self, repo):
        """Updating an item that does not exist returns None."""
        assert repo.update(5, _book(), partial=False) is None

    def test_delete(self, repo, conn):
        """delete() says whether there was an item; its tags go with it."""
        repo.create(_book(tags=["a"]))
        assert repo.delete(1) is True
        assert repo.delete(1) is False
        assert conn.execute(select(func.count()).select_from(book_tag)).scalar() == 0

    def test_count_and_list(self, repo):
        """count() and list() see the same items; list() pages by offset."""
        _many(repo, 5)
        assert repo.count(filters={}) == 5
        page = repo.list(offset=2, limit=2, filters={})
        assert [item["id"] for item in page] == [3, 4]
        assert repo.list(offset=9, limit=2, filters={}) == []

    def test_repr(self, repo):
        """The repr names the class and the table."""
        assert repr(repo) == "<BookRepository of 'book'>"

    def test_generic_views(self, database):
        """The generic views use it as it is, conditional writes included."""
        from marshmallow import Schema, fields  # noqa: PLC0415

        class BookSchema(Schema):
            id = fields.Integer(dump_only=True)
            title = fields.String(required=True)
            author = fields.String(required=True)
            year = fields.Integer(required=True)
            tags = fields.List(fields.String(), load_default=list)

        class Filters(Schema):
            author = fields.String()

        class Books(CollectionView):
            repository = ServiceAttr(BookRepository)
            schema = BookSchema
            FILTERS = Filters

        class OneBook(ItemView):
            repository = ServiceAttr(BookRepository)
            schema = BookSchema

        app = _app(database)
        svc.register_factory(
            app,
            BookRepository,
            lambda container: BookRepository(container.get(Connection)),
        )
        app.add_url_rule("/books", view_func=Books.as_view("books"))
        app.add_url_rule("/books/<int:item_id>", view_func=OneBook.as_view("book"))
        client = app.test_client()
        created = client.post("/books", json=_book(tags=["x"]))
        assert created.status_code == 201
        listed = client.get("/books?author=Herbert&per_page=5")
        assert [item["title"] for item in listed.json["items"]] == ["Dune"]
        etag = client.get("/books/1").headers["ETag"]
        stale = client.patch("/books/1", json={"year": 1}, headers={"If-Match": '"x"'})
        assert stale.status_code == 412
        fresh = client.patch("/books/1", json={"year": 1}, headers={"If-Match": etag})
        assert fresh.json["year"] == 1
        assert client.delete("/books/1", headers={"If-Match": '"x"'}).status_code == 412
        assert client.delete("/books/1").status_code == 204
        assert database.rows() == []
        svc.close_registry(app)


class TestScope:
    def test_rows_outside_the_scope_are_not_found(self, conn):
        """
        scope() limits what the repository lists, counts, reads, changes
        and deletes, conditional writes included; other rows stay as they are.
        """

        class Herbert(BookRepository):
            def scope(self):
                return [book.c.author == "Herbert"]

        everyone = BookRepository(conn)
        dune = everyone.create(_book())
        other = everyone.create(_book(author="Ursula K. Le Guin"))
        scoped = Herbert(conn)
        check = Mock()

        listed = scoped.list(limit=10, filters={})
        counted = scoped.count(filters={})
        found = (scoped.get(dune["id"]), scoped.get(other["id"]))
        changed = scoped.update(other["id"], {"title": "x"}, partial=True)
        locked = scoped.update(
            other["id"], {"title": "x"}, partial=True, precondition=check
        )
        deleted = (
            scoped.delete(other["id"]),
            scoped.delete(other["id"], precondition=check),
        )

        assert [item["id"] for item in listed] == [dune["id"]]
        assert counted == 1
        assert found == (dune, None)
        assert (changed, locked, deleted) == (None, None, (False, False))
        check.assert_not_called()
        assert everyone.get(other["id"]) == other
        assert scoped.delete(dune["id"]) is True


class TestViews:
    """The generic views over SQLAlchemyRepository: sort, filters, cursors, actions."""

    @pytest.fixture(name="client")
    def _client(self, database):
        from marshmallow import Schema, fields  # noqa: PLC0415

        from flask_servicecbv.rest import IdConverter, returns  # noqa: PLC0415
        from flask_servicecbv.rest.generics import (  # noqa: PLC0415
            action,
            at_least,
            at_most,
            search,
        )
        from flask_servicecbv.rest.pagination import CursorPagination  # noqa: PLC0415

        class BookSchema(Schema):
            id = fields.Integer(dump_only=True)
            title = fields.String(required=True)
            author = fields.String(required=True)
            year = fields.Integer(required=True)
            tags = fields.List(fields.String(), load_default=list)

        class Filters(Schema):
            year_from = at_least(fields.Integer())
            year_to = at_most(fields.Integer())
            q = search()

        class Books(CollectionView):
            repository = ServiceAttr(BookRepository)
            schema = BookSchema
            FILTERS = Filters
            SORTABLE = ("title", "year")

        class ByCursor(Books):
            PAGINATION = CursorPagination(default=3)

        class OneBook(ItemView):
            repository = ServiceAttr(BookRepository)
            schema = BookSchema

            @action("reprint")
            @returns(BookSchema)
            def reprint(self, item, **_):
                """Reprint the book this year."""
                return self.repository.update(item["id"], {"year": 2024}, partial=True)

        app = _app(database)
        app.url_map.converters["id"] = IdConverter
        json_errors(app)
        svc.register_factory(
            app,
            BookRepository,
            lambda container: BookRepository(container.get(Connection)),
        )
        app.add_url_rule("/books", view_func=Books.as_view("books"))
        app.add_url_rule("/cursor", view_func=ByCursor.as_view("cursor"))
        OneBook.add_url_rules(app, "/books/<id:item_id>", "book")
        client = app.test_client()
        for i in range(10):
            created = client.post(
                "/books", json=_book(title=f"T{i % 4}", year=1990 + i % 3)
            )
            assert created.status_code == 201
        yield client
        svc.close_registry(app)

    @staticmethod
    def _ids(response):
        assert response.status_code == 200, response.json
        return [item["id"] for item in response.json["items"]]

    def test_sort(self, client):
        """?sort= orders by the columns, - for descending, the id last."""
        response = client.get("/books?sort=-title,year&per_page=5")
        assert self._ids(response) == [4, 8, 7, 3, 10]
        response = client.get("/books?sort=author")
        assert response.status_code == 422
        assert list(response.json["errors"]["query"]) == ["sort"]

    def test_filters(self, client):
        """Ranges and search reach the repository's filters."""
        response = client.get("/books?year_from=1991&year_to=1991&q=t1&per_page=9")
        assert self._ids(response) == [2]

    def test_cursor_walk(self, client):
        """A walk by cursor gives every item once, in order, following Link."""
        everything = self._ids(client.get("/books?sort=year,-title&per_page=10"))
        seen = []
        url = "/cursor?sort=year,-title"
        while url:
            response = client.get(url)
            seen += self._ids(response)
            cursor = response.json["meta"]["next"]
            url = f"/cursor?sort=year,-title&after={cursor}" if cursor else ""
            assert ('rel="next"' in response.headers["Link"]) == bool(cursor)
        assert seen == everything

    def test_bad_cursor(self, client):
        """A cursor of another order is a 422 under query.after."""
        first = client.get("/cursor?sort=title")
        cursor = first.json["meta"]["next"]
        response = client.get(f"/cursor?sort=year&after={cursor}")
        assert response.status_code == 422
        assert list(response.json["errors"]["query"]) == ["after"]

    def test_action(self, client, database):
        """An action writes through the repository, and is committed."""
        response = client.post("/books/3/reprint")
        assert response.status_code == 200
        assert response.json["year"] == 2024
        assert database.rows()[2]["year"] == 2024
        assert client.post("/books/99/reprint").status_code == 404


class TestFilters:
    @pytest.fixture(name="filled")
    def _filled(self, repo):
        repo.create(_book(title="ÉCOLE des femmes", author="Molière", year=1662))
        repo.create(_book(title="Die Straße", author="Anon", year=2001, notes="100%"))
        repo.create(
            _book(title="Dune", notes="Spice_Worm, école", tags=["sf"], year=1965)
        )
        return repo

    def _titles(self, repo, **filters):
        return [item["title"] for item in repo.list(limit=10, filters=filters)]

    def test_equals(self, filled):
        """Equals selects the items whose column equals the value."""
        assert self._titles(filled, author="Anon") == ["Die Straße"]
        assert filled.count(filters={"author": "Anon"}) == 1

    def test_one_of(self, filled):
        """OneOf selects by membership; an empty collection selects nothing."""
        assert self._titles(filled, year=[1662, 1965]) == ["ÉCOLE des femmes", "Dune"]
        assert self._titles(filled, year=[]) == []

    def test_ranges(self, filled):
        """AtLeast and AtMost bound a column, inclusive, alone or together."""
        assert self._titles(filled, year_from=1965) == ["Die Straße", "Dune"]
        assert self._titles(filled, year_to=1965) == ["ÉCOLE des femmes", "Dune"]
        assert self._titles(filled, year_from=1700, year_to=1965) == ["Dune"]

    def test_none_is_not_applied(self, filled):
        """A filter whose value is None selects everything."""
        assert filled.count(filters={"author": None}) == 3

    @pytest.mark.parametrize(
        ("needle", "expected"),
        [
            ("école", ["ÉCOLE des femmes", "Dune"]),
            ("STRASSE", ["Die Straße"]),
            ("straße", ["Die Straße"]),
            ("e\u0301cole DES", ["ÉCOLE des femmes"]),
        ],
    )
    def test_search_folded_copy(self, filled, needle, expected):
        """
        Search in a folded copy ignores case and composition the Unicode way
        on every database.
        """
        # "école" is also in Dune's notes, which have no folded copy.
        assert self._titles(filled, q=needle) == expected

    def test_search_without_copy(self, filled, database):
        """
        Search in a column without a folded copy ignores case, in Unicode on
        SQLite; LIKE's wildcards match only themselves.
        """
        assert self._titles(filled, q="SPICE_worm") == ["Dune"]
        assert self._titles(filled, q="e_ole") == []
        assert self._titles(filled, q="100%") == ["Die Straße"]
        assert self._titles(filled, q="0%0") == []
        assert self._titles(filled, q="ÉCOLE") == ["ÉCOLE des femmes", "Dune"]

    def test_custom_filter(self, filled):
        """filter_clause() overridden selects by another table."""
        assert self._titles(filled, tag="sf") == ["Dune"]

    def test_unknown_filter(self, repo):
        """A filter that is not declared is a declaration error."""
        with pytest.raises(RestDeclarationError, match="has no filter 'colour'"):
            repo.count(filters={"colour": "red"})

    def test_repr(self):
        """Filters read as they are declared."""
        assert repr(Search("a", "b")) == "Search('a', 'b')"
        assert repr(OneOf("a")) == "OneOf('a')"

    def test_no_column(self):
        """A filter needs a column."""
        with pytest.raises(RestDeclarationError, match=r"Search\(\) needs the name"):
            Search()


class TestOrdering:
    @pytest.fixture(name="filled")
    def _filled(self, repo):
        for title, year in [("B", 2), ("A", 2), ("C", 1), ("A", 1), ("B", 1)]:
            repo.create(_book(title=title, year=year))
        return repo

    def _ids(self, repo, order, **kwargs):
        items = repo.list(limit=10, filters={}, order=order, **kwargs)
        return [item["id"] for item in items]

    def test_default(self, filled):
        """Without order, the primary key orders."""
        assert self._ids(filled, ()) == [1, 2, 3, 4, 5]

    def test_ascending_ties_by_id(self, filled):
        """Ties are broken by the primary key, ascending."""
        assert self._ids(filled, ["title"]) == [2, 4, 1, 5, 3]

    def test_descending(self, filled):
        """- before a name sorts descending."""
        assert self._ids(filled, ["-title"]) == [3, 1, 5, 2, 4]

    def test_several(self, filled):
        """Several keys, each with its direction."""
        assert self._ids(filled, ["year", "-title"]) == [3, 5, 4, 1, 2]
        assert self._ids(filled, ["-id"]) == [5, 4, 3, 2, 1]

    def test_default_order(self, conn):
        """DEFAULT_ORDER is used when order is empty."""

        class ByYear(BookRepository):
            DEFAULT_ORDER = ("-year",)

        repo = ByYear(conn)
        _many(repo, 3)
        assert [item["year"] for item in repo.list(limit=3, filters={})] == [
            1902,
            1901,
            1900,
        ]

    @pytest.mark.parametrize("order", [["colour"], ["title", "-title"], ["notes"]])
    def test_not_sortable(self, repo, order):
        """Sorting by a column that is not sortable, or twice, is a 422."""
        with pytest.raises(RequestValidationError) as info:
            repo.list(limit=1, filters={}, order=order)
        [message] = info.value.messages["query"]["sort"]
        assert message.startswith(f"Cannot sort by {order[-1]!r}")
        assert "created_at, id, title, year" in message


class TestCursors:
    @pytest.fixture(name="filled")
    def _filled(self, repo):
        for i in range(23):
            repo.create(_book(title=f"T{i % 5}", year=1900 + i % 3))
        return repo

    def _walk(self, repo, order, per_page, between=None):
        seen = []
        after = None
        for _ in range(100):
            page = repo.list(limit=per_page, filters={}, order=order, after=after)
            seen.extend(item["id"] for item in page)
            if len(page) < per_page:
                return seen
            after = repo.cursor_of(page[-1], order)
            if between is not None:
                between()
        pytest.fail("the walk did not end")  # pragma: no cover -- only on a bug

    @pytest.mark.parametrize(
        "order",
        [(), ("title",), ("-title",), ("year", "-title"), ("-created_at",), ("-id",)],
    )
    def test_walk(self, filled, order):
        """Page by page, a cursor walk gives every item once, in order."""
        everything = [
            item["id"] for item in filled.list(limit=100, filters={}, order=order)
        ]
        assert len(everything) == 23
        assert self._walk(filled, order, 4) == everything

    @pytest.mark.parametrize("order", [("title",), ("-year", "title")])
    def test_concurrent_inserts(self, filled, database, order):
        """
        Items inserted by another connection while a walk goes on never make
        it skip or repeat an item that existed before.
        """
        before = {item["id"] for item in filled.list(limit=100, filters={})}
        filled.conn.commit()
        other = database.engine()
        counter = iter(range(1000))

        def insert_some():
            with other.begin() as conn:
                for title in ("T0", "T9", "A", "Z"):
                    conn.execute(
                        insert(book).values(
                            **_book(
                                title=title,
                                year=1900 + next(counter) % 3,
                                title_folded=title.lower(),
                                created_at=_now(),
                            )
                        )
                    )

        seen = self._walk(filled, order, 3, between=insert_some)
        other.dispose()
        assert len(seen) == len(set(seen))
        assert before <= set(seen)

    def test_concurrent_inserts_in_threads(self, filled, database):
        """A walk while threads insert: still every item that existed, once."""
        before = {item["id"] for item in filled.list(limit=100, filters={})}
        filled.conn.commit()
        other = database.engine()

        def writer():
            for _ in range(20):
                with other.begin() as conn:
                    conn.execute(
                        insert(book).values(**_book(title="T2", title_folded="t2"))
                    )

        threads = [threading.Thread(target=writer) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            seen = self._walk(filled, ("title",), 2, between=filled.conn.commit)
        finally:
            for thread in threads:
                thread.join(timeout=30)
        other.dispose()
        assert not any(thread.is_alive() for thread in threads)
        assert len(seen) == len(set(seen))
        assert before <= set(seen)

    def test_after_deleted_item(self, filled):
        """A cursor still works once its item is gone."""
        page = filled.list(limit=3, filters={}, order=["title"])
        cursor = filled.cursor_of(page[-1], ["title"])
        filled.delete(page[-1]["id"])
        rest = filled.list(limit=100, filters={}, order=["title"], after=cursor)
        assert len(page) - 1 + len(rest) == 22

    def test_offset_after_cursor(self, filled):
        """offset skips items after the cursor."""
        first = filled.list(limit=2, filters={})
        cursor = filled.cursor_of(first[-1])
        page = filled.list(offset=1, limit=2, filters={}, after=cursor)
        assert [item["id"] for item in page] == [4, 5]

    def test_opaque(self, filled):
        """A cursor is URL-safe text."""
        cursor = filled.cursor_of(filled.get(1), ["-created_at"])
        assert cursor.replace("-", "").replace("_", "").isalnum()

    def _bad(self, repo, cursor, order=()):
        with pytest.raises(RequestValidationError) as info:
            repo.list(limit=1, filters={}, order=order, after=cursor)
        assert info.value.messages == {
            "query": {
                "after": [
                    (
                        "Not a cursor of this listing in this order; start again "
                        "from the first page."
                    )
                ]
            }
        }

    @staticmethod
    def _encoded(payload: str) -> str:
        import base64  # noqa: PLC0415

        return base64.urlsafe_b64encode(payload.encode()).decode()

    @pytest.mark.parametrize(
        "payload",
        [
            "not json",
            "3",
            '{"a": 1, "b": 2}',
            '[["id"], [1, 2]]',
            '[["title", "id"], ["x", "1"]]',
            '[["title", "id"], ["x", true]]',
            '[["title", "id"], [null, 1]]',
            '[["title", "id"], [["x"], 1]]',
            '[["title", "id"], [{"zz": "x"}, 1]]',
            '[["title", "id"], [{"dt": 3}, 1]]',
            '[["title", "id"], [{"dt": "x", "d": "y"}, 1]]',
            '[["title", "id"], [{"u": "x"}, 1]]',
            '[["title", "id"], [{"n": "x"}, 1]]',
            '[["title", "id"], [{"n": "1.5"}, 1]]',
            '[["title", "id"], "xy"]',
        ],
    )
    def test_garbage(self, filled, payload):
        """Anything but a cursor of this order is a 422, never a 500."""
        self._bad(filled, self._encoded(payload), ["title"])

    def test_not_base64(self, filled):
        """Text that is not base64 is a 422."""
        self._bad(filled, "!!!")
        self._bad(filled, "\u00e9t\u00e9")
        self._bad(filled, self._encoded("[") + "\udcff")

    def test_other_order(self, filled):
        """A cursor of another order is a 422."""
        cursor = filled.cursor_of(filled.get(1), ["title"])
        self._bad(filled, cursor, ["-title"])

    def test_too_long(self, filled):
        """A cursor longer than MAX_CURSOR_LENGTH is not read."""
        self._bad(filled, "A" * (MAX_CURSOR_LENGTH + 1))

    def test_not_utf8(self, filled):
        """Bytes that are not UTF-8 are a 422."""
        import base64  # noqa: PLC0415

        self._bad(filled, base64.urlsafe_b64encode(b"\xff\xfe").decode())


class TestCursorValues:
    def test_column_types(self, repo):
        """
        A cursor's values are checked against the columns' Python types: a
        title where the year is refused.
        """
        cursor = encode_cursor(["year", "id"], ["1990", 1])
        with pytest.raises(RequestValidationError, match="input is not valid"):
            repo.list(limit=1, filters={}, order=["year"], after=cursor)

    def test_type_unknown(self):
        """A column type that names no Python type takes any JSON scalar."""

        class Opaque(UserDefinedType[Any]):
            cache_ok = True

        expected = _python_type(Column("x", Opaque()))
        assert _decode_value("x", expected) == "x"
        assert _decode_value(True, expected) is True

    def test_type_that_raises(self):
        """
        A column type whose python_type raises NotImplementedError (as
        SQLAlchemy 2.0's user-defined types do) takes any JSON scalar.
        """

        class Raising(UserDefinedType[Any]):
            cache_ok = True

            @property
            def python_type(self) -> type:
                raise NotImplementedError

        assert _python_type(Column("x", Raising())) is object


class TestConditionalWrites:
    def test_precondition_sees_the_current_item(self, repo):
        """The precondition gets the item as get() returns it."""
        repo.create(_book(tags=["a"]))
        seen = []
        item = repo.update(1, {"year": 1}, partial=True, precondition=seen.append)
        assert seen == [{**item, "year": 1965, "updated_at": None}]
        assert repo.delete(1, precondition=seen.append) is True
        assert len(seen) == 2

    def test_precondition_fails(self, repo):
        """A precondition that raises leaves the item as it was."""
        item = repo.create(_book())

        def refuse(_):
            raise PreconditionFailed

        with pytest.raises(PreconditionFailed):
            repo.update(1, {"year": 1}, partial=True, precondition=refuse)
        with pytest.raises(PreconditionFailed):
            repo.delete(1, precondition=refuse)
        assert repo.get(1) == item

    def test_missing(self, repo):
        """A missing item never calls the precondition."""
        called = Mock()
        assert repo.update(1, {}, partial=True, precondition=called) is None
        assert repo.delete(1, precondition=called) is False
        called.assert_not_called()

    def test_after_a_write(self, repo):
        """A conditional write in a transaction that already wrote."""
        repo.create(_book())
        assert repo.update(1, {"year": 2}, partial=True, precondition=lambda _: None)

    def test_one_winner(self, database, engine):
        """
        Of two writers with the same precondition at once, exactly one
        writes; the other sees its write and fails.
        """
        with engine.begin() as conn:
            BookRepository(conn).create(_book(title="v0"))
        outcomes: list[str] = []
        barrier = threading.Barrier(2, timeout=10)

        def write(name):
            def check(current):
                if current["title"] != "v0":
                    raise PreconditionFailed
                time.sleep(0.05)

            with engine.connect() as conn:
                barrier.wait()
                try:
                    BookRepository(conn).update(
                        1, {"title": name}, partial=True, precondition=check
                    )
                    conn.commit()
                    outcomes.append("won")
                except PreconditionFailed:
                    conn.rollback()
                    outcomes.append("412")

        threads = [threading.Thread(target=write, args=(f"v{i}",)) for i in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads)
        assert sorted(outcomes) == ["412", "won"]
        assert database.rows()[0]["title"] in {"v1", "v2"}


class TestDeclarations:
    def _table(self, *columns):
        return Table(f"t{uuid.uuid4().hex[:8]}", MetaData(), *columns)

    def test_needs_one_key(self):
        """A table without a single-column primary key is refused."""
        table = self._table(Column("a", Integer), Column("b", Integer))
        with pytest.raises(RestDeclarationError, match="primary key of one column"):
            type("R", (SQLAlchemyRepository,), {"table": table})

    @pytest.mark.parametrize(
        ("declaration", "match"),
        [
            ({"COLUMNS": ("id", "nope")}, r"R\.COLUMNS names 'nope'"),
            ({"WRITABLE": ("nope",)}, r"R\.WRITABLE names 'nope'"),
            ({"FILTERS": {"x": Equals("nope")}}, r"R\.FILTERS names 'nope'"),
            ({"SORTABLE": ("nope",)}, r"R\.SORTABLE names 'nope'"),
            ({"FOLDED": {"name": "nope"}}, r"R\.FOLDED names 'nope'"),
            ({"COLUMNS": ("name",)}, "must include the primary key 'id'"),
            ({"SORTABLE": ("maybe",)}, "may be NULL or is not among COLUMNS"),
            (
                {"SORTABLE": ("name",), "COLUMNS": ("id",)},
                "may be NULL or is not among COLUMNS",
            ),
            ({"DEFAULT_ORDER": ("name",)}, r"R\.DEFAULT_ORDER: Cannot sort by 'name'"),
        ],
    )
    def test_checked(self, declaration, match):
        """Declarations are checked against the table when the class is made."""
        table = self._table(
            Column("id", Integer, primary_key=True),
            Column("name", String, nullable=False),
            Column("maybe", String, nullable=True),
        )
        with pytest.raises(RestDeclarationError, match=match):
            type("R", (SQLAlchemyRepository,), {"table": table, **declaration})

    def test_writable_by_default(self):
        """Columns the table fills itself are not written from data."""
        table = self._table(
            Column("id", Integer, primary_key=True),
            Column("name", String, default="x"),
            Column("made", DateTime, default=_now),
            Column("changed", DateTime, onupdate=_now),
            Column("server", String, server_default="s"),
            Column("plain", String),
        )
        repo = type("R", (SQLAlchemyRepository,), {"table": table})
        assert repo._writable == ("name", "plain")

    def test_base_without_table(self):
        """A base class without a table is not checked; its subclasses are."""

        class Base(SQLAlchemyRepository):
            SORTABLE = ("title",)

        class Books(Base):
            table = book

        class Again(Books):
            SORTABLE = ("year",)

        assert "title" in Books._sortable
        assert "title" not in Again._sortable
        assert not hasattr(Base, "_pk")
