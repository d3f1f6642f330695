"""Tests for flask_servicecbv.views: ServiceMixin, ServiceView and ServiceAttr."""

# Views declare `services = {...}` and `decorators = [...]` as the library and
# Flask document them; ClassVar annotations on every test view would be noise.

from __future__ import annotations

import asyncio
import functools
import importlib.util
import itertools
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import flask.app
import pytest
from flask import Blueprint, Flask, abort, g
from flask.views import MethodView, View

import flask_servicecbv
from flask_servicecbv import (
    ServiceAttr,
    ServiceMixin,
    ServiceNotFoundError,
    ServiceView,
    aget,
    container,
    get,
    register_factory,
    register_value,
)
from flask_servicecbv._context import _G_KEY
from flask_servicecbv.exceptions import (
    AsyncServiceError,
    NoAppContextError,
    ServiceAttributeError,
    ServiceDeclarationError,
)

# -- keys and helpers --------------------------------------------------------


@dataclass
class Connection:
    """A service key; instances carry the name of whoever made them."""

    name: str = "app"


@dataclass
class Cache:
    """A second service key."""

    name: str = "app"


@dataclass
class Client:
    """A service made by an async factory."""

    name: str = "async"


@dataclass
class Repository:
    """A service whose factory needs a Connection."""

    db: Connection


def full_name(key: type) -> str:
    return f"{key.__module__}.{key.__qualname__}"


def counting(calls: list[str], name: str):
    """
    A plain factory making ``Connection(name)`` that records each call.
    """

    def factory():
        calls.append(name)
        return Connection(name)

    return factory


@pytest.fixture(name="events")
def _events():
    return []


@pytest.fixture(name="api")
def _api():
    """
    A blueprint named "api" under /api, not yet registered.
    """
    return Blueprint("api", __name__, url_prefix="/api")


# -- tests -------------------------------------------------------------------


class TestViewKinds:
    def test_view(self, app, client):
        """
        ServiceMixin gives a plain View's dispatch_request its services.
        """
        register_value(app, Connection, Connection("plain view"))

        class Show(ServiceMixin, View):
            services = {"db": Connection}

            def dispatch_request(self):
                return self.db.name

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/show").text == "plain view"

    def test_method_view(self, app, client):
        """
        ServiceMixin gives a MethodView's handlers their services.
        """
        register_value(app, Connection, Connection("method view"))

        class Show(ServiceMixin, MethodView):
            services = {"db": Connection}

            def get(self):
                return self.db.name

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/show").text == "method view"
        assert Show.methods == {"GET"}

    def test_service_view(self):
        """
        ServiceView is ServiceMixin on top of MethodView.
        """
        assert ServiceView.__mro__[1:3] == (ServiceMixin, MethodView)
        assert ServiceView.service_attributes == {}

    def test_typed_attribute(self, app, client, monkeypatch):
        """
        The view of tests/type_check/check_views.py, whose ServiceAttr mypy
        proves typed, resolves its service.
        """
        path = Path(__file__).parent / "type_check" / "check_views.py"
        spec = importlib.util.spec_from_file_location("check_views", path)
        module = importlib.util.module_from_spec(spec)
        # dataclass() looks the module up while it runs.
        monkeypatch.setitem(sys.modules, "check_views", module)
        spec.loader.exec_module(module)
        register_value(app, module.Connection, module.Connection("typed"))
        app.add_url_rule("/typed", view_func=module.ShowConnection.as_view("typed"))

        assert client.get("/typed").text == "typed"
        assert module.ShowConnection.service_attributes == {"db": module.Connection}


class TestLazyResolution:
    def test_resolved_from_the_current_container(self, app, client):
        """
        Each service attribute is the instance of the current container.
        """
        register_factory(app, Connection, Connection)
        register_factory(app, Cache, Cache)

        class Show(ServiceView):
            services = {"db": Connection, "cache": Cache}

            def get(self):
                return {
                    "db": self.db.name,
                    "cache": self.cache.name,
                    "same": self.db is get(Connection) and self.cache is get(Cache),
                }

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/show").json == {"db": "app", "cache": "app", "same": True}

    def test_one_factory_call_per_request(self, app, client):
        """
        Reading an attribute several times in a request calls its factory once;
        the next request gets a new instance.
        """
        calls = []
        register_factory(app, Connection, counting(calls, "db"))

        class Show(ServiceView):
            services = {"db": Connection}

            def get(self):
                first = self.db
                return {"same": self.db is first and self.db is first}

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/show").json == {"same": True}
        assert calls == ["db"]
        assert client.get("/show").json == {"same": True}
        assert calls == ["db", "db"]

    def test_unread_attribute_is_never_made(self, app, client):
        """
        A declared service that the handler does not read is not created.
        """
        calls = []
        register_factory(app, Connection, counting(calls, "db"))
        register_factory(app, Cache, counting(calls, "cache"))

        class Show(ServiceView):
            services = {"db": Connection, "cache": Cache}

            def get(self):
                return self.db.name

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/show").text == "db"
        assert calls == ["db"]

    def test_outside_a_request(self, app, app_ctx):
        """
        In an app context without a request, the app layer provides the service.
        """
        register_value(app, Connection, Connection("app"))

        class Show(ServiceView):
            services = {"db": Connection}

        view = Show()

        assert view.db == Connection("app")
        assert view.db is get(Connection)

    def test_rechained_for_a_request(self, app, api):
        """
        A container made in an app context before a request was pushed into it
        searches the request's blueprint chain once the request is there.
        """
        register_value(app, Connection, Connection("app"))
        register_value(api, Connection, Connection("api"))
        api.add_url_rule("/show", endpoint="show")
        app.register_blueprint(api)

        class Show(ServiceView):
            services = {"db": Connection}

        view = Show()
        with app.app_context():
            assert view.db == Connection("app")
            with app.test_request_context("/api/show"):
                assert view.db == Connection("api")


class TestMerge:
    def test_subclass_adds(self):
        """
        A subclass's services are added to its parent's.
        """

        class Parent(ServiceView):
            services = {"db": Connection}

        class Child(Parent):
            services = {"cache": Cache}

        assert Child.service_attributes == {"db": Connection, "cache": Cache}
        assert Parent.service_attributes == {"db": Connection}

    def test_subclass_replaces(self, app, app_ctx):
        """
        A subclass may give a parent's service attribute another key.
        """
        register_value(app, Connection, Connection("db"))
        register_value(app, Cache, Cache("cache"))

        class Parent(ServiceView):
            services = {"db": Connection, "cache": Cache}

        class Child(Parent):
            services = {"db": Cache}

        assert Child.service_attributes == {"db": Cache, "cache": Cache}
        assert Child().db == Cache("cache")
        assert Parent().db == Connection("db")

    def test_mixin(self, app, client):
        """
        A plain class deriving ServiceMixin declares services for the views
        that use it.
        """
        register_value(app, Connection, Connection("db"))
        register_value(app, Cache, Cache("cache"))

        class ConnectionMixin(ServiceMixin):
            services = {"db": Connection}

        class Show(ConnectionMixin, MethodView):
            services = {"cache": Cache}

            def get(self):
                return [self.db.name, self.cache.name]

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert ConnectionMixin.service_attributes == {"db": Connection}
        assert Show.service_attributes == {"db": Connection, "cache": Cache}
        assert client.get("/show").json == ["db", "cache"]

    def test_multiple_bases(self):
        """
        Declarations from several bases merge; the first base in the MRO wins.
        """

        class ConnectionMixin(ServiceMixin):
            services = {"db": Connection, "store": Connection}

        class CacheMixin(ServiceMixin):
            services = {"cache": Cache, "store": Cache}

        class Show(ConnectionMixin, CacheMixin, MethodView):
            pass

        assert Show.service_attributes == {
            "db": Connection,
            "store": Connection,
            "cache": Cache,
        }

    def test_service_attr_and_dict_mixed(self, app, app_ctx):
        """
        ServiceAttr attributes and the services dict merge, across classes too,
        and either form may replace the other's entry in a subclass.
        """
        register_value(app, Connection, Connection("db"))
        register_value(app, Cache, Cache("cache"))

        class Parent(ServiceView):
            services = {"db": Connection}
            cache = ServiceAttr(Cache)

        class Child(Parent):
            services = {"cache": Connection}
            db = ServiceAttr(Cache)
            other = ServiceAttr(Connection)

        assert Parent.service_attributes == {"db": Connection, "cache": Cache}
        assert Child.service_attributes == {
            "db": Cache,
            "cache": Connection,
            "other": Connection,
        }
        child = Child()
        assert child.db == Cache("cache")
        assert child.cache == Connection("db")

    def test_service_attributes_read_only(self):
        """
        service_attributes cannot be changed after class creation.
        """

        class Show(ServiceView):
            services = {"db": Connection}

        with pytest.raises(TypeError, match="does not support item assignment"):
            Show.service_attributes["cache"] = Cache

    def test_no_own_declaration(self):
        """
        A class declaring nothing keeps its parent's services; an empty
        mapping declares nothing.
        """

        class Parent(ServiceView):
            services = {"db": Connection}

        class Child(Parent):
            pass

        class Empty(Parent):
            services = {}

        assert Child.service_attributes == {"db": Connection}
        assert Empty.service_attributes == {"db": Connection}


class TestDeclarationErrors:
    @pytest.mark.parametrize("form", ["dict", "ServiceAttr"])
    def test_plain_mixin_declaring_services(self, form):
        """
        A mixin that declares services without deriving from ServiceMixin is
        refused instead of being silently ignored.
        """
        namespace = (
            {"services": {"db": Connection}}
            if form == "dict"
            else {"db": ServiceAttr(Connection)}
        )
        plain = type("DbMixin", (), namespace)

        with pytest.raises(
            ServiceDeclarationError,
            match=r"DbMixin declares services but is not a ServiceMixin "
            "subclass; derive it from ServiceMixin",
        ):
            type("Bad", (plain, ServiceView), {})

    @pytest.mark.parametrize("hider", ["subclass", "earlier base"])
    def test_hidden_by_later_definition(self, hider):
        """
        A method that hides a service a base declares is refused, whether a
        subclass defines it or a base earlier in the MRO does.
        """

        class Base(ServiceView):
            services = {"db": Connection}

        class Other:
            def db(self):  # pragma: no cover -- only its name matters
                return None

        bases = (Base,) if hider == "subclass" else (Other, Base)
        namespace = {"db": Other.db} if hider == "subclass" else {}
        with pytest.raises(
            ServiceDeclarationError,
            match=r"Bad\.db hides the service 'db' that a base class declares; "
            "rename one of them",
        ):
            type("Bad", bases, namespace)

    @pytest.mark.parametrize("name", ["not-valid", 3, "class", ""])
    def test_not_an_identifier(self, name):
        """
        A service name must be an identifier and not a keyword.
        """
        with pytest.raises(
            ServiceDeclarationError,
            match=rf"Bad\.services: {re.escape(repr(name))} is not a valid "
            "attribute name; use an identifier",
        ):

            class Bad(ServiceView):
                services = {name: Connection}

    @pytest.mark.parametrize("name", ["__db__", "__init__", "get", "post", "options"])
    def test_reserved(self, name):
        """
        Dunder names and HTTP method names are reserved.
        """
        with pytest.raises(
            ServiceDeclarationError,
            match=rf"Bad\.services: '{name}' is reserved for Python or HTTP "
            "dispatch; rename it",
        ):

            class Bad(ServiceView):
                services = {name: Connection}

    @pytest.mark.parametrize("name", ["__db__", "get"])
    def test_reserved_service_attr(self, name):
        """
        ServiceAttr attributes may not take reserved names either.
        """
        with pytest.raises(
            ServiceDeclarationError,
            match=rf"Bad\.services: '{name}' is reserved for Python or HTTP",
        ):
            type("Bad", (ServiceView,), {name: ServiceAttr(Connection)})

    @pytest.mark.parametrize(
        ("name", "owner"),
        [
            ("dispatch_request", "MethodView"),
            ("as_view", "ServiceMixin"),
            ("methods", "View"),
            ("decorators", "View"),
            ("init_every_request", "View"),
            ("aservice", "ServiceMixin"),
            ("service_attributes", "ServiceView"),
        ],
    )
    def test_clash_with_base(self, name, owner):
        """
        A service may not hide an attribute of a base class.
        """
        with pytest.raises(
            ServiceDeclarationError,
            match=rf"Bad\.services: '{name}' clashes with {owner}\.{name}; "
            "give the service another name",
        ):

            class Bad(ServiceView):
                services = {name: Connection}

    def test_clash_with_own_method(self):
        """
        A service may not share its name with a method of the same class.
        """
        with pytest.raises(
            ServiceDeclarationError,
            match=r"Bad\.services: 'db' clashes with .*Bad\.db; give the service",
        ):

            class Bad(ServiceView):
                services = {"db": Connection}

                def db(self):  # pragma: no cover -- the class is never made
                    pass

    def test_clash_with_own_service_attr(self):
        """
        One class may not declare a name both in services and as a ServiceAttr.
        """
        with pytest.raises(
            ServiceDeclarationError,
            match=r"Bad\.services: 'db' clashes with .*Bad\.db",
        ):

            class Bad(ServiceView):
                services = {"db": Connection}
                db = ServiceAttr(Cache)

    def test_clash_of_service_attr_with_base(self):
        """
        A ServiceAttr attribute may not hide a base's attribute that is not a
        service.
        """

        class Parent(ServiceView):
            def helper(self):  # pragma: no cover -- only its name matters
                pass

        with pytest.raises(
            ServiceDeclarationError,
            match=r"Bad\.helper clashes with .*Parent\.helper; give the service",
        ):

            class Bad(Parent):
                helper = ServiceAttr(Connection)

    def test_clash_of_service_attr_with_flask(self):
        """
        A ServiceAttr attribute may not hide Flask's view machinery.
        """
        with pytest.raises(
            ServiceDeclarationError,
            match=r"Bad\.decorators clashes with View\.decorators",
        ):

            class Bad(ServiceView):
                decorators = ServiceAttr(Connection)

    def test_unhashable_key(self):
        """
        A key in the services dict must be hashable.
        """
        with pytest.raises(
            ServiceDeclarationError,
            match=r"Bad\.services\['db'\]: the service key \[\] is not hashable; "
            "use a class, a NewType or an Annotated alias",
        ):

            class Bad(ServiceView):
                services = {"db": []}

    def test_unhashable_service_attr_key(self):
        """
        ServiceAttr() rejects an unhashable key at once.
        """
        with pytest.raises(
            ServiceDeclarationError,
            match=r"ServiceAttr\(\): the service key \[\] is not hashable",
        ):
            ServiceAttr([])

    @pytest.mark.parametrize(
        ("services", "kind"), [(["db"], "list"), ("db", "str"), (Connection, "type")]
    )
    def test_services_not_a_mapping(self, services, kind):
        """
        services must be a mapping.
        """
        with pytest.raises(
            ServiceDeclarationError,
            match=rf"Bad\.services must map attribute names to service keys, "
            rf"got {kind}",
        ):
            type("Bad", (ServiceView,), {"services": services})


class TestServiceAttr:
    def test_assignment(self, app, app_ctx):
        """
        A service attribute cannot be assigned, not even before it was read.
        """
        register_value(app, Connection, Connection())

        class Show(ServiceView):
            services = {"db": Connection}

        view = Show()
        with pytest.raises(
            ServiceAttributeError,
            match=r"Show\.db is a service and cannot be assigned; replace it "
            r"with overwrite_value\(\) or override\(\)",
        ):
            view.db = Connection("mine")
        assert view.db == Connection()
        assert "db" not in vars(view)

    def test_class_access(self):
        """
        On the class, a service attribute is its ServiceAttr.
        """

        class Show(ServiceView):
            services = {"db": Connection}
            cache = ServiceAttr(Cache)

        assert isinstance(Show.db, ServiceAttr)
        assert (Show.db.key, Show.db.name, Show.db.owner) == (Connection, "db", Show)
        assert (Show.cache.key, Show.cache.name, Show.cache.owner) == (
            Cache,
            "cache",
            Show,
        )

    def test_repr(self):
        """
        The repr shows the attribute name and the key; '?' before it is bound.
        """

        class Show(ServiceView):
            services = {"db": Connection}

        assert repr(Show.db) == f"<ServiceAttr db: {full_name(Connection)}>"
        assert repr(ServiceAttr("key")) == "<ServiceAttr ?: 'key'>"


class TestErrors:
    def test_no_app_context(self):
        """
        Reading a service attribute outside an app context says to push one.
        """

        class Show(ServiceView):
            services = {"db": Connection}

        with pytest.raises(NoAppContextError, match="application context"):
            _ = Show().db

    def test_not_found(self, app, api, client):
        """
        A missing service names the view class, the attribute, the key and the
        chain searched.
        """

        class Show(ServiceView):
            services = {"db": Connection}

            def get(self):
                return self.db.name

        api.add_url_rule("/show", view_func=Show.as_view("show"))
        app.register_blueprint(api)

        with pytest.raises(
            ServiceNotFoundError,
            match=rf"No service {re.escape(full_name(Connection))} for "
            r"TestErrors\.test_not_found\.<locals>\.Show\.db in blueprint 'api', "
            "the app; register it with",
        ):
            client.get("/api/show")

    def test_dependency_not_found(self, app, app_ctx):
        """
        When the factory of a declared service needs a missing service, the
        error names the missing one, not the declared one.
        """
        register_factory(app, Repository, lambda: Repository(get(Connection)))

        class Show(ServiceView):
            services = {"repo": Repository}

        with pytest.raises(
            ServiceNotFoundError,
            match=rf"No service {re.escape(full_name(Connection))} in the app",
        ):
            _ = Show().repo

    def test_async_factory(self, app, app_ctx):
        """
        Reading a service with an async factory says to use aservice().
        """

        async def connect():  # pragma: no cover -- never awaited
            return Client()

        register_factory(app, Client, connect)

        class Show(ServiceView):
            services = {"client": Client}

        with pytest.raises(
            AsyncServiceError,
            match=rf"Service {re.escape(full_name(Client))} for .*Show\.client has "
            r"an async factory; use `await self\.aservice\('client'\)`",
        ):
            _ = Show().client

    def test_async_dependency(self, app, app_ctx):
        """
        A sync factory that needs an async service fails with the container's
        message, not with advice to await the declared service.
        """

        async def connect():  # pragma: no cover -- never awaited
            return Connection()

        register_factory(app, Connection, connect)
        register_factory(app, Repository, lambda: Repository(get(Connection)))

        class Show(ServiceView):
            services = {"repo": Repository}

        with pytest.raises(
            AsyncServiceError,
            match=rf"use `await aget\({re.escape(full_name(Connection))}\)`",
        ):
            _ = Show().repo


class TestSharedViewInstance:
    THREADS = 8
    REQUESTS = 20

    @pytest.mark.slow
    def test_threaded_server(self, app, serve_threaded):
        """
        With init_every_request = False one view instance serves concurrent
        requests on a threaded server, yet each request gets its own service
        instances, each closed exactly once.
        """
        lock = threading.Lock()
        serials = itertools.count()
        created = []
        closed = []

        def counted(key):
            def factory():
                serial = next(serials)
                with lock:
                    created.append(serial)
                yield key(str(serial))
                with lock:
                    closed.append(serial)

            return factory

        register_factory(app, Connection, counted(Connection))
        register_factory(app, Cache, counted(Cache))

        # The first request of every client waits until all of them hold
        # their services, so that the shared view instance really serves
        # overlapping requests.
        threads = self.THREADS
        first_round = threading.Barrier(threads, timeout=20)
        arrivals = itertools.count()

        class Show(ServiceView):
            init_every_request = False
            services = {"db": Connection, "cache": Cache}

            def get(self):
                db = self.db
                if next(arrivals) < threads:
                    first_round.wait()
                same = self.db is db
                return {
                    "view": id(self),
                    "serials": [int(db.name), int(self.cache.name)],
                    "same": same,
                }

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        responses = serve_threaded(
            app, "/show", threads=self.THREADS, requests=self.REQUESTS
        )

        assert not first_round.broken
        assert len(responses) == self.THREADS * self.REQUESTS
        assert all(status == 200 for status, _ in responses)
        assert all(body["same"] for _, body in responses)
        assert len({body["view"] for _, body in responses}) == 1
        seen = [s for _, body in responses for s in body["serials"]]
        assert len(seen) == len(set(seen)) == 2 * self.THREADS * self.REQUESTS
        assert sorted(created) == sorted(seen)
        assert sorted(closed) == sorted(seen)


class TestRouting:
    def test_attribute_read_under_blueprint_argument(self, app, api):
        """
        A service attribute read while get(..., blueprint=) runs a factory
        searches that blueprint's chain, as get() does.
        """

        class Show(ServiceView):
            services = {"db": Connection}

        class Report:
            def __init__(self, db):
                self.db = db

        register_factory(app, Report, lambda: Report(Show().db))
        register_value(app, Connection, Connection("app"))
        register_value(api, Connection, Connection("api"))
        app.register_blueprint(api)

        with app.app_context():
            assert get(Report, blueprint="api").db.name == "api"
            assert Show().db.name == "app"

    def test_as_view_arguments(self, app, client):
        """
        Arguments of as_view() reach the constructor; services still resolve.
        """
        register_value(app, Connection, Connection("db"))

        class Show(ServiceView):
            services = {"db": Connection}

            def __init__(self, prefix, *, suffix):
                self.prefix = prefix
                self.suffix = suffix

            def get(self):
                return f"{self.prefix}{self.db.name}{self.suffix}"

        app.add_url_rule("/show", view_func=Show.as_view("show", "<", suffix=">"))

        assert client.get("/show").text == "<db>"

    def test_decorators(self, app, client, events):
        """
        Decorators listed in `decorators` wrap the view, which keeps its services.
        """
        register_value(app, Connection, Connection("db"))

        def logged(view):
            @functools.wraps(view)
            def wrapper(**kwargs):
                events.append("decorated")
                return view(**kwargs)

            return wrapper

        class Show(ServiceView):
            decorators = [logged]
            services = {"db": Connection}

            def get(self, name):
                return f"{name}: {self.db.name}"

        app.add_url_rule("/show/<name>", view_func=Show.as_view("show"))

        assert client.get("/show/x").text == "x: db"
        assert events == ["decorated"]

    def test_nested_blueprints(self, app, api, client):
        """
        Views on nested blueprints resolve innermost layer first, then outward.
        """
        v2 = Blueprint("v2", __name__, url_prefix="/v2")
        register_value(app, Connection, Connection("app"))
        register_value(app, Cache, Cache("app"))
        register_value(api, Connection, Connection("api"))
        register_value(v2, Connection, Connection("v2"))

        class Show(ServiceView):
            services = {"db": Connection, "cache": Cache}

            def get(self):
                return [self.db.name, self.cache.name]

        api.add_url_rule("/show", view_func=Show.as_view("show"))
        v2.add_url_rule("/show", view_func=Show.as_view("show"))
        api.register_blueprint(v2)
        app.register_blueprint(api)
        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/api/v2/show").json == ["v2", "app"]
        assert client.get("/api/show").json == ["api", "app"]
        assert client.get("/show").json == ["app", "app"]

    def test_one_view_on_two_blueprints(self, app, client):
        """
        One view function on two blueprints resolves each request through that
        request's blueprint, even with a single shared view instance.
        """
        first = Blueprint("first", __name__, url_prefix="/first")
        second = Blueprint("second", __name__, url_prefix="/second")
        register_value(first, Connection, Connection("first"))
        register_value(second, Connection, Connection("second"))

        class Show(ServiceView):
            init_every_request = False
            services = {"db": Connection}

            def get(self):
                return {"db": self.db.name, "view": id(self)}

        view = Show.as_view("show")
        first.add_url_rule("/show", view_func=view)
        second.add_url_rule("/show", view_func=view)
        app.register_blueprint(first)
        app.register_blueprint(second)

        bodies = [
            client.get(f"/{name}/show").json for name in ["first", "second", "first"]
        ]

        assert [body["db"] for body in bodies] == ["first", "second", "first"]
        assert len({body["view"] for body in bodies}) == 1


class TestDispatch:
    """
    The view function of as_view() calls plain handlers without asking
    Flask's ensure_sync() on every request, and otherwise does what Flask's
    does.
    """

    @pytest.fixture(name="asked")
    def _asked(self, monkeypatch):
        """What Flask's ensure_sync() is asked about, by qualified name."""
        asked = []
        real = flask.app.iscoroutinefunction

        def spy(func):
            asked.append(getattr(func, "__qualname__", repr(func)))
            return real(func)

        monkeypatch.setattr(flask.app, "iscoroutinefunction", spy)
        return asked

    def test_plain_handler_called_directly(self, app, client, asked):
        """Neither dispatch_request nor a plain handler goes to ensure_sync()."""
        register_value(app, Connection, Connection("db"))

        class Show(ServiceView):
            services = {"db": Connection}

            def get(self, name):
                return f"{name}: {self.db.name}"

            def post(self, name):
                return f"posted {name}", 201

        app.add_url_rule("/show/<name>", view_func=Show.as_view("show"))

        assert client.get("/show/x").text == "x: db"
        posted = client.post("/show/y")
        assert (posted.status_code, posted.text) == (201, "posted y")
        # Flask's dispatch asks about the view function itself, as for any view.
        assert [name for name in asked if "Show." in name or "dispatch" in name] == []

    def test_head_is_get(self, app, client, asked):
        """HEAD runs the GET handler, as MethodView does."""
        calls = []

        class Show(ServiceView):
            def get(self):
                calls.append("get")
                return "body"

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        response = client.head("/show")
        assert (response.status_code, response.data, calls) == (200, b"", ["get"])
        assert [name for name in asked if "Show." in name or "dispatch" in name] == []

    def test_view_function_attributes(self):
        """The view function carries what Flask's does."""

        class Show(ServiceView):
            """Shows."""

            def get(self):
                return ""

        ours = Show.as_view("show")
        flasks = MethodView.as_view.__func__(Show, "show")
        assert Show().get() == ""
        assert ours.__dict__ == flasks.__dict__
        assert ours.view_class is Show
        assert ours.methods == {"GET"}
        assert (ours.__name__, ours.__doc__, ours.__module__) == (
            "show",
            "Shows.",
            __name__,
        )

    def test_app_overriding_ensure_sync(self):
        """An app's own ensure_sync() still sees the view and its handlers."""
        seen = []

        class Traced(Flask):
            def ensure_sync(self, func):
                seen.append(func.__name__)
                return super().ensure_sync(func)

        app = flask_servicecbv.init_app(Traced(__name__))

        class Show(ServiceView):
            def get(self):
                return "traced"

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert app.test_client().get("/show").text == "traced"
        assert seen[:3] == ["show", "dispatch_request", "get"]

    def test_replaced_view_class(self, app, client):
        """A view_class replaced on the view function is the one dispatched."""

        class Show(ServiceView):
            def get(self):
                return "real"

        class Stand(MethodView):
            def get(self):
                return "stand-in"

        view = Show.as_view("show")
        view.view_class = Stand
        app.add_url_rule("/show", view_func=view)

        assert client.get("/show").text == "stand-in"
        assert Show().get() == "real"

    def test_handler_set_on_the_instance(self, app, client):
        """
        A handler the instance sets for itself is not the class's function:
        it goes through ensure_sync(), which runs an async one.
        """

        class Show(ServiceView):
            def __init__(self):
                async def get():
                    return "from the instance"

                self.get = get

            def get(self):
                return "from the class"

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/show").text == "from the instance"
        assert Show.get(None) == "from the class"

    @pytest.mark.parametrize(
        ("base", "patched_name"),
        [
            (MethodView, "get"),
            (MethodView, "dispatch_request"),
            (View, "dispatch_request"),
        ],
    )
    def test_patched_later(self, app, client, monkeypatch, base, patched_name):
        """
        A handler or a dispatch_request patched on the class after as_view()
        is the one called.
        """

        def first(self):
            return "first"

        # MethodView's own dispatch_request, or the View's.
        body = {"get": first} if base is MethodView else {"dispatch_request": first}
        show = type("Show", (ServiceMixin, base), {"methods": ["GET"], **body})
        app.add_url_rule("/show", view_func=show.as_view("show"))
        assert client.get("/show").text == "first"

        async def patched(self):
            return "patched"

        monkeypatch.setattr(show, patched_name, patched)
        assert client.get("/show").text == "patched"

    def test_unimplemented_method(self, app, client):
        """A routed method without a handler fails as MethodView fails."""

        class Show(ServiceView):
            def get(self):
                return ""

        app.add_url_rule(
            "/show", view_func=Show.as_view("show"), methods=["GET", "POST"]
        )
        app.testing = False

        assert client.get("/show").status_code == 200
        assert client.post("/show").status_code == 500

    def test_shared_instance(self, app, client):
        """init_every_request = False keeps Flask's view function."""

        class Show(ServiceView):
            init_every_request = False

            def get(self):
                return str(id(self))

        view = Show.as_view("show")
        app.add_url_rule("/show", view_func=view)

        assert view.__qualname__ == "View.as_view.<locals>.view"
        assert client.get("/show").text == client.get("/show").text

    def test_own_dispatch_request(self, app, client, asked):
        """A plain View's own sync dispatch_request is called directly."""

        class Show(ServiceMixin, View):
            def dispatch_request(self, name):
                return f"dispatched {name}"

        app.add_url_rule("/show/<name>", view_func=Show.as_view("show"))

        assert client.get("/show/x").text == "dispatched x"
        assert [name for name in asked if "Show." in name or "dispatch" in name] == []

    def test_own_async_dispatch_request(self, app, client):
        """An async dispatch_request keeps Flask's view function."""

        class Show(ServiceMixin, View):
            async def dispatch_request(self):
                return "async"

        view = Show.as_view("show")
        app.add_url_rule("/show", view_func=view)

        assert view.__qualname__ == "View.as_view.<locals>.view"
        assert client.get("/show").text == "async"

    def test_outside_a_request(self, app):
        """Called outside a request, the view fails as Flask's does."""

        class Show(ServiceView):
            def get(self):
                return ""

        with pytest.raises(RuntimeError, match="outside of application context"):
            Show.as_view("show")()
        assert Show().get() == ""


class TestAsyncViews:
    def test_aservice(self, app, client, events):
        """
        aservice() makes a service with an async generator factory; its cleanup
        runs in the view's event loop before the response is made.
        """

        async def connect():
            events.append(("open", id(asyncio.get_running_loop())))
            yield Client("async")
            events.append(("close", id(asyncio.get_running_loop())))

        register_factory(app, Client, connect)

        class Show(ServiceView):
            services = {"client": Client}

            async def get(self):
                client = await self.aservice("client")
                assert await self.aservice("client") is client
                events.append(("view", id(asyncio.get_running_loop())))
                return client.name

        @app.after_request
        def after(response):
            events.append(("after_request", [name for name, _ in events]))
            return response

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/show").text == "async"
        names = [name for name, _ in events]
        assert names == ["open", "view", "close", "after_request"]
        assert events[-1][1] == ["open", "view", "close"]
        assert len({loop for _, loop in events[:3]}) == 1

    def test_handler_awaiting_handler(self, app, client, events):
        """
        A handler that awaits another keeps its services open until it
        returns itself: only the outermost handler runs the cleanups, once.
        """

        async def connect():
            client = Client("async")
            yield client
            client.name = "closed"
            events.append("close")

        register_factory(app, Client, connect)

        class Edit(ServiceView):
            services = {"client": Client}

            async def post(self):
                return (await self.aservice("client")).name

            async def put(self):
                client = await self.aservice("client")
                first = await self.post()
                events.append(f"put sees {client.name}")
                return [first, client.name]

        app.add_url_rule("/edit", view_func=Edit.as_view("edit"))

        assert client.put("/edit").json == ["async", "async"]
        assert events == ["put sees async", "close"]

    def test_handler_from_plain_mixin(self, app, client, events):
        """
        An async handler inherited from a plain (non-ServiceMixin) class is
        wrapped too, so its async cleanups run rather than being skipped.
        """

        async def connect():
            yield Client("async")
            events.append("close")

        register_factory(app, Client, connect)

        class AsyncGet:
            async def get(self):
                return (await self.aservice("client")).name

        class Show(AsyncGet, ServiceView):
            services = {"client": Client}

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/show").text == "async"
        assert events == ["close"]

    @pytest.mark.parametrize("kind", ["http", "other"])
    def test_exception_seen_as_teardown_would(self, app, events, kind):
        """
        An async generator factory sees the handler's exception at its yield,
        except an HTTPException, which Flask answers and hands teardown as no
        exception: as in a sync view, abort(409) does not roll back.
        """
        app.testing = False

        async def connect():
            try:
                yield Client("async")
            except Exception as e:
                events.append(f"rollback {type(e).__name__}")
                raise
            events.append("commit")

        register_factory(app, Client, connect)

        class Edit(ServiceView):
            services = {"client": Client}

            async def post(self):
                await self.aservice("client")
                if kind == "http":
                    abort(409)
                msg = "broken"
                raise RuntimeError(msg)

        app.add_url_rule("/edit", view_func=Edit.as_view("edit"))

        status = app.test_client().post("/edit").status_code

        if kind == "http":
            assert (status, events) == (409, ["commit"])
        else:
            assert (status, events) == (500, ["rollback RuntimeError"])

    def test_services_built_on_async_ones(self, app, client, events):
        """
        A sync service built on an async one is cleaned up with it, before
        it, when the async handler returns, and neither is handed out again
        in that app context: a later aget() builds a new, open instance.
        """

        class Transaction:
            def __init__(self, client):
                self.client = client

        async def connect():
            client = Client("async")
            yield client
            client.name = "closed"
            events.append("close client")

        def begin():
            tx = Transaction(get(Client))
            yield tx
            events.append(f"close transaction on {tx.client.name} client")

        register_factory(app, Client, connect)
        register_factory(app, Transaction, begin)

        class Show(ServiceView):
            services = {"client": Client, "tx": Transaction}

            async def get(self):
                client = await self.aservice("client")
                assert self.tx.client is client
                return "ok"

        @app.after_request
        def after(response):
            async def again():
                name = (await aget(Client)).name
                await container.aclose()
                return name

            events.append(f"after_request gets an {asyncio.run(again())} client")
            return response

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/show").text == "ok"
        assert events == [
            "close transaction on async client",
            "close client",
            "close client",  # the new one, closed by after_request itself
            "after_request gets an async client",
        ]

    def test_sync_services_in_async_view(self, app, client, events):
        """
        In an async view, async services are closed before the handler
        returns; sync ones stay open for after_request and close at teardown,
        as in a sync view.
        """

        def connect():
            yield Connection("sync")
            events.append("close sync")

        async def aconnect():
            yield Client("async")
            events.append("close async")

        register_factory(app, Connection, connect)
        register_factory(app, Client, aconnect)

        class Show(ServiceView):
            services = {"db": Connection, "client": Client}

            async def get(self):
                client = await self.aservice("client")
                return [self.db.name, client.name]

        @app.after_request
        def after(response):
            events.append(f"after_request sees {get(Connection).name}")
            return response

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/show").json == ["sync", "async"]
        assert events == ["close async", "after_request sees sync", "close sync"]

    def test_exception(self, app, client, events):
        """
        An exception in an async view still runs the async cleanup, which sees
        the exception at its yield.
        """

        async def connect():
            try:
                yield Client()
            except RuntimeError as e:
                events.append(("cleanup saw", e))
                raise

        register_factory(app, Client, connect)

        class Show(ServiceView):
            services = {"client": Client}

            async def get(self):
                await self.aservice("client")
                msg = "boom"
                raise RuntimeError(msg)

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        with pytest.raises(RuntimeError, match="boom") as excinfo:
            client.get("/show")
        assert events == [("cleanup saw", excinfo.value)]

    @pytest.mark.parametrize(
        ("services", "declared"),
        [({"client": Client}, "client"), ({}, "none")],
    )
    def test_undeclared(self, app, app_ctx, services, declared):
        """
        aservice() of a name the view does not declare lists the declared ones.
        """
        register_value(app, Client, Client())
        show = type("Show", (ServiceView,), {"services": services})

        with pytest.raises(
            ServiceAttributeError,
            match=rf"Show declares no service 'nope' \(declared: {declared}\); "
            "add it to `services`",
        ):
            asyncio.run(show().aservice("nope"))

    def test_not_found(self, app, app_ctx):
        """
        aservice() of a missing service names the view and the attribute.
        """

        class Show(ServiceView):
            services = {"client": Client}

        with pytest.raises(
            ServiceNotFoundError,
            match=rf"No service {re.escape(full_name(Client))} for "
            r".*<locals>\.Show\.client in the app; register it",
        ):
            asyncio.run(Show().aservice("client"))

    def test_dependency_not_found(self, app, app_ctx):
        """
        When the factory of the service asked for needs a missing service,
        aservice() names the missing one.
        """

        async def repository():
            return Repository(get(Connection))

        register_factory(app, Repository, repository)

        class Show(ServiceView):
            services = {"repo": Repository}

        with pytest.raises(
            ServiceNotFoundError,
            match=rf"No service {re.escape(full_name(Connection))} in the app",
        ):
            asyncio.run(Show().aservice("repo"))

    def test_no_app_context(self):
        """
        aservice() outside an app context says to push one.
        """

        class Show(ServiceView):
            services = {"client": Client}

        with pytest.raises(NoAppContextError, match="application context"):
            asyncio.run(Show().aservice("client"))

    def test_view_dispatch_request(self, app, client, events):
        """
        An async dispatch_request of a plain View is wrapped as well.
        """

        async def connect():
            yield Client("dispatch")
            events.append("close")

        register_factory(app, Client, connect)

        class Show(ServiceMixin, View):
            services = {"client": Client}

            async def dispatch_request(self):
                return (await self.aservice("client")).name

        @app.after_request
        def after(response):
            events.append("after_request")
            return response

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/show").text == "dispatch"
        assert events == ["close", "after_request"]

    def test_inherited_not_wrapped_twice(self, app, client, events):
        """
        A subclass that inherits or reuses an async handler keeps the parent's
        wrapper instead of wrapping it again; the cleanup runs once.
        """

        async def connect():
            yield Client("async")
            events.append("close")

        register_factory(app, Client, connect)

        class Parent(ServiceView):
            services = {"client": Client}

            async def get(self):
                return (await self.aservice("client")).name

        class Child(Parent):
            pass

        class Alias(Parent):
            post = Parent.get

        app.add_url_rule("/child", view_func=Child.as_view("child"))
        app.add_url_rule("/alias", view_func=Alias.as_view("alias"))

        assert Child.get is Parent.get
        assert Alias.post is Parent.get
        assert Parent.get.__wrapped__.__name__ == "get"
        assert not hasattr(Parent.get.__wrapped__, "__wrapped__")
        assert client.get("/child").text == "async"
        assert events == ["close"]
        assert client.post("/alias").text == "async"
        assert events == ["close", "close"]

    def test_no_services_read(self, app, client):
        """
        An async view that reads no service creates no container.
        """

        class Show(ServiceView):
            async def get(self):
                return {"container": _G_KEY in vars(g)}

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/show").json == {"container": False}

    def test_outside_app_context(self):
        """
        A wrapped async handler called outside an app context just runs.
        """

        class Show(ServiceView):
            async def get(self):
                return "ran"

        assert asyncio.run(Show().get()) == "ran"
