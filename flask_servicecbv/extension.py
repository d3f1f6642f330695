"""Wiring into Flask: init_app, registration, lookups and test overrides."""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast, overload

from flask import Blueprint, Flask
from flask.globals import _cv_app
from werkzeug.local import LocalProxy

from ._container import _MISSING, Container, ServicePing
from ._context import (
    _G_KEY,
    _NO_APP_CONTEXT,
    EXTENSION_KEY,
    _current_container,
    _current_registry,
    _registry_of,
)
from ._registry import (
    APP_LAYER,
    RegisteredService,
    Registry,
    Sentinel,
    chain_for,
    check_blueprint,
)
from .cli import services_cli
from .config import configure_services
from .exceptions import NoAppContextError, RegistrationError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from flask.ctx import AppContext
    from flask.sansio.app import App
    from flask.sansio.blueprints import Blueprint as SansioBlueprint
    from flask.sansio.blueprints import BlueprintSetupState

__all__ = [
    "EXTENSION_KEY",
    "ServiceCBV",
    "aclose_registry",
    "aget",
    "close_registry",
    "container",
    "get",
    "get_pings",
    "init_app",
    "override",
    "overwrite_factory",
    "overwrite_value",
    "register_factory",
    "register_value",
    "registry",
]

T = TypeVar("T")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
FlaskAppT = TypeVar("FlaskAppT", bound=Flask)

# Registrations made on blueprints, applied whenever the blueprint is registered.
_blueprint_services: weakref.WeakKeyDictionary[Blueprint, list[RegisteredService]] = (
    weakref.WeakKeyDictionary()
)

# The names of the apps each blueprint with services was registered on, so
# that an app factory that registers services on a module-level blueprint a
# second time is told that an earlier app has it. Names, not the apps: the
# earlier app is often gone by then (a test's).
_blueprint_apps: weakref.WeakKeyDictionary[SansioBlueprint, set[str]] = (
    weakref.WeakKeyDictionary()
)

# Blueprint services of apps without a registry yet, by layer name: init_app
# registers them. Flask records a blueprint before running its deferred
# functions, so refusing it then would leave it registered without its
# services, and registering it again would fail.
_waiting: weakref.WeakKeyDictionary[App, list[tuple[str, list[RegisteredService]]]] = (
    weakref.WeakKeyDictionary()
)


def init_app(app: FlaskAppT) -> FlaskAppT:
    """
    Install the service registry on *app*, register the services of
    ``app.config["SERVICES"]``, close each app context's container at
    ``teardown_appcontext``, and add the ``flask services`` commands.

    Calling it again for the same app changes nothing.
    Blueprints registered on the app before it keep their services: they are
    added to the registry here.

    Returns:
        The app, so that ``app = init_app(Flask(__name__))`` works.

    Raises:
        ConfigurationError:
            ``app.config["SERVICES"]`` is wrong; the app is left as it was.

        RegistrationError:
            The app has already handled a request, so Flask no longer accepts
            the teardown function; the app is left as it was.
    """
    if EXTENSION_KEY not in app.extensions:
        # Check first, change after: a failed init_app leaves the app as it
        # was, so that a second call does not find a half-installed registry.
        reg = Registry()
        configure_services(app, reg)
        for name, pending in _waiting.get(app, ()):
            for svc in pending:
                reg.register(name, svc)
        try:
            # The first change, and the last one that can fail.
            app.teardown_appcontext(_teardown)
        except AssertionError:
            msg = (
                f"The app {app.name!r} has already handled a request, so Flask "
                "no longer accepts the teardown of flask_servicecbv.init_app(); "
                "call init_app(app) where the app is created."
            )
            raise RegistrationError(msg) from None
        app.extensions[EXTENSION_KEY] = reg
        _waiting.pop(app, None)
        app.cli.add_command(services_cli)
    return app


class ServiceCBV:
    """
    The extension object, for apps that follow Flask's ``ext.init_app(app)``
    convention: ``ServiceCBV(app)`` or ``ServiceCBV()`` then
    ``.init_app(app)`` in an app factory.

    It keeps no state and no reference to an app: everything lives in
    ``app.extensions["servicecbv"]``, so one object can serve many apps.

    Args:
        app: When given, :meth:`init_app` is called with it.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: FlaskAppT) -> FlaskAppT:
        """
        Call :func:`~flask_servicecbv.init_app` with *app* and return it.
        """
        return init_app(app)


def _teardown(exc: BaseException | None) -> None:
    ctx = _cv_app.get(None)
    if ctx is not None:
        cont: Container | None = ctx.g.__dict__.pop(_G_KEY, None)
        if cont is not None:
            cont.close(exc)


# -- registration ----------------------------------------------------------


def register_factory(
    target: Flask | Blueprint,
    key: object,
    factory: Callable[..., Any],
    *,
    enter: bool = True,
    ping: Callable[..., Any] | None = None,
    on_registry_close: Callable[[], Any] | None = None,
    name: str | None = None,
) -> None:
    """
    Register *factory* to make the service for *key*.

    Args:
        target:
            The app, or a blueprint: a blueprint's registrations apply to every
            app it is registered on, under every name it gets there (nested
            blueprints under their dotted names), and win over the app's in
            that blueprint's requests.

        key: Anything hashable: a class, a ``NewType``, an ``Annotated`` alias.

        factory:
            A callable returning the service, or a generator (async generator)
            function that yields it once and cleans up after the ``yield``.
            A factory whose only parameter is named ``container`` (or
            annotated :class:`Container`) is called with the container.

        enter:
            Enter a context manager the factory returns, and exit it at
            teardown.

        ping: Called with the service to check its health; see :func:`get_pings`.

        on_registry_close: Called by :func:`close_registry`.

        name:
            What health checks call the service
            (:attr:`ServicePing.name`, the keys of ``/health``'s
            ``services``); the key's ``module.QualName`` when left out.

    Raises:
        RegistrationError:
            *key* is not hashable, *factory* is not callable, *name* is not a
            non-empty string, or the blueprint is already registered on an app
            (an earlier app, when an app factory registers services on a
            blueprint made at module level).

        NotInitializedError: *target* is an app without :func:`init_app`.
    """
    _register(
        target,
        RegisteredService(
            key,
            factory=factory,
            enter=enter,
            ping=ping,
            on_registry_close=on_registry_close,
            name=name,
        ),
    )


def register_value(
    target: Flask | Blueprint,
    key: object,
    value: object,
    *,
    enter: bool = False,
    ping: Callable[..., Any] | None = None,
    on_registry_close: Callable[[], Any] | None = None,
    name: str | None = None,
) -> None:
    """
    Register a ready *value* as the service for *key*.

    Arguments are those of :func:`register_factory`; with ``enter=True`` a value
    that is a context manager is entered once per app context and exited at
    its teardown.
    """
    _register(
        target,
        RegisteredService(
            key,
            value=value,
            enter=enter,
            ping=ping,
            on_registry_close=on_registry_close,
            name=name,
        ),
    )


def _register(target: object, svc: RegisteredService) -> None:
    if isinstance(target, Flask):
        _registry_of(target).register(APP_LAYER, svc)
        return
    if not isinstance(target, Blueprint):
        msg = (
            f"Services are registered on a Flask app or a Blueprint, not on {target!r}."
        )
        raise RegistrationError(msg)
    if target._got_registered_once:  # noqa: SLF001 -- Flask has no public flag
        raise RegistrationError(_already_registered(target))
    pending = _blueprint_services.get(target)
    if pending is None:
        pending = _blueprint_services[target] = []
        target.record(_apply_blueprint_services(pending))
    pending.append(svc)


def _already_registered(blueprint: Blueprint) -> str:
    """The message that refuses a registration on a registered *blueprint*."""
    apps = _blueprint_apps.get(blueprint)
    if apps:
        names = ", ".join(repr(name) for name in sorted(apps))
        return (
            f"Blueprint {blueprint.name!r} is already registered on another app "
            f"({names}); an app factory must not register services on a "
            "blueprint made at module level: register them once, next to the "
            "blueprint (they then apply to every app it is registered on), or "
            "make the blueprint inside the factory."
        )
    return (
        f"Blueprint {blueprint.name!r} is already registered on an app; "
        "register its services before app.register_blueprint(), or use "
        "overwrite_factory(..., blueprint=...) in tests."
    )


def _apply_blueprint_services(
    pending: list[RegisteredService],
) -> Callable[[BlueprintSetupState], None]:
    def apply(state: BlueprintSetupState) -> None:
        _blueprint_apps.setdefault(state.blueprint, set()).add(state.app.name)
        name = f"{state.name_prefix}.{state.name}".lstrip(".")
        reg = state.app.extensions.get(EXTENSION_KEY)
        if reg is None:
            _waiting.setdefault(state.app, []).append((name, pending))
            return
        for svc in pending:
            reg.register(name, svc)

    return apply


# -- the current container -------------------------------------------------


#: The :class:`Container` of the current app context, created on first use.
container: Container = cast("Container", LocalProxy(_current_container))

#: The :class:`Registry` of the current app.
registry: Registry = cast("Registry", LocalProxy(_current_registry))


@overload
def get(key: type[T1], /, *, blueprint: str | None = None) -> T1: ...
@overload
def get(
    key1: type[T1], key2: type[T2], /, *, blueprint: str | None = None
) -> tuple[T1, T2]: ...
@overload
def get(
    key1: type[T1],
    key2: type[T2],
    key3: type[T3],
    /,
    *,
    blueprint: str | None = None,
) -> tuple[T1, T2, T3]: ...
@overload
def get(
    key1: type[T1],
    key2: type[T2],
    key3: type[T3],
    key4: type[T4],
    /,
    *,
    blueprint: str | None = None,
) -> tuple[T1, T2, T3, T4]: ...
@overload
def get(
    key1: type[T1],
    key2: type[T2],
    key3: type[T3],
    key4: type[T4],
    key5: type[T5],
    /,
    *,
    blueprint: str | None = None,
) -> tuple[T1, T2, T3, T4, T5]: ...
@overload
def get(*keys: object, blueprint: str | None = None) -> Any: ...
def get(*keys: Any, blueprint: str | None = None) -> Any:
    """
    Return the service registered under each of *keys*, from the current app
    context's container.

    One key gives its service; several give their services in order, so that
    ``db, cache = get(Database, Cache)`` works.
    In a request, the request's blueprints are searched innermost first, then
    the app; outside one, only the app layer is.
    *blueprint* (a registered blueprint's full dotted name) searches that
    blueprint's chain instead, in or out of a request, for the factories'
    own lookups too.

    Raises:
        ServiceNotFoundError: No searched layer has a key.

        AsyncServiceError: A service has an async factory; use :func:`aget`.

        NoAppContextError: There is no application context.
    """
    cont = _current_container()
    if blueprint is None:
        if len(keys) == 1:
            # The request path: one dict lookup when the service exists.
            key = keys[0]
            try:
                instance = cont._instances.get(key, _MISSING)  # noqa: SLF001
            except TypeError:
                return cont.get(key)  # the library's error for the key
            if instance is _MISSING:
                return cont._create(key)  # noqa: SLF001
            return instance
        return cont.get(*keys)
    return cont.get(*keys, blueprint=blueprint)


@overload
async def aget(key: type[T1], /, *, blueprint: str | None = None) -> T1: ...
@overload
async def aget(
    key1: type[T1], key2: type[T2], /, *, blueprint: str | None = None
) -> tuple[T1, T2]: ...
@overload
async def aget(
    key1: type[T1],
    key2: type[T2],
    key3: type[T3],
    /,
    *,
    blueprint: str | None = None,
) -> tuple[T1, T2, T3]: ...
@overload
async def aget(*keys: object, blueprint: str | None = None) -> Any: ...
async def aget(*keys: Any, blueprint: str | None = None) -> Any:
    """
    Like :func:`get`, and also creates services with async factories.
    """
    return await _current_container().aget(*keys, blueprint=blueprint)


def get_pings(*, blueprint: str | None = None) -> list[ServicePing]:
    """
    Return a :class:`ServicePing` for every service with a ping that is visible
    from the current chain (or from *blueprint*'s).
    """
    return _current_container().get_pings(blueprint=blueprint)


def close_registry(app: Flask) -> None:
    """
    Run the ``on_registry_close`` callbacks of *app*'s services, last
    registered first; failures are logged and the others still run.
    Async callbacks are skipped with a warning: use :func:`aclose_registry`.

    As in ``svcs.flask``, an app without :func:`init_app` has no registry to
    close, and nothing happens.
    """
    reg: Registry | None = app.extensions.get(EXTENSION_KEY)
    if reg is not None:
        reg.close()


async def aclose_registry(app: Flask) -> None:
    """
    Like :func:`close_registry`, awaiting async callbacks.
    """
    reg: Registry | None = app.extensions.get(EXTENSION_KEY)
    if reg is not None:
        await reg.aclose()


# -- tests -----------------------------------------------------------------

#: The default *ping* and *name* of :func:`overwrite_factory`,
#: :func:`overwrite_value` and :func:`override`: keep those of the
#: registration being replaced.
KEEP: Final[Any] = Sentinel("KEEP")

# The default value= of override(): none given, a factory= must be.
UNSET: Final[Any] = Sentinel("UNSET")


def _replaced(blueprint: str | None) -> tuple[AppContext, Registry]:
    # The app context and registry that an overwrite changes, once checked.
    ctx = _cv_app.get(None)
    if ctx is None:
        raise NoAppContextError(_NO_APP_CONTEXT)
    if blueprint is not None:
        check_blueprint(ctx.app.blueprints, blueprint)
    return ctx, _registry_of(ctx.app)


def _kept(
    reg: Registry,
    blueprint: str | None,
    key: object,
    ping: Callable[..., Any] | None,
    name: str | None,
) -> tuple[Callable[..., Any] | None, str | None]:
    # KEEP: the ping (name) of what the layer's chain resolves the key to now,
    # which the new registration shadows (the layer's own, or an outer
    # layer's).
    found = reg.resolved(chain_for(blueprint)).get(key)
    old = None if found is None else found[1]
    if ping is KEEP:
        ping = None if old is None else old.ping
    if name is KEEP:
        name = None if old is None else old.name
    return ping, name


def _replace(
    ctx: AppContext,
    reg: Registry,
    blueprint: str | None,
    key: object,
    svc: RegisteredService | None,
) -> None:
    if svc is None:
        reg.unregister(blueprint, key)
    else:
        reg.register(blueprint, svc)
    cont: Container | None = ctx.g.__dict__.pop(_G_KEY, None)
    if cont is not None:
        cont.close()


def overwrite_factory(
    key: object,
    factory: Callable[..., Any],
    *,
    blueprint: str | None = None,
    enter: bool = True,
    ping: Callable[..., Any] | None = KEEP,
    on_registry_close: Callable[[], Any] | None = None,
    name: str | None = KEEP,
) -> None:
    """
    Replace the factory for *key* in the current app's layer, or in the layer
    of the registered blueprint named *blueprint*, and reset the current
    container, running its cleanups.

    Meant for tests; must run in an app context.

    Args:
        key: The key to replace.

        factory: The new factory, as for :func:`register_factory`.

        blueprint:
            The full dotted name of a registered blueprint, to replace the
            key in its layer instead of the app's.

        enter: As for :func:`register_factory`.

        ping:
            When left out, the replacement keeps the ping of the
            registration it replaces, so that a health check pings the fake;
            give a callable to replace it (``ping=lambda db: db.ping()`` calls
            the fake's own method), or ``None`` to drop it.

        on_registry_close:
            Added to the callbacks that :func:`close_registry` runs; the
            replaced registration's callback still runs too, since what it
            closes was created at startup.

        name:
            As *ping*: when left out, the replacement keeps the name of the
            registration it replaces, so that health checks report the fake
            under the same name; give a string to replace it, or ``None`` for
            the key's name.
    """
    ctx, reg = _replaced(blueprint)
    ping, name = _kept(reg, blueprint, key, ping, name)
    svc = RegisteredService(
        key,
        factory=factory,
        enter=enter,
        ping=ping,
        on_registry_close=on_registry_close,
        name=name,
    )
    _replace(ctx, reg, blueprint, key, svc)


def overwrite_value(
    key: object,
    value: object,
    *,
    blueprint: str | None = None,
    enter: bool = True,
    ping: Callable[..., Any] | None = KEEP,
    on_registry_close: Callable[[], Any] | None = None,
    name: str | None = KEEP,
) -> None:
    """
    Like :func:`overwrite_factory`, with a ready *value*.

    As in ``svcs.flask``, *enter* defaults to ``True`` here (unlike
    :func:`register_value`): a fake that is a context manager is entered.
    Whether it is one is decided by its type, as the ``with`` statement does,
    so a ``Mock(spec_set=Real)`` is handed out as it is.
    """
    ctx, reg = _replaced(blueprint)
    ping, name = _kept(reg, blueprint, key, ping, name)
    svc = RegisteredService(
        key,
        value=value,
        enter=enter,
        ping=ping,
        on_registry_close=on_registry_close,
        name=name,
    )
    _replace(ctx, reg, blueprint, key, svc)


@contextmanager
def override(
    key: object,
    *,
    value: object = UNSET,
    factory: Callable[..., Any] | None = None,
    blueprint: str | None = None,
    enter: bool | None = None,
    ping: Callable[..., Any] | None = KEEP,
    name: str | None = KEEP,
) -> Iterator[None]:
    """
    Replace the registration of *key* for the duration of a ``with`` block,
    then restore the previous one (or its absence), even if the block raises.

    Give exactly one of *value* and *factory*; *blueprint* picks a
    blueprint's layer instead of the app's.
    *ping* and *name* are kept from the replaced registration unless given,
    as in :func:`overwrite_factory`.
    The current container is reset on entry and on exit.
    Must run in an app context.
    """
    if (value is UNSET) == (factory is None):
        msg = f"Give override({key!r}) exactly one of value= and factory=."
        raise RegistrationError(msg)
    ctx, reg = _replaced(blueprint)
    ping, name = _kept(reg, blueprint, key, ping, name)
    new = (
        RegisteredService(
            key,
            value=value,
            enter=bool(enter),
            ping=ping,
            on_registry_close=None,
            name=name,
        )
        if factory is None
        else RegisteredService(
            key,
            factory=factory,
            enter=True if enter is None else enter,
            ping=ping,
            on_registry_close=None,
            name=name,
        )
    )
    previous = reg.lookup(blueprint, key)
    _replace(ctx, reg, blueprint, key, new)
    try:
        yield
    finally:
        _replace(ctx, reg, blueprint, key, previous)
