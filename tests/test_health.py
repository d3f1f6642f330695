"""Tests for flask_servicecbv.health: HealthView runs the visible pings."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from unittest.mock import Mock

import pytest
from flask import (
    Blueprint,
    Flask,
    after_this_request,
    appcontext_pushed,
    current_app,
    has_request_context,
)

from flask_servicecbv import (
    APP_SERVICES,
    HealthView,
    Service,
    get,
    health,
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
    for thread in ping_threads():
        thread.join(timeout=5)
        assert not thread.is_alive()


class QuickHealth(HealthView):
    """A HealthView with a short timeout, so that the tests are fast."""

    PING_TIMEOUT = 0.2


def ping_threads() -> list[threading.Thread]:
    """
    The threads of sync pings that are running.
    """
    return [
        thread
        for thread in threading.enumerate()
        if thread.name.startswith("flask_servicecbv ping ")
    ]


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

    @pytest.fixture(name="max_threads", params=[1, 2])
    def _max_threads(self, request, monkeypatch):
        """
        QuickHealth with each of these MAX_PING_THREADS.
        """
        monkeypatch.setattr(QuickHealth, "MAX_PING_THREADS", request.param)
        return request.param

    def test_hung_pings_bounded(self, hang_app, db, release, caplog, max_threads):
        """
        A check that finds no ping of the service younger than its timeout
        starts one, up to MAX_PING_THREADS threads per service; past that,
        while they all hang, checks report "timeout" at once without a new
        thread; once one ends, the next check pings again.
        """
        client = hang_app.test_client()
        for _ in range(max_threads):
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
        assert db.ping.call_count == max_threads
        assert [t.name for t in ping_threads()].count(
            "flask_servicecbv ping test_health.Database"
        ) == max_threads
        assert caplog.records[0].getMessage() == (
            f"{max_threads} earlier pings of test_health.Database are still "
            "running; not started again."
        )
        release.set()
        for thread in ping_threads():
            thread.join(timeout=5)
        response = client.get("/health")
        assert (response.status_code, db.ping.call_count) == (200, max_threads + 1)

    def test_hung_ping_debug_error(self, hang_app):
        """
        In debug mode a ping not started again says why.
        """
        hang_app.debug = True
        client = hang_app.test_client()
        for _ in range(QuickHealth.MAX_PING_THREADS):
            client.get("/health")

        response = client.get("/health")

        assert response.json["errors"] == {
            "test_health.Database": "TimeoutError: earlier pings are still running"
        }

    def test_ping_in_own_app_context(self, app):
        """
        A sync ping runs in a thread of its own, in an app context of its own:
        the same app, no request, its own container (so its own instance of
        the service, not the request's), cleaned up in that thread.
        """
        seen = []
        made = []

        def make_db():
            db = Database()
            made.append(db)
            yield db
            seen.append(("cleanup", threading.current_thread().name))

        def check(service: Database) -> None:
            seen.append(
                (
                    threading.current_thread() is threading.main_thread(),
                    current_app._get_current_object(),
                    has_request_context(),
                    get(Database) is service,
                )
            )

        class TouchingHealth(QuickHealth):
            def get(self):
                get(Database)  # the request's own instance
                return super().get()

        register_factory(app, Database, make_db, ping=check)
        app.add_url_rule("/health", view_func=TouchingHealth.as_view("health"))

        assert app.test_client().get("/health").status_code == 200
        assert seen == [
            (False, app, False, True),
            ("cleanup", "flask_servicecbv ping test_health.Database"),
            ("cleanup", "MainThread"),
        ]
        request_db, ping_db = made
        assert request_db is not ping_db

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


class TestConcurrentChecks:
    """
    Checks that run at the same time each get a real answer: one that
    arrives while a ping of the service is under way shares its outcome.
    """

    class SlowHealth(HealthView):
        """Time enough for a ping of a few milliseconds on a busy machine."""

        PING_TIMEOUT = 2.0

    def test_probes_during_a_ping_share_it(self, app, db, monkeypatch):
        """
        A check that arrives while another's ping runs waits for that ping
        and gives its answer, instead of "timeout" or a second ping.
        """
        waiting = threading.Semaphore(0)

        class Waited(threading.Event):
            def wait(self, timeout=None):
                waiting.release()
                return super().wait(timeout)

        class Flight(health._Flight):
            def __init__(self):
                super().__init__()
                self.done = Waited()

        monkeypatch.setattr(health, "_Flight", Flight)
        proceed = threading.Event()
        db.ping.side_effect = lambda: proceed.wait(10)
        register_value(app, Database, db, ping=ping_it)
        app.add_url_rule("/health", view_func=self.SlowHealth.as_view("health"))
        answers = []

        def probe():
            answers.append(app.test_client().get("/health").status_code)

        probes = [threading.Thread(target=probe) for _ in range(2)]
        for thread in probes:
            thread.start()
        # Both checks wait for the one ping before it may answer.
        assert waiting.acquire(timeout=5)
        assert waiting.acquire(timeout=5)
        proceed.set()
        for thread in probes:
            thread.join(timeout=5)

        assert answers == [200, 200]
        assert db.ping.call_count == 1

    def test_failure_shared(self, app, db):
        """
        A shared failing ping fails every check that waited for it.
        """
        db.ping.side_effect = ConnectionError("refused")
        register_value(app, Database, db, ping=ping_it)
        app.add_url_rule("/health", view_func=self.SlowHealth.as_view("health"))

        response = app.test_client().get("/health")

        assert response.json["services"] == {"test_health.Database": "failing"}

    def test_forty_probes_four_at_a_time(self, app, serve_threaded):
        """
        40 checks over HTTP, 4 at a time, of a healthy service whose ping
        takes a few milliseconds: all answer 200, and no more pings run than
        checks.
        """
        pinged = []

        def ping(service: Database) -> None:
            pinged.append(service)
            time.sleep(0.005)

        register_factory(app, Database, Database, ping=ping)
        app.add_url_rule("/health", view_func=self.SlowHealth.as_view("health"))

        responses = serve_threaded(app, "/health", threads=4, requests=10)

        assert len(responses) == 40
        assert {status for status, _ in responses} == {200}
        assert 1 <= len(pinged) <= 40

    def test_hung_ping_probed_concurrently(self, app, db, release, serve_threaded):
        """
        Checks of a ping that hangs, 4 at a time, all answer 503 "timeout"
        within PING_TIMEOUT and a margin, with at most MAX_PING_THREADS
        threads for the service.
        """
        db.ping.side_effect = lambda: release.wait(10)
        register_value(app, Database, db, ping=ping_it)
        app.add_url_rule("/health", view_func=QuickHealth.as_view("health"))

        start = time.perf_counter()
        responses = serve_threaded(app, "/health", threads=4, requests=3)
        elapsed = time.perf_counter() - start

        assert {
            (status, body["services"]["test_health.Database"])
            for status, body in responses
        } == {(503, "timeout")}
        # Three rounds of at most one timeout each, and a margin.
        assert elapsed < 3 * QuickHealth.PING_TIMEOUT + 1.5
        assert db.ping.call_count <= QuickHealth.MAX_PING_THREADS
        assert len(ping_threads()) <= QuickHealth.MAX_PING_THREADS


class Connection:
    """
    A connection that one thread at a time may use, as a database
    connection: a query that hangs holds it, and a rollback waits for it.
    """

    def __init__(self, release: threading.Event) -> None:
        self.lock = threading.Lock()
        self.release = release
        self.rolled_back_in: list[str] = []

    def query(self) -> None:
        with self.lock:
            self.release.wait(10)

    def rollback(self) -> None:
        with self.lock:
            self.rolled_back_in.append(threading.current_thread().name)


class TestPingIsolation:
    def test_hung_database_does_not_hang_the_check(self, app, release):
        """
        When the database hangs, the check still answers within
        PING_TIMEOUT and a margin: the ping's connection is its own and its
        factory registers no hook on the request, so the request's thread
        (which rolls back its own connection) never waits for the connection
        the hung ping holds; the ping's cleanup runs in the ping's thread once
        the query returns.
        """
        connections = []

        def connect():
            conn = Connection(release)
            connections.append(conn)
            if has_request_context():

                @after_this_request
                def end_transaction(response):
                    conn.rollback()
                    return response

            yield conn
            conn.rollback()

        class BusyHealth(QuickHealth):
            def get(self):
                # The request uses a connection of its own too.
                get(Connection)
                return super().get()

        register_factory(app, Connection, connect, ping=Connection.query)
        app.add_url_rule("/health", view_func=BusyHealth.as_view("health"))

        start = time.perf_counter()
        response = app.test_client().get("/health")
        elapsed = time.perf_counter() - start

        assert (response.status_code, response.json["services"]) == (
            503,
            {"test_health.Connection": "timeout"},
        )
        assert elapsed < QuickHealth.PING_TIMEOUT + 1
        release.set()
        for thread in ping_threads():
            thread.join(timeout=5)
        request_conn, ping_conn = connections
        assert request_conn.rolled_back_in == ["MainThread", "MainThread"]
        assert ping_conn.rolled_back_in == [
            "flask_servicecbv ping test_health.Connection"
        ]

    def test_cleanup_runs_before_the_answer(self, app):
        """
        A healthy service's ping has run its cleanup (given its connection
        back) by the time the check answers, so an app that closes its
        registry right after finds nothing still in use.
        """
        events = []

        def connect():
            yield Database()
            time.sleep(0.05)
            events.append("cleaned up")

        class SlowHealth(HealthView):
            PING_TIMEOUT = 2.0

        register_factory(app, Database, connect, ping=ping_it)
        app.add_url_rule("/health", view_func=SlowHealth.as_view("health"))

        response = app.test_client().get("/health")
        events.append("answered")

        assert response.status_code == 200
        assert events == ["cleaned up", "answered"]

    def test_ping_cleaning_up_is_not_hung(self, app):
        """
        A ping that has finished and is still cleaning up, within its
        timeout, does not count against MAX_PING_THREADS: a check that
        arrives meanwhile starts a ping of its own and gets a real answer.
        """
        cleaning = threading.Event()
        go_on = threading.Event()

        def connect():
            yield Database()
            if not cleaning.is_set():
                cleaning.set()
                go_on.wait(5)

        class OneThread(HealthView):
            PING_TIMEOUT = 2.0
            MAX_PING_THREADS = 1

        register_factory(app, Database, connect, ping=ping_it)
        app.add_url_rule("/health", view_func=OneThread.as_view("health"))
        answers = []
        first = threading.Thread(
            target=lambda: answers.append(app.test_client().get("/health"))
        )
        first.start()
        assert cleaning.wait(5)

        second = app.test_client().get("/health")
        go_on.set()
        first.join(timeout=5)

        assert (second.status_code, answers[0].status_code) == (200, 200)

    def test_finished_ping_not_shared_during_its_cleanup(self, app, release):
        """
        A ping that passed and whose cleanup then hangs (the database froze
        after the query) is not handed to a check that arrives meanwhile: that
        check runs a ping of its own, which times out, instead of reporting
        the stale "ok".
        """
        cleaning = threading.Event()
        queries = []

        def connect():
            yield Connection(release)
            cleaning.set()
            release.wait(10)  # the rollback on a frozen connection

        def query(conn):
            queries.append(threading.current_thread().name)
            if len(queries) > 1:
                conn.query()  # the database no longer answers

        class SlowHealth(HealthView):
            PING_TIMEOUT = 2.0

        register_factory(app, Connection, connect, ping=query)
        app.add_url_rule("/health", view_func=SlowHealth.as_view("health"))
        client = app.test_client()

        first = client.get("/health")
        assert cleaning.wait(5)
        start = time.perf_counter()
        second = client.get("/health")
        elapsed = time.perf_counter() - start
        release.set()
        for thread in ping_threads():
            thread.join(timeout=5)

        assert (first.status_code, second.status_code) == (200, 503)
        assert second.json["services"] == {"test_health.Connection": "timeout"}
        assert len(queries) == 2
        assert SlowHealth.PING_TIMEOUT <= elapsed < SlowHealth.PING_TIMEOUT + 1

    def test_blueprint_chain(self, app, cache):
        """
        The ping's own container searches the request's chain: on a
        blueprint, a factory that gets another of the blueprint's services
        finds it.
        """
        made = []

        def make_db():
            made.append(get(Cache))
            return Database()

        ops = Blueprint("ops", __name__)
        register_value(ops, Cache, cache)
        register_factory(ops, Database, make_db, ping=bool)
        ops.add_url_rule("/health", view_func=QuickHealth.as_view("health"))
        app.register_blueprint(ops, url_prefix="/ops")

        response = app.test_client().get("/ops/health")

        assert (response.status_code, made) == (200, [cache])

    def test_teardown_failure_logged(self, app, db, caplog):
        """
        A teardown of the ping's app context that fails is logged; the ping's
        outcome stands.
        """

        @app.teardown_appcontext
        def fail_in_ping_threads(exc):
            if threading.current_thread() is not threading.main_thread():
                raise RuntimeError("teardown broke")

        register_value(app, Database, db, ping=ping_it)
        app.add_url_rule("/health", view_func=QuickHealth.as_view("health"))

        with caplog.at_level(logging.ERROR, logger="flask_servicecbv"):
            response = app.test_client().get("/health")

        assert response.status_code == 200
        (record,) = caplog.records
        assert record.getMessage() == (
            "Ending the app context of the ping of test_health.Database failed."
        )
        assert str(record.exc_info[1]) == "teardown broke"

    def test_push_failure_fails_the_ping(self, app, db):
        """
        When the ping's app context cannot be pushed, the service is
        reported as failing with that error.
        """

        def refuse(sender, **kwargs):
            if threading.current_thread() is not threading.main_thread():
                raise RuntimeError("no context here")

        register_value(app, Database, db, ping=ping_it)
        app.add_url_rule("/health", view_func=QuickHealth.as_view("health"))
        app.debug = True

        with appcontext_pushed.connected_to(refuse, app):
            response = app.test_client().get("/health")

        assert response.json["errors"] == {
            "test_health.Database": "RuntimeError: no context here"
        }
        db.ping.assert_not_called()


class TestNames:
    def test_registered_name(self, app, db, cache):
        """
        /health reports a service under the name= it was registered with.
        """
        register_value(app, Database, db, ping=ping_it, name="database")
        register_value(app, Cache, cache, ping=ping_it)
        app.add_url_rule("/health", view_func=QuickHealth.as_view("health"))
        db.ping.side_effect = ConnectionError("refused")

        response = app.test_client().get("/health")

        assert response.json == {
            "status": "failing",
            "failing": ["database"],
            "services": {"database": "failing", "test_health.Cache": "ok"},
        }
