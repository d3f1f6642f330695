"""Tests for flask_servicecbv.extension: init_app, registration, lookups, overrides."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import importlib.util
import inspect
import itertools
import logging
import re
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NewType
from unittest.mock import Mock, create_autospec

import pytest
from flask import Blueprint, Flask
from flask.views import MethodView

import flask_servicecbv
from flask_servicecbv import (
    RegisteredService,
    Registry,
    ServiceCBV,
    ServiceCBVError,
    ServiceNotFoundError,
    aclose_registry,
    aget,
    close_registry,
    container,
    get,
    get_pings,
    init_app,
    override,
    overwrite_factory,
    overwrite_value,
    register_factory,
    register_value,
    registry,
)
from flask_servicecbv.exceptions import (
    AsyncServiceError,
    ConfigurationError,
    InvalidKeyError,
    NoAppContextError,
    NotInitializedError,
    RegistrationError,
)
from flask_servicecbv.extension import EXTENSION_KEY

# -- keys and fakes ----------------------------------------------------------


@dataclass
class Database:
    """A service key; instances carry the name of whoever made them."""

    name: str = "app"


@dataclass
class Cache:
    """A second service key."""

    name: str = "app"


@dataclass
class Repository:
    """A service that depends on a Database."""

    db: Database


class Mailer:
    """A service with behaviour, faked with ``Mock(spec_set=Mailer)``."""

    def send(self, to: str) -> str:
        return f"sent to {to}"


DatabaseURL = NewType("DatabaseURL", str)
ReadOnlyDatabase = Annotated[Database, "read-only"]


class Session:
    """
    A context manager service, to fake in tests.
    """

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        pass


def full_name(key: type) -> str:
    return f"{key.__module__}.{key.__qualname__}"


def tracked(name: str, events: list[str]):
    """
    A generator factory making ``Database(name)`` that records its life cycle.
    """

    def factory():
        events.append(f"open {name}")
        yield Database(name)
        events.append(f"close {name}")

    return factory


@contextmanager
def managed(name: str, events: list[str]):
    events.append(f"enter {name}")
    yield Cache(name)
    events.append(f"exit {name}")


class ShowDatabase(MethodView):
    """Shows the name of the Database that the request's chain resolves to."""

    def get(self):
        return {"db": get(Database).name}


def repository_via_get() -> Repository:
    return Repository(get(Database))


def repository_via_container(container) -> Repository:
    return Repository(container.get(Database))


@pytest.fixture(name="api")
def _api():
    """
    A blueprint named "api" with a ShowDatabase view at /api/db, not yet
    registered.
    """
    bp = Blueprint("api", __name__, url_prefix="/api")
    bp.add_url_rule("/db", view_func=ShowDatabase.as_view("db"))
    return bp


@pytest.fixture(name="events")
def _events():
    return []


# -- tests -------------------------------------------------------------------


class TestInitApp:
    def test_installs_registry(self):
        """
        init_app stores a Registry under app.extensions["servicecbv"] and
        returns the app.
        """
        app = Flask("fresh")

        assert init_app(app) is app
        assert isinstance(app.extensions[EXTENSION_KEY], Registry)
        assert EXTENSION_KEY == "servicecbv"
        with app.app_context():
            assert registry._get_current_object() is app.extensions["servicecbv"]

    def test_twice_is_harmless(self):
        """
        A second init_app keeps the registry and its registrations and installs
        no second teardown.
        """
        app = init_app(Flask("fresh"))
        reg = app.extensions[EXTENSION_KEY]
        register_value(app, Database, Database("kept"))

        assert init_app(app) is app

        assert app.extensions[EXTENSION_KEY] is reg
        assert len(app.teardown_appcontext_funcs) == 1
        with app.app_context():
            assert get(Database) == Database("kept")

    @pytest.mark.parametrize("deferred", [False, True])
    def test_extension_object(self, deferred):
        """
        ServiceCBV(app) and ServiceCBV().init_app(app) install the same
        registry as init_app(app), and the object keeps no app.
        """
        app = Flask("fresh")

        if deferred:
            ext = ServiceCBV()
            assert ext.init_app(app) is app
        else:
            ext = ServiceCBV(app)

        assert isinstance(app.extensions[EXTENSION_KEY], Registry)
        assert vars(ext) == {}

    def test_after_first_request_changes_nothing(self):
        """
        On an app that already handled a request, Flask refuses the teardown
        function: init_app raises and leaves the app as it was, so a second
        call raises again instead of returning quietly.
        """
        app = Flask("served")
        app.config["SERVICES"] = {}
        app.add_url_rule("/", view_func=lambda: "plain")
        app.test_client().get("/")
        extensions = dict(app.extensions)
        commands = dict(app.cli.commands)

        for _ in range(2):
            with pytest.raises(
                RegistrationError,
                match=r"'served' has already handled a request.*call init_app\(app\) "
                r"where the app is created\.$",
            ):
                init_app(app)

            assert app.extensions == extensions
            assert EXTENSION_KEY not in app.extensions
            assert app.cli.commands == commands
            assert app.teardown_appcontext_funcs == []

    def test_teardown_without_services(self, app, client):
        """
        Requests that touch no service, and a teardown run outside any app
        context, leave nothing behind and raise nothing.
        """
        app.add_url_rule("/", view_func=lambda: "plain")

        assert client.get("/").text == "plain"
        app.do_teardown_appcontext()


class TestCaching:
    def test_same_instance_within_request(self, app, client):
        """
        get() returns the same instance for the whole request, through every
        way of asking, and the next request gets a new one.
        """
        register_factory(app, Database, Database)
        seen = []

        class Show(MethodView):
            def get(self):
                first = get(Database)
                seen.append(first)
                same = get(Database) is first and container.get(Database) is first
                return {"same": same}

        app.add_url_rule("/", view_func=Show.as_view("show"))

        assert client.get("/").json == {"same": True}
        assert client.get("/").json == {"same": True}
        assert seen[0] is not seen[1]

    def test_new_instance_per_app_context(self, app):
        """
        Each app context gets its own instance; several keys give a tuple.
        """
        register_factory(app, Database, Database)
        register_factory(app, Cache, Cache)

        with app.app_context():
            db, cache = get(Database, Cache)
            assert get(Database) is db
            assert get(Cache, Database) == (cache, db)
        with app.app_context():
            assert get(Database) is not db
            assert get(Database) == db

    def test_container_proxy(self, app_ctx):
        """
        The container proxy gives the same container for the whole app context.
        """
        first = container._get_current_object()

        assert container._get_current_object() is first
        assert container.chain == (None,)


class TestCleanup:
    def test_lifo_at_teardown(self, app, client, events):
        """
        Generator factories and context managers are cleaned up last in, first
        out, at teardown_appcontext: after the view returned.
        """
        register_factory(app, Database, tracked("gen", events))
        register_factory(app, Cache, lambda: managed("cm factory", events))
        register_value(app, Mailer, managed("cm value", events), enter=True)
        register_factory(app, DatabaseURL, tracked("gen 2", events))

        class Show(MethodView):
            def get(self):
                db, cache, mailer, url = get(Database, Cache, Mailer, DatabaseURL)
                events.append("view")
                return {"names": [db.name, cache.name, mailer.name, url.name]}

        app.add_url_rule("/", view_func=Show.as_view("show"))

        response = client.get("/")

        assert response.json == {"names": ["gen", "cm factory", "cm value", "gen 2"]}
        assert events == [
            "open gen",
            "enter cm factory",
            "enter cm value",
            "open gen 2",
            "view",
            "close gen 2",
            "exit cm value",
            "exit cm factory",
            "close gen",
        ]

    def test_failing_cleanup_is_logged(self, app, client, events, caplog):
        """
        A cleanup that raises is logged on the "flask_servicecbv" logger; the
        cleanups before and after it still run and the response is untouched.
        """

        class Broken:
            def __enter__(self):
                return "broken"

            def __exit__(self, *exc_info):
                events.append("exit broken")
                raise OSError("cannot release")

        register_factory(app, Database, tracked("first", events))
        register_factory(app, Cache, Broken)
        register_factory(app, DatabaseURL, tracked("last", events))

        class Show(MethodView):
            def get(self):
                return {"cache": get(Database, Cache, DatabaseURL)[1]}

        app.add_url_rule("/", view_func=Show.as_view("show"))
        caplog.set_level(logging.ERROR, logger="flask_servicecbv")

        response = client.get("/")

        assert response.status_code == 200
        assert response.json == {"cache": "broken"}
        assert events == [
            "open first",
            "open last",
            "close last",
            "exit broken",
            "close first",
        ]
        [record] = caplog.records
        assert record.name == "flask_servicecbv"
        assert record.getMessage() == f"Cleanup of service {full_name(Cache)} failed."
        assert isinstance(record.exc_info[1], OSError)

    def test_view_error_reaches_generator(self, app, client):
        """
        An exception that ends the request is thrown into the generator
        factories at their yield, so they can roll back.
        """
        seen = []

        def transaction():
            try:
                yield Database("tx")
            except LookupError as e:
                seen.append(f"rollback after {e}")
                raise

        register_factory(app, Database, transaction)

        class Show(MethodView):
            def get(self):
                raise LookupError(get(Database).name)

        app.add_url_rule("/", view_func=Show.as_view("show"))

        with pytest.raises(LookupError, match="tx"):
            client.get("/")
        assert seen == ["rollback after tx"]


class TestBlueprintLayers:
    def test_blueprint_overrides_app(self, app, client, api):
        """
        A blueprint's registration wins in that blueprint's requests; app
        routes keep the app's.
        """
        register_value(app, Database, Database("app"))
        register_value(api, Database, Database("api"))
        app.add_url_rule("/db", view_func=ShowDatabase.as_view("db"))
        app.register_blueprint(api)

        assert client.get("/api/db").json == {"db": "api"}
        assert client.get("/db").json == {"db": "app"}

    def test_nested_blueprint_inherits(self, app, client):
        """
        In "api.v2" requests, v2's own registrations win, then its parent's,
        then the app's.
        """
        api = Blueprint("api", __name__, url_prefix="/api")
        v2 = Blueprint("v2", __name__, url_prefix="/v2")
        register_value(app, Database, Database("app"))
        register_value(app, Cache, Cache("app"))
        register_value(app, Mailer, Mock(spec_set=Mailer))
        register_value(api, Database, Database("api"))
        register_value(api, Cache, Cache("api"))
        register_value(v2, Cache, Cache("v2"))

        class Show(MethodView):
            def get(self):
                db, cache, mailer = get(Database, Cache, Mailer)
                return {
                    "db": db.name,
                    "cache": cache.name,
                    "mailer": isinstance(mailer, Mock),
                }

        v2.add_url_rule("/show", view_func=Show.as_view("show"))
        api.register_blueprint(v2)
        app.register_blueprint(api)

        response = client.get("/api/v2/show")

        assert response.json == {"db": "api", "cache": "v2", "mailer": True}

    def test_blueprint_under_two_names(self, app, client, api):
        """
        A blueprint registered twice under different names has its services
        in both layers, each layer with its own instance.
        """
        register_factory(api, Database, functools.partial(Database, "bp"))
        app.register_blueprint(api)
        app.register_blueprint(api, name="other", url_prefix="/other")

        assert client.get("/api/db").json == {"db": "bp"}
        assert client.get("/other/db").json == {"db": "bp"}
        with app.app_context():
            first = get(Database, blueprint="api")
            second = get(Database, blueprint="other")
            assert first == second == Database("bp")
            assert first is not second
            assert get(Database, blueprint="api") is first
            assert {"api", "other"} <= set(registry.layers)

    def test_blueprint_on_two_apps(self, api):
        """
        A blueprint registered on two apps gives its services to both.
        """
        register_value(api, Database, Database("bp"))
        apps = [init_app(Flask("first")), init_app(Flask("second"))]
        for app in apps:
            app.register_blueprint(api)

        for app in apps:
            assert app.test_client().get("/api/db").json == {"db": "bp"}
            assert set(app.extensions[EXTENSION_KEY].layers) == {None, "api"}

    @pytest.mark.parametrize(
        "factory",
        [repository_via_get, repository_via_container],
        ids=["get", "container-parameter"],
    )
    def test_dependency_sees_override(self, app, client, api, factory):
        """
        An app-level factory that asks for a Database gets the blueprint's
        Database in the blueprint's requests and the app's elsewhere.
        """
        register_factory(app, Repository, factory)
        register_value(app, Database, Database("app"))
        register_value(api, Database, Database("api"))

        class Show(MethodView):
            def get(self):
                return {"db": get(Repository).db.name}

        api.add_url_rule("/repo", view_func=Show.as_view("repo"))
        app.add_url_rule("/repo", view_func=Show.as_view("repo"))
        app.register_blueprint(api)

        assert client.get("/api/repo").json == {"db": "api"}
        assert client.get("/repo").json == {"db": "app"}

    def test_blueprint_chain_outside_request(self, app):
        """
        Outside a request, get(key, blueprint="outer.inner") searches inner,
        outer, then the app; without blueprint= only the app layer is searched.
        """
        outer = Blueprint("outer", __name__)
        inner = Blueprint("inner", __name__)
        register_value(app, Database, Database("app"))
        register_value(app, DatabaseURL, "sqlite://")
        register_value(outer, Database, Database("outer"))
        register_value(outer, Cache, Cache("outer"))
        register_value(inner, Database, Database("inner"))
        outer.register_blueprint(inner)
        app.register_blueprint(outer)

        with app.app_context():
            db, cache, url = get(Database, Cache, DatabaseURL, blueprint="outer.inner")
            assert (db.name, cache.name, url) == ("inner", "outer", "sqlite://")
            assert get(Database, blueprint="outer") == Database("outer")
            assert get(Database) == Database("app")
            with pytest.raises(ServiceNotFoundError, match=r"in the app; blueprint"):
                get(Cache)

    @pytest.mark.parametrize("factory", [repository_via_get, repository_via_container])
    def test_blueprint_argument_reaches_dependencies(self, app, api, factory):
        """
        Outside a request, get(key, blueprint=...) also makes the factory's own
        dependencies come from that blueprint's chain, sync and async.
        """
        register_factory(app, Repository, factory)
        register_value(app, Database, Database("app"))
        register_value(api, Database, Database("api"))
        app.register_blueprint(api)

        async def aget_repository():
            return await aget(Repository, blueprint="api")

        with app.app_context():
            assert get(Repository, blueprint="api").db.name == "api"
            assert get(Database).name == "app"
        with app.app_context():
            assert asyncio.run(aget_repository()).db.name == "api"
            assert get(Database).name == "app"

    def test_blueprint_argument_stays_in_its_task(self, app, api):
        """
        An aget(..., blueprint=) running concurrently with a plain aget() in
        the same app context does not lend its chain to the other task, and
        its factories' own lookups (through aget() and the container proxy)
        search its chain.
        """

        def slow_database(name):
            async def factory():
                await asyncio.sleep(0)  # let the other task run in between
                return Database(name)

            return factory

        async def repository():
            db = await aget(Database)
            await asyncio.sleep(0)
            assert await container.aget(Database) is db
            return Repository(db)

        register_factory(app, Database, slow_database("app"))
        register_factory(api, Database, slow_database("api"))
        register_factory(app, Repository, repository)
        app.register_blueprint(api)

        async def both():
            return await asyncio.gather(
                aget(Repository, blueprint="api"), aget(Database), aget(Repository)
            )

        with app.app_context():
            api_repo, app_db, app_repo = asyncio.run(both())

        assert (api_repo.db.name, app_db.name, app_repo.db.name) == (
            "api",
            "app",
            "app",
        )

    @pytest.mark.parametrize(
        "call", ["get", "aget", "get_pings", "container.get", "container.get_pings"]
    )
    def test_unknown_blueprint_argument(self, app, api, call):
        """
        A blueprint= name that no registered blueprint has is an error, not a
        silent fall-back to the app layer.
        """
        register_value(app, Database, Database("app"))
        app.register_blueprint(api)

        async def use_aget():
            return await aget(Database, blueprint="apy")

        calls = {
            "get": lambda: get(Database, blueprint="apy"),
            "aget": lambda: asyncio.run(use_aget()),
            "get_pings": lambda: get_pings(blueprint="apy"),
            "container.get": lambda: container.get(Database, blueprint="apy"),
            "container.get_pings": lambda: container.get_pings(blueprint="apy"),
        }
        with (
            app.app_context(),
            pytest.raises(RegistrationError, match=r"No blueprint named 'apy'.*'api'"),
        ):
            calls[call]()

    def test_request_inside_app_context(self, app, api):
        """
        A request context pushed inside an app context searches the request's
        chain, and app-layer instances made before the request are the same
        objects during and after it.
        """
        register_factory(app, Cache, Cache)
        register_value(app, Database, Database("app"))
        register_value(api, Database, Database("api"))
        app.register_blueprint(api)

        with app.app_context():
            cache = get(Cache)
            assert get(Database).name == "app"
            with app.test_request_context("/api/db"):
                assert get(Database).name == "api"
                assert get(Cache) is cache
                assert container.chain == ("api", None)
            assert get(Database).name == "app"
            assert get(Cache) is cache
            assert container.chain == (None,)


class TestServiceNotFound:
    @pytest.mark.parametrize(
        ("elsewhere", "hint"),
        [
            (
                True,
                (
                    "; blueprint 'other' has it, so register it on one of the "
                    "searched layers instead."
                ),
            ),
            (False, "; register it with register_factory() or register_value()."),
        ],
    )
    def test_message(self, app, client, api, elsewhere, hint):
        """
        A missing key raises ServiceNotFoundError naming the key, the layers
        searched and, if there is one, another layer that has it.
        """
        other = Blueprint("other", __name__)
        if elsewhere:
            register_value(other, Database, Database("other"))
        app.register_blueprint(api)
        app.register_blueprint(other)
        expected = f"No service {full_name(Database)} in blueprint 'api', the app{hint}"

        with pytest.raises(ServiceNotFoundError, match=re.escape(expected)) as e:
            client.get("/api/db")

        assert isinstance(e.value, LookupError)
        assert isinstance(e.value, ServiceCBVError)


def _enter_override():
    return override(Database, value=Database()).__enter__()


class TestNoAppContext:
    @pytest.mark.parametrize(
        "use",
        [
            pytest.param(lambda: get(Database), id="get"),
            pytest.param(lambda: container.chain, id="container"),
            pytest.param(lambda: registry.layers, id="registry"),
            pytest.param(lambda: asyncio.run(aget(Database)), id="aget"),
            pytest.param(get_pings, id="get_pings"),
            pytest.param(
                lambda: overwrite_value(Database, Database()), id="overwrite_value"
            ),
            pytest.param(
                lambda: overwrite_factory(Database, Database), id="overwrite_factory"
            ),
            pytest.param(_enter_override, id="override"),
        ],
    )
    def test_raises(self, app, use):
        """
        Outside an app context, every lookup and test helper raises a
        RuntimeError saying to push an application context.
        """
        register_value(app, Database, Database())

        with pytest.raises(
            NoAppContextError,
            match=re.escape("push one with `with app.app_context():`"),
        ) as e:
            use()

        assert isinstance(e.value, RuntimeError)


def _refuse_connection():
    raise ConnectionError("database is down")


class TestGeneratorFactory:
    def test_fails_before_yield_in_app_context(self, app, app_ctx):
        """
        A generator factory failing before its yield propagates out of get()
        and leaves nothing to clean up.
        """

        def connect():
            yield _refuse_connection()

        register_factory(app, Database, connect)

        with pytest.raises(ConnectionError, match="database is down"):
            get(Database)

        assert "instances=0 cleanups=0" in repr(container)

    @pytest.mark.parametrize("testing", [True, False])
    def test_fails_before_yield_in_request(self, app, client, testing):
        """
        In a request the failure propagates when testing, and is a 500
        otherwise.
        """

        def connect():
            yield _refuse_connection()

        register_factory(app, Database, connect)
        app.add_url_rule("/db", view_func=ShowDatabase.as_view("db"))
        app.testing = testing

        if testing:
            with pytest.raises(ConnectionError, match="database is down"):
                client.get("/db")
        else:
            assert client.get("/db").status_code == 500

    def test_fails_after_yield(self, app, client, caplog):
        """
        A generator factory failing after its yield is logged; the response
        is unaffected.
        """

        def connect():
            yield Database("flaky")
            raise ConnectionError("lost the connection while closing")

        register_factory(app, Database, connect)
        app.add_url_rule("/db", view_func=ShowDatabase.as_view("db"))
        caplog.set_level(logging.ERROR, logger="flask_servicecbv")

        response = client.get("/db")

        assert response.status_code == 200
        assert response.json == {"db": "flaky"}
        [record] = caplog.records
        assert record.name == "flask_servicecbv"
        assert full_name(Database) in record.getMessage()
        assert isinstance(record.exc_info[1], ConnectionError)


class TestAsync:
    def test_aget_and_aclose(self, app, events):
        """
        aget() creates a service from an async generator factory, caches it,
        and container.aclose() runs its async cleanup.
        """

        async def connect():
            events.append("open")
            yield Database("async")
            events.append("close")

        register_factory(app, Database, connect)
        register_factory(app, Cache, Cache)

        async def main():
            db, cache = await aget(Database, Cache)
            assert await aget(Database) is db
            assert get(Cache) is cache
            events.append("used")
            await container.aclose()
            return db

        with app.app_context():
            assert asyncio.run(main()) == Database("async")
            assert events == ["open", "used", "close"]

    def test_aget_in_request(self, app, api):
        """
        aget() in a request searches the request's chain.
        """

        async def connect():
            yield Database("api async")

        register_value(app, Database, Database("app"))
        register_factory(api, Database, connect)
        app.register_blueprint(api)

        async def main():
            db = await aget(Database)
            await container.aclose()
            return db

        with app.test_request_context("/api/db"):
            assert asyncio.run(main()) == Database("api async")
        with app.app_context():
            assert asyncio.run(main()) == Database("app")
            assert asyncio.run(aget(Database, blueprint="api")) is not None
            asyncio.run(container.aclose())

    def test_get_of_async_service(self, app, app_ctx):
        """
        get() of a service with an async factory says to use aget().
        """

        async def connect():
            return Database("async")

        register_factory(app, Database, connect)

        with pytest.raises(AsyncServiceError, match=r"use `await aget\("):
            get(Database)
        assert asyncio.run(aget(Database)) == Database("async")


class TestOverwrite:
    @pytest.mark.parametrize(
        ("enter", "entered"), [({}, True), ({"enter": False}, False)]
    )
    def test_overwrite_value_enters_by_default(self, app, events, enter, entered):
        """
        As in svcs.flask, overwrite_value() enters a context manager value
        unless told not to (register_value() does not by default).
        """
        fake = managed("fake", events)

        with app.app_context():
            overwrite_value(Cache, fake, **enter)
            got = get(Cache)

        assert (got == Cache("fake")) is entered
        assert (got is fake) is not entered
        assert events == (["enter fake", "exit fake"] if entered else [])

    def test_overwrite_value_with_spec_set_mock(self, app, client):
        """
        A Mock(spec_set=Real) of a context manager class passes isinstance()
        for Real but has no __enter__: like the with statement, overwrite_value
        goes by its type and hands out the mock itself, in requests too.
        """
        seen = []
        app.add_url_rule("/", view_func=lambda: seen.append(get(Session)) or "ok")
        real = Session()
        register_value(app, Session, real, enter=True)
        fake = Mock(spec_set=Session)

        with app.app_context():
            assert get(Session) is real
            overwrite_value(Session, fake)
            assert get(Session) is fake
        assert client.get("/").text == "ok"

        assert seen == [fake]
        assert fake.mock_calls == []

    def test_overwrite_factory_with_spec_set_mock(self, app):
        """
        A factory that returns a Mock(spec_set=Real) of a context manager
        class hands out the mock, as overwrite_value does.
        """
        register_value(app, Session, Session(), enter=True)
        fake = Mock(spec_set=Session)

        with app.app_context():
            overwrite_factory(Session, lambda: fake)
            assert get(Session) is fake

        assert fake.mock_calls == []

    def test_overwrite_factory_with_async_spec_set_mock(self, app):
        """
        An async factory's Mock(spec_set=Real) of an async context manager
        class is handed out, not entered.
        """

        class AsyncSession:
            async def __aenter__(self):  # pragma: no cover -- never entered
                return self

            async def __aexit__(self, *exc):  # pragma: no cover
                return None

        fake = Mock(spec_set=AsyncSession)

        async def make():
            return fake

        register_value(app, AsyncSession, AsyncSession())
        with app.app_context():
            overwrite_factory(AsyncSession, make)
            assert asyncio.run(aget(AsyncSession)) is fake

    def test_unhashable_key(self, app):
        """
        get() with an unhashable key raises InvalidKeyError, a TypeError and
        a ServiceNotFoundError, in the hot path too.
        """
        with app.app_context(), pytest.raises(TypeError, match=r"The key \[1\] is not"):
            get([1])
        with app.app_context(), pytest.raises(InvalidKeyError, match="not hashable"):
            get([1])

    def test_overwrite_value_with_autospec(self, app):
        """
        create_autospec(Real, instance=True) has __enter__ and __exit__ on its
        type, so it is entered and exited, as `with fake as session:` would.
        """
        fake = create_autospec(Session, instance=True)

        with app.app_context():
            overwrite_value(Session, fake)
            assert get(Session) is fake.__enter__.return_value
            fake.__exit__.assert_not_called()

        fake.__enter__.assert_called_once_with()
        fake.__exit__.assert_called_once_with(None, None, None)

    @pytest.mark.parametrize(
        ("blueprint", "app_chain_name"), [(None, "new"), ("api", "old")]
    )
    def test_overwrite_factory(self, app, api, events, blueprint, app_chain_name):
        """
        overwrite_factory replaces the app's or a blueprint's registration and
        resets the current container, running its cleanups.
        """
        register_factory(app, Database, tracked("old", events))
        app.register_blueprint(api)

        with app.app_context():
            assert get(Database, blueprint=blueprint).name == "old"

            overwrite_factory(Database, tracked("new", events), blueprint=blueprint)

            assert events == ["open old", "close old"]
            assert get(Database, blueprint=blueprint).name == "new"
            assert get(Database).name == app_chain_name

    @pytest.mark.parametrize(
        ("blueprint", "app_route"), [(None, "fake"), ("api", "app")]
    )
    def test_overwrite_value(self, app, client, api, blueprint, app_route):
        """
        overwrite_value's replacement is what later requests get.
        """
        register_value(app, Database, Database("app"))
        app.add_url_rule("/db", view_func=ShowDatabase.as_view("db"))
        app.register_blueprint(api)

        with app.test_request_context("/api/db"):
            assert get(Database).name == "app"
            overwrite_value(Database, Database("fake"), blueprint=blueprint)
            assert get(Database).name == "fake"

        assert client.get("/api/db").json == {"db": "fake"}
        assert client.get("/db").json == {"db": app_route}

    @pytest.mark.parametrize(
        ("register_api", "known"), [(False, "none"), (True, "'api'")]
    )
    def test_unknown_blueprint(self, app, api, register_api, known):
        """
        Overwriting in a blueprint that is not registered names it and the
        registered ones.
        """
        if register_api:
            app.register_blueprint(api)
        expected = (
            f"No blueprint named 'apx' is registered on the app (registered: {known})"
        )

        with (
            app.app_context(),
            pytest.raises(RegistrationError, match=re.escape(expected)),
        ):
            overwrite_value(Database, Database(), blueprint="apx")


class TestOverride:
    def test_replaces_and_restores(self, app, app_ctx):
        """
        override() replaces a registration for the block and restores the
        previous one after it.
        """
        mailer = Mailer()
        fake = Mock(spec_set=Mailer)
        fake.send.return_value = "faked"
        register_value(app, Mailer, mailer)

        with override(Mailer, value=fake):
            assert get(Mailer).send("a@example.com") == "faked"

        assert get(Mailer) is mailer
        assert get(Mailer).send("a@example.com") == "sent to a@example.com"

    def test_restores_absence(self, app_ctx):
        """
        Overriding a key that was not registered unregisters it afterwards.
        """
        with override(Cache, value=Cache("temporary")):
            assert get(Cache).name == "temporary"

        with pytest.raises(ServiceNotFoundError, match=full_name(Cache)):
            get(Cache)

    def test_restores_when_block_raises(self, app, app_ctx):
        """
        The previous registration comes back even if the block raises.
        """
        register_value(app, Database, Database("real"))

        def fail():
            raise ValueError(f"failed with {get(Database).name}")

        with (
            pytest.raises(ValueError, match="failed with fake"),
            override(Database, value=Database("fake")),
        ):
            fail()

        assert get(Database).name == "real"

    @pytest.mark.parametrize(
        "kwargs", [{}, {"value": Database(), "factory": Database}], ids=["none", "both"]
    )
    def test_exactly_one_of_value_and_factory(self, app_ctx, kwargs):
        """
        override() needs exactly one of value= and factory=.
        """
        expected = f"Give override({Database!r}) exactly one of value= and factory=."

        with pytest.raises(RegistrationError, match=re.escape(expected)):
            override(Database, **kwargs).__enter__()

    def test_factory_in_blueprint(self, app, api, events):
        """
        override(factory=..., blueprint=...) replaces the blueprint's layer
        only, and its instances are cleaned up when the block ends.
        """
        register_value(app, Database, Database("app"))
        app.register_blueprint(api)

        with app.app_context():
            with override(Database, factory=tracked("fake", events), blueprint="api"):
                assert get(Database, blueprint="api").name == "fake"
                assert get(Database).name == "app"
                assert events == ["open fake"]
            assert events == ["open fake", "close fake"]
            assert get(Database, blueprint="api").name == "app"

    def test_value_entered(self, app_ctx, events):
        """
        override(value=..., enter=True) enters a context manager value.
        """
        with override(Cache, value=managed("cm", events), enter=True):
            assert get(Cache) == Cache("cm")

        assert events == ["enter cm", "exit cm"]


class TestPings:
    def test_visible_pings(self, app, api):
        """
        get_pings() returns the pings of the current chain: in a blueprint's
        request, the blueprint's and the app's; each has a name, ping() and
        aping().
        """
        pinged = []

        async def ping_cache(cache):
            pinged.append(cache)

        register_value(app, Database, Database("app"), ping=pinged.append)
        register_value(app, Mailer, Mailer())
        register_value(api, Cache, Cache("api"), ping=ping_cache)
        app.register_blueprint(api)

        with app.test_request_context("/api/db"):
            pings = sorted(get_pings(), key=lambda p: p.name)
            assert [p.name for p in pings] == [full_name(Cache), full_name(Database)]
            for p in pings:
                asyncio.run(p.aping())
            pings[1].ping()

        assert pinged == [Cache("api"), Database("app"), Database("app")]

    def test_app_chain_and_blueprint_argument(self, app, api):
        """
        Outside a request only the app's pings are visible, unless blueprint=
        picks a chain.
        """
        register_value(app, Database, Database("app"), ping=len)
        register_value(api, Cache, Cache("api"), ping=len)
        app.register_blueprint(api)

        with app.app_context():
            assert [p.name for p in get_pings()] == [full_name(Database)]
            names = {p.name for p in get_pings(blueprint="api")}
            assert names == {full_name(Database), full_name(Cache)}

    def test_named_pings(self, app, api):
        """
        name= gives a ping its name, for a factory and a value, in the app's
        layer and a blueprint's; a registration without one keeps its key's.
        """
        register_factory(app, Database, Database, ping=len, name="database")
        register_value(api, Cache, Cache("api"), ping=len, name="cache")
        register_value(app, Mailer, Mailer(), ping=bool)
        app.register_blueprint(api)

        with app.test_request_context("/api/db"):
            names = sorted(p.name for p in get_pings())

        assert names == sorted(["cache", "database", full_name(Mailer)])


class TestSignatures:
    @pytest.mark.parametrize(
        ("function", "shown"),
        [
            (overwrite_factory, "ping: 'Callable[..., Any] | None' = KEEP"),
            (overwrite_value, "ping: 'Callable[..., Any] | None' = KEEP"),
            (override, "value: 'object' = UNSET"),
            (RegisteredService, "factory: 'object' = NO_FACTORY"),
        ],
    )
    def test_defaults_read_well(self, function, shown):
        """
        Sentinel defaults show by name in signatures and help(), not as
        <object object at 0x...>.
        """
        assert shown in str(inspect.signature(function))

    @pytest.mark.parametrize(
        "name",
        [
            name
            for name in flask_servicecbv.__all__
            if inspect.isfunction(getattr(flask_servicecbv, name))
            or inspect.isclass(getattr(flask_servicecbv, name))
        ],
    )
    def test_no_bare_object_defaults(self, name):
        """
        No public function or class has a default that shows as a bare
        object().
        """
        try:
            signature = str(inspect.signature(getattr(flask_servicecbv, name)))
        except ValueError:  # exceptions: a builtin signature
            return
        assert "object at 0x" not in signature


class TestTypeCheck:
    def test_overwrite_check_runs(self, app_ctx, monkeypatch):
        """
        The module that mypy checks for the overwrite functions' ping= runs.
        """
        path = Path(__file__).parent / "type_check" / "check_overwrite.py"
        spec = importlib.util.spec_from_file_location("check_overwrite", path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, "check_overwrite", module)
        spec.loader.exec_module(module)

        db = module.swap()

        assert isinstance(db, Mock)
        # override() restored the overwrite_factory() that dropped the ping.
        assert get_pings() == []
        db.ping.assert_not_called()
        module.Database().ping()


#: The ways a test swaps a registration, for the fixture `use`.
OVERWRITE_WAYS = ["overwrite_value", "overwrite_factory", "override"]


@pytest.fixture(name="use")
def _use(request):
    """
    Swap Database for a fake by *request.param*: use(stack, fake, **kw),
    where *stack* is an ExitStack that ends override()'s block.
    """
    return {
        "overwrite_value": lambda _, fake, **kw: overwrite_value(Database, fake, **kw),
        "overwrite_factory": lambda _, fake, **kw: overwrite_factory(
            Database, lambda: fake, **kw
        ),
        "override": lambda stack, fake, **kw: stack.enter_context(
            override(Database, value=fake, **kw)
        ),
    }[request.param]


class TestOverwritePing:
    """
    The overwrite functions keep the replaced registration's ping unless
    given one; ping=None drops it.
    """

    @staticmethod
    def failing_ping(db):
        raise ConnectionError(db.name)

    @staticmethod
    def ping_result(each):
        try:
            each.ping()
        except ConnectionError as e:
            return f"failing {e}"
        return "ok"

    def ping_results(self):
        return {each.name: self.ping_result(each) for each in get_pings()}

    WAYS = OVERWRITE_WAYS

    @pytest.mark.parametrize("use", WAYS, indirect=True)
    def test_kept_by_default(self, app, use):
        """
        A fake that fails the original ping makes the health check fail.
        """
        register_value(app, Database, Database("real"), ping=self.failing_ping)

        with app.app_context(), contextlib.ExitStack() as stack:
            assert self.ping_results() == {full_name(Database): "failing real"}
            use(stack, Database("fake"))
            assert self.ping_results() == {full_name(Database): "failing fake"}

    @pytest.mark.parametrize("use", WAYS, indirect=True)
    def test_replaced(self, app, use):
        """
        A ping given to the overwrite replaces the original one.
        """
        register_value(app, Database, Database("real"), ping=len)

        with app.app_context(), contextlib.ExitStack() as stack:
            use(stack, Database("fake"), ping=self.failing_ping)
            assert self.ping_results() == {full_name(Database): "failing fake"}

    @pytest.mark.parametrize("use", WAYS, indirect=True)
    def test_dropped(self, app, use):
        """
        ping=None drops the original ping: the fake is not pinged.
        """
        register_value(app, Database, Database("real"), ping=self.failing_ping)

        with app.app_context(), contextlib.ExitStack() as stack:
            use(stack, Database("fake"), ping=None)
            assert get_pings() == []

    def test_kept_from_outer_layer(self, app, api):
        """
        Overwriting in a blueprint's layer keeps the ping of the registration
        that the blueprint saw, the app's.
        """
        register_value(app, Database, Database("real"), ping=self.failing_ping)
        app.register_blueprint(api)

        with app.test_request_context("/api/db"):
            overwrite_value(Database, Database("fake"), blueprint="api")
            assert self.ping_results() == {full_name(Database): "failing fake"}

    def test_nothing_to_keep(self, app_ctx):
        """
        A key without a registration has no ping to keep.
        """
        overwrite_value(Database, Database("fake"))

        assert get_pings() == []

    def test_override_restores_ping(self, app):
        """
        Leaving override() restores the original registration, its ping too.
        """
        register_value(app, Database, Database("real"), ping=bool)

        with app.app_context():
            with override(Database, value=Database("fake"), ping=None):
                assert get_pings() == []
            assert self.ping_results() == {full_name(Database): "ok"}

    def test_original_registry_close_still_runs(self, app):
        """
        As in svcs, an overwrite does not drop the replaced registration's
        on_registry_close: what it closes was created at startup. It runs
        once, with the overwrite's own.
        """
        closed = []
        register_value(
            app, Database, Database(), on_registry_close=lambda: closed.append("real")
        )

        with app.app_context():
            overwrite_value(
                Database, Database(), on_registry_close=lambda: closed.append("fake")
            )
            with override(Database, value=Database()):
                pass
        close_registry(app)

        assert closed == ["fake", "real"]


class TestOverwriteName:
    """
    The overwrite functions keep the replaced registration's name unless
    given one, as they keep its ping; name=None goes back to the key's.
    """

    @staticmethod
    def names():
        return [each.name for each in get_pings()]

    WAYS = OVERWRITE_WAYS

    @pytest.mark.parametrize("use", WAYS, indirect=True)
    def test_kept_by_default(self, app, use):
        """
        A fake is reported under the name of the registration it replaces.
        """
        register_value(app, Database, Database("real"), ping=len, name="database")

        with app.app_context(), contextlib.ExitStack() as stack:
            use(stack, Database("fake"))
            assert self.names() == ["database"]

    @pytest.mark.parametrize("use", WAYS, indirect=True)
    def test_replaced(self, app, use):
        """
        A name given to the overwrite replaces the original one, and the ping
        is still kept.
        """
        register_value(app, Database, Database("real"), ping=len, name="database")

        with app.app_context(), contextlib.ExitStack() as stack:
            use(stack, Database("fake"), name="fake database")
            assert self.names() == ["fake database"]

    @pytest.mark.parametrize("use", WAYS, indirect=True)
    def test_none_is_key_name(self, app, use):
        """
        name=None names the replacement after its key.
        """
        register_value(app, Database, Database("real"), ping=len, name="database")

        with app.app_context(), contextlib.ExitStack() as stack:
            use(stack, Database("fake"), name=None)
            assert self.names() == [full_name(Database)]

    def test_nothing_to_keep(self, app_ctx):
        """
        A key without a registration has no name to keep: its key's is used.
        """
        overwrite_value(Database, Database("fake"), ping=len)

        assert self.names() == [full_name(Database)]

    def test_override_restores_name(self, app):
        """
        Leaving override() restores the original registration's name.
        """
        register_value(app, Database, Database("real"), ping=len, name="database")

        with app.app_context():
            with override(Database, value=Database("fake"), name="fake"):
                assert self.names() == ["fake"]
            assert self.names() == ["database"]


class TestCloseRegistry:
    def test_lifo_and_logged_failure(self, app, caplog):
        """
        close_registry runs on_registry_close callbacks last registered first;
        a failing one is logged and the others still run.
        """
        closed = []

        def fail():
            raise OSError("cannot close the pool")

        register_value(
            app, Database, Database(), on_registry_close=lambda: closed.append("db")
        )
        register_value(app, Cache, Cache(), on_registry_close=fail)
        register_value(
            app, Mailer, Mailer(), on_registry_close=lambda: closed.append("mailer")
        )
        caplog.set_level(logging.ERROR, logger="flask_servicecbv")

        close_registry(app)

        assert closed == ["mailer", "db"]
        [record] = caplog.records
        assert record.name == "flask_servicecbv"
        assert record.getMessage() == (
            f"on_registry_close callback of {full_name(Cache)} failed."
        )
        assert isinstance(record.exc_info[1], OSError)

    def test_aclose_registry(self, app):
        """
        aclose_registry awaits async callbacks, in the same order.
        """
        closed = []

        async def close_pool():
            closed.append("pool")

        register_value(app, Database, Database(), on_registry_close=close_pool)
        register_value(
            app, Cache, Cache(), on_registry_close=functools.partial(closed.append, "c")
        )

        asyncio.run(aclose_registry(app))

        assert closed == ["c", "pool"]

    def test_async_callback_skipped_by_close_registry(self, app):
        """
        close_registry cannot run an async callback: it warns instead.
        """

        async def close_pool():
            raise NotImplementedError

        register_value(app, Database, Database(), on_registry_close=close_pool)

        with pytest.warns(RuntimeWarning, match=r"use aclose_registry\(\) to run it"):
            close_registry(app)

    def test_app_without_init_app(self):
        """
        As in svcs.flask, closing the registry of an app without init_app does
        nothing, sync or async.
        """
        app = Flask("plain")

        close_registry(app)
        asyncio.run(aclose_registry(app))

        assert app.extensions == {}

    def test_blueprint_registered_twice_closes_once(self, app, api):
        """
        A blueprint registered twice in one app runs its callback once.
        """
        closed = []
        register_value(
            api, Database, Database(), on_registry_close=lambda: closed.append("bp")
        )
        app.register_blueprint(api)
        app.register_blueprint(api, name="other", url_prefix="/other")

        close_registry(app)
        close_registry(app)

        assert closed == ["bp"]


class TestRegistrationErrors:
    def test_blueprint_already_registered(self, app, api):
        """
        Registering on a blueprint that is already registered is refused.
        """
        app.register_blueprint(api)

        with pytest.raises(
            RegistrationError, match="Blueprint 'api' is already registered"
        ):
            register_value(api, Database, Database())

    def test_app_factory_and_module_level_blueprint(self):
        """
        An app factory that registers services on a blueprint made at module
        level is told, on its second app, that another app has the blueprint.
        """
        api = Blueprint("api", __name__)

        def create_app(name):
            app = init_app(Flask(name))
            register_value(api, Database, Database())
            app.register_blueprint(api)
            return app

        create_app("first")
        with pytest.raises(
            RegistrationError,
            match=(
                r"Blueprint 'api' is already registered on another app "
                r"\('first'\); an app factory must not register services on a "
                r"blueprint made at module level: register them once, next to "
                r"the blueprint"
            ),
        ):
            create_app("second")

    @pytest.mark.parametrize("target", ["api", object()])
    def test_not_app_or_blueprint(self, target):
        """
        Only an app or a Blueprint can receive registrations.
        """
        with pytest.raises(
            RegistrationError,
            match=re.escape(f"on a Flask app or a Blueprint, not on {target!r}."),
        ):
            register_factory(target, Database, Database)

    def test_app_without_init_app(self):
        """
        Registering on an app without init_app says to call it.
        """
        with pytest.raises(
            NotInitializedError,
            match=re.escape("call flask_servicecbv.init_app(app) first"),
        ):
            register_value(Flask("bare"), Database, Database())

    def test_blueprint_before_init_app(self, api):
        """
        A blueprint with services may be registered before init_app: until
        then get() says to call init_app, and following that advice makes the
        blueprint's services resolve, under each of its names.
        """
        register_value(api, Database, Database("api"))
        app = Flask("late")
        app.register_blueprint(api)
        app.register_blueprint(api, name="v2", url_prefix="/v2")
        client = app.test_client()

        with (
            app.app_context(),
            pytest.raises(
                NotInitializedError,
                match=r"^The app 'late' has no service registry; call "
                r"flask_servicecbv\.init_app\(app\) first\.$",
            ),
        ):
            get(Database, blueprint="api")

        init_app(app)

        assert client.get("/api/db").json == {"db": "api"}
        assert client.get("/v2/db").json == {"db": "api"}
        assert set(app.extensions[EXTENSION_KEY].layers) == {None, "api", "v2"}

    def test_blueprint_before_failed_init_app(self, api):
        """
        A failed init_app keeps the blueprint's services for a later one.
        """
        register_value(api, Database, Database("api"))
        app = Flask("late")
        app.config["SERVICES"] = {"__app__": {"NoSuchService": {}}}
        app.register_blueprint(api)

        with pytest.raises(ConfigurationError, match="NoSuchService"):
            init_app(app)
        app.config["SERVICES"] = {}
        init_app(app)

        assert app.test_client().get("/api/db").json == {"db": "api"}

    def test_blueprint_without_services_on_app_without_init_app(self, api):
        """
        A blueprint without services needs no init_app.
        """
        app = Flask("bare")
        app.register_blueprint(api)

        assert "api" in app.blueprints

    def test_get_on_app_without_init_app(self):
        """
        get() in an app context of an app without init_app says to call it.
        """
        with (
            Flask("bare").app_context(),
            pytest.raises(
                NotInitializedError, match=r"The app 'bare' has no service registry"
            ),
        ):
            get(Database)


class TestIntrospection:
    def test_done_at_registration(self, app, client, monkeypatch):
        """
        Whether a factory wants the container, and what kind of factory it is,
        is worked out when it is registered: requests inspect nothing.
        """
        register_value(app, Database, Database("app"))
        register_factory(app, Repository, repository_via_container)

        def no_inspection(*args, **kwargs):  # pragma: no cover -- runs on failure
            msg = "inspected on the request path"
            raise AssertionError(msg)

        monkeypatch.setattr("inspect.signature", no_inspection)
        monkeypatch.setattr("inspect.isgeneratorfunction", no_inspection)
        monkeypatch.setattr("inspect.iscoroutinefunction", no_inspection)
        monkeypatch.setattr("inspect.isasyncgenfunction", no_inspection)

        class Show(MethodView):
            def get(self):
                return get(Repository).db.name

        app.add_url_rule("/repo", view_func=Show.as_view("repo"))

        assert client.get("/repo").text == "app"
        assert client.get("/repo").text == "app"


class TestKeys:
    @pytest.mark.parametrize(
        ("key", "expected"),
        [
            (Database, Database("class")),
            (DatabaseURL, "sqlite://"),
            (ReadOnlyDatabase, Database("read-only")),
        ],
        ids=["class", "NewType", "Annotated"],
    )
    def test_key_kinds(self, app, client, key, expected):
        """
        A class, a NewType and an Annotated alias are distinct keys.
        """
        register_value(app, Database, Database("class"))
        register_value(app, DatabaseURL, "sqlite://")
        register_factory(app, ReadOnlyDatabase, lambda: Database("read-only"))

        class Show(MethodView):
            def get(self):
                return {"same": get(key) == expected}

        app.add_url_rule("/", view_func=Show.as_view("show"))

        assert client.get("/").json == {"same": True}


class TestConcurrency:
    THREADS = 8
    REQUESTS = 25

    @pytest.mark.slow
    def test_threaded_server(self, app, api, serve_threaded):
        """
        Concurrent requests on a threaded server each get their own instances,
        and every instance is closed exactly once.
        """
        lock = threading.Lock()
        serials = itertools.count()
        created = []
        closed = []

        def counted(kind):
            def factory():
                with lock:
                    serial = next(serials)
                    created.append(serial)
                yield (kind, serial)
                with lock:
                    closed.append(serial)

            return factory

        register_factory(api, Database, counted("db"))
        register_factory(api, Cache, counted("cache"))
        register_factory(app, Mailer, counted("mailer"))

        # The first request of every client waits until all of them hold
        # their services, so the requests do overlap; a server handling them
        # one at a time would break the barrier and fail them.
        first_round = threading.Barrier(self.THREADS, timeout=20)
        arrivals = itertools.count()

        threads = self.THREADS

        class Show(MethodView):
            def get(self):
                services = get(Database, Cache, Mailer)
                if next(arrivals) < threads:
                    first_round.wait()
                same = get(Database) is services[0] and get(Mailer) is services[2]
                return {
                    "kinds": [kind for kind, _ in services],
                    "serials": [serial for _, serial in services],
                    "same": same,
                }

        api.add_url_rule("/show", view_func=Show.as_view("show"))
        app.register_blueprint(api)

        responses = serve_threaded(
            app, "/api/show", threads=self.THREADS, requests=self.REQUESTS
        )

        assert not first_round.broken
        assert len(responses) == self.THREADS * self.REQUESTS
        assert all(status == 200 for status, _ in responses)
        assert all(body["same"] for _, body in responses)
        assert all(body["kinds"] == ["db", "cache", "mailer"] for _, body in responses)
        seen = [s for _, body in responses for s in body["serials"]]
        assert len(seen) == len(set(seen)) == 3 * self.THREADS * self.REQUESTS
        assert sorted(created) == sorted(seen)
        assert sorted(closed) == sorted(seen)


# -- the package's import graph ----------------------------------------------


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(
    node: ast.Import | ast.ImportFrom, name: str, is_package: bool
) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = name.split(".")
    if node.level:
        # A package's own relative imports start from the package itself.
        base = base[: len(base) - node.level + is_package]
        module = ".".join([*base, node.module] if node.module else base)
    else:
        module = node.module or ""
    return [module, *(f"{module}.{alias.name}" for alias in node.names)]


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    # Every node but the bodies of `if TYPE_CHECKING:`, which never run.
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if _type_checking(node):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))
    return nodes


def import_graph(root: Path) -> dict[str, set[str]]:
    """
    Map each module of the package in *root* to the package's modules it
    imports when it runs: at the top and in functions, but not under
    TYPE_CHECKING.
    """
    paths = {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        is_package = path.name == "__init__.py"
        imported: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [
                    each for each in _imported(node, name, is_package) if each in paths
                ]
                # `from . import exceptions` imports the module, not the
                # package's __init__ (which is already being imported).
                imported.update(modules[1:] or modules)
        graph[name] = imported - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """
    Return one import cycle of *graph* as a path that ends where it starts,
    or an empty list.
    """
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str]:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return []
        for each in sorted(graph[module]):
            cycle = visit(each, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return []

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return []


class TestImportGraph:
    PACKAGE = Path(flask_servicecbv.__file__).parent

    def test_no_cycle(self):
        """
        The package's modules import each other without a cycle, counting
        imports inside functions too.
        """
        graph = import_graph(self.PACKAGE)

        assert "flask_servicecbv._context" in graph["flask_servicecbv.views"]
        assert find_cycle(graph) == []

    def test_context_sits_beside_the_container(self):
        """
        Finding the current container needs nothing above the container, and
        the modules that use it do not go through the extension.
        """
        graph = import_graph(self.PACKAGE)

        assert "flask_servicecbv._container" in graph["flask_servicecbv._context"]
        assert graph["flask_servicecbv._context"] <= {
            "flask_servicecbv._container",
            "flask_servicecbv._registry",
            "flask_servicecbv.exceptions",
        }
        for module in ("views", "config", "checks", "cli"):
            assert (
                "flask_servicecbv.extension" not in graph[f"flask_servicecbv.{module}"]
            )

    def test_cycle_is_found(self, tmp_path):
        """
        A cycle hidden in a function-level import, through a subpackage, is
        reported as a closed path; imports only for type checkers are not
        counted.
        """
        package = tmp_path / "pkg"
        (package / "sub").mkdir(parents=True)
        (package / "__init__.py").write_text(
            "import typing\nfrom . import low\n"
            "if typing.TYPE_CHECKING:\n    from . import sub\n"
        )
        (package / "low.py").write_text(
            "import os\nfrom .sub import high\n"
            "if TYPE_CHECKING:\n    import pkg\nelse:\n    import pkg.sub\n"
        )
        (package / "sub" / "__init__.py").write_text("")
        (package / "sub" / "high.py").write_text(
            "def f():\n    from ..low import thing\n"
        )

        graph = import_graph(package)

        assert graph == {
            "pkg": {"pkg.low"},
            "pkg.low": {"pkg.sub", "pkg.sub.high"},
            "pkg.sub": set(),
            "pkg.sub.high": {"pkg.low"},
        }
        assert find_cycle(graph) == ["pkg.low", "pkg.sub.high", "pkg.low"]
