"""The per-app-context container: caches instances and runs their cleanups."""

from __future__ import annotations

import inspect
import logging
import warnings
from contextvars import ContextVar
from threading import RLock
from typing import TYPE_CHECKING, Any, Final

from ._registry import (
    APP_LAYER,
    ASYNC_GENERATOR,
    COROUTINE,
    GENERATOR,
    PLAIN,
    VALUE,
    RegisteredService,
    Registry,
    chain_for,
    check_blueprint,
    is_async_context_manager,
    is_context_manager,
    key_name,
)
from .exceptions import (
    AsyncServiceError,
    ContainerClosedError,
    FactoryError,
    InvalidKeyError,
)

if TYPE_CHECKING:
    from asyncio import Future
    from collections.abc import AsyncGenerator, Callable, Generator, Mapping

__all__ = ["Container", "ServicePing"]

log = logging.getLogger("flask_servicecbv")

_MISSING: Final = object()

# What a cleanup entry holds, so that closing never inspects types.
_GEN = 0  # a sync generator, parked at its yield
_CM = 1  # an entered sync context manager
_AGEN = 2  # an async generator, parked at its yield
_ACM = 3  # an entered async context manager

# (kind, generator or context manager, registration, the (layer, key) it was
# made for)
_Cleanup = tuple[int, Any, RegisteredService, tuple[Any, object]]

#: The container that get(..., blueprint=) searches, while its factories run;
#: a context variable, so other threads and tasks keep their own chain.
searching: ContextVar[Container | None] = ContextVar("searching", default=None)

# The services whose async or second-chain builds are under way in this
# logical call chain; tasks started inside a build inherit it, so a cycle
# through asyncio.gather() is caught too.
_building: ContextVar[frozenset[tuple[Any, object]]] = ContextVar(
    "_building", default=frozenset()
)

# What a service was made with: dependency key -> the layer that provided it,
# or _ABSENT for a dependency its factory looked for and did without.
_Deps = dict[object, Any]
_ABSENT: Final[Any] = object()


def _chain_of(request_ctx: Any, app: object) -> tuple[str | None, ...]:
    """
    The lookup chain of a request context: its blueprints, then the app.
    """
    if request_ctx is None or request_ctx.app is not app:
        return (APP_LAYER,)
    return (*request_ctx.request.blueprints, APP_LAYER)


class Container:
    """
    The services of one application context.

    It creates each service at most once per providing layer, hands out the
    same instance afterwards, and runs generator and context manager cleanups,
    last in first out, when it is closed.
    Flask closes it at ``teardown_appcontext``; get the current one through
    :data:`flask_servicecbv.container`.

    Args:
        registry: The registry of the app.

        chain:
            The layers to search, innermost first; the app layer alone by
            default.

        request_ctx:
            The request context *chain* was computed from, if any.

        blueprints:
            The app's registered blueprints by name (``app.blueprints``), to
            check ``blueprint=`` arguments against; unchecked if omitted.
    """

    __slots__ = (
        "_blueprints",
        "_by_layer",
        "_chain",
        "_cleanups",
        "_epoch",
        "_frames",
        "_inflight",
        "_instances",
        "_lock",
        "_registry",
        "_request_ctx",
        "_resolved",
    )

    def __init__(
        self,
        registry: Registry,
        chain: tuple[str | None, ...] = (APP_LAYER,),
        request_ctx: object = None,
        blueprints: Mapping[str, object] | None = None,
    ) -> None:
        self._registry = registry
        self._blueprints = blueprints
        self._chain = chain
        self._request_ctx = request_ctx
        self._resolved = registry.resolved(chain)
        # key -> instance, for self._chain: the fast path.
        self._instances: dict[object, Any] = {}
        # (layer, key) -> [(instance, deps)]: one instance per providing layer,
        # whatever chain asked for it, unless its dependencies resolve to other
        # layers in another chain; then that chain gets an instance of its own.
        self._by_layer: dict[tuple[str | None, object], list[tuple[Any, _Deps]]] = {}
        self._cleanups: list[_Cleanup] = []
        # The dependencies of the services being built, innermost last.
        self._frames: list[_Deps] = []
        # (layer, key) -> a future done when that async build ends.
        self._inflight: dict[tuple[str | None, object], Future[None]] = {}
        # Counts the closes, shared with views, so a build can tell it
        # outlived one.
        self._epoch = [0]
        # Held by the thread running a sync build, so that threads sharing
        # this app context (asyncio.to_thread(), executors that copy the
        # context) wait for it instead of seeing half a build. Never taken on
        # a cache hit; reentrant for the factories' own lookups.
        self._lock = RLock()

    def __repr__(self) -> str:
        chain = ", ".join(
            "app" if layer is None else repr(layer) for layer in self._chain
        )
        return (
            f"<Container chain=({chain}) instances={len(self._by_layer)} "
            f"cleanups={len(self._cleanups)}>"
        )

    @property
    def chain(self) -> tuple[str | None, ...]:
        """
        The layers this container searches, innermost first; ``None`` is the app.
        """
        return self._chain

    def _rechain(self, chain: tuple[str | None, ...], request_ctx: object) -> None:
        # A request context was pushed into an app context that already had a
        # container: keep the instances, search the request's chain from now on.
        self._request_ctx = request_ctx
        if chain != self._chain:
            self._chain = chain
            self._resolved = self._registry.resolved(chain)
            self._instances = {}

    # -- sync ---------------------------------------------------------------

    def get(self, *keys: object, blueprint: str | None = None) -> Any:
        """
        Return the service for each of *keys*: one key gives the service,
        several give a tuple of services in the same order.

        Args:
            keys: The keys the services were registered under.

            blueprint:
                Search the chain of this blueprint (for example
                ``"api.v2"``) instead of the current one.

        Raises:
            ServiceNotFoundError:
                A key is in none of the searched layers, is not hashable, or
                no key was given.

            AsyncServiceError: A service needs :meth:`aget`.

            ContainerClosedError:
                The container was closed while the service was being built.
        """
        if blueprint is not None:
            view = self._view(self._chain_of(blueprint))
            token = searching.set(view)
            try:
                return view.get(*keys)
            finally:
                searching.reset(token)
        instances = self._instances
        if len(keys) == 1:
            try:
                instance = instances.get(keys[0], _MISSING)
            except TypeError:
                raise _unhashable(keys[0]) from None
            if instance is _MISSING:
                return self._create(keys[0])
            return instance
        if not keys:
            raise _no_keys("get")
        result = []
        for key in keys:
            try:
                instance = instances.get(key, _MISSING)
            except TypeError:
                raise _unhashable(key) from None
            result.append(self._create(key) if instance is _MISSING else instance)
        return tuple(result)

    def _chain_of(self, blueprint: str) -> tuple[str | None, ...]:
        if self._blueprints is not None:
            check_blueprint(self._blueprints, blueprint)
        return chain_for(blueprint)

    def _view(self, chain: tuple[str | None, ...]) -> Container:
        # A container that searches *chain* and shares this one's instances
        # and cleanups. While it is set in `searching`, the lookups that
        # factories make search it too, in this thread or task alone.
        view = Container(self._registry, chain, self._request_ctx, self._blueprints)
        view._by_layer = self._by_layer
        view._cleanups = self._cleanups
        view._inflight = self._inflight
        view._epoch = self._epoch
        view._lock = self._lock
        return view

    def _find(self, key: object) -> tuple[str | None, RegisteredService]:
        found = self._resolved.get(key)
        if found is None:
            # The key may have been registered after this container took its
            # view of the registry: look again before giving up.
            self._resolved = self._registry.resolved(self._chain)
            found = self._resolved.get(key)
            if found is None:
                if self._frames:
                    # A factory may do without it; another chain that has it
                    # must then not get that factory's instance.
                    self._frames[-1][key] = _ABSENT
                raise self._registry.not_found(key, self._chain)
        return found

    def _create(self, key: object) -> Any:  # noqa: C901, PLR0912, PLR0915 -- inlined on purpose
        # The request path's slow half: a service not yet in `_instances`.
        # Everything is inlined; it runs once per service and request.
        # One thread builds at a time: another thread of this app context
        # waits here for the build under way, then finds what it made.
        lock = self._lock
        lock.acquire()
        try:
            found = self._resolved.get(key)
            if found is None:
                found = self._find(key)
            layer, svc = found
            if svc.kind == VALUE and not svc.enter:
                # A ready value that is not entered: no code of the user runs,
                # so there is nothing to record on its behalf, to undo, or for
                # a close to interrupt, and every chain that resolves it to
                # this layer gets the same object; only that the service being
                # built on top, if any, depends on it (a token store fetched
                # by the principal's factory, say).
                instance = svc.value
                frames = self._frames
                if frames:
                    frames[-1][key] = layer
                self._instances[key] = instance
                return instance
            where = (layer, key)
            by_layer = self._by_layer
            made = by_layer.get(where)
            if made:
                for instance, made_with in made:  # noqa: B007 -- used after the break
                    if self._holds(made_with):
                        break
                else:
                    if where in _building.get():
                        raise _cycle(svc)
                    instance, made_with = self._build(where, svc, made)
                return self._use(key, layer, instance, made_with)
            if made is not None:
                # Under way, and in this thread, which holds the lock.
                raise _cycle(svc)
            if self._inflight and where in _building.get():
                # This chain's async build of the service needs it again.
                raise _cycle(svc)
            kind = svc.kind
            # The first build of this service in this app context, _build()
            # inlined. An empty list marks the build under way until it
            # succeeds.
            made = by_layer[where] = []
            deps: _Deps = {}
            # While the factory runs, an empty cache sends each of its lookups
            # through _create(), which records what it depends on, and from
            # which layer, in the frame on top.
            saved = self._instances
            self._instances = {}
            frames = self._frames
            frames.append(deps)
            opened = self._epoch[0]
            try:
                if kind == PLAIN:
                    # _make() inlined for the common kinds.
                    factory: Callable[..., Any] = svc.factory  # type: ignore[assignment]
                    instance = factory(self) if svc.takes_container else factory()
                    if svc.enter and type(instance) is not svc.not_entered:
                        instance = self._enter(svc, where, instance)
                elif kind == GENERATOR:
                    factory = svc.factory  # type: ignore[assignment]
                    gen = factory(self) if svc.takes_container else factory()
                    try:
                        instance = next(gen)
                    except StopIteration:
                        raise _no_yield(svc) from None
                    self._cleanups.append((_GEN, gen, svc, where))
                else:
                    instance = self._make(svc, where)
            except BaseException:
                if not self._end_build(saved, opened):
                    del by_layer[where]
                raise
            # _end_build() inlined.
            frames.pop()
            if self._epoch[0] != opened:
                self.close()
                raise _closed_while_building(svc)
            self._instances = saved
            made.append((instance, deps))
            if frames:
                # The service being built on top depends on this one, and on
                # what this one depends on.
                frames[-1].update(deps)
                frames[-1][key] = layer
            saved[key] = instance
            return instance
        finally:
            lock.release()

    def _use(self, key: object, layer: str | None, instance: Any, deps: _Deps) -> Any:
        frames = self._frames
        if frames:
            frames[-1].update(deps)
            frames[-1][key] = layer
        self._instances[key] = instance
        return instance

    def _holds(self, deps: _Deps) -> bool:
        # Whether an instance made with dependencies from these layers may
        # serve the current chain: each dependency resolves to the same layer.
        resolved = self._resolved
        for key, layer in deps.items():
            found = resolved.get(key)
            if (_ABSENT if found is None else found[0]) != layer:
                return False
        return True

    def _build(
        self,
        where: tuple[str | None, object],
        svc: RegisteredService,
        made: list[tuple[Any, _Deps]],
    ) -> tuple[Any, _Deps]:
        # Another chain's instance does not fit this chain: build one for it,
        # recording its dependencies as the first build does.
        deps: _Deps = {}
        saved = self._instances
        self._instances = {}
        self._frames.append(deps)
        opened = self._epoch[0]
        token = _building.set(_building.get() | {where})
        try:
            instance = self._make(svc, where)
        except BaseException:
            self._end_build(saved, opened)
            raise
        finally:
            _building.reset(token)
        if self._end_build(saved, opened):
            raise _closed_while_building(svc)
        made.append((instance, deps))
        return instance, deps

    def _end_build(self, saved: dict[object, Any], opened: int) -> bool:
        # A sync build is over: drop its frame and give the cache back, unless
        # the container was closed meanwhile (a factory that calls
        # overwrite_*(), a teardown in another thread). Then the instances in
        # *saved* were closed and must not come back: close again what was
        # made since, which belongs to this build, and return True.
        self._frames.pop()
        if self._epoch[0] == opened:
            self._instances = saved
            return False
        self.close()
        return True

    def _call(self, svc: RegisteredService) -> Any:
        factory: Callable[..., Any] = svc.factory  # type: ignore[assignment]
        return factory(self) if svc.takes_container else factory()

    def _make(self, svc: RegisteredService, where: tuple[Any, object]) -> Any:
        kind = svc.kind
        if kind == GENERATOR:
            gen: Generator[Any, None, None] = self._call(svc)
            try:
                instance = next(gen)
            except StopIteration:
                raise _no_yield(svc) from None
            self._cleanups.append((_GEN, gen, svc, where))
            return instance
        if kind == PLAIN:
            instance = self._call(svc)
        elif kind == VALUE:
            instance = svc.value
        else:
            msg = (
                f"Service {key_name(svc.key)} has an async factory; "
                f"use `await aget({key_name(svc.key)})` instead of get()."
            )
            raise AsyncServiceError(msg)
        if svc.enter and type(instance) is not svc.not_entered:
            return self._enter(svc, where, instance)
        return instance

    def _enter(
        self, svc: RegisteredService, where: tuple[Any, object], obj: Any
    ) -> Any:
        # Enter what a sync build made, if it is a context manager. Most
        # services are not, and one pass over the dictionaries of the classes
        # of their type's MRO, where `with` looks for the methods, says so
        # without the failing attribute lookups of is_context_manager() and
        # is_async_context_manager(), each of which formats an error message.
        cls = type(obj)
        for klass in cls.__mro__:
            methods = klass.__dict__
            if "__enter__" in methods or "__aenter__" in methods:
                break
        else:
            # A factory makes objects of one type, as a rule: the next build
            # skips the walk for this type (a class that gains __enter__
            # later is entered once another type was made in between).
            svc.not_entered = cls
            return obj
        if is_context_manager(obj):
            instance = obj.__enter__()
            self._cleanups.append((_CM, obj, svc, where))
            return instance
        if is_async_context_manager(obj):
            msg = (
                f"Service {key_name(svc.key)} is an async context manager to "
                f"enter; use `await aget({key_name(svc.key)})` instead of get()."
            )
            raise AsyncServiceError(msg)
        return obj

    def close(self, exc: BaseException | None = None) -> None:
        """
        Run every cleanup, last in first out, and forget all instances.

        A failing cleanup is logged on the ``flask_servicecbv`` logger and the
        others still run.
        A cleanup that raises a :class:`BaseException` which is not an
        :class:`Exception` (:class:`KeyboardInterrupt`, :class:`SystemExit`,
        :class:`GeneratorExit`) does not stop the others either: the first
        one is raised once every cleanup has run, later ones are logged.
        *exc* itself, raised back by a cleanup, is neither logged nor raised:
        it already propagates from where it ended the context.
        Async cleanups cannot run here: each one is skipped with a warning,
        after every sync cleanup has run; use :meth:`aclose` for them.

        Args:
            exc:
                The exception that ended the application context, if any.
                Context managers get it in ``__exit__`` and generator factories
                see it raised at their ``yield``.
        """
        cleanups = self._reset()
        skipped = []
        pending: BaseException | None = None
        for entry in reversed(cleanups):
            if entry[0] >= _AGEN:
                skipped.append(entry[2])
            else:
                raised = _run_sync_cleanup(entry, exc)
                if raised is not None:
                    pending = _keep_first(pending, raised, entry)
        try:
            for svc in skipped:
                warnings.warn(
                    f"Skipped the async cleanup of {key_name(svc.key)}; "
                    "close the container with `await container.aclose()` instead.",
                    RuntimeWarning,
                    stacklevel=2,
                )
        finally:
            if pending is not None:
                raise pending

    def _reset(self) -> list[_Cleanup]:
        # In place: a view made by get(..., blueprint=) shares these. A
        # close from another thread waits for the sync build under way, which
        # then is closed with the rest.
        with self._lock:
            cleanups = self._cleanups[:]
            self._cleanups.clear()
            self._instances.clear()
            self._by_layer.clear()
            self._epoch[0] += 1
        return cleanups

    # -- async --------------------------------------------------------------

    async def aget(self, *keys: object, blueprint: str | None = None) -> Any:
        """
        Like :meth:`get`, but also creates services with async factories
        (coroutine functions, async generators, async context managers).
        """
        if blueprint is not None:
            view = self._view(self._chain_of(blueprint))
            token = searching.set(view)
            try:
                return await view.aget(*keys)
            finally:
                searching.reset(token)
        if not keys:
            raise _no_keys("aget")
        result = []
        for key in keys:
            try:
                instance = self._instances.get(key, _MISSING)
            except TypeError:
                raise _unhashable(key) from None
            if instance is _MISSING:
                instance = await self._acreate(key)
            result.append(instance)
        return result[0] if len(keys) == 1 else tuple(result)

    async def _acreate(self, key: object) -> Any:
        # The async twin of _create(). Tasks of one app context may build at
        # the same time, so a build shares nothing mutable with them: it runs
        # on a view of its own, published to the factory's lookups through
        # `searching`, and a second task asking for the same service waits
        # for the first instead of building it again.
        layer, svc = self._find(key)
        where = (layer, key)
        while True:
            # (An empty list, a sync build under way, cannot be seen here:
            # sync factories cannot await.)
            made = self._by_layer.get(where)
            for instance, deps in made or ():  # noqa: B007 -- used after the break
                if self._holds(deps):
                    break
            else:
                building = self._inflight.get(where)
                if building is not None:
                    if where in _building.get():
                        raise _cycle(svc)
                    # Shielded: a waiter that is cancelled must not cancel
                    # the build others wait for.
                    from asyncio import shield  # noqa: PLC0415 -- see _abuild

                    await shield(building)
                    continue
                instance, deps = await self._abuild(where, svc)
                self._by_layer.setdefault(where, []).append((instance, deps))
            break
        return self._use(key, layer, instance, deps)

    async def _abuild(
        self, where: tuple[str | None, object], svc: RegisteredService
    ) -> tuple[Any, _Deps]:
        # The build runs on a view with cleanups of its own, handed over when
        # it ends: if the container was closed meanwhile (overwrite_*() in a
        # test, say), they run at once instead of joining a closed container.
        view = self._view(self._chain)
        view._cleanups = []  # noqa: SLF001 -- our own class
        deps: _Deps = {}
        frames = view._frames  # noqa: SLF001 -- our own class
        frames.append(deps)
        # Imported here: apps without async services never load asyncio.
        from asyncio import get_running_loop  # noqa: PLC0415

        done = get_running_loop().create_future()
        self._inflight[where] = done
        epoch = self._epoch[0]
        building = _building.set(_building.get() | {where})
        token = searching.set(view)
        try:
            instance = await view._amake(svc, where)  # noqa: SLF001 -- our own class
        finally:
            searching.reset(token)
            _building.reset(building)
            frames.pop()
            del self._inflight[where]
            done.set_result(None)
            made = view._cleanups  # noqa: SLF001 -- our own class
            # A factory may keep the view it was given: from now on it sees
            # what this container sees.
            view._cleanups = self._cleanups  # noqa: SLF001 -- our own class
            view._instances = self._instances  # noqa: SLF001 -- our own class
            closed = self._epoch[0] != epoch
            if closed:
                await _run_cleanups(made, None)
            else:
                self._cleanups.extend(made)
        if closed:
            raise _closed_while_building(svc)
        return instance, deps

    async def _amake(self, svc: RegisteredService, where: tuple[Any, object]) -> Any:
        kind = svc.kind
        if kind == ASYNC_GENERATOR:
            agen: AsyncGenerator[Any, None] = self._call(svc)
            try:
                instance = await agen.__anext__()
            except StopAsyncIteration:
                raise _no_yield(svc) from None
            self._cleanups.append((_AGEN, agen, svc, where))
            return instance
        if kind == COROUTINE:
            instance = await self._call(svc)
        elif kind == VALUE and svc.enter and is_async_context_manager(svc.value):
            instance = svc.value
        elif kind == PLAIN:
            instance = self._call(svc)
        else:
            return self._make(svc, where)
        if svc.enter and is_async_context_manager(instance):
            acm = instance
            instance = await acm.__aenter__()
            self._cleanups.append((_ACM, acm, svc, where))
        elif svc.enter and is_context_manager(instance):
            cm = instance
            instance = cm.__enter__()
            self._cleanups.append((_CM, cm, svc, where))
        return instance

    async def aclose(self, exc: BaseException | None = None) -> None:
        """
        Like :meth:`close`, and also await async cleanups, in the same last in,
        first out order.
        A :class:`BaseException` raised by a cleanup, such as
        :class:`asyncio.CancelledError`, is raised after every cleanup has run.
        """
        await _run_cleanups(self._reset(), exc)

    async def _aclose_async(self, exc: BaseException | None) -> None:
        # Close the async services and everything built on them, last in
        # first out, and forget those instances; other sync cleanups stay for
        # teardown. Async view handlers call this before their event loop
        # goes away. Services are told apart by what they were made for,
        # (layer, key), never by their instances: a sync service may give the
        # very object an async one gave (None, a shared singleton).
        cleanups = self._cleanups
        gone = {entry[3] for entry in cleanups if entry[0] >= _AGEN}
        if not gone:
            return
        with self._lock:
            self._forget(gone)
            closing = [entry for entry in cleanups if entry[3] in gone]
            cleanups[:] = [entry for entry in cleanups if entry[3] not in gone]
        await _run_cleanups(closing, exc)

    def _forget(self, gone: set[tuple[Any, object]]) -> None:
        # Drop the services made for the (layer, key)s in *gone*, and,
        # transitively, those with an instance whose recorded dependencies
        # include a dropped one (erring on the side of rebuilding); *gone*
        # grows to hold them all.
        by_layer = self._by_layer
        grew = True
        while grew:
            grew = False
            for where, made in by_layer.items():
                if where not in gone and any(
                    (layer, key) in gone
                    for _, deps in made
                    for key, layer in deps.items()
                ):
                    gone.add(where)
                    grew = True
        for where in gone:
            by_layer.pop(where, None)
        # What is cached for this chain was resolved through this chain.
        instances = self._instances
        resolved = self._resolved
        for key in list(instances):
            if (resolved[key][0], key) in gone:
                del instances[key]

    # -- pings --------------------------------------------------------------

    def get_pings(self, *, blueprint: str | None = None) -> list[ServicePing]:
        """
        Return a :class:`ServicePing` for every service with a ping that is
        visible from this container's chain (or *blueprint*'s).
        """
        chain = self._chain if blueprint is None else self._chain_of(blueprint)
        return [
            ServicePing(self, svc, None if blueprint is None else blueprint)
            for _, svc in self._registry.resolved(chain).values()
            if svc.ping is not None
        ]


def _unhashable(key: object) -> InvalidKeyError:
    msg = (
        f"The key {key!r} is not hashable, so no service can be registered "
        "under it; pass the type (or other hashable key) the service was "
        "registered under."
    )
    return InvalidKeyError(msg)


def _no_keys(name: str) -> InvalidKeyError:
    msg = (
        f"{name}() was called without a key; pass the key of each service to "
        f"get, such as `{name}(Database)`."
    )
    return InvalidKeyError(msg)


def _cycle(svc: RegisteredService) -> FactoryError:
    msg = (
        f"The factory of {key_name(svc.key)} needs {key_name(svc.key)} itself, "
        "directly or through other services; break the cycle."
    )
    return FactoryError(msg)


def _no_yield(svc: RegisteredService) -> FactoryError:
    msg = (
        f"The generator factory of {key_name(svc.key)} returned without "
        "yielding; it must yield the service exactly once."
    )
    return FactoryError(msg)


def _yielded_twice(svc: RegisteredService) -> FactoryError:
    msg = (
        f"The generator factory of {key_name(svc.key)} yielded more than once; "
        "it must yield the service exactly once."
    )
    return FactoryError(msg)


def _closed_while_building(svc: RegisteredService) -> ContainerClosedError:
    msg = (
        f"The container was closed while {key_name(svc.key)} was being "
        "built; get it again from the current container."
    )
    return ContainerClosedError(msg)


def _log_cleanup_failure(svc: RegisteredService, error: BaseException) -> None:
    log.error("Cleanup of service %s failed.", key_name(svc.key), exc_info=error)


def _keep_first(
    pending: BaseException | None, raised: BaseException, entry: _Cleanup
) -> BaseException:
    # The first BaseException a cleanup raised is raised after the others
    # have run; any later one would be lost, so it is logged.
    if pending is None:
        return raised
    _log_cleanup_failure(entry[2], raised)
    return pending


def _run_sync_cleanup(
    entry: _Cleanup, exc: BaseException | None
) -> BaseException | None:
    # Run one cleanup. An Exception is logged; a BaseException that is not
    # one (KeyboardInterrupt, SystemExit, GeneratorExit, CancelledError) is
    # returned for the caller to raise once every other cleanup has run.
    # *exc* raised back is how a generator or __exit__ lets it pass: neither.
    kind, obj, svc, _ = entry
    try:
        if kind == _CM:
            obj.__exit__(
                None if exc is None else type(exc),
                exc,
                None if exc is None else exc.__traceback__,
            )
        elif exc is None:
            # A for loop finishes a generator without creating StopIteration.
            for _ in obj:
                obj.close()
                raise _yielded_twice(svc)
        else:
            try:
                obj.throw(exc)
            except StopIteration:
                return None
            obj.close()
            raise _yielded_twice(svc)
    except Exception as e:  # noqa: BLE001 -- a cleanup must not stop the others
        if e is not exc:
            _log_cleanup_failure(svc, e)
    except BaseException as e:  # noqa: BLE001 -- nor may KeyboardInterrupt & co.
        if e is not exc:
            return e
    return None


async def _run_cleanups(entries: list[_Cleanup], exc: BaseException | None) -> None:
    # Run sync and async cleanups, last in first out; see Container.close().
    pending: BaseException | None = None
    for entry in reversed(entries):
        if entry[0] < _AGEN:
            raised = _run_sync_cleanup(entry, exc)
        else:
            raised = await _run_async_cleanup(entry, exc)
        if raised is not None:
            pending = _keep_first(pending, raised, entry)
    if pending is not None:
        raise pending


async def _run_async_cleanup(
    entry: _Cleanup, exc: BaseException | None
) -> BaseException | None:
    kind, obj, svc, _ = entry
    try:
        if kind == _ACM:
            await obj.__aexit__(
                None if exc is None else type(exc),
                exc,
                None if exc is None else exc.__traceback__,
            )
        elif exc is None:
            async for _ in obj:
                await obj.aclose()
                raise _yielded_twice(svc)
        else:
            await _athrow(obj, exc, svc)
    except Exception as e:  # noqa: BLE001 -- a cleanup must not stop the others
        if e is not exc:
            _log_cleanup_failure(svc, e)
    except BaseException as e:  # noqa: BLE001 -- nor may CancelledError & co.
        if e is not exc:
            return e
    return None


async def _athrow(agen: Any, exc: BaseException, svc: RegisteredService) -> None:
    try:
        await agen.athrow(exc)
    except StopAsyncIteration:
        return
    await agen.aclose()
    raise _yielded_twice(svc)


class ServicePing:
    """
    Checks the health of one service: gets it and calls its ``ping``.

    Returned by :func:`flask_servicecbv.get_pings`.
    """

    __slots__ = ("_blueprint", "_container", "_svc")

    def __init__(
        self, container: Container, svc: RegisteredService, blueprint: str | None
    ) -> None:
        self._container = container
        self._svc = svc
        self._blueprint = blueprint

    def __repr__(self) -> str:
        return f"<ServicePing {self.name}>"

    @property
    def name(self) -> str:
        """
        The ``name=`` the service was registered with, else its key's
        ``module.QualName``.
        """
        return self._svc.name

    @property
    def is_async(self) -> bool:
        """
        Whether the service or its ping is async, so that :meth:`aping` is needed.
        """
        return self._svc.is_async

    def ping(self) -> None:
        """
        Get the service and call its ping with it; the ping's exception propagates.
        """
        svc = self._container.get(self._svc.key, blueprint=self._blueprint)
        ping: Callable[[Any], object] = self._svc.ping  # type: ignore[assignment]
        ping(svc)

    async def aping(self) -> None:
        """
        Like :meth:`ping`, awaiting an async factory or ping.
        """
        svc = await self._container.aget(self._svc.key, blueprint=self._blueprint)
        ping: Callable[[Any], object] = self._svc.ping  # type: ignore[assignment]
        result = ping(svc)
        if inspect.isawaitable(result):
            await result
