"""
A soak test: 100,000 requests through one app's WSGI callable.

Sync and async handlers and a view shared by every request
(``init_every_request = False``), with services that hold a file open until
their cleanup: memory must not grow, no container may stay on ``g`` after
teardown, and no ``ResourceWarning`` may be emitted.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import tracemalloc
import warnings
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask, appcontext_tearing_down, g
from werkzeug.test import EnvironBuilder

from flask_servicecbv import (
    Container,
    ServiceView,
    aget,
    get,
    init_app,
    register_factory,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from typing import BinaryIO

REQUESTS = 100_000
# Memory is measured from here on, once caches and pools have filled.
WARM_UP = 20_000
# tracemalloc traces only what is allocated after it starts, so at the end
# it holds what the measured requests allocated and left alive. A leak of one
# small object per request would be 80,000 blocks and megabytes; what is
# measured is a few hundred blocks and a few KiB, plus, in some runs, one
# block of about 2 MiB: an interpreter table that grew past a size and was
# resized, once.
MAX_GROWTH = 256 * 1024
MAX_BLOCKS = 1_000
# A block this large is a table being resized, not a leaked object; a few
# are allowed, and do not count towards MAX_GROWTH.
LARGE = 64 * 1024
MAX_LARGE = 2

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


class Session:
    """A sync service that holds a file open until its cleanup."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file


class Client:
    """An async service that holds a file open until its cleanup."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file


def soak_app(counts: dict[str, int]) -> Flask:
    """
    An app with a sync and an async generator factory, and three endpoints:
    a sync function, an async ServiceView, and a shared sync ServiceView.
    """
    app = init_app(Flask("soak_app"))

    def session() -> Iterator[Session]:
        with open(os.devnull, "rb") as file:  # noqa: PTH123 -- a plain open file
            yield Session(file)
        counts["closed"] += 1

    async def client() -> AsyncIterator[Client]:
        with open(os.devnull, "rb") as file:  # noqa: PTH123, ASYNC230 -- instant
            yield Client(file)
        counts["closed"] += 1

    register_factory(app, Session, session)
    register_factory(app, Client, client)

    @app.get("/sync")
    def sync_view() -> str:
        return "ok" if not get(Session).file.closed else "closed"

    class AsyncView(ServiceView):
        services = {"session": Session}

        async def get(self) -> str:
            client_ = await aget(Client)
            return "ok" if not (client_.file.closed or self.session.file.closed) else ""

    class SharedView(ServiceView):
        init_every_request = False
        services = {"session": Session}

        def get(self) -> str:
            return "ok" if not self.session.file.closed else "closed"

    app.add_url_rule("/async", view_func=AsyncView.as_view("async"))
    app.add_url_rule("/shared", view_func=SharedView.as_view("shared"))
    return app


def containers_on_g() -> int:
    """
    How many containers the current ``g`` holds.
    """
    return sum(isinstance(value, Container) for value in vars(g).values())


def traced_blocks() -> tracemalloc.Snapshot:
    """
    What tracemalloc traces now and is more than a cache.
    """
    # CPython's method cache keeps the name of each attribute looked up last
    # in each of its 4,096 slots, such as Flask's request.method.lower(): a
    # bounded cache, not a leak, that would otherwise add up to 200 KiB.
    sys._clear_type_cache()
    gc.collect()
    # What coverage.py, when the suite runs under it, allocates for each new
    # thread (asgiref runs every async request in one) is the measuring
    # tool's, not the package's.
    return tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(inclusive=False, filename_pattern="*/coverage/*")]
    )


class TestSoak:
    def test_soak(self):
        """
        100,000 mixed requests: every response is right, every cleanup runs,
        no container is left on ``g`` after the teardown, no ResourceWarning
        is emitted, and traced memory grows less than MAX_GROWTH from request
        20,000 to 100,000.
        """
        counts = {"closed": 0, "torn_down": 0, "left_on_g": 0}
        app = soak_app(counts)

        # Sent after every teardown_appcontext function, while g is still
        # the request's.
        def tearing_down(sender: Flask, **kwargs: Any) -> None:
            counts["torn_down"] += 1
            counts["left_on_g"] += containers_on_g()

        appcontext_tearing_down.connect(tearing_down, app)
        sync, async_, shared = (
            EnvironBuilder(path=path).get_environ()
            for path in ("/sync", "/async", "/shared")
        )
        # One request in twenty is async: asgiref runs each in a new event
        # loop in another thread, which costs 7 to 20 times a sync request
        # and, one in ten, half the test's time.
        environs = [sync, shared] * 9 + [async_, sync]
        # Each request opens files: an async one two, the others one.
        opened = REQUESTS + REQUESTS // len(environs)
        statuses: list[str] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            return None

        def serve(first: int, last: int) -> None:
            for i in range(first, last):
                body = b"".join(app(dict(environs[i % len(environs)]), start_response))
                if body != b"ok":  # pragma: no cover -- only on a bug
                    pytest.fail(f"request {i} answered {body!r}")
            assert statuses == ["200 OK"] * (last - first)
            statuses.clear()

        start = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResourceWarning)
                serve(0, WARM_UP)
                gc.collect()
                tracemalloc.start()
                serve(WARM_UP, REQUESTS)
                left = traced_blocks()
        finally:
            tracemalloc.stop()
            appcontext_tearing_down.disconnect(tearing_down, app)
        elapsed = time.perf_counter() - start

        assert counts == {
            "closed": opened,
            "torn_down": REQUESTS,
            "left_on_g": 0,
        }
        assert [str(w.message) for w in caught] == []
        small = [trace for trace in left.traces if trace.size < LARGE]
        large = [trace.size for trace in left.traces if trace.size >= LARGE]
        growth = sum(trace.size for trace in small)
        print(  # noqa: T201 -- the figures, with pytest -s
            f"\nsoak: {REQUESTS} requests in {elapsed:.1f} s; from request "
            f"{WARM_UP} on, {len(small)} blocks of {growth} bytes left, and "
            f"large blocks of {large} bytes"
        )
        top = [str(stat) for stat in left.statistics("lineno")[:5]]
        assert growth < MAX_GROWTH, top
        assert len(small) < MAX_BLOCKS, top
        assert len(large) <= MAX_LARGE, top
