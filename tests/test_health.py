"""Tests for flask_servicecbv.health: HealthView runs the visible pings."""

from __future__ import annotations

import logging
from unittest.mock import Mock

import pytest
from flask import Blueprint, Flask

from flask_servicecbv import (
    APP_SERVICES,
    HealthView,
    Service,
    init_app,
    register_factory,
    register_value,
)


class Database:
    """A service key whose fakes are pinged."""

    def ping(self) -> None:
        """
        Check the connection; faked with ``Mock(spec_set=Database)``.
        """


class Cache:
    """A second service key."""

    def ping(self) -> None:
        """
        Check the connection; faked with ``Mock(spec_set=Cache)``.
        """


def ping_it(service: Database | Cache) -> None:
    """
    The ping registered for the fakes: calls their ``ping``.
    """
    service.ping()


@pytest.fixture(name="db")
def _db():
    return Mock(spec_set=Database)


@pytest.fixture(name="cache")
def _cache():
    return Mock(spec_set=Cache)


@pytest.fixture(name="health_app")
def _health_app(app, db, cache):
    """
    The app with a Database and a Cache that have pings, and /health.
    """
    register_value(app, Database, db, ping=ping_it)
    register_value(app, Cache, cache, ping=ping_it)
    app.add_url_rule("/health", view_func=HealthView.as_view("health"))
    return app


class TestHealthView:
    def test_all_pass(self, health_app, db, cache):
        """
        When every ping passes the answer is 200 with each service "ok".
        """
        response = health_app.test_client().get("/health")

        assert response.status_code == 200
        assert response.json == {
            "status": "ok",
            "services": {"test_health.Database": "ok", "test_health.Cache": "ok"},
        }
        db.ping.assert_called_once_with()
        cache.ping.assert_called_once_with()

    def test_no_pings(self, app):
        """
        Without pings the app is healthy and lists no services.
        """
        app.add_url_rule("/health", view_func=HealthView.as_view("health"))

        response = app.test_client().get("/health")

        assert (response.status_code, response.json) == (
            200,
            {"status": "ok", "services": {}},
        )

    def test_one_fails(self, health_app, db, cache):
        """
        A failing ping gives 503 naming it; the other pings still run, and the
        exception text is left out when the app is not in debug mode.
        """
        db.ping.side_effect = ConnectionError("password=hunter2 refused")

        response = health_app.test_client().get("/health")

        assert response.status_code == 503
        assert response.json == {
            "status": "failing",
            "failing": ["test_health.Database"],
            "services": {"test_health.Database": "failing", "test_health.Cache": "ok"},
        }
        assert "hunter2" not in response.text
        cache.ping.assert_called_once_with()

    def test_all_fail_sorted(self, health_app, db, cache):
        """
        "failing" lists every failing service, sorted by name.
        """
        db.ping.side_effect = ConnectionError("down")
        cache.ping.side_effect = TimeoutError("slow")

        response = health_app.test_client().get("/health")

        assert response.status_code == 503
        assert response.json["failing"] == ["test_health.Cache", "test_health.Database"]

    def test_debug_includes_errors(self, health_app, db):
        """
        In debug mode the answer includes each failure's exception text.
        """
        health_app.debug = True
        db.ping.side_effect = ConnectionError("refused")

        response = health_app.test_client().get("/health")

        assert response.status_code == 503
        assert response.json["errors"] == {
            "test_health.Database": "ConnectionError: refused"
        }

    def test_failure_logged(self, health_app, db, caplog):
        """
        A failing ping is logged with its traceback on "flask_servicecbv".
        """
        error = ConnectionError("refused")
        db.ping.side_effect = error

        with caplog.at_level(logging.WARNING, logger="flask_servicecbv"):
            health_app.test_client().get("/health")

        (record,) = caplog.records
        assert record.name == "flask_servicecbv"
        assert record.levelno == logging.WARNING
        assert record.getMessage() == "Ping of test_health.Database failed."
        assert record.exc_info is not None
        assert record.exc_info[1] is error


class TestAsyncPings:
    def test_async_ping_passes(self, app, db):
        """
        An ``async def`` ping is awaited through app.ensure_sync.
        """

        async def aping(service: Database) -> None:
            service.ping()

        register_value(app, Database, db, ping=aping)
        app.add_url_rule("/health", view_func=HealthView.as_view("health"))

        response = app.test_client().get("/health")

        assert response.json == {
            "status": "ok",
            "services": {"test_health.Database": "ok"},
        }
        db.ping.assert_called_once_with()

    def test_async_ping_fails(self, app, db):
        """
        An async ping's exception marks its service as failing.
        """

        async def aping(service: Database) -> None:
            service.ping()

        db.ping.side_effect = ConnectionError("refused")
        register_value(app, Database, db, ping=aping)
        app.add_url_rule("/health", view_func=HealthView.as_view("health"))

        response = app.test_client().get("/health")

        assert response.status_code == 503
        assert response.json["failing"] == ["test_health.Database"]

    def test_async_and_sync_pings_together(self, app, db, cache):
        """
        With one async ping, the sync pings run in the same pass and report too.
        """

        async def aping(service: Database) -> None:
            service.ping()

        cache.ping.side_effect = TimeoutError("slow")
        register_value(app, Database, db, ping=aping)
        register_value(app, Cache, cache, ping=ping_it)
        app.add_url_rule("/health", view_func=HealthView.as_view("health"))

        response = app.test_client().get("/health")

        assert response.status_code == 503
        assert response.json["services"] == {
            "test_health.Database": "ok",
            "test_health.Cache": "failing",
        }

    def test_async_generator_cleanup_runs(self, app):
        """
        A service made by an async generator factory for its ping is cleaned
        up in the pings' event loop, not skipped at the sync teardown.
        """
        events = []

        async def connect():
            events.append("open")
            yield Database()
            events.append("close")

        register_factory(app, Database, connect, ping=lambda service: None)
        app.add_url_rule("/health", view_func=HealthView.as_view("health"))

        response = app.test_client().get("/health")

        assert response.status_code == 200
        assert events == ["open", "close"]

    def test_configured_service_async_ping(self):
        """
        A configured Service with ``async def ping`` is pinged too.
        """
        pinged = []

        class HealthAsyncPingService(Service):
            async def ping(self) -> None:
                pinged.append(self)

        app = Flask("health_app")
        app.config["SERVICES"] = {APP_SERVICES: {"HealthAsyncPingService": {}}}
        init_app(app)
        app.add_url_rule("/health", view_func=HealthView.as_view("health"))

        response = app.test_client().get("/health")

        assert response.json["services"] == {
            f"{__name__}.{HealthAsyncPingService.__qualname__}": "ok"
        }
        assert len(pinged) == 1
        assert isinstance(pinged[0], HealthAsyncPingService)


class TestVisibility:
    @pytest.fixture(name="ops_app")
    def _ops_app(self, app, db, cache):
        """
        The app pings a Database; the "ops" blueprint adds a Cache.
        """
        register_value(app, Database, db, ping=ping_it)
        ops = Blueprint("ops", __name__)
        register_value(ops, Cache, cache, ping=ping_it)
        ops.add_url_rule("/health", view_func=HealthView.as_view("health"))
        app.add_url_rule("/health", view_func=HealthView.as_view("health"))
        app.register_blueprint(ops, url_prefix="/ops")
        return app

    def test_on_blueprint(self, ops_app, db, cache):
        """
        On a blueprint, HealthView runs the blueprint's and the app's pings.
        """
        response = ops_app.test_client().get("/ops/health")

        assert response.json["services"] == {
            "test_health.Database": "ok",
            "test_health.Cache": "ok",
        }
        cache.ping.assert_called_once_with()

    def test_on_app(self, ops_app, db, cache):
        """
        On the app, HealthView runs only the app's pings.
        """
        response = ops_app.test_client().get("/health")

        assert response.json["services"] == {"test_health.Database": "ok"}
        cache.ping.assert_not_called()

    def test_blueprint_failure_only_on_blueprint(self, ops_app, cache):
        """
        A failing blueprint service fails the blueprint's health, not the app's.
        """
        cache.ping.side_effect = ConnectionError("refused")
        client = ops_app.test_client()

        assert client.get("/ops/health").status_code == 503
        assert client.get("/health").status_code == 200
