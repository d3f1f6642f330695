from __future__ import annotations

import http.client
import json
import os
import threading

import pytest
from flask import Flask
from flask.globals import _cv_app, _cv_request
from machine import (
    WholeFilesScheduling,
    drop_worker_database,
    find_program,
    give_worker_a_database,
)
from werkzeug.serving import WSGIRequestHandler, make_server

import flask_servicecbv

# -- what the suite needs from the machine (see machine.py) -------------------


_WORKER_DATABASE = pytest.StashKey[tuple[str, str] | None]()


def pytest_configure(config):
    # Before any test module reads the variable.
    config.stash[_WORKER_DATABASE] = give_worker_a_database(os.environ)


def pytest_unconfigure(config):
    # pytest-cov has stopped measuring by the time this hook runs; what it
    # calls is tested in test_machine.py.
    drop_worker_database(  # pragma: no cover
        config.stash.get(_WORKER_DATABASE, None)
    )


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):  # pragma: no cover
    # Runs in pytest-xdist's controller, which measures no coverage; the
    # scheduler is tested in test_machine.py.
    if config.getvalue("dist") == "loadscope":
        return WholeFilesScheduling(config, log)
    return None


@pytest.fixture(name="program")
def _program():
    """
    ``program("chromium", "chromium-browser", install="apt-get install chromium")``
    returns the path of a program the test needs, or skips the test.
    """
    return find_program


@pytest.fixture(name="app")
def _app():
    """
    A testing app with the service registry installed.
    """
    app = Flask("test_app")
    app.config["TESTING"] = True
    return flask_servicecbv.init_app(app)


@pytest.fixture(name="client")
def _client(app):
    return app.test_client()


@pytest.fixture(name="app_ctx")
def _app_ctx(app):
    with app.app_context() as ctx:
        yield ctx


@pytest.fixture(autouse=True)
def _leak_detector():
    """
    Fail a test that leaves an app or request context pushed.
    """
    yield
    leaks = []
    while _cv_request.get(None) is not None:  # pragma: no cover -- only on a bug
        leaks.append(_cv_request.get())
        _cv_request.get().pop()
    while _cv_app.get(None) is not None:  # pragma: no cover -- only on a bug
        leaks.append(_cv_app.get())
        _cv_app.get().pop()
    assert leaks == []


class _QuietHandler(WSGIRequestHandler):
    """Keeps the server's request log out of the test output."""

    def log(self, kind, message, *args):
        pass


def _fetch(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.fixture(name="serve_threaded")
def _serve_threaded():
    """
    Serve an app with a threaded Werkzeug server on 127.0.0.1 and have
    *threads* client threads GET *path* *requests* times each.

    Returns every (status, JSON body), client by client. Bounded: socket
    timeouts, joins with timeouts, and the server is shut down in any case.
    """

    def serve(app, path, *, threads, requests):
        results = {}

        def run_client(index):
            results[index] = [_fetch(port, path) for _ in range(requests)]

        server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler
        )
        port = server.socket.getsockname()[1]
        serving = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        serving.start()
        try:
            clients = [
                threading.Thread(target=run_client, args=(i,), daemon=True)
                for i in range(threads)
            ]
            for thread in clients:
                thread.start()
            for thread in clients:
                thread.join(timeout=60)
            assert not any(thread.is_alive() for thread in clients)
        finally:
            server.shutdown()
            serving.join(timeout=10)
            server.server_close()
        assert not serving.is_alive()
        assert sorted(results) == list(range(threads))
        return [response for index in sorted(results) for response in results[index]]

    return serve
