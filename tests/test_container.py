from __future__ import annotations

import asyncio
import functools
import logging
import re
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version

import pytest
from flask import Blueprint, Flask, Response, stream_with_context

import flask_servicecbv
from flask_servicecbv import Container, ServiceView
from flask_servicecbv._container import ServicePing, _chain_of
from flask_servicecbv._registry import APP_LAYER, RegisteredService, Registry
from flask_servicecbv.exceptions import (
    AsyncServiceError,
    ContainerClosedError,
    FactoryError,
    ServiceNotFoundError,
)


class Database:
    """
    A service class used as a key.
    """


class Cache:
    """
    Another service class used as a key.
    """


class Mailer:
    """
    A third service class used as a key.
    """


def register(registry, key, *, layer=APP_LAYER, **kwargs):
    """
    Register a factory (or, with value=, a value) for *key* in *layer*.
    """
    kwargs.setdefault("enter", True)
    kwargs.setdefault("ping", None)
    kwargs.setdefault("on_registry_close", None)
    svc = RegisteredService(key, **kwargs)
    registry.register(layer, svc)
    return svc


class FakeCM:
    """
    A sync context manager that records being entered and exited.
    """

    def __init__(self, events, name):
        self.events = events
        self.name = name

    def __enter__(self):
        self.events.append(("enter", self.name))
        return f"{self.name}-entered"

    def __exit__(self, exc_type, exc, tb):
        self.events.append(("exit", self.name, exc_type, exc))


class FailingCM(FakeCM):
    """
    A sync context manager whose exit fails.
    """

    def __exit__(self, exc_type, exc, tb):
        super().__exit__(exc_type, exc, tb)
        raise RuntimeError(self.name)


class FakeACM:
    """
    An async context manager that records being entered and exited.
    """

    def __init__(self, events, name):
        self.events = events
        self.name = name

    async def __aenter__(self):
        self.events.append(("aenter", self.name))
        return f"{self.name}-aentered"

    async def __aexit__(self, exc_type, exc, tb):
        self.events.append(("aexit", self.name, exc_type, exc))


class FailingACM(FakeACM):
    """
    An async context manager whose exit fails.
    """

    async def __aexit__(self, exc_type, exc, tb):
        await super().__aexit__(exc_type, exc, tb)
        raise RuntimeError(self.name)


async def amake_database():
    return Database()


async def agen_database():
    yield Database()


@pytest.fixture(name="registry")
def _registry():
    return Registry()


@pytest.fixture(name="container")
def _container(registry):
    return Container(registry)


@pytest.fixture(name="events")
def _events():
    return []


def cleanup_failures(caplog):
    """
    The exceptions of the "Cleanup ... failed." records, in order.
    """
    errors = []
    for record in caplog.records:
        assert record.name == "flask_servicecbv"
        assert re.fullmatch(r"Cleanup of service \S+ failed\.", record.getMessage())
        errors.append(record.exc_info[1])
    return errors


class TestGet:
    def test_cached(self, registry, container):
        """
        A service is created once per container; different keys get different
        services.
        """
        register(registry, Database, factory=Database)
        register(registry, Cache, factory=Cache)

        db = container.get(Database)

        assert isinstance(db, Database)
        assert container.get(Database) is db
        assert isinstance(container.get(Cache), Cache)

    def test_value(self, registry, container):
        """
        A value is handed out as is.
        """
        value = Database()
        register(registry, Database, value=value)

        assert container.get(Database) is value

    def test_registered_after_creation(self, registry, container):
        """
        A service registered after the container was made is found, sync and
        async, in the container's chain and in a blueprint's.
        """
        with pytest.raises(ServiceNotFoundError, match="Database"):
            container.get(Database)

        register(registry, Database, value="db")
        register(registry, Cache, layer="api", value="cache")

        assert container.get(Database) == "db"
        assert asyncio.run(container.aget(Cache, blueprint="api")) == "cache"
        assert container.get(Database, Cache, blueprint="api") == ("db", "cache")

    def test_several_keys(self, registry, container):
        """
        Several keys give a tuple of their services, in order, whether cached or
        not.
        """
        register(registry, Database, factory=Database)
        register(registry, Cache, factory=Cache)
        cache = container.get(Cache)

        db, cache2, db2 = container.get(Database, Cache, Database)

        assert isinstance(db, Database)
        assert cache2 is cache
        assert db2 is db
        assert container.get(Cache, Database) == (cache, db)

    def test_not_found(self, container):
        """
        A missing key raises ServiceNotFoundError naming the key and the chain.
        """
        with pytest.raises(
            ServiceNotFoundError, match=rf"No service {__name__}\.Database in the app;"
        ):
            container.get(Database)

    def test_not_found_blueprint(self, registry, container):
        """
        With blueprint=, the message names that blueprint's chain.
        """
        register(registry, Database, layer="other", factory=Database)

        with pytest.raises(
            ServiceNotFoundError,
            match=r"in blueprint 'a\.b', blueprint 'a', the app; blueprint 'other' "
            r"has it",
        ):
            container.get(Database, blueprint="a.b")

    def test_not_found_own_chain(self, registry):
        """
        Without blueprint=, the message names the container's own chain.
        """
        container = Container(registry, ("api", APP_LAYER))

        with pytest.raises(
            ServiceNotFoundError, match=r"in blueprint 'api', the app; register it"
        ):
            container.get(Database)

    def test_chain_innermost_wins(self, registry):
        """
        A container gets what the innermost layer of its chain provides.
        """
        register(registry, Database, value="app")
        register(registry, Database, layer="a", value="a")
        register(registry, Cache, value="app cache")

        container = Container(registry, ("a.b", "a", APP_LAYER))

        assert container.get(Database, Cache) == ("a", "app cache")

    def test_blueprint_chain(self, registry, container):
        """
        get(..., blueprint=) searches that blueprint's chain instead of the
        container's.
        """
        register(registry, Database, value="app")
        register(registry, Database, layer="a", value="a")

        assert container.get(Database, blueprint="a.b") == "a"
        assert container.get(Database) == "app"
        assert container.get(Database, Database, blueprint="a") == ("a", "a")

    def test_blueprint_shares_by_layer(self, registry, container):
        """
        An instance belongs to the layer that provided it: any chain that resolves
        to that layer gets the same instance.
        """
        register(registry, Database, factory=Database)
        register(registry, Cache, factory=Cache)
        register(registry, Cache, layer="a", factory=Cache)

        assert container.get(Database, blueprint="a.b") is container.get(Database)
        assert container.get(Cache, blueprint="a.b") is container.get(
            Cache, blueprint="a"
        )
        assert container.get(Cache, blueprint="a") is not container.get(Cache)

    def test_blueprint_does_not_change_own_chain(self, registry, container):
        """
        A lookup with blueprint= does not leak into the container's own lookups.
        """
        register(registry, Database, value="app")
        register(registry, Database, layer="a", value="a")
        container.get(Database, blueprint="a")

        assert container.get(Database) == "app"

    def test_factory_takes_container(self, registry, container):
        """
        A factory that asks for the container, by name or by annotation, is
        called with it.
        """

        def by_name(container):
            return ("by name", container)

        def by_annotation(c: Container):
            return ("by annotation", c)

        register(registry, Database, factory=by_name)
        register(registry, Cache, factory=by_annotation)

        assert container.get(Database, Cache) == (
            ("by name", container),
            ("by annotation", container),
        )

    def test_generator_takes_container(self, registry, container):
        """
        A generator factory that asks for the container is called with it.
        """

        def factory(svcs_container: Container):
            yield svcs_container

        register(registry, Database, factory=factory)

        assert container.get(Database) is container
        container.close()

    @pytest.mark.parametrize("factory", [amake_database, agen_database])
    def test_async_factory(self, registry, container, factory):
        """
        A sync get() of an async factory says to use aget(), and calls nothing.
        """
        register(registry, Database, factory=factory)

        with pytest.raises(
            AsyncServiceError,
            match=rf"Service {__name__}\.Database has an async factory; use "
            rf"`await aget\({__name__}\.Database\)` instead of get\(\)\.",
        ):
            container.get(Database)

        assert repr(container).endswith("instances=0 cleanups=0>")

    def test_async_service_error_is_type_error(self, registry, container):
        """
        AsyncServiceError is a TypeError.
        """
        register(registry, Database, factory=amake_database)

        with pytest.raises(TypeError, match="aget"):
            container.get(Database)

    def test_value_needs_no_build(self, registry, container):
        """
        A ready value that is not entered is handed out as it is, for every
        chain, with nothing recorded per layer; a service built on it still
        depends on its layer.
        """
        register(registry, Cache, value="cache")
        register(
            registry, Database, factory=lambda container: (container.get(Cache), 1)
        )

        assert container.get(Cache) == "cache"
        assert container._by_layer == {}
        container.get(Database)
        assert list(container._by_layer) == [(APP_LAYER, Database)]
        assert container._by_layer[APP_LAYER, Database][0][1] == {Cache: APP_LAYER}


class TestGenerators:
    def test_cleanup_at_close(self, registry, container, events):
        """
        A generator factory is run up to its yield on get(), and finished when
        the container closes.
        """

        def factory():
            events.append("setup")
            yield "db"
            events.append("cleanup")

        register(registry, Database, factory=factory)

        assert container.get(Database) == "db"
        assert container.get(Database) == "db"
        assert events == ["setup"]

        container.close()

        assert events == ["setup", "cleanup"]

    def test_yielded_value_not_entered(self, registry, container, events):
        """
        What a generator yields is the service, even a context manager.
        """
        cm = FakeCM(events, "cm")

        def factory():
            yield cm

        register(registry, Database, factory=factory)

        assert container.get(Database) is cm
        container.close()
        assert events == []

    @pytest.mark.parametrize("use_aget", [False, True])
    def test_no_yield(self, registry, container, events, use_aget):
        """
        A generator that returns without yielding is an error, through get()
        and aget() alike, and nothing is cached.
        """

        def factory():
            events.append("ran")
            return
            yield  # pragma: no cover -- makes this a generator function

        register(registry, Database, factory=factory)

        def get_it():
            if use_aget:
                return asyncio.run(container.aget(Database))
            return container.get(Database)

        for _ in range(2):
            with pytest.raises(
                FactoryError,
                match=rf"The generator factory of {__name__}\.Database returned "
                r"without yielding; it must yield the service exactly once\.",
            ):
                get_it()

        assert events == ["ran", "ran"]
        assert repr(container).endswith("instances=0 cleanups=0>")

    def test_fails_before_yield(self, registry, container, events, caplog):
        """
        An error before the yield propagates, and there is nothing to clean up.
        """

        def factory():
            events.append("setup")
            raise ValueError("boom")
            yield  # pragma: no cover -- makes this a generator function

        register(registry, Database, factory=factory)

        with pytest.raises(ValueError, match=r"^boom$"):
            container.get(Database)
        container.close()

        assert events == ["setup"]
        assert caplog.records == []

    def test_yields_twice(self, registry, container, events, caplog):
        """
        A generator that yields again at cleanup is closed and logged, and the
        other cleanups still run.
        """

        def first():
            yield "first"
            events.append("first cleanup")

        def twice():
            try:
                yield "twice"
                yield "again"
            finally:
                events.append("twice closed")

        def last():
            yield "last"
            events.append("last cleanup")

        register(registry, Database, factory=first)
        register(registry, Cache, factory=twice)
        register(registry, Mailer, factory=last)
        container.get(Database, Cache, Mailer)

        with caplog.at_level(logging.ERROR, logger="flask_servicecbv"):
            container.close()

        assert events == ["last cleanup", "twice closed", "first cleanup"]
        [error] = cleanup_failures(caplog)
        assert isinstance(error, FactoryError)
        assert re.fullmatch(
            rf"The generator factory of {__name__}\.Cache yielded more than once; "
            "it must yield the service exactly once.",
            str(error),
        )

    def test_fails_after_yield(self, registry, container, events, caplog):
        """
        An error in a generator's cleanup is logged, and the other cleanups still
        run.
        """

        def first():
            yield "first"
            events.append("first cleanup")

        def failing():
            yield "failing"
            raise RuntimeError("cleanup failed")

        register(registry, Database, factory=first)
        register(registry, Cache, factory=failing)
        container.get(Database, Cache)

        with caplog.at_level(logging.ERROR, logger="flask_servicecbv"):
            container.close()

        assert events == ["first cleanup"]
        [error] = cleanup_failures(caplog)
        assert str(error) == "cleanup failed"
        assert caplog.records[0].getMessage() == (
            f"Cleanup of service {__name__}.Cache failed."
        )


class TestGeneratorsSeeException:
    def test_reraised(self, registry, container, events, caplog):
        """
        close(exc) raises *exc* at the generator's yield; a generator that
        re-raises it is not logged.
        """

        def factory():
            try:
                yield "db"
            except ValueError as e:
                events.append(("saw", e))
                raise

        register(registry, Database, factory=factory)
        container.get(Database)
        exc = ValueError("request failed")

        container.close(exc)

        assert events == [("saw", exc)]
        assert caplog.records == []

    def test_finally(self, registry, container, events, caplog):
        """
        A generator with try/finally cleans up and lets *exc* through silently.
        """

        def factory():
            try:
                yield "db"
            finally:
                events.append("cleanup")

        register(registry, Database, factory=factory)
        container.get(Database)

        container.close(ValueError("request failed"))

        assert events == ["cleanup"]
        assert caplog.records == []

    def test_swallowed(self, registry, container, events, caplog):
        """
        A generator may swallow *exc* and return.
        """

        def factory():
            try:
                yield "db"
            except ValueError:
                events.append("swallowed")

        register(registry, Database, factory=factory)
        container.get(Database)

        container.close(ValueError("request failed"))

        assert events == ["swallowed"]
        assert caplog.records == []

    def test_other_error(self, registry, container, caplog):
        """
        A generator that raises another exception in response is logged.
        """

        def factory():
            try:
                yield "db"
            except ValueError as e:
                raise KeyError("cleanup") from e

        register(registry, Database, factory=factory)
        container.get(Database)

        with caplog.at_level(logging.ERROR, logger="flask_servicecbv"):
            container.close(ValueError("request failed"))

        [error] = cleanup_failures(caplog)
        assert isinstance(error, KeyError)

    def test_yields_again(self, registry, container, events, caplog):
        """
        A generator that yields again after seeing *exc* is closed and logged,
        and the other cleanups still run.
        """

        def first():
            try:
                yield "first"
            except ValueError:
                events.append("first saw it")
                raise

        def again():
            try:
                yield "db"
            except ValueError:
                yield "again"
            finally:
                events.append("again closed")

        register(registry, Database, factory=first)
        register(registry, Cache, factory=again)
        container.get(Database, Cache)

        with caplog.at_level(logging.ERROR, logger="flask_servicecbv"):
            container.close(ValueError("request failed"))

        assert events == ["again closed", "first saw it"]
        [error] = cleanup_failures(caplog)
        assert re.search("yielded more than once", str(error))


class TestContextManagers:
    def test_entered_and_exited(self, registry, container, events):
        """
        A context manager returned by a factory is entered, its ``__enter__``
        result is the service, and it is exited at close.
        """
        cm = FakeCM(events, "cm")
        register(registry, Database, factory=lambda: cm)

        assert container.get(Database) == "cm-entered"
        assert container.get(Database) == "cm-entered"
        assert events == [("enter", "cm")]

        container.close()

        assert events == [("enter", "cm"), ("exit", "cm", None, None)]

    def test_exited_with_exception(self, registry, container, events):
        """
        close(exc) gives the context manager the exception info.
        """
        register(registry, Database, factory=lambda: FakeCM(events, "cm"))
        container.get(Database)
        exc = ValueError("request failed")

        container.close(exc)

        assert events[-1] == ("exit", "cm", ValueError, exc)

    def test_not_entered(self, registry, container, events):
        """
        With enter=False the context manager itself is the service.
        """
        cm = FakeCM(events, "cm")
        register(registry, Database, factory=lambda: cm, enter=False)

        assert container.get(Database) is cm
        container.close()
        assert events == []

    def test_value_entered(self, registry, container, events):
        """
        A value that is a context manager is entered with enter=True, once per
        container.
        """
        register(registry, Database, value=FakeCM(events, "value"), enter=True)

        assert container.get(Database) == "value-entered"
        container.close()
        assert container.get(Database) == "value-entered"
        container.close()

        assert events == [("enter", "value"), ("exit", "value", None, None)] * 2

    def test_value_not_entered(self, registry, container, events):
        """
        A value that is a context manager is not entered with enter=False.
        """
        cm = FakeCM(events, "value")
        register(registry, Database, value=cm, enter=False)

        assert container.get(Database) is cm
        container.close()
        assert events == []

    def test_lifo(self, registry, container, events):
        """
        Generators and context managers are cleaned up last in, first out.
        """

        def gen(name):
            def factory():
                yield name
                events.append(("cleanup", name))

            return factory

        register(registry, Database, factory=gen("db"))
        register(registry, Cache, factory=lambda: FakeCM(events, "cache"))
        register(registry, Mailer, factory=gen("mailer"))
        register(registry, "config", value=FakeCM(events, "config"), enter=True)
        container.get(Database, Cache, Mailer, "config")
        del events[:]

        container.close()

        assert events == [
            ("exit", "config", None, None),
            ("cleanup", "mailer"),
            ("exit", "cache", None, None),
            ("cleanup", "db"),
        ]

    def test_inherited_methods_entered(self, registry, container, events):
        """
        A context manager whose ``__enter__`` comes from a base class is entered
        too: the whole MRO is searched, as ``with`` does.
        """

        class Inherits(FakeCM):
            pass

        register(registry, Database, factory=lambda: Inherits(events, "cm"))

        assert container.get(Database) == "cm-entered"
        container.close()
        assert events == [("enter", "cm"), ("exit", "cm", None, None)]

    def test_factory_of_two_types(self, registry, container, events):
        """
        The type a factory last made that is no context manager is not looked
        at again, and whatever else it makes is still entered when it is one.
        """
        made = iter([Cache(), FakeCM(events, "cm"), Cache(), Cache()])
        svc = register(registry, Database, factory=lambda: next(made))

        assert isinstance(container.get(Database), Cache)
        assert svc.not_entered is Cache
        container.close()
        assert container.get(Database) == "cm-entered"
        container.close()
        assert events == [("enter", "cm"), ("exit", "cm", None, None)]
        for _ in range(2):
            assert isinstance(container.get(Database), Cache)
            container.close()
        assert svc.not_entered is Cache

    def test_half_a_context_manager_not_entered(self, registry, container):
        """
        An object with ``__enter__`` but no ``__exit__`` is no context manager:
        it is the service itself.
        """

        class HalfCM:
            __enter__ = FakeCM.__enter__

        half = HalfCM()
        register(registry, Database, factory=lambda: half)

        assert container.get(Database) is half
        container.close()

    def test_metaclass_methods_do_not_count(self, registry, container):
        """
        A class whose metaclass has ``__enter__`` and ``__exit__`` is a context
        manager, its instances are not: ``with`` looks in the instance's type.
        """

        class Meta(type):
            __enter__ = FakeCM.__enter__
            __exit__ = FakeCM.__exit__

        class Plain(metaclass=Meta):
            pass

        plain = Plain()
        register(registry, Database, factory=lambda: plain)

        assert container.get(Database) is plain
        container.close()

    def test_failing_exit(self, registry, container, events, caplog):
        """
        A failing ``__exit__`` is logged and the other cleanups still run.
        """
        register(registry, Database, factory=lambda: FakeCM(events, "db"))
        register(registry, Cache, factory=lambda: FailingCM(events, "cache"))
        register(registry, Mailer, factory=lambda: FakeCM(events, "mailer"))
        container.get(Database, Cache, Mailer)

        with caplog.at_level(logging.ERROR, logger="flask_servicecbv"):
            container.close()

        assert [e[:2] for e in events[3:]] == [
            ("exit", "mailer"),
            ("exit", "cache"),
            ("exit", "db"),
        ]
        [error] = cleanup_failures(caplog)
        assert str(error) == "cache"


class TestClose:
    def test_forgets_instances(self, registry, container):
        """
        After close() the container creates new instances.
        """
        register(registry, Database, factory=Database)
        db = container.get(Database)
        other = container.get(Database, blueprint="a")

        container.close()

        assert container.get(Database) is not db
        assert container.get(Database, blueprint="a") is not other

    def test_second_close_runs_nothing(self, registry, container, events):
        """
        Each cleanup runs once: closing again does nothing.
        """
        register(registry, Database, factory=lambda: FakeCM(events, "db"))
        container.get(Database)
        container.close()

        container.close()

        assert events == [("enter", "db"), ("exit", "db", None, None)]

    def test_async_cleanups_skipped(self, registry, events):
        """
        A sync close() runs every sync cleanup, then warns once per async cleanup
        it had to skip.
        """
        container = Container(registry)
        register(registry, Database, factory=lambda: FakeCM(events, "db"))
        register(registry, Cache, value=FakeACM(events, "cache"), enter=True)
        register(registry, Mailer, factory=lambda: FakeCM(events, "mailer"))
        register(registry, "conn", factory=lambda: FakeACM(events, "conn"))

        asyncio.run(container.aget(Database, Cache, Mailer, "conn"))
        with pytest.warns(
            RuntimeWarning,
            match=r"Skipped the async cleanup of \S+; close the container with "
            r"`await container\.aclose\(\)` instead\.",
        ) as record:
            container.close()

        assert [str(w.message).split(";")[0] for w in record] == [
            "Skipped the async cleanup of 'conn'",
            f"Skipped the async cleanup of {__name__}.Cache",
        ]
        assert [e[:2] for e in events[4:]] == [("exit", "mailer"), ("exit", "db")]
        assert repr(container).endswith("instances=0 cleanups=0>")

    def test_async_warning_as_error(self, registry, events):
        """
        Even when warnings are errors, every sync cleanup has run before the
        first warning is raised.
        """
        container = Container(registry)
        register(registry, Database, factory=lambda: FakeCM(events, "db"))
        register(registry, Cache, value=FakeACM(events, "cache"), enter=True)
        register(registry, Mailer, factory=lambda: FakeCM(events, "mailer"))
        asyncio.run(container.aget(Database, Cache, Mailer))

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(RuntimeWarning, match="Skipped the async cleanup"):
                container.close()

        assert [e[:2] for e in events[3:]] == [("exit", "mailer"), ("exit", "db")]


class TestAsync:
    def test_coroutine(self, registry, container):
        """
        aget() awaits a coroutine factory, once per container.
        """
        register(registry, Database, factory=amake_database)

        async def run():
            db = await container.aget(Database)
            assert await container.aget(Database) is db
            return db

        db = asyncio.run(run())

        assert isinstance(db, Database)
        assert container.get(Database) is db

    def test_several_keys(self, registry, container):
        """
        aget() with several keys gives a tuple in order, mixing sync and async
        factories.
        """
        register(registry, Database, factory=amake_database)
        register(registry, Cache, factory=Cache)
        register(registry, Mailer, value="mailer")

        async def run():
            return await container.aget(Cache, Database, Mailer, Cache)

        cache, db, mailer, cache2 = asyncio.run(run())

        assert isinstance(cache, Cache)
        assert isinstance(db, Database)
        assert mailer == "mailer"
        assert cache2 is cache

    def test_blueprint(self, registry, container):
        """
        aget(..., blueprint=) searches that chain and shares instances by layer.
        """
        register(registry, Database, factory=amake_database)
        register(registry, Database, layer="a", factory=amake_database)
        register(registry, Cache, factory=amake_database)

        async def run():
            return (
                await container.aget(Database, blueprint="a.b"),
                await container.aget(Database, blueprint="a"),
                await container.aget(Database),
                await container.aget(Cache, blueprint="a"),
                await container.aget(Cache),
            )

        ab, a, app, cache_a, cache = asyncio.run(run())

        assert ab is a
        assert app is not a
        assert cache_a is cache

    def test_not_found(self, container):
        """
        aget() of a missing key raises ServiceNotFoundError.
        """
        with pytest.raises(
            ServiceNotFoundError, match=r"No service 'db' in blueprint 'a', the app"
        ):
            asyncio.run(container.aget("db", blueprint="a"))

    def test_factory_takes_container(self, registry, container):
        """
        An async factory that asks for the container is called with a view of
        it for the build: same chain, same instances.
        """

        async def factory(container):
            return container

        register(registry, Database, factory=factory)
        register(registry, Cache, factory=Cache)
        cache = container.get(Cache)

        given = asyncio.run(container.aget(Database))

        # A view of this container for the build: the same chain and instances.
        assert isinstance(given, Container)
        assert given.chain == container.chain
        assert given.get(Cache) is cache


class TestAsyncGenerators:
    def test_cleanup_at_aclose(self, registry, container, events):
        """
        An async generator factory runs to its yield on aget(), and is finished
        by aclose().
        """

        async def factory():
            events.append("setup")
            yield "db"
            events.append("cleanup")

        register(registry, Database, factory=factory)

        async def run():
            assert await container.aget(Database) == "db"
            assert events == ["setup"]
            await container.aclose()

        asyncio.run(run())

        assert events == ["setup", "cleanup"]

    def test_no_yield(self, registry, container):
        """
        An async generator that returns without yielding is an error.
        """

        async def factory():
            return
            yield  # pragma: no cover -- makes this an async generator function

        register(registry, Database, factory=factory)

        with pytest.raises(
            FactoryError,
            match=rf"generator factory of {__name__}\.Database returned without "
            "yielding",
        ):
            asyncio.run(container.aget(Database))

    def test_yields_twice(self, registry, container, events, caplog):
        """
        An async generator that yields again at cleanup is closed and logged,
        and the other cleanups still run.
        """

        async def first():
            yield "first"
            events.append("first cleanup")

        async def twice():
            try:
                yield "twice"
                yield "again"
            finally:
                events.append("twice closed")

        register(registry, Database, factory=first)
        register(registry, Cache, factory=twice)

        async def run():
            await container.aget(Database, Cache)
            await container.aclose()

        with caplog.at_level(logging.ERROR, logger="flask_servicecbv"):
            asyncio.run(run())

        assert events == ["twice closed", "first cleanup"]
        [error] = cleanup_failures(caplog)
        assert re.search(
            rf"{__name__}\.Cache yielded more than once; it must yield", str(error)
        )

    def test_fails_after_yield(self, registry, container, events, caplog):
        """
        An error in an async generator's cleanup is logged, and the other
        cleanups still run.
        """

        async def first():
            yield "first"
            events.append("first cleanup")

        async def failing():
            yield "failing"
            raise RuntimeError("cleanup failed")

        register(registry, Database, factory=first)
        register(registry, Cache, factory=failing)

        async def run():
            await container.aget(Database, Cache)
            await container.aclose()

        with caplog.at_level(logging.ERROR, logger="flask_servicecbv"):
            asyncio.run(run())

        assert events == ["first cleanup"]
        [error] = cleanup_failures(caplog)
        assert str(error) == "cleanup failed"

    def test_reraised(self, registry, container, events, caplog):
        """
        aclose(exc) raises *exc* at the async generator's yield; re-raising it
        is not logged.
        """

        async def factory():
            try:
                yield "db"
            except ValueError as e:
                events.append(("saw", e))
                raise

        register(registry, Database, factory=factory)
        exc = ValueError("request failed")

        async def run():
            await container.aget(Database)
            await container.aclose(exc)

        asyncio.run(run())

        assert events == [("saw", exc)]
        assert caplog.records == []

    def test_swallowed(self, registry, container, events, caplog):
        """
        An async generator may swallow *exc* and return.
        """

        async def factory():
            try:
                yield "db"
            except ValueError:
                events.append("swallowed")

        register(registry, Database, factory=factory)

        async def run():
            await container.aget(Database)
            await container.aclose(ValueError("request failed"))

        asyncio.run(run())

        assert events == ["swallowed"]
        assert caplog.records == []

    def test_yields_again(self, registry, container, events, caplog):
        """
        An async generator that yields again after seeing *exc* is closed and
        logged.
        """

        async def factory():
            try:
                yield "db"
            except ValueError:
                yield "again"
            finally:
                events.append("closed")

        register(registry, Database, factory=factory)

        async def run():
            await container.aget(Database)
            await container.aclose(ValueError("request failed"))

        with caplog.at_level(logging.ERROR, logger="flask_servicecbv"):
            asyncio.run(run())

        assert events == ["closed"]
        [error] = cleanup_failures(caplog)
        assert re.search("yielded more than once", str(error))


class TestAsyncContextManagers:
    @pytest.mark.parametrize("how", ["value", "factory", "coroutine"])
    def test_entered_and_exited(self, registry, container, events, how):
        """
        An async context manager, registered as a value with enter=True or
        returned by a factory, is entered by aget() and exited by aclose().
        """
        acm = FakeACM(events, "db")

        async def coroutine():
            return acm

        if how == "value":
            register(registry, Database, value=acm, enter=True)
        else:
            factory = coroutine if how == "coroutine" else lambda: acm
            register(registry, Database, factory=factory)

        async def run():
            assert await container.aget(Database) == "db-aentered"
            assert events == [("aenter", "db")]
            await container.aclose()

        asyncio.run(run())

        assert events == [("aenter", "db"), ("aexit", "db", None, None)]

    def test_exited_with_exception(self, registry, container, events):
        """
        aclose(exc) gives ``__aexit__`` the exception info.
        """
        register(registry, Database, value=FakeACM(events, "db"), enter=True)
        exc = ValueError("request failed")

        async def run():
            await container.aget(Database)
            await container.aclose(exc)

        asyncio.run(run())

        assert events[-1] == ("aexit", "db", ValueError, exc)

    @pytest.mark.parametrize("how", ["value", "factory", "coroutine"])
    def test_not_entered(self, registry, container, events, how):
        """
        With enter=False an async context manager is the service itself.
        """
        acm = FakeACM(events, "db")

        async def coroutine():
            return acm

        if how == "value":
            register(registry, Database, value=acm, enter=False)
        else:
            factory = coroutine if how == "coroutine" else lambda: acm
            register(registry, Database, factory=factory, enter=False)

        async def run():
            assert await container.aget(Database) is acm
            await container.aclose()

        asyncio.run(run())

        assert events == []

    def test_failing_exit(self, registry, container, events, caplog):
        """
        A failing ``__aexit__`` is logged and the other cleanups still run.
        """
        register(registry, Database, factory=lambda: FakeACM(events, "db"))
        register(registry, Cache, factory=lambda: FailingACM(events, "cache"))

        async def run():
            await container.aget(Database, Cache)
            await container.aclose()

        with caplog.at_level(logging.ERROR, logger="flask_servicecbv"):
            asyncio.run(run())

        assert [e[:2] for e in events[2:]] == [("aexit", "cache"), ("aexit", "db")]
        [error] = cleanup_failures(caplog)
        assert str(error) == "cache"


class TestSyncThroughAsync:
    def test_generator_and_cm(self, registry, container, events):
        """
        aget() and aclose() handle sync generators and context managers too, in
        one last in, first out order with the async ones.
        """

        def gen():
            yield "gen"
            events.append("gen cleanup")

        async def agen():
            yield "agen"
            events.append("agen cleanup")

        register(registry, Database, factory=gen)
        register(registry, Cache, factory=lambda: FakeCM(events, "cm"))
        register(registry, Mailer, factory=agen)
        register(registry, "value", value=FakeCM(events, "value"), enter=True)

        async def run():
            return await container.aget(Database, Cache, Mailer, "value")

        async def run_and_close():
            services = await run()
            del events[:]
            await container.aclose()
            return services

        assert asyncio.run(run_and_close()) == (
            "gen",
            "cm-entered",
            "agen",
            "value-entered",
        )
        assert events == [
            ("exit", "value", None, None),
            "agen cleanup",
            ("exit", "cm", None, None),
            "gen cleanup",
        ]

    def test_exception_to_sync_cleanups(self, registry, container, events):
        """
        aclose(exc) hands *exc* to sync generators and context managers.
        """

        def gen():
            try:
                yield "gen"
            except ValueError as e:
                events.append(("gen saw", e))

        async def coroutine():
            return FakeCM(events, "cm")

        register(registry, Database, factory=gen)
        register(registry, Cache, factory=coroutine)
        exc = ValueError("request failed")

        async def run():
            assert await container.aget(Database, Cache) == ("gen", "cm-entered")
            await container.aclose(exc)

        asyncio.run(run())

        assert events == [
            ("enter", "cm"),
            ("exit", "cm", ValueError, exc),
            ("gen saw", exc),
        ]

    def test_plain_not_entered(self, registry, container, events):
        """
        aget() does not enter a context manager when enter=False.
        """
        cm = FakeCM(events, "cm")
        register(registry, Database, factory=lambda: cm, enter=False)

        assert asyncio.run(container.aget(Database)) is cm
        assert events == []


class TestChain:
    def test_default_chain(self, container):
        """
        A container searches the app layer alone by default.
        """
        assert container.chain == (APP_LAYER,)

    def test_chain(self, registry):
        """
        The chain property is the chain given.
        """
        assert Container(registry, ("a", APP_LAYER)).chain == ("a", APP_LAYER)

    def test_repr(self, registry):
        """
        The repr shows the chain and counts instances and cleanups.
        """
        register(registry, Database, factory=agen_database)
        register(registry, Cache, value="cache")
        container = Container(registry, ("a.b", "a", APP_LAYER))

        assert repr(container) == (
            "<Container chain=('a.b', 'a', app) instances=0 cleanups=0>"
        )

        async def run():
            await container.aget(Database, Cache)
            assert repr(container) == (
                "<Container chain=('a.b', 'a', app) instances=2 cleanups=1>"
            )
            await container.aclose()

        asyncio.run(run())

    def test_rechain(self, registry):
        """
        Rechaining keeps the instances of the layers both chains share, and
        resolves from the new chain.
        """
        register(registry, Database, factory=Database)
        register(registry, Cache, factory=Cache)
        register(registry, Cache, layer="api", factory=Cache)
        container = Container(registry)
        db, app_cache = container.get(Database, Cache)
        ctx = object()

        container._rechain(("api", APP_LAYER), ctx)

        assert container.chain == ("api", APP_LAYER)
        assert container._request_ctx is ctx
        assert container.get(Database) is db
        api_cache = container.get(Cache)
        assert api_cache is not app_cache
        assert container.get(Cache, blueprint=None) is api_cache

        container._rechain((APP_LAYER,), None)

        assert container.get(Database, Cache) == (db, app_cache)

    def test_rechain_same_chain(self, registry):
        """
        Rechaining to the same chain only records the request context.
        """
        register(registry, Database, factory=Database)
        container = Container(registry, ("api", APP_LAYER))
        db = container.get(Database)
        ctx = object()

        container._rechain(("api", APP_LAYER), ctx)

        assert container._request_ctx is ctx
        assert container.get(Database) is db
        assert container.chain == ("api", APP_LAYER)


class Repository:
    """
    A service built on a Database, from the container it is given.
    """

    def __init__(self, db):
        self.db = db


def make_repository(container):
    return Repository(container.get(Database))


async def amake_repository(container):
    return Repository(await container.aget(Database))


class Report:
    """
    A service built on a Repository: it depends on a Database through it.
    """

    def __init__(self, repository):
        self.repository = repository


def make_report(container):
    return Report(container.get(Repository))


@pytest.fixture(name="layered")
def _layered(registry):
    """
    Repository and Report on the app layer; Database on the app and on "api".
    """
    register(registry, Repository, factory=make_repository)
    register(registry, Report, factory=make_report)
    register(registry, Database, value=Database())
    register(registry, Database, layer="api", value=Database())
    return registry


API = ("api", APP_LAYER)


class TestDependencies:
    @pytest.mark.parametrize("first", [API, (APP_LAYER,)])
    def test_each_chain_gets_its_dependencies(self, layered, first):
        """
        An app-layer service asked for from two chains in one container is built
        on each chain's dependency, whichever chain asked first, and each chain
        keeps getting the same instance.
        """
        container = Container(layered)
        second = (APP_LAYER,) if first == API else API
        built = {}

        for chain in (first, second, first, second):
            container._rechain(chain, None)
            repo = container.get(Repository)
            assert repo.db is container.get(Database)
            assert built.setdefault(chain, repo) is repo

        assert built[API] is not built[(APP_LAYER,)]

    def test_shared_when_dependencies_agree(self, registry):
        """
        An app-layer service whose dependencies resolve to the same layers in
        both chains is one instance for both.
        """
        register(registry, Repository, factory=make_repository)
        register(registry, Database, value=Database())
        register(registry, Cache, layer="api", value=Cache())
        container = Container(registry)

        repo = container.get(Repository)
        container._rechain(API, None)

        assert container.get(Repository) is repo

    def test_transitive(self, layered):
        """
        A service depending on the overridden one through another service is
        rebuilt for the other chain too.
        """
        container = Container(layered)
        app_report = container.get(Report)

        api_report = container.get(Report, blueprint="api")

        assert api_report is not app_report
        assert api_report.repository.db is container.get(Database, blueprint="api")
        assert app_report.repository.db is container.get(Database)
        assert container.get(Report) is app_report

    def test_cached_dependency_recorded(self, layered):
        """
        A dependency that was already made before the dependent service is
        recorded as well.
        """
        container = Container(layered, API)
        db = container.get(Database)

        repo = container.get(Repository)
        container._rechain((APP_LAYER,), None)

        assert repo.db is db
        assert container.get(Repository) is not repo

    def test_async(self, registry):
        """
        aget() records dependencies the same way.
        """
        register(registry, Repository, factory=amake_repository)
        register(registry, Database, value=Database())
        register(registry, Database, layer="api", value=Database())
        container = Container(registry)

        async def run():
            app_repo = await container.aget(Repository)
            api_repo = await container.aget(Repository, blueprint="api")
            assert app_repo.db is not api_repo.db
            assert api_repo.db is await container.aget(Database, blueprint="api")
            assert await container.aget(Repository) is app_repo
            assert await container.aget(Repository, blueprint="api") is api_repo

        asyncio.run(run())

    def test_failed_build_leaves_no_frame(self, registry):
        """
        A factory that fails leaves the container as it was: the next service
        is built normally.
        """

        def broken(container):
            container.get(Database)
            msg = "no connection"
            raise RuntimeError(msg)

        register(registry, Repository, factory=broken)
        register(registry, Database, value=Database())
        container = Container(registry)

        with pytest.raises(RuntimeError, match="no connection"):
            container.get(Repository)

        assert container._frames == []
        assert container.get(Database) is container.get(Database)


class TestConcurrentAsync:
    def test_same_service_built_once(self, registry, container):
        """
        Tasks of one app context that ask for the same service at the same time
        get one instance: the second waits for the first's build.
        """
        calls = []

        async def factory():
            calls.append("build")
            await asyncio.sleep(0)
            return Database()

        register(registry, Database, factory=factory)

        async def run():
            return await asyncio.gather(*(container.aget(Database) for _ in range(3)))

        first, second, third = asyncio.run(run())

        assert first is second is third
        assert calls == ["build"]

    def test_failed_build_retried_by_waiter(self, registry, container):
        """
        When the build a task waits for fails, the task builds the service
        itself rather than waiting forever.
        """
        calls = []

        async def factory():
            calls.append("build")
            await asyncio.sleep(0)
            if len(calls) == 1:
                msg = "first build fails"
                raise RuntimeError(msg)
            return Database()

        register(registry, Database, factory=factory)

        async def run():
            return await asyncio.gather(
                container.aget(Database),
                container.aget(Database),
                return_exceptions=True,
            )

        failed, built = asyncio.run(run())

        assert isinstance(failed, RuntimeError)
        assert isinstance(built, Database)
        assert calls == ["build", "build"]

    def test_dependencies_recorded_per_task(self, registry, container):
        """
        Builds running at the same time record only their own dependencies.
        """

        async def repository(container):
            await asyncio.sleep(0)
            db = await container.aget(Database)
            await asyncio.sleep(0)
            return Repository(db)

        async def mailer(container):
            await asyncio.sleep(0)
            container.get(Cache)
            await asyncio.sleep(0)
            return Mailer()

        register(registry, Repository, factory=repository)
        register(registry, Mailer, factory=mailer)
        register(registry, Database, factory=Database)
        register(registry, Cache, factory=Cache)

        async def run():
            await asyncio.gather(container.aget(Repository), container.aget(Mailer))

        asyncio.run(run())

        assert container._by_layer[APP_LAYER, Repository][0][1] == {Database: APP_LAYER}
        assert container._by_layer[APP_LAYER, Mailer][0][1] == {Cache: APP_LAYER}

    def test_sync_cycle_is_an_error(self, registry, container):
        """
        A factory that needs its own service through another one fails with
        FactoryError, and the container stays usable.
        """
        register(registry, Database, factory=lambda container: container.get(Cache))
        register(registry, Cache, factory=lambda container: container.get(Database))

        with pytest.raises(
            FactoryError,
            match=rf"The factory of {__name__}\.Database needs {__name__}\.Database",
        ):
            container.get(Database)

        assert (container._by_layer, container._frames) == ({}, [])
        register(registry, Mailer, factory=Mailer)
        assert isinstance(container.get(Mailer), Mailer)

    def test_cycle_through_sync_get_leaves_no_marker(self, registry, container):
        """
        After an async factory's sync get() of its own service is refused as a
        cycle, the service is not left marked as being built: a later sync
        get() says to use aget(), and aget() builds it.
        """
        calls = []

        async def factory(container):
            calls.append("build")
            if len(calls) == 1:
                container.get(Database)
            return Database()

        register(registry, Database, factory=factory)

        with pytest.raises(FactoryError, match=r"needs .*Database itself"):
            asyncio.run(container.aget(Database))

        with pytest.raises(AsyncServiceError, match=r"use `await aget\("):
            container.get(Database)
        assert isinstance(asyncio.run(container.aget(Database)), Database)

    def test_sync_get_during_other_tasks_build(self, registry, container):
        """
        A sync get() of a service that another task is building with its async
        factory is not mistaken for a cycle: it says to use aget().
        """

        started = asyncio.Event()

        async def factory():
            started.set()
            await asyncio.sleep(0)
            return Database()

        async def sync_get_later():
            await started.wait()
            container.get(Database)

        register(registry, Database, factory=factory)

        async def run():
            return await asyncio.gather(
                container.aget(Database), sync_get_later(), return_exceptions=True
            )

        built, error = asyncio.run(run())

        assert isinstance(built, Database)
        assert isinstance(error, AsyncServiceError)

    @pytest.mark.parametrize("inner", ["aget", "get"])
    def test_cycle_is_an_error(self, registry, container, inner):
        """
        An async factory that needs its own service, through aget() or get(),
        fails with FactoryError instead of waiting for itself.
        """

        async def factory(container):
            if inner == "aget":
                return await container.aget(Database)
            return container.get(Database)

        register(registry, Database, factory=factory)

        with pytest.raises(
            FactoryError,
            match=rf"The factory of {__name__}\.Database needs {__name__}\.Database "
            "itself, directly or through other services; break the cycle",
        ):
            asyncio.run(container.aget(Database))


class TestRobustness:
    def test_cancelled_waiter_leaves_build_alone(self, registry, container):
        """
        A task that gives up waiting for another task's build does not cancel
        that build: the builder and the other waiters get the service.
        """
        calls = []

        async def factory():
            calls.append("build")
            await asyncio.sleep(0.05)
            return Database()

        register(registry, Database, factory=factory)

        async def run():
            builder = asyncio.ensure_future(container.aget(Database))
            await asyncio.sleep(0)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(container.aget(Database), 0.001)
            return await builder, await container.aget(Database)

        first, second = asyncio.run(run())

        assert first is second
        assert calls == ["build"]

    def test_cycle_through_gather(self, registry, container):
        """
        A cycle that runs through another task (asyncio.gather) raises
        FactoryError instead of waiting forever.
        """

        async def make_database(container):
            await asyncio.gather(container.aget(Cache))

        async def make_cache(container):
            return await container.aget(Database)

        register(registry, Database, factory=make_database)
        register(registry, Cache, factory=make_cache)

        with pytest.raises(FactoryError, match=r"needs .*Database itself"):
            asyncio.run(asyncio.wait_for(container.aget(Database), 5))

    def test_cycle_found_on_second_chain(self, registry):
        """
        A cycle that only appears for another chain, while rebuilding a
        service for it, raises FactoryError too.
        """

        def make(other):
            def factory(container):
                if container.get(Mailer) == "api":
                    container.get(other)
                return object()

            return factory

        register(registry, Database, factory=make(Cache))
        register(registry, Cache, factory=make(Database))
        register(registry, Mailer, value="app")
        register(registry, Mailer, layer="api", value="api")
        container = Container(registry)
        container.get(Database, Cache)

        with pytest.raises(FactoryError, match=r"needs .*itself"):
            container.get(Database, blueprint="api")

    def test_absent_dependency_recorded(self, registry):
        """
        A factory that does without a missing service records that, so a
        chain where the service exists gets an instance of its own.
        """

        def make_repository(container):
            try:
                return Repository(container.get(Cache))
            except ServiceNotFoundError:
                return Repository(None)

        register(registry, Repository, factory=make_repository)
        register(registry, Cache, layer="api", factory=Cache)
        container = Container(registry)

        without = container.get(Repository)
        with_cache = container.get(Repository, blueprint="api")

        assert without.db is None
        assert isinstance(with_cache.db, Cache)
        assert container.get(Repository) is without

    def test_async_context_manager_needs_aget(self, registry, container):
        """
        get() refuses a factory result that is an async context manager to
        enter, rather than caching it unentered.
        """
        register(registry, Database, factory=lambda: FakeACM([], "db"))

        with pytest.raises(
            AsyncServiceError,
            match=r"is an async context manager to enter; use `await aget\(",
        ):
            container.get(Database)

        assert asyncio.run(container.aget(Database)) == "db-aentered"

    def test_closed_during_async_build(self, registry, container):
        """
        A container closed while an async service is being built (as
        overwrite_*() does) runs that service's cleanup at once and tells the
        caller to get it again.
        """
        events = []

        async def factory():
            await asyncio.sleep(0)
            yield Database()
            events.append("cleaned")

        register(registry, Database, factory=factory)

        async def run():
            building = asyncio.ensure_future(container.aget(Database))
            await asyncio.sleep(0)
            container.close()
            with pytest.raises(
                ContainerClosedError,
                match=r"closed while .*Database was being built; get it again",
            ):
                await building
            assert events == ["cleaned"]
            return await container.aget(Database)

        assert isinstance(asyncio.run(run()), Database)
        assert events == ["cleaned"]

    def test_failed_build_after_close(self, registry, container):
        """
        A build that fails after its container was closed still cleans up
        what it built, and its own error propagates.
        """
        events = []

        async def make_cache():
            yield Cache()
            events.append("cache cleaned")

        async def make_database(container):
            await container.aget(Cache)
            await asyncio.sleep(0)
            msg = "database down"
            raise RuntimeError(msg)

        register(registry, Cache, factory=make_cache)
        register(registry, Database, factory=make_database)

        async def run():
            building = asyncio.ensure_future(container.aget(Database))
            await asyncio.sleep(0)
            container.close()
            with pytest.raises(RuntimeError, match="database down"):
                await building

        asyncio.run(run())

        assert events == ["cache cleaned"]

    def test_kept_container_follows_the_container(self, registry, container):
        """
        An async factory that keeps the container it was given sees the
        container's instances after the build, and fresh ones after a close.
        """

        class Repo:
            def __init__(self, container):
                self.container = container

        async def make_repo(container):
            return Repo(container)

        register(registry, Repository, factory=make_repo)
        register(registry, Cache, factory=Cache)

        async def run():
            repo = await container.aget(Repository)
            cache = container.get(Cache)
            assert repo.container.get(Cache) is cache
            await container.aclose()
            assert repo.container.get(Cache) is container.get(Cache)
            assert container.get(Cache) is not cache

        asyncio.run(run())


class TestChainOf:
    def test_no_request(self, app):
        """
        Without a request context the chain is the app layer alone.
        """
        assert _chain_of(None, app) == (APP_LAYER,)

    def test_request_of_other_app(self, app):
        """
        A request context of another app does not give its blueprints.
        """
        other = Flask("other")
        bp = Blueprint("api", __name__)
        bp.add_url_rule("/x", "x", lambda: "x")
        other.register_blueprint(bp, url_prefix="/api")

        with other.test_request_context("/api/x") as ctx:
            assert ctx.request.blueprints == ["api"]
            assert _chain_of(ctx, app) == (APP_LAYER,)

    @pytest.mark.parametrize(
        ("path", "chain"),
        [
            ("/x", (APP_LAYER,)),
            ("/api/x", ("api", APP_LAYER)),
            ("/api/v2/x", ("api.v2", "api", APP_LAYER)),
        ],
    )
    def test_request_blueprints(self, app, path, chain):
        """
        A request's chain is its blueprints, innermost first, then the app.
        """
        api = Blueprint("api", __name__)
        v2 = Blueprint("v2", __name__)
        v2.add_url_rule("/x", "x", lambda: "v2")
        api.add_url_rule("/x", "x", lambda: "api")
        api.register_blueprint(v2, url_prefix="/v2")
        app.add_url_rule("/x", "x", lambda: "app")
        app.register_blueprint(api, url_prefix="/api")

        with app.test_request_context(path) as ctx:
            assert _chain_of(ctx, app) == chain


class TestServicePing:
    def test_attributes(self, registry, container):
        """
        A ping is named after its key, has a repr and tells whether it is async.
        """
        svc = register(registry, Database, value="db", ping=bool)

        [ping] = container.get_pings()

        assert isinstance(ping, ServicePing)
        assert ping.name == f"{__name__}.Database"
        assert repr(ping) == f"<ServicePing {__name__}.Database>"
        assert ping.is_async is svc.is_async is False

    def test_ping(self, registry, container):
        """
        ping() gets the service and calls the ping with it.
        """
        seen = []
        register(registry, Database, factory=Database, ping=seen.append)
        [ping] = container.get_pings()

        ping.ping()

        assert seen == [container.get(Database)]

    def test_ping_fails(self, registry, container):
        """
        The ping's exception propagates.
        """

        def ping(db):
            raise ConnectionError(f"{db} is down")

        register(registry, Database, value="db", ping=ping)
        [service_ping] = container.get_pings()

        with pytest.raises(ConnectionError, match=r"^db is down$"):
            service_ping.ping()

    def test_aping_async(self, registry, container):
        """
        aping() awaits an async factory and an async ping.
        """
        seen = []

        async def ping(db):
            seen.append(db)

        register(registry, Database, factory=amake_database, ping=ping)
        [service_ping] = container.get_pings()

        asyncio.run(service_ping.aping())

        assert service_ping.is_async is True
        assert seen == [container.get(Database)]

    def test_aping_sync(self, registry, container):
        """
        aping() works with a sync ping too.
        """
        seen = []
        register(registry, Database, value="db", ping=seen.append)
        [service_ping] = container.get_pings()

        asyncio.run(service_ping.aping())

        assert seen == ["db"]

    def test_get_pings_filters(self, registry):
        """
        Only services with a ping, visible from the chain, are listed; an inner
        layer's registration hides the app's.
        """
        register(registry, Database, value="app db", ping=bool)
        register(registry, Cache, value="cache")
        register(registry, Mailer, layer="other", value="mailer", ping=bool)
        register(registry, Database, layer="api", value="api db", ping=bool)
        register(registry, "config", layer="api", value="config", ping=bool)

        app_pings = Container(registry).get_pings()
        api_pings = Container(registry, ("api", APP_LAYER)).get_pings()

        assert [p.name for p in app_pings] == [f"{__name__}.Database"]
        assert sorted(p.name for p in api_pings) == [
            "'config'",
            f"{__name__}.Database",
        ]

    def test_get_pings_blueprint(self, registry, container):
        """
        get_pings(blueprint=) lists the pings of that chain, and their ping()
        gets the service from that chain.
        """
        seen = []
        register(registry, Database, value="app db", ping=seen.append)
        register(registry, Database, layer="api", value="api db", ping=seen.append)

        [api_ping] = container.get_pings(blueprint="api.v2")
        [app_ping] = container.get_pings()
        api_ping.ping()
        app_ping.ping()
        asyncio.run(api_ping.aping())

        assert seen == ["api db", "app db", "api db"]


# -- whatever ends the context, every cleanup runs --------------------------

ENDINGS = [
    pytest.param(GeneratorExit, id="GeneratorExit"),
    pytest.param(KeyboardInterrupt, id="KeyboardInterrupt"),
    pytest.param(SystemExit, id="SystemExit"),
    pytest.param(asyncio.CancelledError, id="CancelledError"),
]


def generator_factory(events, name):
    """
    A generator factory that records its cleanup, however it is ended.
    """

    def factory():
        try:
            yield name
        finally:
            events.append(("closed", name))

    return factory


def async_generator_factory(events, name):
    """
    An async generator factory that records its cleanup, however it is ended.
    """

    async def factory():
        try:
            yield name
        finally:
            events.append(("closed", name))

    return factory


def raising_generator(events, name, error):
    """
    A generator factory whose cleanup raises *error*.
    """

    def factory():
        yield name
        events.append(("raising", name))
        raise error

    return factory


class TestBaseExceptions:
    @pytest.mark.parametrize("ending", ENDINGS)
    def test_close_runs_every_cleanup(self, registry, container, events, ending):
        """
        close() with a BaseException that generators raise back (a client hang
        up, Ctrl-C, sys.exit(), a cancellation) runs every cleanup and raises
        nothing: the exception propagates from where it ended the context.
        """
        register(registry, Database, factory=generator_factory(events, "db"))
        register(registry, Cache, factory=lambda: FakeCM(events, "cm"))
        register(registry, Mailer, factory=generator_factory(events, "mailer"))
        container.get(Database, Cache, Mailer)
        exc = ending()

        container.close(exc)

        assert events == [
            ("enter", "cm"),
            ("closed", "mailer"),
            ("exit", "cm", ending, exc),
            ("closed", "db"),
        ]

    @pytest.mark.parametrize("ending", ENDINGS)
    def test_aclose_runs_every_cleanup(self, registry, container, events, ending):
        """
        aclose() with such an exception runs every sync and async cleanup.
        """
        register(registry, Database, factory=generator_factory(events, "db"))
        register(registry, Cache, factory=async_generator_factory(events, "agen"))
        register(registry, Mailer, factory=lambda: FakeACM(events, "acm"))
        register(registry, "last", factory=async_generator_factory(events, "last"))
        exc = ending()

        async def run():
            await container.aget(Database, Cache, Mailer, "last")
            await container.aclose(exc)

        asyncio.run(run())

        assert events == [
            ("aenter", "acm"),
            ("closed", "last"),
            ("aexit", "acm", ending, exc),
            ("closed", "agen"),
            ("closed", "db"),
        ]

    def test_raised_by_cleanup_after_the_others(
        self, registry, container, events, caplog
    ):
        """
        A cleanup that raises KeyboardInterrupt itself does not stop the
        others; it is raised once they have all run.
        """
        register(registry, Database, factory=generator_factory(events, "db"))
        register(
            registry,
            Cache,
            factory=raising_generator(events, "cache", KeyboardInterrupt("stop")),
        )
        register(registry, Mailer, factory=lambda: FakeCM(events, "cm"))
        container.get(Database, Cache, Mailer)

        with pytest.raises(KeyboardInterrupt, match="stop"):
            container.close()

        assert events[1:] == [
            ("exit", "cm", None, None),
            ("raising", "cache"),
            ("closed", "db"),
        ]
        assert caplog.records == []
        assert repr(container).endswith("instances=0 cleanups=0>")

    def test_later_ones_logged(self, registry, container, events, caplog):
        """
        When several cleanups raise such exceptions, the first is raised and
        the later ones, which would be lost, are logged.
        """
        register(
            registry,
            Database,
            factory=raising_generator(events, "db", SystemExit("exit")),
        )
        register(
            registry,
            Cache,
            factory=raising_generator(events, "cache", KeyboardInterrupt("stop")),
        )
        container.get(Database, Cache)

        with pytest.raises(KeyboardInterrupt, match="stop"):
            container.close()

        assert [str(e) for e in cleanup_failures(caplog)] == ["exit"]
        assert events == [("raising", "cache"), ("raising", "db")]

    def test_raised_after_async_warnings(self, registry, container, events):
        """
        close() still warns about the async cleanups it skipped before it
        raises a cleanup's KeyboardInterrupt.
        """
        register(
            registry,
            Database,
            factory=raising_generator(events, "db", KeyboardInterrupt("stop")),
        )
        register(registry, Cache, factory=lambda: FakeACM(events, "acm"))
        asyncio.run(container.aget(Database, Cache))

        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            with pytest.raises(KeyboardInterrupt, match="stop"):
                container.close()

        assert [str(w.message).split(";")[0] for w in record] == [
            f"Skipped the async cleanup of {__name__}.Cache"
        ]
        assert events == [("aenter", "acm"), ("raising", "db")]

    def test_cancelled_async_cleanup(self, registry, container, events):
        """
        An async cleanup that is cancelled does not stop the others; the
        CancelledError propagates from aclose() once they have run.
        """

        async def cancelled():
            yield "cancelled"
            events.append("cancelling")
            raise asyncio.CancelledError

        register(registry, Database, factory=generator_factory(events, "db"))
        register(registry, Cache, factory=cancelled)
        register(registry, Mailer, factory=async_generator_factory(events, "agen"))

        async def run():
            await container.aget(Database, Cache, Mailer)
            with pytest.raises(asyncio.CancelledError):
                await container.aclose()

        asyncio.run(run())

        assert events == [("closed", "agen"), "cancelling", ("closed", "db")]

    def test_client_hangs_up_during_stream(self, events, caplog):
        """
        A client that hangs up during a stream_with_context response ends the
        app context with GeneratorExit: every service's cleanup still runs,
        and so do the teardown functions registered before init_app.
        """
        app = Flask(__name__)

        @app.teardown_appcontext
        def registered_before(exc):
            events.append(("teardown", type(exc)))

        flask_servicecbv.init_app(app)
        names = ["gen1", "cm1", "gen2", "cm2", "gen3"]
        for name in names:
            if name.startswith("gen"):
                factory = generator_factory(events, name)
            else:
                factory = functools.partial(FakeCM, events, name)
            flask_servicecbv.register_factory(app, name, factory)

        @app.get("/")
        def stream():
            def body():
                # Read in the body: Flask 3.1 has closed the view's container
                # by now (see TestStreaming).
                services = flask_servicecbv.get(*names)
                yield from (f"{service}\n" for service in services)

            return Response(stream_with_context(body()))

        response = app.test_client().get("/", buffered=False)
        assert next(iter(response.response)) == b"gen1\n"
        response.close()

        # (Flask 3.1 tears down once before the body too: see TestStreaming.)
        streamed = events[events.index(("enter", "cm1")) :]
        hang_up = streamed[3][3]
        assert isinstance(hang_up, GeneratorExit)
        assert streamed == [
            ("enter", "cm1"),
            ("enter", "cm2"),
            ("closed", "gen3"),
            ("exit", "cm2", GeneratorExit, hang_up),
            ("closed", "gen2"),
            ("exit", "cm1", GeneratorExit, hang_up),
            ("closed", "gen1"),
            ("teardown", GeneratorExit),
        ]
        assert caplog.records == []

    def test_system_exit_in_view(self, events):
        """
        sys.exit() in a view ends the app context with SystemExit: every
        cleanup runs, so do the teardown functions registered before
        init_app, and the SystemExit propagates.
        """
        app = Flask(__name__)

        @app.teardown_appcontext
        def registered_before(exc):
            events.append(("teardown", type(exc)))

        flask_servicecbv.init_app(app)
        flask_servicecbv.register_factory(app, "gen", generator_factory(events, "gen"))
        flask_servicecbv.register_factory(app, "cm", lambda: FakeCM(events, "cm"))
        flask_servicecbv.register_factory(
            app, "last", generator_factory(events, "last")
        )

        @app.get("/")
        def view():
            flask_servicecbv.get("gen", "cm", "last")
            sys.exit(3)

        with pytest.raises(SystemExit, match="3"):
            app.test_client().get("/")

        assert [event[:2] for event in events] == [
            ("enter", "cm"),
            ("closed", "last"),
            ("exit", "cm"),
            ("closed", "gen"),
            ("teardown", SystemExit),
        ]

    def test_cancelled_async_handler(self, events):
        """
        An async handler that is cancelled closes every async service (and
        what was built on them) before the CancelledError propagates; the
        sync ones are closed at teardown.
        """
        app = flask_servicecbv.init_app(Flask(__name__))
        flask_servicecbv.register_factory(
            app, "agen", async_generator_factory(events, "agen")
        )
        flask_servicecbv.register_factory(app, "acm", lambda: FakeACM(events, "acm"))
        flask_servicecbv.register_factory(
            app, "last", async_generator_factory(events, "last")
        )
        flask_servicecbv.register_factory(app, "gen", generator_factory(events, "gen"))

        class Handler(ServiceView):
            async def get(self):
                await flask_servicecbv.aget("agen", "acm", "last", "gen")
                raise asyncio.CancelledError

        app.add_url_rule("/", view_func=Handler.as_view("handler"))

        with pytest.raises(asyncio.CancelledError):
            app.test_client().get("/")

        assert [event[:2] for event in events] == [
            ("aenter", "acm"),
            ("closed", "last"),
            ("aexit", "acm"),
            ("closed", "agen"),
            ("closed", "gen"),
        ]


# -- services told apart by registration, not by instance --------------------


class TestAsyncHandlerCloses:
    def test_same_instance_kept(self, registry, container):
        """
        Closing the async services leaves alone a sync service whose instance
        is the same object (None here): it is neither closed nor made again.
        """
        calls = []

        def side_effect():
            calls.append("made")
            yield None
            calls.append("closed")

        async def async_side_effect():
            yield None

        register(registry, "sync", factory=side_effect)
        register(registry, "async", factory=async_side_effect)

        async def run():
            await container.aget("sync", "async")
            await container._aclose_async(None)
            return container.get("sync")

        assert asyncio.run(run()) is None
        assert calls == ["made"]
        container.close()
        assert calls == ["made", "closed"]

    def test_only_sync_services(self, registry, container, events):
        """
        Without async services, the handler's close leaves everything for
        teardown.
        """
        register(registry, Database, factory=generator_factory(events, "db"))
        db = container.get(Database)

        asyncio.run(container._aclose_async(None))

        assert events == []
        assert container.get(Database) is db

    def test_shared_singleton(self, registry, container, events):
        """
        A sync and an async factory that return one shared object: only the
        async one's cleanup runs in the handler.
        """
        shared = object()

        def sync_factory():
            yield shared
            events.append("sync closed")

        async def async_factory():
            yield shared
            events.append("async closed")

        register(registry, Database, factory=sync_factory)
        register(registry, Cache, factory=async_factory)

        async def run():
            await container.aget(Database, Cache)
            await container._aclose_async(None)

        asyncio.run(run())

        assert events == ["async closed"]
        assert container.get(Database) is shared
        assert events == ["async closed"]
        container.close()
        assert events == ["async closed", "sync closed"]

    def test_dependents_closed(self, registry, container, events):
        """
        A sync service built on an async one is closed with it, and made
        again when asked for; an unrelated one stays.
        """

        def make_report(container):
            yield Report(container.get(Database))
            events.append("report closed")

        async def make_database():
            yield Database()
            events.append("database closed")

        register(registry, Database, factory=make_database)
        register(registry, Report, factory=make_report)
        register(registry, Cache, factory=generator_factory(events, "cache"))

        async def run():
            await container.aget(Database, Report, Cache)
            await container._aclose_async(None)

        asyncio.run(run())

        assert events == ["report closed", "database closed"]
        assert container.get(Cache) == "cache"
        assert events == ["report closed", "database closed"]

    def test_side_effect_once_per_request(self, events):
        """
        In a request with an async handler, a side-effect-only sync generator
        service read in the handler and again in after_request runs once.
        """
        app = flask_servicecbv.init_app(Flask(__name__))
        calls = []

        def audit():
            calls.append("audit")
            yield

        async def session():
            yield

        flask_servicecbv.register_factory(app, "audit", audit)
        flask_servicecbv.register_factory(app, "session", session)

        class Handler(ServiceView):
            async def get(self):
                await flask_servicecbv.aget("audit", "session")
                return "ok"

        @app.after_request
        def after(response):
            flask_servicecbv.get("audit")
            return response

        app.add_url_rule("/", view_func=Handler.as_view("handler"))
        client = app.test_client()

        assert [client.get("/").status_code for _ in range(3)] == [200] * 3
        assert calls == ["audit"] * 3


# -- a close during a sync build ----------------------------------------------


class TestClosedDuringSyncBuild:
    def test_no_closed_instance_back(self, registry, container, events):
        """
        A factory that closes the container mid-build: its dependency made
        before the close does not come back, the service's own cleanup runs at
        once, and get() tells the caller to get it again.
        """
        caches = []

        def make_cache():
            caches.append(Cache())
            yield caches[-1]
            events.append("cache closed")

        def make_database(container):
            container.get(Cache)
            container.close()
            yield Database()
            events.append("database closed")

        register(registry, Cache, factory=make_cache)
        register(registry, Database, factory=make_database)

        with pytest.raises(
            ContainerClosedError,
            match=r"closed while .*Database was being built; get it again",
        ):
            container.get(Database)

        assert events == ["cache closed", "database closed"]
        assert container.get(Cache) is not caches[0]
        assert repr(container).endswith("instances=1 cleanups=1>")

    def test_failing_build_after_close(self, registry, container, events):
        """
        A factory that fails after a close: what it made since the close is
        closed, and its own error propagates.
        """

        def make_database(container):
            container.close()
            container.get(Cache)
            msg = "database down"
            raise RuntimeError(msg)

        register(registry, Cache, factory=generator_factory(events, "cache"))
        register(registry, Database, factory=make_database)

        with pytest.raises(RuntimeError, match="database down"):
            container.get(Database)

        assert events == [("closed", "cache")]
        assert repr(container).endswith("instances=0 cleanups=0>")

    def test_nested_build(self, registry, container, events):
        """
        A close inside a nested build fails the outer build too, and leaves
        the container empty.
        """

        def make_cache(container):
            container.close()
            yield Cache()
            events.append("cache closed")

        register(registry, Cache, factory=make_cache)
        register(
            registry, Report, factory=lambda container: Report(container.get(Cache))
        )

        with pytest.raises(ContainerClosedError, match=r"while .*Cache was"):
            container.get(Report)

        assert events == ["cache closed"]
        assert repr(container).endswith("instances=0 cleanups=0>")

    def test_second_chain(self, registry, container):
        """
        A close during the build of an instance for a second chain is handled
        the same way.
        """
        closing = []

        def make_repository(container):
            repository = Repository(container.get(Database))
            if closing:
                container.close()
            return repository

        register(registry, Repository, factory=make_repository)
        register(registry, Database, value=Database())
        register(registry, Database, layer="api", value=Database())
        container.get(Repository)
        closing.append(True)

        with pytest.raises(ContainerClosedError, match=r"while .*Repository was"):
            container.get(Repository, blueprint="api")

        assert repr(container).endswith("instances=0 cleanups=0>")

    def test_second_chain_fails(self, registry, layered):
        """
        A failing build for a second chain leaves no mark: asking again
        builds again.
        """
        container = Container(layered)
        container.get(Repository)
        calls = []

        def make_database():
            calls.append("build")
            msg = "database down"
            raise RuntimeError(msg)

        register(layered, Database, layer="api", factory=make_database)

        for _ in range(2):
            with pytest.raises(RuntimeError, match="database down"):
                container.get(Repository, blueprint="api")

        assert calls == ["build", "build"]


# -- keys ------------------------------------------------------------------


class TestKeys:
    @pytest.mark.parametrize(
        "keys", [([1],), (Database, [1])], ids=["one key", "among keys"]
    )
    def test_unhashable_key(self, registry, container, keys):
        """
        get() with an unhashable key raises ServiceNotFoundError naming it.
        """
        register(registry, Database, factory=Database)

        with pytest.raises(
            ServiceNotFoundError,
            match=r"^The key \[1\] is not hashable, so no service can be "
            r"registered under it; pass the type",
        ):
            container.get(*keys)

    def test_unhashable_key_aget(self, container):
        """
        aget() with an unhashable key raises ServiceNotFoundError naming it.
        """
        with pytest.raises(ServiceNotFoundError, match=r"The key \{\} is not hash"):
            asyncio.run(container.aget({}))

    def test_no_keys(self, container):
        """
        get() without a key raises instead of returning ().
        """
        with pytest.raises(
            ServiceNotFoundError,
            match=r"^get\(\) was called without a key; pass the key of each "
            r"service to get, such as `get\(Database\)`\.$",
        ):
            container.get()

    def test_no_keys_aget(self, container):
        """
        aget() without a key raises instead of returning ().
        """
        with pytest.raises(
            ServiceNotFoundError,
            match=r"^aget\(\) was called without a key; .* `aget\(Database\)`",
        ):
            asyncio.run(container.aget())


# -- threads sharing one app context ---------------------------------------

THREADS = 8
GETS = 20


def slow_services(registry, calls):
    """
    Register a Database and a Repository on it, each taking a while to build.
    """

    def make_database():
        calls.append("database")
        time.sleep(0.01)
        return Database()

    def make_repository(container):
        calls.append("repository")
        time.sleep(0.01)
        return Repository(container.get(Database))

    register(registry, Database, factory=make_database)
    register(registry, Repository, factory=make_repository)


def getter(get, barrier):
    """
    A thread's work: wait for the others, then get both services GETS times.
    """

    def work(i):
        barrier.wait()
        return [get(Repository if (i + n) % 2 else Database) for n in range(GETS)]

    return work


class TestThreads:
    def test_build_once(self, registry, container):
        """
        Threads sharing a container that ask for a service another thread is
        building wait for it: each service is built once, all threads get the
        same instances, and no false cycle is reported.
        """
        calls = []
        slow_services(registry, calls)
        work = getter(container.get, threading.Barrier(THREADS, timeout=10))

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(work, range(THREADS), timeout=30))

        assert sorted(calls) == ["database", "repository"]
        got = {id(service) for result in results for service in result}
        assert got == {id(container.get(Database)), id(container.get(Repository))}
        assert container.get(Repository).db is container.get(Database)

    def test_to_thread(self):
        """
        asyncio.to_thread() shares the request's app context, and so its
        container, with the handler: get() from several such threads builds
        each service once.
        """
        app = flask_servicecbv.init_app(Flask(__name__))
        calls = []
        slow_services(app.extensions["servicecbv"], calls)
        work = getter(flask_servicecbv.get, threading.Barrier(THREADS, timeout=10))

        async def handler():
            # The default executor may have fewer workers than the barrier.
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(THREADS))
            return await asyncio.wait_for(
                asyncio.gather(*(asyncio.to_thread(work, i) for i in range(THREADS))),
                30,
            )

        with app.test_request_context():
            results = asyncio.run(handler())
            database, repository = flask_servicecbv.get(Database, Repository)

        assert sorted(calls) == ["database", "repository"]
        got = {id(service) for result in results for service in result}
        assert got == {id(database), id(repository)}

    def test_failed_build_tried_again(self, registry, container):
        """
        A thread waiting for a build that fails builds the service itself.
        """
        calls = []
        started = threading.Event()

        def make_database():
            calls.append("build")
            if len(calls) == 1:
                started.set()
                time.sleep(0.05)
                msg = "database down"
                raise RuntimeError(msg)
            return Database()

        register(registry, Database, factory=make_database)

        def first():
            with pytest.raises(RuntimeError, match="database down"):
                container.get(Database)

        with ThreadPoolExecutor(2) as pool:
            failing = pool.submit(first)
            assert started.wait(10)
            second = pool.submit(container.get, Database)
            failing.result(timeout=10)
            db = second.result(timeout=10)

        assert calls == ["build", "build"]
        assert container.get(Database) is db

    def test_close_waits_for_a_build(self, registry, container, events):
        """
        A close from another thread (a teardown while a worker still builds)
        waits for the build, which succeeds, then closes what it made.
        """
        started = threading.Event()

        def make_database():
            started.set()
            time.sleep(0.05)
            yield Database()
            events.append("closed")

        register(registry, Database, factory=make_database)

        with ThreadPoolExecutor(1) as pool:
            building = pool.submit(container.get, Database)
            assert started.wait(10)
            container.close()
            assert events == ["closed"]
            assert isinstance(building.result(timeout=10), Database)

        assert repr(container).endswith("instances=0 cleanups=0>")


class TestImport:
    def test_asyncio_not_imported(self):
        """
        Neither importing the package nor a request with sync services loads
        asyncio, which only async services need.
        """
        script = (
            "import sys\n"
            "from flask import Flask\n"
            "import flask_servicecbv\n"
            "imported = 'asyncio' in sys.modules\n"
            "app = flask_servicecbv.init_app(Flask('a'))\n"
            "flask_servicecbv.register_value(app, 'db', 'database')\n"
            "with app.test_request_context():\n"
            "    flask_servicecbv.get('db')\n"
            "print(imported, 'asyncio' in sys.modules)\n"
        )
        result = subprocess.run(  # noqa: S603 -- our own interpreter and script
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

        assert result.returncode == 0, result.stderr
        assert result.stdout == "False False\n"


# -- streamed responses -------------------------------------------------------

#: Flask 3.1 pops the app context when the view returns and pushes it again
#: around a stream_with_context body; Flask 3.0 keeps it until the body ends.
TEARS_DOWN_TWICE = tuple(int(part) for part in version("flask").split(".")[:2]) >= (
    3,
    1,
)


@pytest.fixture(name="streaming")
def _streaming(events):
    """
    An app whose view reads a service, then streams a body that reads it
    again and reads another one; every step is recorded in *events*.
    """
    app = flask_servicecbv.init_app(Flask(__name__))
    serials = iter(range(100))

    def factory(name):
        def make():
            serial = next(serials)
            events.append(("made", f"{name}{serial}"))
            try:
                yield f"{name}{serial}"
            finally:
                events.append(("closed", f"{name}{serial}"))

        return make

    flask_servicecbv.register_factory(app, "in_view", factory("in_view"))
    flask_servicecbv.register_factory(app, "in_body", factory("in_body"))

    @app.get("/")
    def stream():
        events.append(("view got", flask_servicecbv.get("in_view")))

        def body():
            events.append(("body got", flask_servicecbv.get("in_view")))
            yield "first\n"
            events.append(("body got", flask_servicecbv.get("in_body")))
            yield "second\n"

        return Response(stream_with_context(body()))

    return app


class TestStreaming:
    def test_service_read_in_view(self, streaming, events):
        """
        A service read in the view: Flask 3.1 closes it when the view returns,
        before the body runs, and the body gets a new instance; Flask 3.0
        keeps it open, the same instance, until the body has ended (here, the
        client hangs up after the first chunk).
        """
        with streaming.test_client().get("/", buffered=False) as response:
            assert next(iter(response.response)) == b"first\n"

        if TEARS_DOWN_TWICE:
            assert events == [
                ("made", "in_view0"),
                ("view got", "in_view0"),
                ("closed", "in_view0"),
                ("made", "in_view1"),
                ("body got", "in_view1"),
                ("closed", "in_view1"),
            ]
        else:  # pragma: no cover -- Flask 3.0, run with the lowest dependencies
            assert events == [
                ("made", "in_view0"),
                ("view got", "in_view0"),
                ("body got", "in_view0"),
                ("closed", "in_view0"),
            ]

    def test_closed_when_the_body_ends(self, streaming, events):
        """
        Whatever the body read is closed, last in first out, once the body
        has ended; on Flask 3.1 that includes the new instance of the view's
        service, on Flask 3.0 the view's instance itself.
        """
        response = streaming.test_client().get("/")

        assert response.data == b"first\nsecond\n"
        if TEARS_DOWN_TWICE:
            assert events[3:] == [
                ("made", "in_view1"),
                ("body got", "in_view1"),
                ("made", "in_body2"),
                ("body got", "in_body2"),
                ("closed", "in_body2"),
                ("closed", "in_view1"),
            ]
        else:  # pragma: no cover -- Flask 3.0, run with the lowest dependencies
            assert events[2:] == [
                ("body got", "in_view0"),
                ("made", "in_body1"),
                ("body got", "in_body1"),
                ("closed", "in_body1"),
                ("closed", "in_view0"),
            ]
