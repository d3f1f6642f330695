"""
example_api against hostile clients, over HTTP: gunicorn (2 workers of 4
threads) on loopback, on SQLite and on PostgreSQL.

Each family costs the server a bounded amount of time and memory, and is
answered with a 4xx that says what is wrong, never a 500; conditional
requests follow RFC 9110; the health check answers the truth in bounded time.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from servers import (
    LOOPBACK,
    Reply,
    chunked,
    gunicorn,
    head_of,
    postgresql_database,
    request,
    stream,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from test_example_api import postgresql_url

import flask_servicecbv as svc
from example_api import create_app

if TYPE_CHECKING:
    from collections.abc import Iterator

    from servers import Server

pytestmark = pytest.mark.slow


# -- a worker's memory -----------------------------------------------------------


def children(server: Server) -> list[int]:
    """The process ids of *server*'s direct children: gunicorn's workers."""
    pid = server.process.pid
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()]


def rss_kib(pid: int) -> int:
    """The resident memory of process *pid*, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    msg = f"/proc/{pid}/status has no VmRSS line."  # pragma: no cover
    raise AssertionError(msg)  # pragma: no cover -- a kernel thread only


# -- a database connection that hangs ------------------------------------------


class FrozenProxy:
    """
    A TCP proxy on loopback to *upstream* that, once :meth:`freeze` is
    called, stops forwarding: the connections stay open and what is sent on
    them goes nowhere, as with a database host that stopped answering.

    Args:
        upstream: The (host, port) to forward to.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port = int(self._listener.getsockname()[1])
        self._frozen = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        """Stop forwarding, on the open connections and on new ones."""
        self._frozen.set()

    def close(self) -> None:
        """Close every connection: whoever waits on one gets an error."""
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, target), daemon=True
                ).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if self._frozen.is_set():
                    continue  # swallowed
                target.sendall(data)
        # One side closed: close the other's direction too.
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


BOOKMARKS = "/api/v1/bookmarks"
BOOKMARK = {"url": "https://flask.palletsprojects.com/", "title": "Flask"}

#: What a large body may add to a worker's memory: far less than the body.
MEMORY_SLACK_KIB = 32 * 1024


@pytest.fixture(name="database_url", scope="module", params=["sqlite", "postgresql"])
def _database_url(request, tmp_path_factory) -> Iterator[str]:
    """An empty database of the module's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'bookmarks.sqlite3'}"
    else:
        with postgresql_database(postgresql_url(os.environ)) as url:
            yield url


@pytest.fixture(name="server", scope="module")
def _server(database_url, tmp_path_factory) -> Iterator[Server]:
    """example_api under gunicorn, 2 workers x 4 threads, one per database."""
    with gunicorn(tmp_path_factory.mktemp("gunicorn"), database_url) as server:
        yield server


def _json_error(reply: Reply, code: int) -> dict[str, Any]:
    """Check that *reply* is the JSON error *code*; return its body."""
    assert reply.status == code, reply.body[:500]
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    assert body["code"] == code
    return body


def _create(server: Server, **fields: Any) -> dict[str, Any]:
    reply = request(server.port, "POST", BOOKMARKS, body={**BOOKMARK, **fields})
    assert reply.status == 201, reply.body
    return reply.json()


def _count(server: Server) -> int:
    total = request(server.port, "GET", f"{BOOKMARKS}?per_page=1").json()
    return int(total["meta"]["total"])


# -- bounded cost --------------------------------------------------------------


class TestBodyLimit:
    def test_large_body_refused_at_once(self, server):
        """
        A 10 MB JSON body (5,000,000 invalid tags) is refused with a JSON 413
        within a second or two, from its Content-Length, and the workers'
        memory does not grow with it.
        """
        body = b'{"url": "https://example.org/", "title": "x", "tags": ['
        body += b"1," * 5_000_000 + b"1]}"
        before = {pid: rss_kib(pid) for pid in children(server)}
        headers = {"Content-Type": "application/json", "Content-Length": len(body)}
        head = head_of("POST", BOOKMARKS, {k: str(v) for k, v in headers.items()})

        reply = stream(
            server.port, head, [body[i : i + 65536] for i in range(0, len(body), 65536)]
        )

        _json_error(reply, 413)
        assert reply.seconds < 2
        grown = {pid: rss_kib(pid) - kib for pid, kib in before.items()}
        assert max(grown.values()) < MEMORY_SLACK_KIB, grown

    def test_large_chunked_body_refused(self, server):
        """
        A 10 MB chunked body, which has no Content-Length, is refused with
        413 once the limit is passed.
        """
        body = b'{"url": "https://example.org/", "title": "' + b"x" * 10_000_000
        head = head_of(
            "POST",
            BOOKMARKS,
            {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        )

        reply = stream(server.port, head, chunked(body, 65536))

        _json_error(reply, 413)
        assert reply.seconds < 2

    def test_many_invalid_tags(self, server):
        """
        200,000 invalid tags are refused in bounded time with a bounded body:
        413, or a 422 that does not list one error per tag.
        """
        body = json.dumps({**BOOKMARK, "tags": [1] * 200_000}, separators=(",", ":"))

        reply = request(
            server.port,
            "POST",
            BOOKMARKS,
            body=body.encode(),
            headers={"Content-Type": "application/json"},
        )

        assert reply.status in {413, 422}
        _json_error(reply, reply.status)
        assert len(reply.body) < 64 * 1024
        assert reply.seconds < 5


# -- encodings and depth -------------------------------------------------------


class TestEncodings:
    @pytest.mark.parametrize(
        "surrogate", [b"\xed\xa0\x80", b"\xed\xb0\x80"], ids=["high", "low"]
    )
    def test_cesu8_surrogate(self, server, surrogate):
        """
        An unpaired surrogate written as raw (CESU-8) bytes, not as an
        escape, is refused with 400, and nothing is stored.
        """
        before = _count(server)
        body = b'{"url": "https://example.org/", "title": "a' + surrogate + b'"}'

        reply = request(
            server.port,
            "POST",
            BOOKMARKS,
            body=body,
            headers={"Content-Type": "application/json"},
        )

        _json_error(reply, 400)
        assert _count(server) == before

    @pytest.mark.parametrize(
        "encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]
    )
    def test_wide_encodings(self, server, encoding):
        """
        A UTF-16 or UTF-32 body with an unpaired surrogate is refused with
        400 (or 415, for a body that is not UTF-8), and nothing is stored.
        """
        before = _count(server)
        text_ = json.dumps({**BOOKMARK, "title": "a\ud800"}, ensure_ascii=False)
        body = text_.encode(encoding, "surrogatepass")

        reply = request(
            server.port,
            "POST",
            BOOKMARKS,
            body=body,
            headers={"Content-Type": "application/json"},
        )

        assert reply.status in {400, 415}
        _json_error(reply, reply.status)
        assert _count(server) == before

    @pytest.mark.parametrize("depth", [400, 1000, 100_000])
    def test_deep_nesting_with_lone_surrogate(self, server, depth):
        """
        An unpaired surrogate escape *depth* levels deep is refused with 400,
        at any depth.
        """
        nested = "[" * depth + '"\\ud83d"' + "]" * depth
        body = '{"url": "https://example.org/", "title": "x", "extra": ' + nested + "}"

        reply = request(
            server.port,
            "POST",
            BOOKMARKS,
            body=body.encode(),
            headers={"Content-Type": "application/json"},
        )

        _json_error(reply, 400)

    @pytest.mark.parametrize("depth", [400, 1000, 100_000])
    def test_deep_nesting_with_surrogate_pair(self, server, depth):
        """
        A surrogate pair (one valid character) *depth* levels deep under an
        unknown field is no 500 at any depth: 400 when too deep to parse,
        else 422 for the unknown field.
        """
        nested = "[" * depth + '"\\ud83d\\ude00"' + "]" * depth
        body = '{"url": "https://example.org/", "title": "x", "extra": ' + nested + "}"

        reply = request(
            server.port,
            "POST",
            BOOKMARKS,
            body=body.encode(),
            headers={"Content-Type": "application/json"},
        )

        assert reply.status in {400, 422}
        error = _json_error(reply, reply.status)
        unknown = {"json": {"extra": ["Unknown field."]}}
        assert reply.status == 400 or error["errors"] == unknown


# -- RFC 9110 preconditions ----------------------------------------------------


class TestPreconditions:
    @pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
    @pytest.mark.parametrize("tag", ["*", "current"])
    def test_if_none_match_on_write(self, server, method, tag):
        """
        A write with If-None-Match: * (or the current tag) on a bookmark that
        exists is refused with 412, and the bookmark is left as it was.
        """
        item = _create(server, title="Kept")
        path = f"{BOOKMARKS}/{item['id']}"
        etag = request(server.port, "GET", path).headers["ETag"]
        condition = etag if tag == "current" else "*"
        body = None if method == "DELETE" else {**BOOKMARK, "title": "Overwritten"}

        reply = request(
            server.port, method, path, body=body, headers={"If-None-Match": condition}
        )

        _json_error(reply, 412)
        after = request(server.port, "GET", path)
        assert (after.status, after.json()) == (200, item)

    @pytest.mark.parametrize("method", ["GET", "HEAD"])
    def test_if_match_on_read(self, server, method):
        """
        A GET or HEAD whose If-Match matches no current tag is answered 412;
        with the current tag, 200.
        """
        item = _create(server)
        path = f"{BOOKMARKS}/{item['id']}"
        etag = request(server.port, "GET", path).headers["ETag"]

        stale = request(server.port, method, path, headers={"If-Match": '"stale"'})
        current = request(server.port, method, path, headers={"If-Match": etag})

        assert stale.status == 412
        assert current.status == 200


class TestIfMatchRace:
    ROUNDS = 20
    CLIENTS = 4

    def test_one_winner_per_round(self, server):
        """
        In each round, 4 clients PATCH one bookmark at once with the same
        If-Match: exactly one gets 200, the others 412.
        """
        item = _create(server)
        path = f"{BOOKMARKS}/{item['id']}"
        outcomes = []
        with ThreadPoolExecutor(self.CLIENTS) as pool:
            for round_ in range(self.ROUNDS):
                etag = request(server.port, "GET", path).headers["ETag"]
                start = threading.Barrier(self.CLIENTS, timeout=10)

                def patch(client, round_=round_, etag=etag, start=start):
                    start.wait()
                    return request(
                        server.port,
                        "PATCH",
                        path,
                        body={"title": f"{round_}-{client}"},
                        headers={"If-Match": etag},
                    ).status

                statuses = sorted(pool.map(patch, range(self.CLIENTS), timeout=30))
                outcomes.append(statuses)

        assert outcomes == [[200, 412, 412, 412]] * self.ROUNDS


# -- what the example does with odd but valid input ----------------------------


class TestExampleInput:
    def test_repeated_tags_fold_before_counting(self, server):
        """
        21 copies of one tag are one tag: accepted.
        """
        item = _create(server, tags=["a"] * 21)

        assert item["tags"] == ["a"]

    def test_unicode_search(self, server):
        """
        ?q= folds case beyond ASCII, on both databases: ÉCOLE finds école.
        """
        token = uuid.uuid4().hex[:8]
        found = _create(server, title=f"l'école {token}")
        _create(server, title=f"ecole {token}")

        reply = request(
            server.port, "GET", f"{BOOKMARKS}?q=%C3%89COLE%20{token.upper()}"
        )

        assert reply.json()["items"] == [found]

    @pytest.mark.parametrize(
        "headers",
        [{"Host": "evil.example"}, {"X-Forwarded-Host": "evil.example"}],
        ids=["host", "forwarded-host"],
    )
    def test_untrusted_host_not_in_link(self, server, headers):
        """
        A Host the app does not trust never reaches the absolute URLs of the
        Link header: it is refused, or not used.
        """
        _create(server)
        _create(server)

        reply = request(server.port, "GET", f"{BOOKMARKS}?per_page=1", headers=headers)

        assert reply.status in {200, 400}
        assert "evil.example" not in reply.headers.get("Link", "")


# -- health --------------------------------------------------------------------


class TestHealth:
    def test_concurrent_probes(self, server):
        """
        40 probes, 4 at a time, against a healthy database: every one is 200.
        """
        with ThreadPoolExecutor(4) as pool:
            statuses = list(
                pool.map(
                    lambda _: request(server.port, "GET", "/health").status,
                    range(40),
                    timeout=60,
                )
            )

        assert statuses == [200] * 40


# -- faults: a database that is busy, or hangs ---------------------------------

#: What the example's fault tests set: one connection per worker, waited for
#: one second; statements and lock waits cut after two.
SMALL_POOL = {
    "DATABASE_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0, "pool_timeout": 1},
    "DATABASE_STATEMENT_TIMEOUT": 2,
    "DATABASE_BUSY_TIMEOUT": 2,
}


@contextlib.contextmanager
def _write_lock(database_url: str, item_id: int) -> Iterator[None]:
    """
    Hold, from outside the app, the lock that a write of bookmark *item_id*
    needs: its row on PostgreSQL, the database's write lock on SQLite.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(url.database or "", isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield
        finally:
            conn.close()
    else:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(
                    text("SELECT id FROM bookmark WHERE id = :id FOR UPDATE"),
                    {"id": item_id},
                )
                yield
                conn.rollback()
        finally:
            engine.dispose()


class TestFaults:
    def test_pool_exhausted(self, database_url, tmp_path):
        """
        When the write that holds a worker's only connection waits on a lock,
        a second request gets 503 with Retry-After after pool_timeout; the
        write itself gets 503 once the statement (or lock wait) times out,
        and changes nothing.
        """
        app = f"example_api:create_app({SMALL_POOL!r})"
        with gunicorn(tmp_path, database_url, app=app, workers=1) as server:
            item = _create(server)
            path = f"{BOOKMARKS}/{item['id']}"
            with _write_lock(database_url, item["id"]), ThreadPoolExecutor(1) as pool:
                write = pool.submit(
                    request, server.port, "PATCH", path, body={"title": "Blocked"}
                )
                # The write has taken the connection and waits on the lock.
                time.sleep(0.5)
                waiting = request(server.port, "GET", path)
                blocked = write.result(timeout=15)
            after = request(server.port, "GET", path)

        _json_error(waiting, 503)
        assert int(waiting.headers["Retry-After"]) >= 1
        assert waiting.seconds < 1 + 2
        _json_error(blocked, 503)
        assert "Retry-After" in blocked.headers
        assert blocked.seconds < 2 + 2
        assert after.json() == item

    def test_health_while_database_hangs(self, tmp_path):
        """
        With a database that stops answering (a TCP proxy that stops
        forwarding), /health answers 503 within PING_TIMEOUT and a margin,
        probe after probe, on both workers.
        """
        timeout = _ping_timeout(tmp_path)
        with postgresql_database(postgresql_url(os.environ)) as database_url:
            url = make_url(database_url)
            proxy = FrozenProxy((url.host or LOOPBACK, url.port or 5432))
            proxied = url.set(host=LOOPBACK, port=proxy.port)
            probes = _probe_frozen(tmp_path, proxied, proxy, timeout)

        assert [probe.status for probe in probes] == [503] * 8
        assert max(probe.seconds for probe in probes) < timeout + 3
        # Timed out, or failed to connect within the connect timeout.
        outcomes = {probe.json()["services"]["database"] for probe in probes}
        assert outcomes <= {"timeout", "failing"}


def _probe_frozen(tmp_path, url, proxy, timeout) -> list[Reply]:
    """
    Serve example_api on *url*, which goes through *proxy*; freeze the proxy
    and probe /health 8 times, 4 at a time.
    """
    try:
        with gunicorn(tmp_path, url.render_as_string(hide_password=False)) as server:
            proxy.freeze()
            with ThreadPoolExecutor(4) as pool:
                probes = list(
                    pool.map(
                        lambda _: request(
                            server.port, "GET", "/health", timeout=timeout + 10
                        ),
                        range(8),
                    )
                )
            # Before gunicorn stops: its threads that wait on the database
            # get an error at once, and it stops without waiting for them.
            proxy.close()
    finally:
        proxy.close()
    return probes


def _ping_timeout(tmp_path) -> float:
    """The PING_TIMEOUT of the example's health check."""
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'ping.sqlite3'}"})
    try:
        return float(app.view_functions["health"].view_class.PING_TIMEOUT)
    finally:
        svc.close_registry(app)
