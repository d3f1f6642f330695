"""
example_api as deploying.md runs it: Debian's nginx, with the configuration
the page shows, in front of two gunicorn instances on one PostgreSQL, all on
loopback.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
from servers import (
    NGINX,
    ROOT,
    chunked,
    free_port,
    gunicorn,
    head_of,
    nginx,
    postgresql_database,
    request,
    stream,
)
from test_example_api import postgresql_url

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from servers import Reply, Server

pytestmark = pytest.mark.slow

EXAMPLES = ROOT / "docs" / "examples" / "deploying"

BOOKMARKS = "/api/v1/bookmarks"
BOOKMARK = {"url": "https://flask.palletsprojects.com/", "title": "Flask"}

#: The ports of docs/examples/deploying/nginx.conf: nginx's, then the two
#: gunicorn instances'.
CONFIG_PORTS = (8000, 8001, 8002)


def nginx_path(environ, path: Path = NGINX) -> Path:
    """
    Return Debian's nginx.

    Without it, the test is skipped; in CI (``CI`` set), it fails.
    """
    if not path.exists():
        if environ.get("CI"):
            pytest.fail(f"CI must install nginx ({path}): apt-get install nginx.")
        pytest.skip(f"nginx tests skipped: {path} is not installed.")
    return path


def site_config(ports: tuple[int, int, int]) -> str:
    """
    docs/examples/deploying/nginx.conf with its loopback ports replaced by
    *ports* (nginx's, then the two instances').
    """
    config = (EXAMPLES / "nginx.conf").read_text()
    mapping = dict(zip(CONFIG_PORTS, ports, strict=True))
    config, count = re.subn(
        r"127\.0\.0\.1:(800[0-2])\b",
        lambda m: f"127.0.0.1:{mapping[int(m.group(1))]}",
        config,
    )
    assert count == len(CONFIG_PORTS), config
    return config


class TestHarness:
    def test_skipped_without_nginx(self, tmp_path):
        """
        Without nginx, the tests are skipped, saying why.
        """
        with pytest.raises(pytest.skip.Exception, match="is not installed"):
            nginx_path({}, tmp_path / "nginx")

    def test_fails_in_ci_without_nginx(self, tmp_path):
        """
        In CI, a missing nginx fails the test instead.
        """
        with pytest.raises(pytest.fail.Exception, match="CI must install nginx"):
            nginx_path({"CI": "true"}, tmp_path / "nginx")

    def test_site_config(self):
        """
        The page's configuration gets the test's ports, every one of them.
        """
        config = site_config((1, 2, 3))

        assert "listen 127.0.0.1:1;" in config
        assert "server 127.0.0.1:2;" in config
        assert "server 127.0.0.1:3;" in config


# -- the deployment ------------------------------------------------------------


class Deployment:
    """nginx in front of two gunicorn instances, on one database."""

    def __init__(self, proxy: Server, instances: tuple[Server, Server]) -> None:
        self.proxy = proxy
        self.instances = instances
        self.access_log = proxy.log.parent / "access.log"


@pytest.fixture(name="deployment", scope="module")
def _deployment(tmp_path_factory) -> Iterator[Deployment]:
    nginx_path(os.environ)
    url = postgresql_url(os.environ)
    with postgresql_database(url) as database_url:
        # The instances serve wsgi.py: example_api behind ProxyFix.
        app = "wsgi:app"
        options = [f"--pythonpath={EXAMPLES}"]
        with (
            gunicorn(
                tmp_path_factory.mktemp("one"), database_url, *options, app=app
            ) as one,
            gunicorn(
                tmp_path_factory.mktemp("two"), database_url, *options, app=app
            ) as two,
        ):
            port = free_port()
            config = site_config((port, one.port, two.port))
            with nginx(tmp_path_factory.mktemp("nginx"), config, port) as proxy:
                yield Deployment(proxy, (one, two))


# -- slow uploads --------------------------------------------------------------


def _slow_uploads(port: int, clients: int, seconds: float, probes: int) -> list[Any]:
    """
    Have *clients* POST a bookmark each, sending the body a few bytes at a
    time over *seconds*; meanwhile, probe with *probes* quick GETs, each
    given a second and a half. Return the probes' replies (None: no answer
    in time), then the uploads'.
    """
    body = (
        b'{"url": "https://example.org/slow", "title": "'
        + b"s" * 100
        + b'", "notes": "'
        + b"n" * 100
        + b'"}'
    )
    pieces = 30
    size = -(-len(body) // pieces)

    def trickle() -> Iterator[bytes]:
        for start in range(0, len(body), size):
            time.sleep(seconds / pieces)
            yield body[start : start + size]

    head = head_of(
        "POST",
        BOOKMARKS,
        {"Content-Type": "application/json", "Content-Length": str(len(body))},
    )

    def probe(_: int) -> Reply | None:
        try:
            return request(port, "GET", f"{BOOKMARKS}?per_page=1", timeout=1.5)
        except TimeoutError:
            return None

    with ThreadPoolExecutor(clients + probes) as pool:
        uploads = [
            pool.submit(stream, port, head, trickle(), timeout=seconds + 20)
            for _ in range(clients)
        ]
        # Every upload has sent its headers and holds its connection.
        time.sleep(seconds / 4)
        answers = list(pool.map(probe, range(probes)))
        return [*answers, *(upload.result(timeout=seconds + 30) for upload in uploads)]


class TestSlowUploads:
    CLIENTS = 8
    SECONDS = 3.0

    def test_direct_uploads_starve_gunicorn(self, deployment):
        """
        Straight to gunicorn (2 workers x 4 threads), slow uploads hold the
        threads that read them: quick requests wait behind them.

        Twice as many uploads as threads: which worker accepts a connection
        is the kernel's choice, and with as many uploads as threads one
        worker may get fewer than its four and answer every probe.
        """
        port = deployment.instances[0].port
        uploads_sent = 2 * self.CLIENTS

        replies = _slow_uploads(port, uploads_sent, self.SECONDS, self.CLIENTS)

        probes, uploads = replies[: self.CLIENTS], replies[self.CLIENTS :]
        assert None in probes
        assert [upload.status for upload in uploads] == [201] * uploads_sent

    def test_nginx_buffers_slow_uploads(self, deployment):
        """
        Through nginx, which reads each body in full first, the same slow
        uploads hold no gunicorn thread: every quick request is answered.
        """
        port = deployment.proxy.port

        replies = _slow_uploads(port, self.CLIENTS, self.SECONDS, self.CLIENTS)

        probes, uploads = replies[: self.CLIENTS], replies[self.CLIENTS :]
        assert None not in probes
        assert [probe.status for probe in probes] == [200] * self.CLIENTS
        assert [upload.status for upload in uploads] == [201] * self.CLIENTS

    def test_chunked_body_passed_on(self, deployment):
        """
        A chunked body within the limit goes through nginx, which reads it
        whole before gunicorn sees it: the bookmark is created.
        """
        body = json.dumps(
            {"url": "https://example.org/chunked", "title": "Chunked"}
        ).encode()
        head = head_of(
            "POST",
            BOOKMARKS,
            {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        )

        reply = stream(deployment.proxy.port, head, chunked(body, 16))

        assert reply.status == 201
        assert reply.json()["title"] == "Chunked"

    def test_large_body_refused_by_nginx(self, deployment):
        """
        A body over the app's limit is refused by nginx with a JSON 413,
        before any of it reaches gunicorn.
        """
        body = b"[" + b"1," * 1_000_000 + b"1]"
        json_type = {"Content-Type": "application/json"}
        sized = stream(
            deployment.proxy.port,
            head_of("POST", BOOKMARKS, {**json_type, "Content-Length": str(len(body))}),
            [body],
        )
        streamed = stream(
            deployment.proxy.port,
            head_of("POST", BOOKMARKS, {**json_type, "Transfer-Encoding": "chunked"}),
            chunked(body, 65536),
        )

        for reply in (sized, streamed):
            assert reply.status == 413
            assert reply.headers["Content-Type"] == "application/json"
            assert reply.json()["code"] == 413

    def test_large_body_refused_by_gunicorn(self, deployment):
        """
        Straight to gunicorn, the app refuses a body over its limit from the
        Content-Length with the same JSON 413, at once: it reads none of the
        16 MB and closes the connection, so the client's send is cut short.
        """
        body = b"[" + b"1," * 8_000_000 + b"1]"
        head = head_of(
            "POST",
            BOOKMARKS,
            {"Content-Type": "application/json", "Content-Length": str(len(body))},
        )

        reply = stream(deployment.instances[0].port, head, [body])

        assert reply.status == 413
        assert reply.json()["code"] == 413
        assert reply.seconds < 2


# -- concurrent conditional writes across instances ----------------------------


class TestIfMatchAcrossInstances:
    ROUNDS = 100
    CLIENTS = 4

    def test_one_winner_per_round(self, deployment):
        """
        Rounds of 4 PATCHes of one bookmark at once, with one If-Match,
        through nginx to both instances: exactly one 200 per round, the
        others 412.
        """
        port = deployment.proxy.port
        item = request(port, "POST", BOOKMARKS, body=BOOKMARK).json()
        path = f"{BOOKMARKS}/{item['id']}"
        outcomes = []
        start = time.monotonic()
        with ThreadPoolExecutor(self.CLIENTS) as pool:
            for round_ in range(self.ROUNDS):
                etag = request(port, "GET", path).headers["ETag"]
                ready = threading.Barrier(self.CLIENTS, timeout=10)

                def patch(
                    client: int,
                    round_: int = round_,
                    etag: str = etag,
                    ready: threading.Barrier = ready,
                ) -> int:
                    ready.wait()
                    return request(
                        port,
                        "PATCH",
                        path,
                        body={"title": f"{round_}-{client}"},
                        headers={"If-Match": etag},
                    ).status

                outcomes.append(
                    sorted(pool.map(patch, range(self.CLIENTS), timeout=30))
                )
        seconds = time.monotonic() - start

        assert outcomes == [[200, 412, 412, 412]] * self.ROUNDS
        assert seconds < 60
        # Both instances served the PATCHes.
        served = _upstreams(deployment, "PATCH")
        assert served == {f"127.0.0.1:{i.port}" for i in deployment.instances}


def _upstreams(deployment: Deployment, method: str) -> set[str]:
    """The instances that nginx's access log shows serving *method*."""
    lines = deployment.access_log.read_text().splitlines()
    return {line.split()[-1] for line in lines if line.startswith(method)}


# -- ProxyFix and trusted hosts ------------------------------------------------


class TestProxyHeaders:
    def _list(self, deployment: Deployment, **headers: Any) -> Reply:
        request(deployment.proxy.port, "POST", BOOKMARKS, body=BOOKMARK)
        request(deployment.proxy.port, "POST", BOOKMARKS, body=BOOKMARK)
        return request(
            deployment.proxy.port,
            "GET",
            f"{BOOKMARKS}?per_page=1",
            headers=headers,
        )

    def test_links_name_the_proxy(self, deployment):
        """
        Behind ProxyFix, the Link header's URLs name the proxy, which the
        client reached, not the instance behind it.
        """
        reply = self._list(deployment)

        assert reply.status == 200
        base = f"<http://127.0.0.1:{deployment.proxy.port}{BOOKMARKS}?"
        links = reply.headers["Link"].split(", ")
        assert all(link.startswith(base) for link in links), links

    def test_client_forwarded_headers_replaced(self, deployment):
        """
        X-Forwarded-* headers sent by the client are replaced by nginx's own:
        they never reach the Link header.
        """
        reply = self._list(
            deployment,
            **{
                "X-Forwarded-Host": "evil.example",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": "203.0.113.9",
            },
        )

        assert reply.status == 200
        assert "evil.example" not in reply.headers["Link"]
        assert "https:" not in reply.headers["Link"]

    def test_untrusted_host_refused(self, deployment):
        """
        A Host that TRUSTED_HOSTS does not name is refused with 400 behind
        the proxy too.
        """
        reply = self._list(deployment, Host="evil.example")

        assert reply.status == 400
        assert "Link" not in reply.headers
