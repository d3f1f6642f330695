from __future__ import annotations

import asyncio
import inspect
import logging
import re
import threading
from typing import TYPE_CHECKING, Annotated, NewType
from unittest.mock import MagicMock, Mock, create_autospec

import pytest

import flask_servicecbv
from flask_servicecbv import Container
from flask_servicecbv._registry import (
    APP_LAYER,
    ASYNC_GENERATOR,
    COROUTINE,
    GENERATOR,
    PLAIN,
    VALUE,
    RegisteredService,
    Registry,
    chain_for,
    is_async_context_manager,
    is_context_manager,
    key_name,
    layer_name,
)
from flask_servicecbv.exceptions import RegistrationError, ServiceNotFoundError

if TYPE_CHECKING:
    import collections.abc

UserId = NewType("UserId", int)


class Database:
    """
    A service class used as a key.
    """


class Cache:
    """
    Another service class used as a key.
    """


def service(key=Database, **kwargs):
    """
    A RegisteredService for *key*: a value unless a factory is given.
    """
    kwargs.setdefault("enter", False)
    kwargs.setdefault("ping", None)
    kwargs.setdefault("on_registry_close", None)
    return RegisteredService(key, **kwargs)


def make_db():
    return Database()


def gen_db():
    yield Database()


async def amake_db():
    return Database()


async def agen_db():
    yield Database()


async def _first(agen):
    return await agen.__anext__()


@pytest.fixture(name="registry")
def _registry():
    return Registry()


class TestKeyName:
    def test_class(self):
        """
        A class is named by its module and qualified name.
        """
        assert key_name(Database) == f"{__name__}.Database"

    def test_nested_class(self):
        """
        A nested class keeps its full qualified name.
        """

        class Inner:
            pass

        assert key_name(Inner) == (
            f"{__name__}.TestKeyName.test_nested_class.<locals>.Inner"
        )

    def test_builtin(self):
        """
        A builtin type is named without the ``builtins`` module.
        """
        assert key_name(int) == "int"

    def test_new_type(self):
        """
        A NewType is named like a class.
        """
        assert key_name(UserId) == f"{__name__}.UserId"

    def test_annotated(self):
        """
        An Annotated alias is named by its repr, so that two aliases of the same
        class have different names.
        """
        primary = Annotated[Database, "primary"]
        replica = Annotated[Database, "replica"]

        assert key_name(primary) == repr(primary)
        assert "'primary'" in key_name(primary)
        assert key_name(primary) != key_name(replica)

    def test_generic_alias(self):
        """
        A generic alias is named by its repr, not by its origin class.
        """
        assert key_name(list[int]) == "list[int]"

    @pytest.mark.parametrize("key", ["db", 42, ("a", 1)])
    def test_plain_object(self, key):
        """
        Anything else is named by its repr.
        """
        assert key_name(key) == repr(key)


class TestLayerName:
    @pytest.mark.parametrize(
        ("layer", "name"),
        [(None, "the app"), ("api", "blueprint 'api'"), ("a.b", "blueprint 'a.b'")],
    )
    def test_layer_name(self, layer, name):
        """
        The app layer is "the app", the others are named after their blueprint.
        """
        assert layer_name(layer) == name


class TestChainFor:
    @pytest.mark.parametrize(
        ("blueprint", "chain"),
        [
            (None, (APP_LAYER,)),
            ("a", ("a", APP_LAYER)),
            ("a.b.c", ("a.b.c", "a.b", "a", APP_LAYER)),
        ],
    )
    def test_chain_for(self, blueprint, chain):
        """
        A chain lists the blueprint, then its parents, innermost first, and the
        app layer last.
        """
        assert chain_for(blueprint) == chain


class TestRegisteredServiceKind:
    def test_value(self):
        """
        A value registration has no factory and does not take the container.
        """
        svc = service(value=42)

        assert svc.kind == VALUE
        assert svc.value == 42
        assert svc.factory is None
        assert svc.takes_container is False
        assert svc.is_async is False

    @pytest.mark.parametrize(
        ("factory", "kind", "is_async", "run"),
        [
            (make_db, PLAIN, False, lambda f: f()),
            (gen_db, GENERATOR, False, lambda f: next(f())),
            (amake_db, COROUTINE, True, lambda f: asyncio.run(f())),
            (agen_db, ASYNC_GENERATOR, True, lambda f: asyncio.run(_first(f()))),
        ],
    )
    def test_factory_kind(self, factory, kind, is_async, run):
        """
        The kind of a factory is worked out at registration; async kinds make
        the registration async.
        """
        svc = service(factory=factory)

        assert svc.kind == kind
        assert svc.is_async is is_async
        assert svc.factory is factory
        assert isinstance(run(factory), Database)

    def test_callable_object(self):
        """
        A callable object that is not a function is a plain factory.
        """
        svc = service(factory=Database)

        assert svc.kind == PLAIN
        assert svc.takes_container is False

    class GeneratorCall:
        def __call__(self):
            yield Database()

    class CoroutineCall:
        async def __call__(self):
            return Database()

    class AsyncGeneratorCall:
        async def __call__(self):
            yield Database()

    class ContainerCall:
        def __call__(self, container):
            yield container

    @pytest.mark.parametrize(
        ("factory", "kind", "run"),
        [
            (GeneratorCall(), GENERATOR, lambda f: next(f())),
            (CoroutineCall(), COROUTINE, lambda f: asyncio.run(f())),
            (AsyncGeneratorCall(), ASYNC_GENERATOR, lambda f: asyncio.run(_first(f()))),
        ],
    )
    def test_callable_object_kind(self, factory, kind, run):
        """
        A callable object whose __call__ is a generator or async function has
        that kind, so that get() drives it instead of returning the generator
        or an unawaited coroutine.
        """
        svc = service(factory=factory)

        assert svc.kind == kind
        assert isinstance(run(factory), Database)

    def test_callable_object_takes_container(self):
        """
        A callable object whose __call__ takes only `container` gets it.
        """
        factory = self.ContainerCall()
        svc = service(factory=factory)

        assert svc.kind == GENERATOR
        assert svc.takes_container is True
        assert next(factory("the container")) == "the container"

    def test_async_callable_object_as_ping(self):
        """
        A callable object whose __call__ is async makes the ping async.
        """
        svc = service(value=1, ping=self.CoroutineCall())

        assert svc.is_async is True


class TestRegisteredServiceTakesContainer:
    @staticmethod
    def named_container(container):
        """
        Never called: only the signature matters.
        """

    @staticmethod
    def named_svcs_container(svcs_container):
        """
        Never called: only the signature matters.
        """

    @staticmethod
    def annotated_as_string(c: Container):
        """
        Never called: with postponed annotations, *c*'s is the string
        "Container".
        """

    @staticmethod
    def annotated_dotted_string(c: flask_servicecbv.Container):
        """
        Never called: the annotation is the string "flask_servicecbv.Container".
        """

    @staticmethod
    def positional_only(container, /):
        """
        Never called: only the signature matters.
        """

    @pytest.mark.parametrize(
        "name",
        [
            "named_container",
            "named_svcs_container",
            "annotated_as_string",
            "annotated_dotted_string",
            "positional_only",
        ],
    )
    def test_takes_container(self, name):
        """
        A factory with a single positional parameter named ``container`` or
        ``svcs_container``, or annotated ``Container``, gets the container.
        """
        assert service(factory=getattr(self, name)).takes_container is True

    def test_annotated_with_container_class(self):
        """
        A parameter annotated with the Container class itself (not a string)
        asks for the container.
        """

        def factory(c):
            """
            Never called: only the signature matters.
            """

        factory.__annotations__["c"] = Container

        assert inspect.signature(factory).parameters["c"].annotation is Container
        assert service(factory=factory).takes_container is True

    def test_annotated_with_svcs_container(self):
        """
        A Container class from svcs counts too, so factories move over unchanged.
        """
        svcs_container = type("Container", (), {"__module__": "svcs._core"})

        def factory(c):
            """
            Never called: only the signature matters.
            """

        factory.__annotations__["c"] = svcs_container

        assert service(factory=factory).takes_container is True

    def test_string_annotation_of_other_container(self):
        """
        A string annotation naming another package's Container does not.
        """

        def factory(c: collections.abc.Container = ()) -> None:
            """
            Never called: only the signature matters.
            """

        assert service(factory=factory).takes_container is False

    def test_annotated_with_other_container(self):
        """
        A class that is only named Container, from another package, does not.
        """
        other = type("Container", (), {"__module__": "collections.abc"})

        def factory(c=None):
            """
            Never called: only the signature matters.
            """

        factory.__annotations__["c"] = other

        assert service(factory=factory).takes_container is False

    @staticmethod
    def other_name(conn=None):
        """
        Never called: only the signature matters.
        """

    @staticmethod
    def other_annotation(container_like: int = 0):
        """
        Never called: only the signature matters.
        """

    @staticmethod
    def keyword_only(*, container=None):
        """
        Never called: only the signature matters.
        """

    @staticmethod
    def var_positional(*container):
        """
        Never called: only the signature matters.
        """

    @staticmethod
    def two_params(container=None, other=None):
        """
        Never called: only the signature matters.
        """

    @staticmethod
    def no_params():
        """
        Never called: only the signature matters.
        """

    @pytest.mark.parametrize(
        "name",
        [
            "other_name",
            "other_annotation",
            "keyword_only",
            "var_positional",
            "two_params",
            "no_params",
        ],
    )
    def test_does_not_take_container(self, name):
        """
        Other signatures are called without arguments: a different name or
        annotation, a keyword-only or variadic parameter, more or fewer than one.
        """
        assert service(factory=getattr(self, name)).takes_container is False

    def test_class_with_other_init_arg(self):
        """
        A class whose ``__init__`` takes one other, optional argument is not
        given the container.
        """

        class Client:
            def __init__(self, url=""):
                """
                Never called: only the signature matters.
                """

        assert service(factory=Client).takes_container is False

    def test_class_with_container_init_arg(self):
        """
        A class whose ``__init__`` takes a ``container`` is given the container.
        """

        class Client:
            def __init__(self, container):
                """
                Never called: only the signature matters.
                """

        assert service(factory=Client).takes_container is True

    class BadSignature:
        """
        A callable whose ``__signature__`` makes ``inspect.signature`` raise
        TypeError.
        """

        __signature__ = "not a signature"

        def __call__(self):
            """
            Never called: only the signature matters.
            """

    @pytest.mark.parametrize(
        ("factory", "error", "match"),
        [
            (dict, ValueError, "no signature found for builtin type"),
            (iter, ValueError, "no signature found for builtin"),
            # TypeError up to Python 3.12, ValueError from 3.13.
            (BadSignature(), (TypeError, ValueError), "unexpected object|invalid"),
        ],
    )
    def test_no_signature(self, factory, error, match):
        """
        A callable without a signature (a builtin) is called without arguments.
        """
        with pytest.raises(error, match=match):
            inspect.signature(factory)

        assert service(factory=factory).takes_container is False


class TestRegisteredServiceErrors:
    @staticmethod
    def connect(url):
        """
        Never called: it is refused at registration.
        """

    class Client:
        def __init__(self, url, *, timeout):
            """
            Never called: it is refused at registration.
            """

    @staticmethod
    def keyword_container(*, container):
        """
        Never called: it is refused at registration.
        """

    @pytest.mark.parametrize(
        ("factory", "name", "params"),
        [
            (connect, "TestRegisteredServiceErrors.connect", "url"),
            (Client, "TestRegisteredServiceErrors.Client", "url, timeout"),
            (
                keyword_container,
                "TestRegisteredServiceErrors.keyword_container",
                "container",
            ),
        ],
    )
    def test_required_parameters(self, factory, name, params):
        """
        A factory that cannot be called without arguments, and does not take
        the container, is refused at registration, not at first use.
        """
        with pytest.raises(
            RegistrationError,
            match=(
                rf"^The factory {name} for test_registry.Database has required "
                rf"parameters \({params}\) that nothing fills; give them "
                r"defaults, or take the container as the only parameter, named "
                r"`container` or annotated with Container\.$"
            ),
        ):
            service(factory=factory)

    def test_required_parameters_of_a_callable_object(self):
        """
        A callable object without __qualname__ is named by its repr.
        """

        class Connect:
            def __call__(self, url):
                """
                Never called: it is refused at registration.
                """

            def __repr__(self):
                return "<connect>"

        with pytest.raises(RegistrationError, match=r"^The factory <connect> for "):
            service(factory=Connect())

    def test_unhashable_key(self):
        """
        An unhashable key is refused, naming the key and what to use instead.
        """
        with pytest.raises(
            RegistrationError, match=r"Service key \['db'\] is not hashable; use a"
        ):
            service(["db"], value=1)

    @pytest.mark.parametrize("factory", [42, None])
    def test_non_callable_factory(self, factory):
        """
        A factory that is not callable, None included, is refused, pointing at
        register_value().
        """
        with pytest.raises(
            RegistrationError,
            match=rf"factory for .*Database must be callable, got {factory}; "
            r"use register_value\(\)",
        ):
            service(factory=factory)

    def test_non_callable_ping(self):
        """
        A ping that is not callable is refused.
        """
        with pytest.raises(
            RegistrationError, match=r"ping for .*Database must be callable, got 'x'"
        ):
            service(value=1, ping="x")

    def test_non_callable_on_registry_close(self):
        """
        An on_registry_close callback that is not callable is refused.
        """
        with pytest.raises(
            RegistrationError,
            match=r"on_registry_close callback for .*Database must be callable, "
            r"got 3",
        ):
            service(value=1, on_registry_close=3)

    def test_errors_are_value_errors(self):
        """
        RegistrationError is a ValueError, so generic handlers catch it.
        """
        with pytest.raises(ValueError, match="not hashable"):
            service({}, value=1)


class TestContextManagerCheck:
    class Sync:
        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            pass

    class Async:
        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc_info):
            pass

    class EnterOnly:
        def __enter__(self):
            """
            Never called: it has no __exit__.
            """

    @pytest.mark.parametrize(
        ("value", "sync", "is_async"),
        [
            (Sync(), True, False),
            (Async(), False, True),
            (EnterOnly(), False, False),
            (Mock(spec_set=Sync), False, False),
            (Mock(spec_set=Async), False, False),
            (create_autospec(Sync, instance=True), True, False),
            (MagicMock(), True, True),
        ],
        ids=[
            "sync",
            "async",
            "enter_only",
            "mock_sync",
            "mock_async",
            "autospec",
            "magic",
        ],
    )
    def test_judged_by_type(self, value, sync, is_async):
        """
        A value is a (async) context manager when its type has both methods,
        whatever isinstance() says of a mock's __class__.
        """
        assert is_context_manager(value) is sync
        assert is_async_context_manager(value) is is_async

    @pytest.mark.parametrize(
        ("value", "enter"),
        [(Sync(), True), (Async(), True), (Mock(spec_set=Sync), False)],
        ids=["sync", "async", "mock"],
    )
    def test_value_entered_only_if_context_manager(self, value, enter):
        """
        A value registered with enter=True is only entered if it can be.
        """
        assert service(value=value, enter=True).enter is enter

    def test_context_managers_work(self):
        """
        The context managers above are real ones.
        """

        async def run():
            async with self.Async() as entered:
                return entered

        with self.Sync() as entered:
            assert isinstance(entered, self.Sync)
        assert isinstance(asyncio.run(run()), self.Async)


class TestRegisteredServicePing:
    def test_sync_ping(self):
        """
        A sync ping keeps a sync registration sync.
        """
        svc = service(factory=make_db, ping=bool)

        assert svc.ping is bool
        assert svc.is_async is False

    async def _aping(self, db):
        return db

    async def _agen_ping(self, db):
        yield db

    @pytest.mark.parametrize("name", ["_aping", "_agen_ping"])
    def test_async_ping(self, name):
        """
        An async ping makes the registration async, even for a sync factory or
        a value.
        """
        ping = getattr(self, name)

        assert service(factory=make_db, ping=ping).is_async is True
        assert service(value=1, ping=ping).is_async is True

    def test_async_pings_work(self):
        """
        The async pings above are real async callables.
        """

        async def run():
            assert await self._aping(1) == 1
            assert [db async for db in self._agen_ping(2)] == [2]

        asyncio.run(run())


class TestRegisteredServiceName:
    def test_default_is_key_name(self):
        """
        Without name=, a registration is named after its key.
        """
        assert service(value=1).name == key_name(Database)
        assert service(Annotated[Database, "ro"], value=1).name == key_name(
            Annotated[Database, "ro"]
        )

    def test_given_name(self):
        """
        name= names the registration, whatever its key.
        """
        assert service(value=1, name="database").name == "database"

    @pytest.mark.parametrize("name", ["", "  ", 3])
    def test_bad_name(self, name):
        """
        A name that is not a non-empty string is refused at registration.
        """
        with pytest.raises(
            RegistrationError,
            match=rf"The name of .*Database must be a non-empty string, got "
            rf"{re.escape(repr(name))}; leave it out",
        ):
            service(value=1, name=name)


class TestRegisteredServiceRepr:
    def test_value(self):
        """
        A value registration shows the key and the value's repr.
        """
        assert repr(service(value=[1, 2])) == (
            f"<RegisteredService {__name__}.Database value=[1, 2]>"
        )

    def test_factory(self):
        """
        A factory registration shows the key and the factory's qualified name.
        """
        assert repr(service(Cache, factory=make_db)) == (
            f"<RegisteredService {__name__}.Cache factory='make_db'>"
        )

    def test_factory_without_qualname(self):
        """
        A factory without a qualified name is shown by its repr.
        """

        class Factory:
            def __call__(self):
                """
                Never called.
                """

            def __repr__(self):
                return "<Factory>"

        assert repr(service("db", factory=Factory())) == (
            "<RegisteredService 'db' factory=<Factory>>"
        )


class TestRegistry:
    def test_empty(self, registry):
        """
        A new registry has an empty app layer.
        """
        assert registry.layers == {APP_LAYER: {}}
        assert repr(registry) == "<Registry the app: 0>"

    def test_register_and_lookup(self, registry):
        """
        A registration is found in its own layer only.
        """
        svc = service(value=1)
        registry.register("api", svc)

        assert registry.lookup("api", Database) is svc
        assert registry.lookup(APP_LAYER, Database) is None
        assert registry.lookup("other", Database) is None
        assert registry.lookup("api", Cache) is None

    def test_register_replaces(self, registry):
        """
        Registering a key again in the same layer replaces the registration.
        """
        registry.register(APP_LAYER, service(value=1))
        second = service(value=2)
        registry.register(APP_LAYER, second)

        assert registry.lookup(APP_LAYER, Database) is second

    def test_repr(self, registry):
        """
        The repr counts the registrations of each layer.
        """
        registry.register(APP_LAYER, service(value=1))
        registry.register(APP_LAYER, service(Cache, value=2))
        registry.register("api", service(value=3))

        assert repr(registry) == "<Registry the app: 2, blueprint 'api': 1>"

    def test_layers_is_a_copy(self, registry):
        """
        Changing what ``layers`` returns does not change the registry.
        """
        svc = service(value=1)
        registry.register("api", svc)

        layers = registry.layers
        assert layers == {APP_LAYER: {}, "api": {Database: svc}}
        layers["api"].clear()
        layers["new"] = {}

        assert registry.layers == {APP_LAYER: {}, "api": {Database: svc}}

    def test_unregister(self, registry):
        """
        Unregistering removes the key from that layer only.
        """
        registry.register(APP_LAYER, service(value=1))
        registry.register("api", service(value=2))

        registry.unregister("api", Database)

        assert registry.lookup("api", Database) is None
        assert registry.lookup(APP_LAYER, Database) is not None

    @pytest.mark.parametrize(("layer", "key"), [("api", Cache), ("missing", Database)])
    def test_unregister_missing(self, registry, layer, key):
        """
        Unregistering a key a layer does not have changes nothing and keeps the
        resolved views.
        """
        registry.register("api", service(value=1))
        resolved = registry.resolved(("api", APP_LAYER))

        registry.unregister(layer, key)

        assert registry.resolved(("api", APP_LAYER)) is resolved

    def test_resolved_innermost_wins(self, registry):
        """
        The resolved view of a chain holds, for each key, the innermost layer that
        has it; the app layer comes last.
        """
        app_db, a_db, ab_db = service(value=0), service(value=1), service(value=2)
        app_cache = service(Cache, value=3)
        registry.register(APP_LAYER, app_db)
        registry.register(APP_LAYER, app_cache)
        registry.register("a", a_db)
        registry.register("a.b", ab_db)

        assert registry.resolved(chain_for("a.b")) == {
            Database: ("a.b", ab_db),
            Cache: (APP_LAYER, app_cache),
        }
        assert registry.resolved(chain_for("a")) == {
            Database: ("a", a_db),
            Cache: (APP_LAYER, app_cache),
        }
        assert registry.resolved(chain_for(None)) == {
            Database: (APP_LAYER, app_db),
            Cache: (APP_LAYER, app_cache),
        }

    def test_resolved_unknown_layers(self, registry):
        """
        Layers without registrations are skipped.
        """
        svc = service(value=1)
        registry.register(APP_LAYER, svc)

        assert registry.resolved(("x.y", "x", APP_LAYER)) == {
            Database: (APP_LAYER, svc)
        }

    def test_resolved_is_cached(self, registry):
        """
        The same dict is returned for a chain until the registry changes.
        """
        registry.register(APP_LAYER, service(value=1))
        chain = chain_for("api")

        first = registry.resolved(chain)

        assert registry.resolved(chain) is first
        assert registry.resolved(("api", APP_LAYER)) is first

    @pytest.mark.parametrize(
        "change",
        [
            lambda reg: reg.register("api", service(value=2)),
            lambda reg: reg.register("other", service(Cache, value=3)),
            lambda reg: reg.unregister(APP_LAYER, Database),
        ],
    )
    def test_resolved_invalidated(self, registry, change):
        """
        Any registration or removal makes the next lookup rebuild the view, and
        leaves the old dict as it was.
        """
        registry.register(APP_LAYER, service(value=1))
        chain = chain_for("api")
        first = registry.resolved(chain)
        snapshot = dict(first)

        change(registry)

        assert registry.resolved(chain) is not first
        assert first == snapshot

    def test_resolved_sees_changes(self, registry):
        """
        A rebuilt view reflects the new registrations.
        """
        registry.register(APP_LAYER, service(value=1))
        chain = chain_for("api")
        registry.resolved(chain)
        svc = service(value=2)

        registry.register("api", svc)

        assert registry.resolved(chain)[Database] == ("api", svc)

    def test_registration_copies_no_layer(self, registry):
        """
        Registering many keys in one layer changes that layer in place instead
        of copying it each time, so it costs O(1) per registration; only a new
        layer replaces the mapping of layers.
        """
        registry.register("api", service(value=0))
        layers = registry._layers
        api = layers["api"]

        for i in range(16_000):
            registry.register("api", service(("key", i), value=i))
        registry.unregister("api", ("key", 0))

        assert registry._layers is layers
        assert registry._layers["api"] is api
        assert len(api) == 16_000
        registry.register("other", service(value=1))
        assert registry._layers is not layers
        assert registry._layers["api"] is api

    def test_resolve_iterates_a_copy(self, registry):
        """
        A registration on another thread while resolved() reads a layer does
        not disturb it: resolved() reads a copy, taken in one step.
        """

        class Intruding:
            armed = False

            def __hash__(self):
                if Intruding.armed:
                    Intruding.armed = False
                    # Another thread registers while the layer is being read.
                    registry.register(APP_LAYER, service(Cache, value=2))
                return 1

        registry.register(APP_LAYER, service(Intruding(), value=1))
        registry.register(APP_LAYER, service(UserId, value=3))
        Intruding.armed = True

        resolved = registry.resolved((APP_LAYER,))

        assert Intruding.armed is False
        assert len(resolved) == 2
        assert len(registry.resolved((APP_LAYER,))) == 3

    def test_threads_resolve_while_registering(self, registry):
        """
        Resolving in a loop on another thread while 16,000 keys are
        registered never fails and ends seeing all of them.
        """
        done = threading.Event()
        errors = []
        sizes = []

        def resolve():
            try:
                while not done.is_set():
                    sizes.append(len(registry.resolved(chain_for("api"))))
            except Exception as e:  # noqa: BLE001  # pragma: no cover -- only on a bug
                errors.append(e)

        reader = threading.Thread(target=resolve, daemon=True)
        reader.start()
        try:
            for i in range(16_000):
                registry.register(APP_LAYER, service(("key", i), value=i))
        finally:
            done.set()
            reader.join(timeout=30)

        assert not reader.is_alive()
        assert errors == []
        assert sizes == sorted(sizes)
        assert len(registry.resolved(chain_for("api"))) == 16_000

    def test_registration_during_build_not_lost(self, registry):
        """
        A registration made while another thread builds a view is not hidden
        by that (older) view: the next lookup rebuilds.
        """
        registry.register(APP_LAYER, service(value=1))
        late = service(Cache, value=2)
        chain = chain_for("api")

        class Intruding(dict):
            def get(self, layer, default=None):
                if layer == "api":
                    # Another thread registers after the app layer was read.
                    registry.register(APP_LAYER, late)
                return super().get(layer, default)

        registry._layers = Intruding(registry._layers)

        stale = registry.resolved(chain)
        registry._layers = dict(registry._layers)

        assert Cache not in stale
        assert registry.resolved(chain)[Cache] == (APP_LAYER, late)


class TestNotFound:
    def test_no_other_layer(self, registry):
        """
        Without the key anywhere, the message names the key and the searched
        layers and tells how to register it.
        """
        err = registry.not_found(Database, chain_for("api"))

        assert isinstance(err, ServiceNotFoundError)
        with pytest.raises(
            ServiceNotFoundError,
            match=rf"^No service {__name__}\.Database in blueprint 'api', the app; "
            r"register it with register_factory\(\) or register_value\(\)\.$",
        ):
            raise err

    def test_one_other_layer(self, registry):
        """
        When one layer outside the chain has the key, the message names it.
        """
        registry.register("admin", service(value=1))

        with pytest.raises(
            ServiceNotFoundError,
            match=r"in blueprint 'api', the app; blueprint 'admin' has it, so "
            r"register it on one of the searched layers instead\.$",
        ):
            raise registry.not_found(Database, chain_for("api"))

    def test_several_other_layers(self, registry):
        """
        Several layers outside the chain are all named; layers in the chain and
        layers without the key are not.
        """
        registry.register("admin", service(value=1))
        registry.register("api", service(Cache, value=2))
        registry.register("shop", service(value=3))

        with pytest.raises(
            ServiceNotFoundError,
            match=r"in the app; blueprint 'admin' and blueprint 'shop' have it, so",
        ):
            raise registry.not_found(Database, chain_for(None))

    def test_where(self, registry):
        """
        The requester is named after the key.
        """
        with pytest.raises(
            ServiceNotFoundError,
            match=r"No service 'db' for BookmarkList\.db in the app;",
        ):
            raise registry.not_found("db", (APP_LAYER,), where=" for BookmarkList.db")


class Recorder:
    """
    Records the on_registry_close callbacks that ran, in order.
    """

    def __init__(self):
        self.calls = []

    def callback(self, name):
        def close():
            self.calls.append(name)

        return close

    def acallback(self, name):
        async def aclose():
            await asyncio.sleep(0)
            self.calls.append(name)

        return aclose

    def failing(self, name):
        def close():
            self.calls.append(name)
            raise RuntimeError(name)

        return close

    def afailing(self, name):
        async def aclose():
            self.calls.append(name)
            raise RuntimeError(name)

        return aclose


@pytest.fixture(name="recorder")
def _recorder():
    return Recorder()


class TestClose:
    def test_lifo(self, registry, recorder):
        """
        Callbacks run last registered first, across layers.
        """
        registry.register(APP_LAYER, service(on_registry_close=recorder.callback(1)))
        registry.register("api", service(on_registry_close=recorder.callback(2)))
        registry.register(APP_LAYER, service(Cache, on_registry_close=None))
        registry.register(
            APP_LAYER, service(Cache, on_registry_close=recorder.callback(3))
        )

        registry.close()

        assert recorder.calls == [3, 2, 1]

    def test_failure_logged(self, registry, recorder, caplog):
        """
        A failing callback is logged on the flask_servicecbv logger, and the
        others still run.
        """
        registry.register(APP_LAYER, service(on_registry_close=recorder.callback(1)))
        registry.register(
            APP_LAYER, service(Cache, on_registry_close=recorder.failing(2))
        )
        registry.register("api", service(on_registry_close=recorder.callback(3)))

        with caplog.at_level(logging.ERROR, logger="flask_servicecbv"):
            registry.close()

        assert recorder.calls == [3, 2, 1]
        [record] = caplog.records
        assert record.name == "flask_servicecbv"
        assert record.getMessage() == (
            f"on_registry_close callback of {__name__}.Cache failed."
        )
        assert isinstance(record.exc_info[1], RuntimeError)

    def test_async_skipped(self, registry, recorder):
        """
        An async callback cannot run in close(): it is skipped with a warning
        that points at aclose_registry(), and the sync ones still run.
        """
        registry.register(APP_LAYER, service(on_registry_close=recorder.callback(1)))
        registry.register(
            APP_LAYER, service(Cache, on_registry_close=recorder.acallback(2))
        )

        with pytest.warns(
            RuntimeWarning,
            match=rf"Skipped the async on_registry_close callback of {__name__}\."
            r"Cache; use aclose_registry\(\) to run it\.",
        ):
            registry.close()

        assert recorder.calls == [1]

    def test_skipped_async_kept_for_aclose(self, registry, recorder):
        """
        The async callbacks close() skips are kept, in order, for aclose(),
        which runs them and nothing that close() already ran.
        """
        registry.register(APP_LAYER, service(on_registry_close=recorder.acallback(1)))
        registry.register("api", service(on_registry_close=recorder.callback(2)))
        registry.register(
            APP_LAYER, service(Cache, on_registry_close=recorder.acallback(3))
        )
        with pytest.warns(RuntimeWarning, match="Skipped the async") as warned:
            registry.close()
        assert len(warned) == 2

        asyncio.run(registry.aclose())

        assert recorder.calls == [2, 3, 1]

    def test_same_registration_once(self, registry, recorder):
        """
        A registration put into several layers has its callback run once.
        """
        svc = service(on_registry_close=recorder.callback(1))
        registry.register("a", svc)
        registry.register("b", svc)
        registry.register("a", svc)

        registry.close()

        assert recorder.calls == [1]

    def test_second_close_runs_nothing(self, registry, recorder):
        """
        The callbacks run once: closing again does nothing.
        """
        registry.register(APP_LAYER, service(on_registry_close=recorder.callback(1)))
        registry.close()

        registry.close()

        assert recorder.calls == [1]


class TestAclose:
    def test_runs_all_lifo(self, registry, recorder):
        """
        aclose() awaits async callbacks and calls sync ones, last registered
        first.
        """
        registry.register(APP_LAYER, service(on_registry_close=recorder.acallback(1)))
        registry.register("api", service(on_registry_close=recorder.callback(2)))
        registry.register(
            APP_LAYER, service(Cache, on_registry_close=recorder.acallback(3))
        )

        asyncio.run(registry.aclose())

        assert recorder.calls == [3, 2, 1]

    @pytest.mark.parametrize("failing", ["failing", "afailing"])
    def test_failure_logged(self, registry, recorder, caplog, failing):
        """
        A failing callback, sync or async, is logged and the others still run.
        """
        registry.register(APP_LAYER, service(on_registry_close=recorder.acallback(1)))
        registry.register(
            APP_LAYER,
            service(Cache, on_registry_close=getattr(recorder, failing)(2)),
        )
        registry.register("api", service(on_registry_close=recorder.callback(3)))

        with caplog.at_level(logging.ERROR, logger="flask_servicecbv"):
            asyncio.run(registry.aclose())

        assert recorder.calls == [3, 2, 1]
        [record] = caplog.records
        assert record.getMessage() == (
            f"on_registry_close callback of {__name__}.Cache failed."
        )
        assert str(record.exc_info[1]) == "2"

    def test_second_aclose_runs_nothing(self, registry, recorder):
        """
        After aclose(), neither aclose() nor close() runs a callback again.
        """
        registry.register(APP_LAYER, service(on_registry_close=recorder.acallback(1)))
        asyncio.run(registry.aclose())

        asyncio.run(registry.aclose())
        registry.close()

        assert recorder.calls == [1]
