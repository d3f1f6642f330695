"""
Load-test example_api under gunicorn beside a plain-Flask twin of it.

Both apps run under gunicorn (2 workers x 4 threads by default) on loopback,
on the same database, with the same SQLAlchemy engine settings, repository
and schemas; only the wiring differs: the example uses flask_servicecbv's
registry, generic views and declarations, the twin hand-written routes, `g`
and hooks.
A bounded load generator (16 clients on keep-alive connections) sends the
same mix to both at the same time: 70% reads, 25% writes, 5% invalid
bodies, each client sending each operation to one app then the other, in
turn first. Both servers thus work under the same load on the same machine
at every moment, and what each one costs is measured as its CPU time per
request (its processes' user and system time, from /proc): the example's
capacity against the twin's is the twin's CPU time per request over the
example's, paired by round. A machine whose speed drifts (a shared virtual
machine) moves both apps alike; comparing throughputs measured one app
after the other could not tell 5% from that drift.
Every response's status is checked; afterwards every 201 must be in the
table, once, and nothing else; on PostgreSQL, no transaction may be left
open and the connections must be back to their baseline once the servers
stop.

    .venv/bin/python benchmarks/bench_example.py                 # SQLite only
    .venv/bin/python benchmarks/bench_example.py \\
        --postgresql-url postgresql+psycopg://user:pw@127.0.0.1/db
    .venv/bin/python benchmarks/bench_example.py --requests 2000 --json

See benchmarks/README.md, section "example_api under load".
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Flask, abort, g, request, url_for
from marshmallow import ValidationError
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import (
    Forbidden,
    HTTPException,
    InternalServerError,
    Unauthorized,
)

from flask_servicecbv.rest import MAX_ID, MAX_PAGE
from flask_servicecbv.rest.etag import etag_of
from flask_servicecbv.sqlalchemy import database_unavailable, fold, make_engine

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent

# example_api is the repository's example, not an installed package.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from example_api import DEFAULTS, check_host  # noqa: E402
from example_api.auth import (  # noqa: E402
    DEFAULT_SCOPES,
    READ,
    WRITE,
    TokenStore,
    User,
    issue_token,
)
from example_api.db import (  # noqa: E402
    bookmark,
    bookmark_tag,
    create_schema,
    metadata,
    watch_calls,
)
from example_api.policy import TagPolicy  # noqa: E402
from example_api.repository import BookmarkRepository  # noqa: E402
from example_api.schemas import BookmarkFilters, BookmarkSchema  # noqa: E402
from example_api.views import BookmarkList  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from flask import Response
    from sqlalchemy import Connection, Engine

# The twin is written by hand, but with the example's limits, so that the two
# accept and refuse the same requests.
API_POLICY = DEFAULTS["SERVICES"]["api"]["example_api.policy.TagPolicy"]
PAGE_SIZE = BookmarkList.PAGINATION.default
MAX_PAGE_SIZE = BookmarkList.PAGINATION.maximum

# A JSON escape of a surrogate: only bodies with one are searched further.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate(value: Any) -> bool:
    """Whether a loaded JSON value holds a string that cannot be encoded."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(item) for item in value)
    return False


class BenchmarkError(Exception):
    """A response, a row or a connection was not what it must be."""


# -- the twin: the same endpoints, by hand ------------------------------------


def create_twin() -> Flask:  # noqa: C901, PLR0915 -- one app, written out in full
    """
    The plain-Flask twin of example_api's bookmark endpoints.

    It reads ``DATABASE_URL`` from the environment, uses the example's engine
    settings and timeouts, trusted hosts, repository (tags folded before
    they are counted, search on the folded text, conditional writes under a
    lock) and schemas, and answers the same statuses, bodies and headers;
    connections live on ``g`` and are committed in an ``after_request``
    hook, as a careful hand-written app would do.
    """
    app = Flask("twin")
    app.config["TRUSTED_HOSTS"] = DEFAULTS["TRUSTED_HOSTS"]
    app.config["SQLALCHEMY_RETRY_AFTER"] = DEFAULTS["DATABASE_RETRY_AFTER"]
    if "TRUSTED_HOSTS" not in Flask.default_config:  # Flask 3.0
        app.before_request(check_host)
    engine = make_engine(
        os.environ["DATABASE_URL"],
        DEFAULTS["DATABASE_ENGINE_OPTIONS"],
        connect_timeout=DEFAULTS["DATABASE_CONNECT_TIMEOUT"],
        statement_timeout=DEFAULTS["DATABASE_STATEMENT_TIMEOUT"],
        busy_timeout=DEFAULTS["DATABASE_BUSY_TIMEOUT"],
    )
    watch_calls(engine, DEFAULTS["DATABASE_STATEMENT_TIMEOUT"])
    policy = TagPolicy(**API_POLICY)
    schema = BookmarkSchema()
    filters_schema = BookmarkFilters()

    def get_db() -> Connection:
        if "db" not in g:
            g.db = engine.connect()
        return g.db  # type: ignore[no-any-return]

    def repository() -> BookmarkRepository:
        return BookmarkRepository(get_db(), policy, owner=g.user.id)

    def challenge(**params: str) -> WWWAuthenticate:
        return WWWAuthenticate("bearer", {"realm": "bookmarks", **params})

    @app.before_request
    def authenticate() -> None:
        # As the example: the token's user by the token's SHA-256, on the
        # request's connection; reads need one scope, writes another.
        if not request.path.startswith("/api/"):
            return
        kind, _, token = request.headers.get("Authorization", "").partition(" ")
        if kind.lower() != "bearer" or not token:
            raise Unauthorized(www_authenticate=challenge())
        user: User | None = TokenStore(get_db()).verify_token(token.strip())
        if user is None:
            raise Unauthorized(www_authenticate=challenge(error="invalid_token"))
        needed = READ if request.method in {"GET", "HEAD"} else WRITE
        if needed not in user.scopes:
            response = Forbidden().get_response()
            response.www_authenticate = challenge(
                error="insufficient_scope", scope=needed
            )
            raise Forbidden(response=response)
        g.user = user

    @app.after_request
    def end_transaction(response: Response) -> Response:
        conn = g.get("db")
        if conn is not None:
            if response.status_code < 400:
                conn.commit()
            else:
                conn.rollback()
        return response

    @app.teardown_appcontext
    def close_db(_exc: BaseException | None) -> None:
        conn = g.pop("db", None)
        if conn is not None:
            conn.close()

    app.register_error_handler(PoolTimeoutError, database_unavailable)
    app.register_error_handler(OperationalError, database_unavailable)

    @app.errorhandler(HTTPException)
    def json_error(e: HTTPException) -> Response:
        body: dict[str, Any] = {
            "code": e.code,
            "status": e.name,
            "message": InternalServerError.description
            if isinstance(e, InternalServerError)
            else e.description,
        }
        errors = getattr(e, "errors", None)
        if errors is not None:
            body["errors"] = errors
        response = app.response_class(
            f"{app.json.dumps(body)}\n", status=e.code, mimetype="application/json"
        )
        for name, value in e.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers.add(name, value)
        return response

    def invalid(location: str, messages: Any) -> HTTPException:
        return _Unprocessable({location: messages})

    def json_body(*, partial: bool = False) -> dict[str, Any]:
        if not request.is_json:
            abort(415)
        data = request.get_data(cache=True)
        if not data:
            abort(400)
        try:
            raw = app.json.loads(data)
        except ValueError as e:
            abort(400, f"The request body is not valid JSON: {e}.")
        # As the REST layer does: "\ud800" alone loads, but PostgreSQL
        # cannot store it.
        if SURROGATE_ESCAPE.search(data) and _lone_surrogate(raw):
            abort(400, "The request body is not valid JSON.")
        try:
            return schema.load(raw, partial=partial)  # type: ignore[no-any-return]
        except ValidationError as e:
            raise invalid("json", e.messages) from None

    def json_response(data: Any, status: int = 200, *, etag: bool = False) -> Response:
        body = f"{app.json.dumps(data)}\n".encode()
        if etag:
            tag = etag_of(body)
            if request.method == "GET" and request.if_none_match.contains_weak(tag):
                response = app.response_class(status=304)
            else:
                response = app.response_class(
                    body, status=status, mimetype="application/json"
                )
            response.headers["ETag"] = f'"{tag}"'
            return response
        return app.response_class(body, status=status, mimetype="application/json")

    def page_number(name: str, default: int, maximum: int) -> int:
        value = request.args.get(name)
        if value is None:
            return default
        if not value.isascii() or not value.isdigit() or len(value) > 19:
            raise invalid("query", {name: ["Not a valid integer."]})
        number = int(value)
        if not 1 <= number <= maximum:
            message = (
                "Must be greater than or equal to 1 and less than or equal to "
                f"{maximum}."
            )
            raise invalid("query", {name: [message]})
        return number

    def links(page: int, per_page: int, pages: int) -> str:
        rels = {"first": 1, "last": pages}
        if page > 1:
            rels["prev"] = min(page - 1, pages)
        if page < pages:
            rels["next"] = page + 1
        args = request.args.to_dict(flat=False)
        args["per_page"] = [str(per_page)]
        out = []
        for rel, number in rels.items():
            args["page"] = [str(number)]
            out.append(
                f'<{request.base_url}?{urlencode(args, doseq=True)}>; rel="{rel}"'
            )
        return ", ".join(out)

    def find(bookmark_id: int) -> dict[str, Any]:
        item = repository().get(bookmark_id) if bookmark_id <= MAX_ID else None
        if item is None:
            abort(404, f"There is no item {bookmark_id}.")
        return item

    def check_if_match(item: dict[str, Any]) -> None:
        tag = etag_of(f"{app.json.dumps(schema.dump(item))}\n".encode())
        if not request.if_match.contains(tag):
            abort(412, "The resource has changed (If-Match does not match its ETag).")

    def precondition() -> Callable[[dict[str, Any]], None] | None:
        # Checked by the repository, under its lock, only when asked for.
        return check_if_match if "If-Match" in request.headers else None

    @app.get("/api/v1/bookmarks")
    def list_bookmarks() -> Response:
        page = page_number("page", 1, MAX_PAGE)
        per_page = page_number("per_page", PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            filters = filters_schema.load(
                {key: request.args[key] for key in ("tag", "q") if key in request.args}
            )
        except ValidationError as e:
            raise invalid("query", e.messages) from None
        repo = repository()
        total = repo.count(filters=filters)
        offset = (page - 1) * per_page
        items = (
            repo.list(offset=offset, limit=per_page, filters=filters)
            if offset < total
            else []
        )
        pages = max(1, -(-total // per_page))
        meta = {"page": page, "per_page": per_page, "total": total, "pages": pages}
        response = json_response(
            {"items": schema.dump(items, many=True), "meta": meta}, etag=True
        )
        response.headers["Link"] = links(page, per_page, pages)
        return response

    @app.post("/api/v1/bookmarks")
    def create_bookmark() -> Response:
        item = repository().create(json_body())
        response = json_response(schema.dump(item), 201)
        response.headers["Location"] = url_for("get_bookmark", bookmark_id=item["id"])
        return response

    @app.get("/api/v1/bookmarks/<int:bookmark_id>")
    def get_bookmark(bookmark_id: int) -> Response:
        return json_response(schema.dump(find(bookmark_id)), etag=True)

    def change(bookmark_id: int, *, partial: bool) -> Response:
        find(bookmark_id)
        data = json_body(partial=partial)
        check = precondition()
        if check is None:
            item = repository().update(bookmark_id, data, partial=partial)
        else:
            item = repository().update(
                bookmark_id, data, partial=partial, precondition=check
            )
        if item is None:
            abort(404, f"There is no item {bookmark_id}.")
        return json_response(schema.dump(item), etag=True)

    @app.put("/api/v1/bookmarks/<int:bookmark_id>")
    def put_bookmark(bookmark_id: int) -> Response:
        return change(bookmark_id, partial=False)

    @app.patch("/api/v1/bookmarks/<int:bookmark_id>")
    def patch_bookmark(bookmark_id: int) -> Response:
        return change(bookmark_id, partial=True)

    @app.delete("/api/v1/bookmarks/<int:bookmark_id>")
    def delete_bookmark(bookmark_id: int) -> Response:
        find(bookmark_id)
        check = precondition()
        deleted = (
            repository().delete(bookmark_id)
            if check is None
            else repository().delete(bookmark_id, precondition=check)
        )
        if not deleted:
            abort(404, f"There is no item {bookmark_id}.")
        return app.response_class(status=204)

    return app


class _Unprocessable(HTTPException):
    code = 422
    description = "The request's input is not valid."

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__()
        self.errors = errors


# -- the servers --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    """A gunicorn server of the run: its port, and its master's process id."""

    port: int
    pid: int

    def cpu_seconds(self) -> float:
        """
        The user and system time of the server's processes so far: the
        master's session (it runs in a session of its own) holds its workers.
        """
        return session_cpu_seconds(self.pid)


def session_cpu_seconds(session: int, proc: Path = Path("/proc")) -> float:
    """
    Return the user and system time, in seconds, of the living processes of
    *session*, read from Linux's *proc*.

    Raises:
        BenchmarkError: There is no /proc to read.
    """
    if not (proc / "self" / "stat").exists():
        msg = "measuring a server's CPU time needs Linux's /proc."
        raise BenchmarkError(msg)
    ticks = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # After "pid (name) ": state, ppid, pgrp, session, ... utime, stime.
        fields_ = stat[stat.rindex(")") + 2 :].split()
        if int(fields_[3]) == session:
            ticks += int(fields_[11]) + int(fields_[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def serve(
    app: str, database_url: str, workdir: Path, *, workers: int, threads: int
) -> Iterator[Server]:
    """Run *app* under gunicorn until the block ends; yield the server."""
    port = _free_port()
    log = workdir / f"gunicorn-{port}.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
        # gunicorn's control socket goes here, one per server.
        "XDG_RUNTIME_DIR": str(workdir),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        f"--workers={workers}",
        f"--threads={threads}",
        "--worker-class=gthread",
        f"--bind=127.0.0.1:{port}",
        "--keep-alive=30",
        "--graceful-timeout=5",
        app,
    ]
    with log.open("wb") as out:
        server = subprocess.Popen(  # noqa: S603 -- our own interpreter
            command,
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                msg = f"{app} did not start: {log.read_text()[-2000:]}"
                raise BenchmarkError(msg)
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v1/bookmarks/1")
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                time.sleep(0.1)
        yield Server(port, server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


# -- the load -----------------------------------------------------------------


@dataclass
class Tally:
    """What one app answered, over all rounds."""

    latencies: list[float] = field(default_factory=list)
    created: dict[int, str] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    # The server's CPU seconds per request in each round.
    cpu: list[float] = field(default_factory=list)


def plan(requests: int, seeded: int, rng: random.Random) -> list[tuple[str, ...]]:
    """
    The operations of a run: 70% reads (50% an item, 20% a page of the list,
    a third of those filtered), 25% writes (20% creates, 5% changes), 5%
    invalid bodies.
    """
    ops: list[tuple[str, ...]] = []
    for _ in range(requests):
        roll = rng.random()
        target = str(rng.randint(1, seeded))
        if roll < 0.50:
            ops.append(("get", target))
        elif roll < 0.70:
            ops.append(("list", rng.choice(["", "?tag=t3", "?q=seed", "?page=2"])))
        elif roll < 0.90:
            ops.append(("create",))
        elif roll < 0.95:
            ops.append(("patch", target))
        else:
            ops.append(("invalid",))
    return ops


EXPECTED = {"get": 200, "list": 200, "create": 201, "patch": 200, "invalid": 422}


def _send(
    conn: http.client.HTTPConnection, op: tuple[str, ...], title: str, token: str
) -> tuple[int, bytes]:
    kind = op[0]
    auth = {"Authorization": f"Bearer {token}"}
    headers = {"Content-Type": "application/json", **auth}
    if kind == "get":
        conn.request("GET", f"/api/v1/bookmarks/{op[1]}", headers=auth)
    elif kind == "list":
        conn.request("GET", f"/api/v1/bookmarks{op[1]}", headers=auth)
    elif kind == "create":
        body = {"url": "https://example.org/x", "title": title, "tags": ["load", "T3"]}
        conn.request("POST", "/api/v1/bookmarks", json.dumps(body), headers)
    elif kind == "patch":
        body = {"notes": title}
        conn.request("PATCH", f"/api/v1/bookmarks/{op[1]}", json.dumps(body), headers)
    else:
        body = {"url": "ftp://example.org/", "title": ""}
        conn.request("POST", "/api/v1/bookmarks", json.dumps(body), headers)
    response = conn.getresponse()
    return response.status, response.read()


def drive(  # noqa: C901 -- the client loop and its checks, in one place
    ports: dict[str, int],
    ops: list[tuple[str, ...]],
    clients: int,
    tallies: dict[str, Tally],
    *,
    token: str,
) -> None:
    """
    Send *ops* to every app of *ports* with *clients* threads, each on a
    keep-alive connection per app, with the bearer *token*: each operation
    goes to every app in turn, the first app changing from one operation
    to the next.
    """
    lock = threading.Lock()
    errors: list[str] = []
    shares = [ops[i::clients] for i in range(clients)]
    start_all = threading.Barrier(clients + 1)
    names = list(ports)

    def client(index: int) -> None:
        conns = {
            name: http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for name, port in ports.items()
        }
        seen = {name: Tally() for name in names}
        start_all.wait()
        try:
            for number, op in enumerate(shares[index]):
                turn = number % len(names)
                for name in names[turn:] + names[:turn]:
                    title = f"{name}-{index}-{number}-{time.monotonic_ns()}"
                    begin = time.perf_counter()
                    status, body = _send(conns[name], op, title, token)
                    tally = seen[name]
                    tally.latencies.append(time.perf_counter() - begin)
                    tally.statuses[status] = tally.statuses.get(status, 0) + 1
                    if status != EXPECTED[op[0]]:
                        errors.append(f"{name}: {op} answered {status} {body[:200]!r}")
                        return
                    if status == 201:
                        tally.created[json.loads(body)["id"]] = title
        except OSError as e:
            errors.append(f"{type(e).__name__}: {e}")
        finally:
            for conn in conns.values():
                conn.close()
            with lock:
                for name, tally in seen.items():
                    total = tallies[name]
                    total.latencies.extend(tally.latencies)
                    total.created.update(tally.created)
                    for status, count in tally.statuses.items():
                        total.statuses[status] = total.statuses.get(status, 0) + count

    threads = [
        threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    start_all.wait()
    for thread in threads:
        thread.join(timeout=600)
    if any(thread.is_alive() for thread in threads):
        errors.append("a client did not finish within 600 s")
    if errors:
        raise BenchmarkError(errors[0])


# -- the database -------------------------------------------------------------


def prepare(database_url: str, seeded: int) -> str:
    """
    Empty the tables, then add a user with a token that reads and writes,
    and *seeded* bookmarks of that user for the reads; return the token.
    """
    engine = create_engine(database_url)
    try:
        metadata.drop_all(engine)
        create_schema(engine)
        repo_rows = [
            {
                "url": f"https://example.org/{i}",
                "title": f"seed {i}",
                "notes": "",
                "title_folded": fold(f"seed {i}"),
                "notes_folded": "",
            }
            for i in range(seeded)
        ]
        with engine.begin() as conn:
            token = issue_token(conn, "bench", DEFAULT_SCOPES)
            owner = TokenStore(conn).verify_token(token)
            for row in repo_rows:
                row["owner_id"] = owner.id  # type: ignore[union-attr]
            conn.execute(insert(bookmark), repo_rows)
            tagged = [
                {"bookmark_id": bookmark_id, "tag": "t3"}
                for bookmark_id in range(1, seeded + 1, 3)
            ]
            conn.execute(insert(bookmark_tag), tagged)
    finally:
        engine.dispose()
    return token


def check_rows(database_url: str, seeded: int, tallies: list[Tally]) -> int:
    """
    Check that every 201 is in the table, once, with its title, and that
    nothing else was added; return the number of rows.
    """
    created: dict[int, str] = {}
    for tally in tallies:
        created.update(tally.created)
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(bookmark.c.id, bookmark.c.title).where(bookmark.c.id > seeded)
            ).all()
    finally:
        engine.dispose()
    found = {row.id: row.title for row in rows}
    if len(rows) != len(found) or found != created:
        lost = sorted(set(created) - set(found))[:5]
        extra = sorted(set(found) - set(created))[:5]
        msg = (
            f"{len(created)} bookmarks answered 201, {len(found)} rows added; "
            f"lost {lost}, not answered {extra}."
        )
        raise BenchmarkError(msg)
    return seeded + len(found)


def _sessions(engine: Engine, state: str | None = None) -> int:
    query = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    if state is not None:
        query += " AND state = :state"
    with engine.connect() as conn:
        return int(conn.execute(text(query), {"state": state}).scalar_one())


# -- one run ------------------------------------------------------------------


def run_database(args: argparse.Namespace, kind: str, url: str) -> dict[str, Any]:
    """Load both apps on one database; return their tallies and checks."""
    token = prepare(url, args.seeded)
    probe = create_engine(url) if kind == "postgresql" else None
    baseline = _sessions(probe) if probe is not None else None
    tallies = {"example": Tally(), "twin": Tally()}
    warm = {"example": Tally(), "twin": Tally()}
    apps = {
        "example": "example_api:create_app()",
        "twin": "bench_example:create_twin()",
    }
    rng = random.Random(args.seed)
    left_open = None
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        servers = {
            name: stack.enter_context(
                serve(app, url, workdir, workers=args.workers, threads=args.threads)
            )
            for name, app in apps.items()
        }
        ports = {name: server.port for name, server in servers.items()}
        # Unmeasured: every worker thread connects and warms up first.
        drive(
            ports, plan(args.warmup, args.seeded, rng), args.clients, warm, token=token
        )
        per_round = max(1, args.requests // args.rounds)
        for _ in range(args.rounds):
            ops = plan(per_round, args.seeded, rng)
            before = {name: server.cpu_seconds() for name, server in servers.items()}
            drive(ports, ops, args.clients, tallies, token=token)
            for name, server in servers.items():
                spent = server.cpu_seconds() - before[name]
                tallies[name].cpu.append(spent / len(ops))
        if probe is not None:
            left_open = _sessions(probe, "idle in transaction")
    rows = check_rows(url, args.seeded, [*tallies.values(), *warm.values()])
    after = None
    if probe is not None:
        deadline = time.monotonic() + 15
        after = _sessions(probe)
        while after != baseline and time.monotonic() < deadline:
            time.sleep(0.2)
            after = _sessions(probe)
        probe.dispose()
        if left_open:
            msg = f"{left_open} connections were left idle in a transaction."
            raise BenchmarkError(msg)
        if after != baseline:
            msg = f"{after} connections open after the run, {baseline} before."
            raise BenchmarkError(msg)
    # The example's capacity against the twin's in each round, where both
    # served the same requests at the same time; the median over rounds.
    paired = [
        tw / ex if ex > 0 else math.inf
        for ex, tw in zip(tallies["example"].cpu, tallies["twin"].cpu, strict=True)
    ]
    q1, ratio, q3 = (
        statistics.quantiles(paired, n=4, method="inclusive")
        if len(paired) > 1
        else paired * 3
    )
    return {
        "database": kind,
        "ratio": ratio,
        "ratio_q1": q1,
        "ratio_q3": q3,
        "results": [_summary(name, tally) for name, tally in tallies.items()],
        "rows": rows,
        "connections_before": baseline,
        "connections_after": after,
    }


def _summary(name: str, tally: Tally) -> dict[str, Any]:
    latencies = sorted(tally.latencies)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "app": name,
        "requests": len(latencies),
        "cpu_ms": statistics.fmean(tally.cpu) * 1000,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "statuses": dict(sorted(tally.statuses.items())),
        "created": len(tally.created),
    }


def markdown(runs: list[dict[str, Any]], target: float) -> str:
    lines = [
        "| database | app | requests | CPU ms/request | p50 ms | p99 ms | vs twin |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for run in runs:
        twin = next(r for r in run["results"] if r["app"] == "twin")
        for row in run["results"]:
            ratio = twin["cpu_ms"] / row["cpu_ms"] if row["cpu_ms"] else math.inf
            lines.append(
                f"| {run['database']} | {row['app']} | {row['requests']} "
                f"| {row['cpu_ms']:.2f} | {row['p50_ms']:.1f} "
                f"| {row['p99_ms']:.1f} | {ratio:.3f} |"
            )
    lines.append("")
    for run in runs:
        ratio = run["ratio"]
        verdict = "met" if ratio >= 1 - target else "MISSED"
        connections = (
            f"; connections {run['connections_before']} before, "
            f"{run['connections_after']} after"
            if run["connections_before"] is not None
            else ""
        )
        lines.append(
            f"- {run['database']}: example's capacity against the twin's (twin's "
            f"CPU time per request over the example's), paired by round, "
            f"median {ratio:.3f} (q1..q3 {run['ratio_q1']:.3f}.."
            f"{run['ratio_q3']:.3f}), target >= {1 - target:.2f}: {verdict}; "
            f"{run['rows']} rows, every 201 "
            f"stored once{connections}."
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--requests", type=int, default=20_000, help="per app")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--rounds", type=int, default=10, help="measured rounds")
    parser.add_argument(
        "--warmup", type=int, default=500, help="unmeasured requests per app"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seeded", type=int, default=200, help="rows to read")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mix")
    parser.add_argument(
        "--postgresql-url",
        default=os.environ.get("SERVICECBV_TEST_POSTGRESQL_URL"),
        help="a PostgreSQL database it may empty (default: "
        "$SERVICECBV_TEST_POSTGRESQL_URL); without one, SQLite only",
    )
    parser.add_argument(
        "--no-sqlite", action="store_true", help="only run on PostgreSQL"
    )
    parser.add_argument("--target", type=float, default=0.05, help="allowed loss")
    parser.add_argument("--json", action="store_true", help="print JSON results")
    return parser.parse_args(argv)


def environment(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "flask": version("flask"),
        "sqlalchemy": version("sqlalchemy"),
        "gunicorn": version("gunicorn"),
        "psycopg": version("psycopg"),
        **{
            key: getattr(args, key)
            for key in ("requests", "clients", "rounds", "workers", "threads", "seed")
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    databases = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sqlite:
            databases.append(("sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"))
        if args.postgresql_url:
            databases.append(("postgresql", args.postgresql_url))
        try:
            runs = [run_database(args, kind, url) for kind, url in databases]
        except BenchmarkError as e:
            print(f"FAILED: {e}", file=sys.stderr)
            return 1
    env = environment(args)
    missed = [run["database"] for run in runs if run["ratio"] < 1 - args.target]
    if args.json:
        print(json.dumps({"environment": env, "runs": runs}, indent=2))
    else:
        _print_table(args, env, runs)
    if missed:
        print(
            f"FAILED: target missed: example's capacity against the twin's below "
            f"{1 - args.target:.2f} on {', '.join(missed)}.",
            file=sys.stderr,
        )
        return 1
    return 0


def _print_table(
    args: argparse.Namespace, env: dict[str, Any], runs: list[dict[str, Any]]
) -> None:
    print(
        f"Python {env['python']} on {env['platform']}, {env['cpus']} CPUs; Flask "
        f"{env['flask']}, SQLAlchemy {env['sqlalchemy']}, gunicorn "
        f"{env['gunicorn']}, psycopg {env['psycopg']}; {args.requests} requests "
        f"per app, {args.clients} clients, {args.workers} workers x "
        f"{args.threads} threads, {args.rounds} rounds."
    )
    print()
    print(markdown(runs, args.target))


if __name__ == "__main__":
    sys.exit(main())
