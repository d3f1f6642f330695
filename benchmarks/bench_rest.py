"""
Benchmark the REST layer: create (POST, 4 fields) and retrieve (GET by id).

Every framework builds its own Flask app with the same marshmallow schema, the
same in-memory repository (one per app, holding one seeded item) and the same
two endpoints, /api/books and /api/books/<int:item_id>: create answers 201
with the item and its Location, retrieve answers the item with its ETag, and
304 to an If-None-Match that matches it (the information-only variants leave
Location and ETag out).
Requests go straight to the WSGI app, as in bench_core.py, whose option
parsing, clocks and batch timing this script shares; every (framework,
operation) pair is timed in a shuffled order on every round, and every
response is checked: its status, its body parsed as JSON, which must be the
created item with the next id, or the seeded item, and its Location or ETag.

    .venv/bin/python benchmarks/bench_rest.py
    .venv/bin/python benchmarks/bench_rest.py --json
    .venv/bin/python benchmarks/bench_rest.py --only ours smorest --repeat 400
    .venv/bin/python benchmarks/bench_rest.py --profile ours --requests 5000

Two more rows keep the items in an in-memory SQLite database, through the
same generic views on flask_servicecbv.sqlalchemy's connection service (one
transaction per request, committed before the response): (f) over a
repository whose Core queries are written by hand, (g) over
SQLAlchemyRepository; (g) must cost at most 1.05 times (f).

It exits with status 1 when a response is wrong (FAILED: ... on stderr) or
when a target is missed (the table and the verdicts are printed first).
See benchmarks/README.md, section "REST endpoints", for what each framework
does and why.
"""

from __future__ import annotations

import cProfile
import gc
import hashlib
import io
import json
import pstats
import random
import re
import statistics
import sys
from dataclasses import dataclass
from functools import wraps
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from bench_core import (
    CLOCKS,
    BenchmarkError,
    Variant,
    environment,
    paired,
    parse_args,
    time_batch,
)
from flask import Blueprint, Flask, Response, abort, current_app, g, request
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields
from werkzeug.test import EnvironBuilder

import flask_servicecbv as servicecbv
from flask_servicecbv import ServiceAttr
from flask_servicecbv.rest import (
    CollectionView,
    InMemoryRepository,
    ItemView,
    etag_of,
    json_errors,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping

    from sqlalchemy import Connection, Engine, Table

# -- the data ------------------------------------------------------------------


class BookSchema(Schema):
    """The schema every framework loads and dumps with: 4 fields and an id."""

    id = fields.Integer(dump_only=True)
    title = fields.String(required=True)
    author = fields.String(required=True)
    year = fields.Integer(required=True)
    isbn = fields.String(required=True)


#: The hand-written views' module-level schema instance.
BOOK = BookSchema()

#: What every create request sends.
PAYLOAD = {
    "title": "Dune",
    "author": "Frank Herbert",
    "year": 1965,
    "isbn": "978-0441013593",
}
PAYLOAD_BYTES = json.dumps(PAYLOAD).encode()

#: The item every repository holds before the run, retrieved as id 1.
SEED = {
    "title": "Solaris",
    "author": "Stanislaw Lem",
    "year": 1961,
    "isbn": "978-0156027601",
}
SEED_ID = 1
#: What retrieving it must answer.
STORED = {**SEED, "id": SEED_ID}

COLLECTION = "/api/books"
ITEM = f"{COLLECTION}/{SEED_ID}"


def _new_app(name: str, app_class: type[Flask] = Flask) -> Flask:
    app = app_class(name)
    # A failing request raises here instead of turning into an error page.
    app.config["PROPAGATE_EXCEPTIONS"] = True
    return app


# -- the repository, with the hand-written g pattern ---------------------------

# Where an app keeps the repository that get_repository() hands out.
_REPOSITORY = "bench_rest.repository"


def get_repository() -> InMemoryRepository:
    """
    Return the request's repository, made on first use and kept on ``g``: the
    ``get_db()`` of Flask's tutorial.

    The repository is shared by every request, so making one is handing out
    the shared object, as a connection pool hands out a connection.
    """
    if "repository" not in g:
        g.repository = current_app.extensions[_REPOSITORY]
    return g.repository  # type: ignore[no-any-return]


def release_repository(_exc: BaseException | None = None) -> None:
    """Give the request's repository back, if it took one: the ``close_db()``."""
    repository = g.pop("repository", None)
    if repository is not None:
        # An in-memory repository holds nothing to close or return to a pool.
        pass


def _with_repository(app: Flask, repository: InMemoryRepository) -> None:
    app.extensions[_REPOSITORY] = repository
    app.teardown_appcontext(release_repository)


def _location(item: dict[str, Any]) -> str:
    """The URL of a created *item*: the collection's, followed by the id."""
    return f"{request.script_root}{request.path}/{item['id']}"


def _conditional(body: bytes, tag: str) -> Response:
    """The JSON *body* with its ETag *tag*, or 304 when If-None-Match matches."""
    headers = {"ETag": f'"{tag}"'}
    if request.if_none_match.contains_weak(tag):
        return Response(status=304, headers=headers)
    return Response(body, mimetype="application/json", headers=headers)


# -- (a) hand-written: the same endpoints, MethodView, module-level schema -----


class HandBooks(MethodView):
    def post(self) -> Any:
        try:
            data = BOOK.load(request.get_json())
        except ValidationError as e:
            return {"errors": e.messages}, 422
        item = get_repository().create(data)
        return BOOK.dump(item), 201, {"Location": _location(item)}


class HandBook(MethodView):
    def get(self, item_id: int) -> Any:
        item = get_repository().get(item_id)
        if item is None:
            abort(404, f"There is no book {item_id}.")
        # The body as the generic views write it, hashed as they hash it.
        body = f"{current_app.json.dumps(BOOK.dump(item))}\n".encode()
        return _conditional(body, etag_of(body))


def build_hand(repository: InMemoryRepository) -> Flask:
    app = _new_app("hand")
    _with_repository(app, repository)
    bp = Blueprint("api", "hand", url_prefix="/api")
    bp.add_url_rule("/books", view_func=HandBooks.as_view("books"))
    bp.add_url_rule("/books/<int:item_id>", view_func=HandBook.as_view("book"))
    app.register_blueprint(bp)
    return app


# -- (a0) hand-written, minimal ------------------------------------------------

# No Location, no ETag, and the repository is a plain object that the views
# close over: what a module global costs, and less than the g pattern.
# For information.


def build_hand_min(repository: InMemoryRepository) -> Flask:
    app = _new_app("hand-min")
    bp = Blueprint("api", "hand_min", url_prefix="/api")

    class Books(MethodView):
        def post(self) -> Any:
            try:
                data = BOOK.load(request.get_json())
            except ValidationError as e:
                return {"errors": e.messages}, 422
            return BOOK.dump(repository.create(data)), 201

    class Book(MethodView):
        def get(self, item_id: int) -> Any:
            item = repository.get(item_id)
            if item is None:
                abort(404, f"There is no book {item_id}.")
            return BOOK.dump(item)

    bp.add_url_rule("/books", view_func=Books.as_view("books"))
    bp.add_url_rule("/books/<int:item_id>", view_func=Book.as_view("book"))
    app.register_blueprint(bp)
    return app


# -- (b) ours: the generic views over the repository service -------------------


class OurBooks(CollectionView):
    repository = ServiceAttr(InMemoryRepository)
    schema = BookSchema


class OurBook(ItemView):
    repository = ServiceAttr(InMemoryRepository)
    schema = BookSchema


def build_ours(repository: InMemoryRepository) -> Flask:
    app = _new_app("ours")
    servicecbv.init_app(app)
    json_errors(app)
    servicecbv.register_value(app, InMemoryRepository, repository)
    bp = Blueprint("api", "ours", url_prefix="/api")
    bp.add_url_rule("/books", view_func=OurBooks.as_view("books"))
    bp.add_url_rule("/books/<int:item_id>", view_func=OurBook.as_view("book"))
    app.register_blueprint(bp)
    return app


# -- (f) and (g): the generic views over SQLite -------------------------------
#
# The same views, on the connection service of flask_servicecbv.sqlalchemy,
# over an in-memory SQLite database (one connection per thread, which the
# benchmark's single thread keeps): (f) with a repository whose queries are
# written by hand, (g) with SQLAlchemyRepository. Only the repository differs.


def sql_unavailable() -> str | None:
    try:
        import flask_servicecbv.sqlalchemy  # noqa: F401, PLC0415 -- an optional extra
    except ImportError as e:
        return str(e)
    return None


class SQLStore:
    """The database of an app of (f) or (g): what the runners count items in."""

    def __init__(self) -> None:
        from sqlalchemy import (  # noqa: PLC0415 -- an optional extra
            Column,
            Integer,
            MetaData,
            String,
            Table,
        )

        self.table: Table = Table(
            "book",
            MetaData(),
            Column("id", Integer, primary_key=True),
            Column("title", String(200), nullable=False),
            Column("author", String(200), nullable=False),
            Column("year", Integer, nullable=False),
            Column("isbn", String(20), nullable=False),
        )
        self.engine: Engine | None = None

    def count(self, *, filters: Mapping[str, Any]) -> int:  # noqa: ARG002 -- as a repository's
        from sqlalchemy import func, select  # noqa: PLC0415

        assert self.engine is not None  # set by _sql_app
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(self.table)
            return int(conn.execute(query).scalar_one())


class HandSQLRepository:
    """The queries of SQLAlchemyRepository's create and get, written by hand."""

    def __init__(self, conn: Connection, table: Table) -> None:
        self.conn = conn
        self.table = table

    def create(self, data: Mapping[str, Any]) -> dict[str, Any]:
        from sqlalchemy import insert  # noqa: PLC0415

        table = self.table
        row = self.conn.execute(
            insert(table)
            .values(
                title=data["title"],
                author=data["author"],
                year=data["year"],
                isbn=data["isbn"],
            )
            .returning(*table.c)
        ).one()
        return dict(row._mapping)  # noqa: SLF001 -- SQLAlchemy's public row API

    def get(self, item_id: Any) -> dict[str, Any] | None:
        from sqlalchemy import select  # noqa: PLC0415

        table = self.table
        row = self.conn.execute(
            select(*table.c).where(table.c.id == item_id)
        ).one_or_none()
        return None if row is None else dict(row._mapping)  # noqa: SLF001


class SQLBooks:
    """The service key of the SQLite apps' repository."""


class SQLBooksView(CollectionView):
    repository = ServiceAttr(SQLBooks)
    schema = BookSchema


class SQLBookView(ItemView):
    repository = ServiceAttr(SQLBooks)
    schema = BookSchema


def _sql_app(
    name: str, store: SQLStore, repository: Callable[[Connection], Any]
) -> Flask:
    from sqlalchemy import Connection, insert  # noqa: PLC0415

    from flask_servicecbv import sqlalchemy as db  # noqa: PLC0415

    app = _new_app(name)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    db.init_app(app)
    json_errors(app)
    engine = app.extensions[db.EXTENSION_KEY]
    store.engine = engine
    with engine.begin() as conn:
        store.table.create(conn)
        conn.execute(insert(store.table).values(**SEED))
    servicecbv.register_factory(
        app, SQLBooks, lambda container: repository(container.get(Connection))
    )
    bp = Blueprint("api", name, url_prefix="/api")
    bp.add_url_rule("/books", view_func=SQLBooksView.as_view("books"))
    bp.add_url_rule("/books/<int:item_id>", view_func=SQLBookView.as_view("book"))
    app.register_blueprint(bp)
    return app


def build_sql_hand(store: SQLStore) -> Flask:
    return _sql_app(
        "sql-hand", store, lambda conn: HandSQLRepository(conn, store.table)
    )


def build_sql_ours(store: SQLStore) -> Flask:
    from flask_servicecbv.sqlalchemy import SQLAlchemyRepository  # noqa: PLC0415

    books = type("Books", (SQLAlchemyRepository,), {"table": store.table})
    return _sql_app("sql-ours", store, books)


# -- (c) flask-smorest -----------------------------------------------------------

#: flask-smorest supports marshmallow 4 from this version on.
SMOREST_MIN = (0, 46, 1)


def build_smorest(repository: InMemoryRepository) -> Flask:
    # The same endpoints: Location returned as a header; the ETag is
    # flask-smorest's own (@blp.etag): a SHA-1 of the dumped data, which
    # answers 304 to a matching If-None-Match.
    from flask_smorest import Api  # noqa: PLC0415 -- optional, checked first
    from flask_smorest import Blueprint as SmorestBlueprint  # noqa: PLC0415
    from flask_smorest import abort as smorest_abort  # noqa: PLC0415

    app = _new_app("smorest")
    app.config.update(API_TITLE="Books", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    _with_repository(app, repository)
    api = Api(app)
    blp = SmorestBlueprint("api", "smorest", url_prefix="/api")

    @blp.route("/books")
    class Books(MethodView):
        @blp.arguments(BookSchema)
        @blp.response(201, BookSchema)
        def post(self, data: dict[str, Any]) -> Any:
            item = get_repository().create(data)
            return item, {"Location": _location(item)}

    @blp.route("/books/<int:item_id>")
    class Book(MethodView):
        @blp.etag
        @blp.response(200, BookSchema)
        def get(self, item_id: int) -> Any:
            item = get_repository().get(item_id)
            if item is None:
                smorest_abort(404, message=f"There is no book {item_id}.")
            return item

    api.register_blueprint(blp)
    return app


def build_smorest_plain(repository: InMemoryRepository) -> Flask:
    # No Location, no ETag, the repository closed over. For information.
    from flask_smorest import Api  # noqa: PLC0415 -- optional, checked first
    from flask_smorest import Blueprint as SmorestBlueprint  # noqa: PLC0415
    from flask_smorest import abort as smorest_abort  # noqa: PLC0415

    app = _new_app("smorest-plain")
    app.config.update(API_TITLE="Books", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    api = Api(app)
    blp = SmorestBlueprint("api", "smorest_plain", url_prefix="/api")

    @blp.route("/books")
    class Books(MethodView):
        @blp.arguments(BookSchema)
        @blp.response(201, BookSchema)
        def post(self, data: dict[str, Any]) -> Any:
            return repository.create(data)

    @blp.route("/books/<int:item_id>")
    class Book(MethodView):
        @blp.response(200, BookSchema)
        def get(self, item_id: int) -> Any:
            item = repository.get(item_id)
            if item is None:
                smorest_abort(404, message=f"There is no book {item_id}.")
            return item

    api.register_blueprint(blp)
    return app


def smorest_unavailable() -> str | None:
    installed = _version("flask-smorest")
    if installed is None:
        return "flask-smorest is not installed."
    if _release(installed) < SMOREST_MIN:
        return (
            f"flask-smorest {installed} does not support marshmallow 4; 0.46.1 "
            "and later do, but they need Flask 3.0.2 or later."
        )
    return None


# -- (d) APIFlask -----------------------------------------------------------------


def with_etag(view: Callable[..., Any]) -> Callable[..., Any]:
    """
    Send the ETag of the response that APIFlask's ``@output`` made, hashed as
    (a) hashes it, and answer 304 to a matching If-None-Match: APIFlask has
    no ETag of its own.
    """

    @wraps(view)
    def conditional(*args: Any, **kwargs: Any) -> Any:
        response, status = view(*args, **kwargs)  # @output's (response, status)
        tag = etag_of(response.get_data())
        if request.if_none_match.contains_weak(tag):
            return Response(status=304, headers={"ETag": f'"{tag}"'})
        response.headers["ETag"] = f'"{tag}"'
        return response, status

    return conditional


def build_apiflask(repository: InMemoryRepository) -> Flask:
    from apiflask import APIBlueprint, APIFlask  # noqa: PLC0415 -- optional
    from apiflask import abort as apiflask_abort  # noqa: PLC0415
    from apiflask.views import MethodView as APIMethodView  # noqa: PLC0415

    app = _new_app("apiflask", APIFlask)
    _with_repository(app, repository)
    bp = APIBlueprint("api", "apiflask", url_prefix="/api")

    # bp.input and bp.output are app.input and app.output (both come from
    # APIFlask's APIScaffold); a blueprint keeps the URLs of the others.
    class Books(APIMethodView):
        @bp.input(BookSchema, arg_name="body")
        @bp.output(BookSchema, status_code=201)
        def post(self, body: dict[str, Any]) -> Any:
            item = get_repository().create(body)
            return item, {"Location": _location(item)}

    class Book(APIMethodView):
        @with_etag
        @bp.output(BookSchema)
        def get(self, item_id: int) -> Any:
            item = get_repository().get(item_id)
            if item is None:
                apiflask_abort(404, f"There is no book {item_id}.")
            return item

    bp.add_url_rule("/books", view_func=Books.as_view("books"))
    bp.add_url_rule("/books/<int:item_id>", view_func=Book.as_view("book"))
    app.register_blueprint(bp)
    return app


def build_apiflask_plain(repository: InMemoryRepository) -> Flask:
    # No Location, no ETag, the repository closed over. For information.
    from apiflask import APIBlueprint, APIFlask  # noqa: PLC0415 -- optional
    from apiflask import abort as apiflask_abort  # noqa: PLC0415
    from apiflask.views import MethodView as APIMethodView  # noqa: PLC0415

    app = _new_app("apiflask-plain", APIFlask)
    bp = APIBlueprint("api", "apiflask_plain", url_prefix="/api")

    class Books(APIMethodView):
        @bp.input(BookSchema, arg_name="body")
        @bp.output(BookSchema, status_code=201)
        def post(self, body: dict[str, Any]) -> Any:
            return repository.create(body)

    class Book(APIMethodView):
        @bp.output(BookSchema)
        def get(self, item_id: int) -> Any:
            item = repository.get(item_id)
            if item is None:
                apiflask_abort(404, f"There is no book {item_id}.")
            return item

    bp.add_url_rule("/books", view_func=Books.as_view("books"))
    bp.add_url_rule("/books/<int:item_id>", view_func=Book.as_view("book"))
    app.register_blueprint(bp)
    return app


def apiflask_unavailable() -> str | None:
    if _version("apiflask") is None:
        return "APIFlask is not installed."
    return None


# -- (e) baseline: no schema ---------------------------------------------------


def build_baseline(repository: InMemoryRepository) -> Flask:
    # (a0) without marshmallow: the JSON body goes to the repository as it is
    # and the item comes back as it is, so that Flask's own cost can be taken
    # out.
    app = _new_app("baseline")
    bp = Blueprint("api", "baseline", url_prefix="/api")

    class Books(MethodView):
        def post(self) -> Any:
            return repository.create(request.get_json()), 201

    class Book(MethodView):
        def get(self, item_id: int) -> Any:
            item = repository.get(item_id)
            if item is None:
                abort(404)
            return item

    bp.add_url_rule("/books", view_func=Books.as_view("books"))
    bp.add_url_rule("/books/<int:item_id>", view_func=Book.as_view("book"))
    app.register_blueprint(bp)
    return app


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def blake2b_tag(body: bytes) -> str:
    """The ETag of (a), (b) and (d): a BLAKE2b of the body's bytes, quoted."""
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def smorest_tag(body: bytes) -> str:
    """flask-smorest's ETag: a SHA-1 of the dumped data as sorted JSON, quoted."""
    data = json.dumps(json.loads(body), sort_keys=True)
    return f'"{hashlib.sha1(data.encode()).hexdigest()}"'  # noqa: S324 -- its hash


def _memory() -> InMemoryRepository:
    return InMemoryRepository([SEED])


@dataclass(frozen=True)
class Framework:
    name: str
    label: str
    build: Callable[[Any], Flask]
    #: Why it cannot run in this environment, or None.
    unavailable: Callable[[], str | None] = lambda: None
    #: The ETag retrieve must send, from its body; None for the variants
    #: that send neither ETag nor Location.
    etag: Callable[[bytes], str] | None = None
    #: Whether its 304 carries the ETag (flask-smorest's has none).
    etag_on_304: bool = True
    #: What holds the items, given to build, with a count() of them.
    store: Callable[[], Any] = _memory


REFERENCE = "hand"
BASELINE = "baseline"
OURS = "ours"
SQL_HAND = "sql-hand"
SQL_OURS = "sql-ours"

FRAMEWORKS = (
    Framework(REFERENCE, "(a) hand-written MethodView", build_hand, etag=blake2b_tag),
    Framework("hand-min", "(a0) hand-written, minimal", build_hand_min),
    Framework(
        OURS, "(b) ours: CollectionView / ItemView", build_ours, etag=blake2b_tag
    ),
    Framework(
        "smorest",
        "(c) flask-smorest",
        build_smorest,
        smorest_unavailable,
        etag=smorest_tag,
        etag_on_304=False,
    ),
    Framework(
        "smorest-plain",
        "(c0) flask-smorest, plain",
        build_smorest_plain,
        smorest_unavailable,
    ),
    Framework(
        "apiflask",
        "(d) APIFlask",
        build_apiflask,
        apiflask_unavailable,
        etag=blake2b_tag,
    ),
    Framework(
        "apiflask-plain",
        "(d0) APIFlask, plain",
        build_apiflask_plain,
        apiflask_unavailable,
    ),
    Framework(BASELINE, "(e) baseline: plain Flask, no schema", build_baseline),
    Framework(
        SQL_HAND,
        "(f) SQLite: hand-written queries",
        build_sql_hand,
        sql_unavailable,
        etag=blake2b_tag,
        store=SQLStore,
    ),
    Framework(
        SQL_OURS,
        "(g) SQLite: SQLAlchemyRepository",
        build_sql_ours,
        sql_unavailable,
        etag=blake2b_tag,
        store=SQLStore,
    ),
)

# -- the operations --------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    body: bytes | None
    status: str


OPERATIONS = (
    Operation("create", "POST", COLLECTION, PAYLOAD_BYTES, "201 CREATED"),
    Operation("retrieve", "GET", ITEM, None, "200 OK"),
)

#: The targets, per operation: (framework, versus, limit, strictly below), as
#: the median of the paired ratios.
TARGETS = (
    (OURS, REFERENCE, 1.05, False),
    (SQL_OURS, SQL_HAND, 1.05, False),
    (OURS, "smorest", 1.0, True),
    (OURS, "apiflask", 1.0, True),
)

#: Further paired comparisons, for information.
COMPARISONS = (
    (OURS, "hand-min"),
    (OURS, "smorest-plain"),
    (OURS, "apiflask-plain"),
    (REFERENCE, "hand-min"),
    ("smorest", REFERENCE),
    ("apiflask", REFERENCE),
    ("hand-min", BASELINE),
    (SQL_HAND, REFERENCE),
)


def _cell(framework: str, operation: str) -> str:
    return f"{framework}/{operation}"


# -- running -----------------------------------------------------------------------

#: What a request sent to an app gets: status, headers and body.
Answer = tuple[str, list[tuple[str, str]], bytes]


def _sender(
    app: Flask, op: Operation, headers: dict[str, str] | None = None
) -> Callable[[], Answer]:
    """Return a function that sends one *op* request to *app*."""
    environ = EnvironBuilder(
        path=op.path,
        method=op.method,
        data=op.body,
        content_type="application/json" if op.body is not None else None,
        headers=headers,
    ).get_environ()
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(
        status: str, response_headers: list[tuple[str, str]], _exc_info: Any = None
    ) -> None:
        started.append((status, response_headers))

    def send() -> Answer:
        # Werkzeug stores the request on the environ, and a body is read once:
        # give each call its own environ and input stream.
        env = dict(environ)
        if op.body is not None:
            env["wsgi.input"] = io.BytesIO(op.body)
        app_iter = app(env, start_response)
        try:
            body = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        status, response_headers = started.pop()
        return status, response_headers, body

    return send


def _failure(
    framework: Framework,
    op: Operation,
    got: Answer,
    expected: str,
) -> BenchmarkError:
    status, headers, body = got
    msg = (
        f"{framework.name}: {op.method} {op.path} got {status} {body!r} with "
        f"headers {headers!r}, expected {expected}."
    )
    return BenchmarkError(msg)


def make_runner(
    framework: Framework, app: Flask, repository: Any, op: Operation
) -> Callable[[int], None]:
    """
    Return a function that sends *n* *op* requests to *app* and checks each
    response: its status, its body parsed as JSON, and, for a framework that
    sends them, its ``Location`` (create) or ``ETag`` (retrieve).

    For such a framework, first check once, untimed, that retrieving with a
    matching ``If-None-Match`` answers 304 with no body.
    """
    send = _sender(app, op)
    located = framework.etag is not None

    def create(n: int) -> None:
        # Items are never deleted, so the next id is one past the count.
        next_id = repository.count(filters={}) + 1
        for i in range(next_id, next_id + n):
            answer = send()
            status, headers, body = answer
            expected = {**PAYLOAD, "id": i}
            if status != op.status or json.loads(body) != expected:
                raise _failure(framework, op, answer, f"{op.status} {expected!r}")
            if located and ("Location", f"{COLLECTION}/{i}") not in headers:
                raise _failure(framework, op, answer, f"Location {COLLECTION}/{i}")

    if op.name == "create":
        return create

    tag = (
        None
        if framework.etag is None
        else _not_modified(framework, framework.etag, app, op, send)
    )

    def retrieve(n: int) -> None:
        for _ in range(n):
            answer = send()
            status, headers, body = answer
            if status != op.status or json.loads(body) != STORED:
                raise _failure(framework, op, answer, f"{op.status} {STORED!r}")
            if tag is not None and ("ETag", tag) not in headers:
                raise _failure(framework, op, answer, f"the ETag {tag}")

    return retrieve


def _not_modified(
    framework: Framework,
    etag: Callable[[bytes], str],
    app: Flask,
    op: Operation,
    send: Callable[[], Answer],
) -> str:
    """
    Retrieve once to learn the ``ETag`` that every retrieve must carry, check
    it, and check that sending it in ``If-None-Match`` answers 304.
    """
    answer = send()
    status, headers, body = answer
    if status != op.status or json.loads(body) != STORED:
        raise _failure(framework, op, answer, f"{op.status} {STORED!r}")
    tag = etag(body)
    if ("ETag", tag) not in headers:
        raise _failure(framework, op, answer, f"the ETag {tag}")
    answer = _sender(app, op, {"If-None-Match": tag})()
    status, headers, body = answer
    if (
        status != "304 NOT MODIFIED"
        or body
        or (framework.etag_on_304 and ("ETag", tag) not in headers)
    ):
        carrying = " carrying the ETag" if framework.etag_on_304 else ""
        raise _failure(
            framework,
            op,
            answer,
            f"304 NOT MODIFIED{carrying}, no body, to If-None-Match: {tag}",
        )
    return tag


def _build(framework: Framework) -> tuple[Flask, Any]:
    store = framework.store()
    return framework.build(store), store


def runners_for(framework: Framework) -> dict[str, Callable[[int], None]]:
    """Build *framework*'s app and return a runner per operation."""
    app, repository = _build(framework)
    return {op.name: make_runner(framework, app, repository, op) for op in OPERATIONS}


def measure(
    frameworks: list[Framework],
    *,
    requests: int,
    repeat: int,
    warmup: int,
    disable_gc: bool,
    clock: Callable[[], int],
    seed: int,
) -> dict[str, list[float]]:
    """
    Time every (framework, operation) *repeat* times, in a shuffled order on
    each round, with bench_core's batches.
    """
    cells: list[tuple[Variant, Callable[[int], None]]] = []
    for fw in frameworks:
        for op_name, run in runners_for(fw).items():
            name = _cell(fw.name, op_name)
            # No services are closed: bench_core's close counter stays at 0.
            cells.append((Variant(name, fw.label, fw.build, 0), run))  # type: ignore[arg-type]
    # As in bench_core: keep the apps out of the collector's sight.
    gc.collect()
    gc.freeze()
    for cell, run in cells:
        time_batch(cell, run, warmup, disable_gc=disable_gc, clock=clock)
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {cell.name: [] for cell, _ in cells}
    for _ in range(repeat):
        rng.shuffle(cells)
        for cell, run in cells:
            samples[cell.name].append(
                time_batch(cell, run, requests, disable_gc=disable_gc, clock=clock)
            )
    return samples


def calls_per_request(framework: Framework, requests: int = 200) -> dict[str, float]:
    """
    Count the Python function calls a request makes, per operation, with
    cProfile: unlike a time, the count is exact.
    """
    counts = {}
    for op_name, run in runners_for(framework).items():
        run(10)
        profiler = cProfile.Profile()
        profiler.runcall(run, requests)
        # The check's json.loads is counted too, alike for every framework.
        counts[op_name] = pstats.Stats(profiler).total_calls / requests  # type: ignore[attr-defined]
    return counts


def profile(framework: Framework, requests: int, top: int) -> None:
    """Print where the time of *requests* requests of each operation goes."""
    for op_name, run in runners_for(framework).items():
        run(200)
        profiler = cProfile.Profile()
        profiler.runcall(run, requests)
        print(f"## {framework.name}: {op_name}")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(top)


# -- reporting -----------------------------------------------------------------------


def summarize(
    frameworks: list[Framework],
    samples: dict[str, list[float]],
    calls: dict[str, dict[str, float]],
) -> list[dict[str, Any]]:
    """
    Best and median times, the paired ratio to the hand-written views, and
    the overhead over the baseline, per operation and framework.
    """
    rows = []
    for op in OPERATIONS:
        ref = _cell(REFERENCE, op.name)
        base = samples[_cell(BASELINE, op.name)]
        ref_overhead = min(samples[ref]) - min(base)
        for fw in frameworks:
            name = _cell(fw.name, op.name)
            times = samples[name]
            overhead = min(times) - min(base)
            versus = paired(samples, name, ref)
            rows.append(
                {
                    "operation": op.name,
                    "variant": fw.name,
                    "label": fw.label,
                    "best_us": min(times),
                    "median_us": statistics.median(times),
                    "ratio": versus["ratio"],
                    "ratio_q1": versus["q1"],
                    "ratio_q3": versus["q3"],
                    "ratio_best": versus["ratio_best"],
                    "overhead_best_us": overhead,
                    "overhead_ratio": overhead / ref_overhead,
                    "calls": calls[fw.name][op.name],
                    "samples_us": times,
                }
            )
    return rows


def judge(
    samples: dict[str, list[float]], skipped: dict[str, str]
) -> list[dict[str, Any]]:
    """The targets, per operation: met, missed, or skipped with a reason."""
    results = []
    for op in OPERATIONS:
        for name, other, limit, strict in TARGETS:
            result: dict[str, Any] = {
                "operation": op.name,
                "variant": name,
                "versus": other,
                "limit": limit,
                "strict": strict,
            }
            a, b = _cell(name, op.name), _cell(other, op.name)
            if a in samples and b in samples:
                result.update(paired(samples, a, b))
                ratio = result["ratio"]
                result["met"] = ratio < limit if strict else ratio <= limit
            else:
                result["met"] = None
                result["skipped"] = (
                    skipped.get(other) or skipped.get(name) or ("not run (--only)")
                )
            results.append(result)
    return results


def comparisons(samples: dict[str, list[float]]) -> list[dict[str, Any]]:
    results = []
    for op in OPERATIONS:
        for name, other in COMPARISONS:
            a, b = _cell(name, op.name), _cell(other, op.name)
            if a in samples and b in samples:
                results.append(
                    {
                        "operation": op.name,
                        "variant": name,
                        "versus": other,
                        **paired(samples, a, b),
                    }
                )
    return results


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        (
            "| operation | framework | best µs | median µs | vs (a) | vs (a), q1..q3 "
            "| vs (a), best | overhead µs, best | overhead vs (a)'s | calls |"
        ),
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        oratio = "—" if row["variant"] == BASELINE else f"{row['overhead_ratio']:.2f}"
        lines.append(
            f"| {row['operation']} | {row['label']} | {row['best_us']:.1f} "
            f"| {row['median_us']:.1f} | **{row['ratio']:.3f}** "
            f"| {row['ratio_q1']:.3f}..{row['ratio_q3']:.3f} "
            f"| {row['ratio_best']:.3f} | {row['overhead_best_us']:.1f} "
            f"| {oratio} | {row['calls']:.0f} |"
        )
    return "\n".join(lines)


def _line(result: dict[str, Any], labels: dict[str, str]) -> str:
    who = (
        f"{result['operation']}: {labels[result['variant']]} vs "
        f"{labels[result['versus']]}"
    )
    if "skipped" in result:
        return f"- {who}: skipped, {result['skipped']}"
    text = (
        f"{who}: **{result['ratio']:.3f}** (q1..q3 {result['q1']:.3f}.."
        f"{result['q3']:.3f}; best / best {result['ratio_best']:.3f})"
    )
    if "limit" in result:
        verdict = "met" if result["met"] else "MISSED"
        bound = "<" if result["strict"] else "≤"
        text += f", target {bound} {result['limit']:.2f}: {verdict}"
    return f"- {text}"


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _run(
    args: argparse.Namespace,
) -> tuple[list[Framework], dict[str, str], dict[str, list[float]]] | int:
    by_name = {fw.name: fw for fw in FRAMEWORKS}
    wanted = {REFERENCE, BASELINE, *(args.only or by_name)}
    skipped = {
        fw.name: reason
        for fw in FRAMEWORKS
        if fw.name in wanted and (reason := fw.unavailable()) is not None
    }
    frameworks = [
        fw for fw in FRAMEWORKS if fw.name in wanted and fw.name not in skipped
    ]
    if args.profile:
        if args.profile in skipped:
            print(f"FAILED: {skipped[args.profile]}", file=sys.stderr)
            return 1
        profile(by_name[args.profile], args.requests, args.top)
        return 0
    try:
        samples = measure(
            frameworks,
            requests=args.requests,
            repeat=args.repeat,
            warmup=args.warmup,
            disable_gc=not args.with_gc,
            clock=CLOCKS[args.clock],
            seed=args.seed,
        )
    except BenchmarkError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 -- a request that raised is a failure too
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return frameworks, skipped, samples


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, FRAMEWORKS, __doc__.split("\n\n")[0].strip())  # type: ignore[arg-type]
    outcome = _run(args)
    if isinstance(outcome, int):
        return outcome
    frameworks, skipped, samples = outcome
    calls = {fw.name: calls_per_request(fw) for fw in frameworks}
    rows = summarize(frameworks, samples, calls)
    targets = judge(samples, skipped)
    others = comparisons(samples)
    env = environment(args)
    env.update(
        {
            dist: _version(dist)
            for dist in ("flask-servicecbv", "marshmallow", "flask-smorest", "apiflask")
        }
    )
    missed = [t for t in targets if t["met"] is False]
    if args.json:
        print(
            json.dumps(
                {
                    "environment": env,
                    "skipped": skipped,
                    "results": rows,
                    "targets": targets,
                    "comparisons": others,
                },
                indent=2,
            )
        )
    else:
        print(
            f"Python {env['python']} on {env['platform']}, {env['cpus']} CPUs; "
            f"Flask {env['flask']}, Werkzeug {env['werkzeug']}, marshmallow "
            f"{env['marshmallow']}, flask-smorest {env['flask-smorest']}, "
            f"APIFlask {env['apiflask']}; {args.repeat} x {args.requests} "
            f"requests per framework and operation, gc "
            f"{'on' if args.with_gc else 'off'} during batches, {args.clock} clock."
        )
        for name, reason in skipped.items():
            print(f"Skipped {name}: {reason}")
        print()
        print(markdown(rows))
        labels = {fw.name: fw.label.split(" ", 1)[0] for fw in FRAMEWORKS}
        print()
        print("Targets (paired ratios, median over rounds):")
        print()
        for result in targets:
            print(_line(result, labels))
        print()
        print("Other paired ratios:")
        print()
        for result in others:
            print(_line(result, labels))
    if missed:
        names = ", ".join(
            f"{t['operation']} {t['variant']} vs {t['versus']}" for t in missed
        )
        print(f"FAILED: targets missed: {names}.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
