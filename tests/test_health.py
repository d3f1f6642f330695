"""Tests for flask_servicecbv.health: HealthView runs the visible pings."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from unittest.mock import Mock

import pytest
from flask import Blueprint, Flask, current_app, request

from flask_servicecbv import (
    APP_SERVICES,
    HealthView,
    Service,
    get,
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


@pytest.fixture(name="release")
def _release():
    """
    An event that hanging pings wait on; set at teardown, which then waits
    (bounded) for their threads to end so that none outlives the test.
    """
    release = threading.Event()
    yield release
    release.set()
    for thread in threading.enumerate():
        if thread.name.startswith("flask_servicecbv ping "):
            thread.join(timeout=5)
            assert not thread.is_alive()


class QuickHealth(HealthView):
    """A HealthView with a short timeout, so that the tests are fast."""

    PING_TIMEOUT = 0.2


class TestPingTimeout:
    @pytest.fixture(name="hang_app")
    def _hang_app(self, app, db, cache, release):
        """
        Database's ping hangs until *release* is set; Cache's passes.
        """

        def hang(service: Database) -> None:
            service.ping()
            release.wait(10)

        register_value(app, Database, db, ping=hang)
        register_value(app, Cache, cache, ping=ping_it)
        app.add_url_rule("/health", view_func=QuickHealth.as_view("health"))
        return app

    def test_default(self):
        """
        By default each ping has five seconds.
        """
        assert HealthView.PING_TIMEOUT == 5.0

    def test_hanging_ping_times_out(self, hang_app, cache):
        """
        A ping that takes longer than PING_TIMEOUT gives 503 after about
        PING_TIMEOUT seconds, naming the service as "timeout"; the other
        pings still run.
        """
        start = time.perf_counter()
        response = hang_app.test_client().get("/health")
        elapsed = time.perf_counter() - start

        assert response.status_code == 503
        assert response.json == {
            "status": "failing",
            "failing": ["test_health.Database"],
            "services": {"test_health.Database": "timeout", "test_health.Cache": "ok"},
        }
        assert 0.2 <= elapsed < 2
        cache.ping.assert_called_once_with()

    def test_timeout_logged(self, hang_app, caplog):
        """
        A timeout is logged as a warning naming the service and the timeout.
        """
        with caplog.at_level(logging.WARNING, logger="flask_servicecbv"):
            hang_app.test_client().get("/health")

        assert [r.getMessage() for r in caplog.records] == [
            "Ping of test_health.Database did not finish within 0.2 s."
        ]

    def test_debug_error(self, hang_app):
        """
        In debug mode the error of a timed-out ping says so.
        """
        hang_app.debug = True

        response = hang_app.test_client().get("/health")

        assert response.json["errors"] == {
            "test_health.Database": "TimeoutError: no answer within 0.2 s"
        }

    def test_hung_ping_not_started_again(self, hang_app, db, release, caplog):
        """
        While a timed-out ping still runs, later checks report its service as
        timed out at once, without a second thread; once it ends, the next
        check pings again.
        """
        client = hang_app.test_client()
        client.get("/health")
        caplog.clear()

        with caplog.at_level(logging.WARNING, logger="flask_servicecbv"):
            start = time.perf_counter()
            responses = [client.get("/health") for _ in range(5)]
            elapsed = time.perf_counter() - start

        assert [r.json["services"]["test_health.Database"] for r in responses] == [
            "timeout"
        ] * 5
        assert elapsed < 0.2
        assert db.ping.call_count == 1
        assert caplog.records[0].getMessage() == (
            "Ping of test_health.Database is still running from an earlier "
            "check; not started again."
        )
        release.set()
        (thread,) = (
            t
            for t in threading.enumerate()
            if t.name == "flask_servicecbv ping test_health.Database"
        )
        thread.join(timeout=5)
        response = client.get("/health")
        assert (response.status_code, db.ping.call_count) == (200, 2)

    def test_hung_ping_debug_error(self, hang_app):
        """
        In debug mode a ping not started again says why.
        """
        hang_app.debug = True
        client = hang_app.test_client()
        client.get("/health")

        response = client.get("/health")

        assert response.json["errors"] == {
            "test_health.Database": "TimeoutError: an earlier ping is still running"
        }

    def test_ping_in_request_context(self, app):
        """
        A sync ping runs in a thread of its own, which sees the request's app
        context, request and container.
        """
        seen = []

        def check(service: Database) -> None:
            seen.append(
                (
                    threading.current_thread() is threading.main_thread(),
                    current_app._get_current_object(),
                    request.path,
                    get(Database) is service,
                )
            )

        register_factory(app, Database, Database, ping=check)
        app.add_url_rule("/health", view_func=QuickHealth.as_view("health"))

        assert app.test_client().get("/health").status_code == 200
        assert seen == [(False, app, "/health", True)]

    def test_no_timeout_runs_inline(self, app, db):
        """
        With PING_TIMEOUT = None a sync ping runs in the request's thread.
        """
        threads = []

        class PatientHealth(HealthView):
            PING_TIMEOUT = None

        register_value(
            app, Database, db, ping=lambda _: threads.append(threading.current_thread())
        )
        app.add_url_rule("/health", view_func=PatientHealth.as_view("health"))

        assert app.test_client().get("/health").status_code == 200
        assert threads == [threading.current_thread()]

    def test_no_timeout_failure(self, app, db):
        """
        With PING_TIMEOUT = None a failing sync ping still gives 503.
        """

        class PatientHealth(HealthView):
            PING_TIMEOUT = None

        db.ping.side_effect = ConnectionError("refused")
        register_value(app, Database, db, ping=ping_it)
        app.add_url_rule("/health", view_func=PatientHealth.as_view("health"))

        response = app.test_client().get("/health")

        assert (response.status_code, response.json["failing"]) == (
            503,
            ["test_health.Database"],
        )

    def test_base_exception_propagates(self, app, db):
        """
        A ping that raises what is not an Exception (SystemExit) ends the
        request, as it would without a thread.
        """
        db.ping.side_effect = SystemExit(3)
        register_value(app, Database, db, ping=ping_it)
        app.add_url_rule("/health", view_func=QuickHealth.as_view("health"))

        with pytest.raises(SystemExit, match="3"):
            app.test_client().get("/health")

    def test_sync_ping_beside_async_times_out(self, app, db, cache, release):
        """
        With async pings in the check, a hanging sync ping times out too.
        """

        async def aping(service: Cache) -> None:
            service.ping()

        register_value(app, Database, db, ping=lambda _: release.wait(10))
        register_value(app, Cache, cache, ping=aping)
        app.add_url_rule("/health", view_func=QuickHealth.as_view("health"))

        response = app.test_client().get("/health")

        assert response.json["services"] == {
            "test_health.Database": "timeout",
            "test_health.Cache": "ok",
        }

    def test_async_ping_times_out(self, app, db):
        """
        An async ping that takes longer than PING_TIMEOUT is cancelled and
        its service reported as "timeout".
        """
        events = []

        async def aping(service: Database) -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                events.append("cancelled")
                raise

        register_value(app, Database, db, ping=aping)
        app.add_url_rule("/health", view_func=QuickHealth.as_view("health"))

        start = time.perf_counter()
        response = app.test_client().get("/health")
        elapsed = time.perf_counter() - start

        assert (response.status_code, response.json["services"]) == (
            503,
            {"test_health.Database": "timeout"},
        )
        assert events == ["cancelled"]
        assert 0.2 <= elapsed < 2

    def test_async_ping_own_timeout_error_fails(self, app, db):
        """
        An async ping that raises TimeoutError itself is "failing", with its
        own message, not "timeout".
        """

        async def aping(service: Database) -> None:
            raise TimeoutError("upstream slow")

        register_value(app, Database, db, ping=aping)
        app.add_url_rule("/health", view_func=QuickHealth.as_view("health"))
        app.debug = True

        response = app.test_client().get("/health")

        assert response.json["services"] == {"test_health.Database": "failing"}
        assert response.json["errors"] == {
            "test_health.Database": "TimeoutError: upstream slow"
        }
