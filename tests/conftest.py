from __future__ import annotations

import pytest
from flask import Flask
from flask.globals import _cv_app, _cv_request

import flask_servicecbv


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
