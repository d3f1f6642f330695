"""
Real servers for the end-to-end tests: gunicorn and nginx, on loopback ports
the kernel picks, stopped when their block ends; the HTTP requests the tests
send them, and schemathesis runs against them; and a PostgreSQL database of
their own.
"""

from __future__ import annotations

import contextlib
import grp
import http.client
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

ROOT = Path(__file__).resolve().parent.parent

#: Debian's nginx.
NGINX = Path("/usr/sbin/nginx")

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Return a loopback port that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


# -- clients -------------------------------------------------------------------

#: Headers that request() and head_of() send unless given others: the bearer
#: token that gunicorn() issued on the example's database, last.
DEFAULT_HEADERS: dict[str, str] = {}


def issue_token(database_url: str, user: str = "tester") -> str:
    """
    Create the example's tables on *database_url* if missing, and a token of
    *user* (made if new) that reads and writes bookmarks.
    """
    from sqlalchemy import create_engine  # noqa: PLC0415 -- only for the example

    from example_api.auth import DEFAULT_SCOPES  # noqa: PLC0415
    from example_api.auth import issue_token as issue  # noqa: PLC0415
    from example_api.db import create_schema  # noqa: PLC0415

    engine = create_engine(database_url)
    try:
        create_schema(engine)
        with engine.begin() as conn:
            return issue(conn, user, DEFAULT_SCOPES)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Reply:
    """An HTTP response, read in full, and how long it took to come."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float

    def json(self) -> Any:
        """The body, decoded as JSON."""
        return json.loads(self.body)


def request(
    port: int,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
) -> Reply:
    """
    Send one request on a connection of its own and read the response.

    A *body* that is not ``bytes`` is sent as JSON.
    """
    sent = {**DEFAULT_HEADERS, **(headers or {})}
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    start = time.monotonic()
    try:
        conn.request(method, path, body, sent)
        resp = conn.getresponse()
        data = resp.read()
        return Reply(resp.status, resp.headers, data, time.monotonic() - start)
    finally:
        conn.close()


def stream(
    port: int,
    head: bytes,
    chunks: Iterable[bytes],
    *,
    method: str = "POST",
    timeout: float = 10,
) -> Reply:
    """
    Send *head* (request line and headers) then each of *chunks* while the
    response is read: a server may answer before the body is all sent.

    Bytes the server no longer wants (it answered, and closed) are dropped.
    """
    sock = socket.create_connection((LOOPBACK, port), timeout=timeout)

    def send() -> None:
        try:
            sock.sendall(head)
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:
            # The server closed the connection: it has answered.
            pass

    sender = threading.Thread(target=send, daemon=True)
    start = time.monotonic()
    sender.start()
    try:
        resp = http.client.HTTPResponse(sock, method=method)
        resp.begin()
        data = resp.read()
        return Reply(resp.status, resp.headers, data, time.monotonic() - start)
    finally:
        # Wakes a sender blocked on a full socket buffer.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sender.join(timeout)
        sock.close()


def head_of(method: str, path: str, headers: Mapping[str, str]) -> bytes:
    """The request line and headers of an HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}"]
    sent = {**DEFAULT_HEADERS, **headers}
    lines += [f"{name}: {value}" for name, value in sent.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunked(body: bytes, size: int) -> Iterator[bytes]:
    """*body* in chunks of *size* bytes, in chunked transfer coding."""
    for start in range(0, len(body), size):
        part = body[start : start + size]
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    yield b"0\r\n\r\n"


# -- processes -----------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """A server process listening on *port*, with its output in *log*."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def running(
    command: list[str],
    port: int,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    ready: str | None = "/health",
    stop: signal.Signals = signal.SIGTERM,
) -> Iterator[Server]:
    """
    Run *command*, which listens on *port*, until the block ends.

    Bounded: it must answer *ready* with ``200`` (or, with *ready* None,
    accept a connection) within 30 s, and it is stopped with *stop*, then
    ``SIGKILL``, whatever happens.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 -- our own commands
            command,
            cwd=workdir,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                if ready is None:
                    socket.create_connection((LOOPBACK, port), timeout=5).close()
                    status = 200
                else:
                    status = request(port, "GET", ready).status
            except OSError:
                time.sleep(0.1)
            else:
                break
        assert status == 200, log.read_text()
        yield Server(port, process, log)
    finally:
        process.send_signal(stop)
        try:
            process.wait(timeout=15)
        finally:
            if process.poll() is None:  # pragma: no cover -- only if it hangs
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@contextlib.contextmanager
def gunicorn(
    workdir: Path,
    database_url: str,
    *options: str,
    app: str = "example_api:create_app()",
    workers: int = 2,
    threads: int = 4,
) -> Iterator[Server]:
    """
    Serve *app* (example_api by default) under gunicorn, *workers* processes
    of *threads* threads (gthread), on a free loopback port, with
    ``DATABASE_URL`` set to *database_url*; the requests of :func:`request`
    and :func:`head_of` then send a bearer token issued on that database.
    """
    DEFAULT_HEADERS["Authorization"] = f"Bearer {issue_token(database_url)}"
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        f"--workers={workers}",
        f"--threads={threads}",
        "--worker-class=gthread",
        f"--bind={LOOPBACK}:{port}",
        "--graceful-timeout=5",
        *options,
        app,
    ]
    env = {
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        # gunicorn's control socket goes here, one per server.
        "XDG_RUNTIME_DIR": str(workdir),
    }
    with running(command, port, workdir, env=env) as server:
        yield server


#: The project's schemathesis configuration, which every run uses.
SCHEMATHESIS_CONFIG = ROOT / "schemathesis.toml"


def schemathesis(
    schema_url: str, workdir: Path, *options: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """
    Run schemathesis with every check on the API whose OpenAPI document is at
    *schema_url*, with the project's configuration and *options*
    (``--max-examples=10``, a ``--header``), one request at a time, the same
    examples on every run; return what it printed.

    schemathesis writes its own files in *workdir*.
    """
    return subprocess.run(  # noqa: S603 -- our own tool
        [
            str(Path(sys.executable).with_name("schemathesis")),
            f"--config-file={SCHEMATHESIS_CONFIG}",
            "run",
            schema_url,
            "--checks=all",
            "--max-failures=5",
            "--workers=1",
            "--generation-database=none",
            "--seed=1",
            "--no-color",
            *options,
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )


def nginx_config(workdir: Path, http: str) -> str:
    """
    The main configuration of an nginx that runs as the current user, with
    every file it writes under *workdir*, around the ``http`` block *http*.
    """
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    temp = "\n".join(
        f"    {kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
# Ignored unless nginx starts as root; then its workers stay this user.
user {user} {group};
daemon off;
master_process on;
worker_processes 1;
pid {workdir / "nginx.pid"};
lock_file {workdir / "nginx.lock"};
error_log {workdir / "error.log"} warn;
events {{
    worker_connections 256;
}}
http {{
    log_format upstream '$request_method $status $upstream_addr';
    access_log {workdir / "access.log"} upstream;
{temp}
{http}
}}
"""


@contextlib.contextmanager
def nginx(workdir: Path, http: str, port: int) -> Iterator[Server]:
    """
    Run Debian's nginx with the ``http`` block *http*, which listens on
    *port*, until the block ends; no system file is read or written.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "nginx.conf"
    config.write_text(nginx_config(workdir, http))
    command = [
        str(NGINX),
        "-p",
        str(workdir),
        "-c",
        str(config),
        "-e",
        str(workdir / "error.log"),
    ]
    with running(command, port, workdir, ready=None, stop=signal.SIGQUIT) as server:
        yield server


# -- databases -----------------------------------------------------------------


@contextlib.contextmanager
def postgresql_database(url: str) -> Iterator[str]:
    """
    Create a database of its own beside the PostgreSQL database at *url* and
    yield its URL: the tables of a test module never meet another's, nor
    those of a test run at the same time; drop it when the block ends.

    The role of *url* needs ``CREATEDB``.
    """
    parsed = make_url(url)
    name = f"{parsed.database}_{uuid.uuid4().hex[:12]}"
    engine = create_engine(parsed, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield parsed.set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as conn:
                # FORCE: a server stopped with SIGKILL may leave a session.
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()
