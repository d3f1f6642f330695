"""The layered service registry: one layer for the app, one per blueprint name."""

from __future__ import annotations

import functools
import inspect
import logging
import warnings
from typing import TYPE_CHECKING, Any, get_origin

from .exceptions import RegistrationError, ServiceNotFoundError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Mapping

__all__ = [
    "APP_LAYER",
    "RegisteredService",
    "Registry",
    "chain_for",
    "check_blueprint",
    "key_name",
]

log = logging.getLogger("flask_servicecbv")

#: The name of the app layer in a lookup chain.
APP_LAYER: None = None

# How a registered service is produced. Decided once, at registration, so that
# the request path never introspects a factory.
VALUE = 0  # a ready value
PLAIN = 1  # a callable returning the service (maybe a context manager)
GENERATOR = 2  # a generator function: yields the service, cleans up after
COROUTINE = 3  # an async function returning the service
ASYNC_GENERATOR = 4  # an async generator function

#: String annotations that mean our (or svcs's) container.
_CONTAINER_ANNOTATIONS = frozenset(
    {"Container", "flask_servicecbv.Container", "svcs.Container"}
)

#: Names a factory's single parameter may have to receive the container.
_CONTAINER_PARAM_NAMES = frozenset({"container", "svcs_container"})


class Sentinel:
    """
    A default that means "not given", with a repr that reads well in
    signatures and in ``help()``.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


# The default of RegisteredService(factory=...): a ready value is registered.
NO_FACTORY: Any = Sentinel("NO_FACTORY")


def key_name(key: object) -> str:
    """
    Return a readable name for a service *key*: ``module.QualName`` for classes
    and NewTypes, the ``repr`` for anything else.
    """
    qualname = getattr(key, "__qualname__", None)
    module = getattr(key, "__module__", None)
    # Aliases such as Annotated[Conn, "ro"] or list[int] pass __qualname__ on
    # from their origin: only their repr tells them apart.
    if (
        isinstance(qualname, str)
        and isinstance(module, str)
        and get_origin(key) is None
    ):
        if module == "builtins":
            return qualname
        return f"{module}.{qualname}"
    return repr(key)


def layer_name(layer: str | None) -> str:
    """
    Return how a layer is called in messages: ``the app`` or ``blueprint 'x'``.
    """
    return "the app" if layer is None else f"blueprint {layer!r}"


def chain_for(blueprint: str | None) -> tuple[str | None, ...]:
    """
    Return the lookup chain of the blueprint named *blueprint*: innermost first,
    the app layer last.
    """
    if blueprint is None:
        return (APP_LAYER,)
    parts = blueprint.split(".")
    names = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
    return (*names, APP_LAYER)


def check_blueprint(known: Mapping[str, object], name: str) -> None:
    """
    Raise :exc:`RegistrationError` unless *known* (an app's ``blueprints``)
    has a blueprint called *name*.
    """
    if name not in known:
        names = ", ".join(repr(each) for each in sorted(known)) or "none"
        msg = (
            f"No blueprint named {name!r} is registered on the app "
            f"(registered: {names}); use its full dotted name."
        )
        raise RegistrationError(msg)


def _parameters(factory: Callable[..., object]) -> list[inspect.Parameter] | None:
    """The parameters of *factory*, or ``None`` for a builtin without a signature."""
    try:
        return list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return None


def _takes_container(params: list[inspect.Parameter]) -> bool:
    """
    Whether a factory with *params* wants the container as its only argument:
    it has exactly one parameter, named ``container`` (or ``svcs_container``)
    or annotated with :class:`~flask_servicecbv.Container`.
    """
    if len(params) != 1:
        return False
    param = params[0]
    if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
        return False
    if param.name in _CONTAINER_PARAM_NAMES:
        return True
    annotation = param.annotation
    if isinstance(annotation, str):
        return annotation in _CONTAINER_ANNOTATIONS
    return getattr(annotation, "__name__", None) == "Container" and getattr(
        annotation, "__module__", ""
    ).startswith(("flask_servicecbv", "svcs"))


def is_context_manager(value: object) -> bool:
    """
    Whether *value* can be entered with ``with``, judged as that statement
    does: by the methods of its type, not by ``isinstance``, which a
    ``Mock(spec_set=Real)`` answers for ``Real`` although it has no
    ``__enter__``.
    """
    cls = type(value)
    return hasattr(cls, "__enter__") and hasattr(cls, "__exit__")


def is_async_context_manager(value: object) -> bool:
    """
    Whether *value* can be entered with ``async with``, judged by its type
    as :func:`is_context_manager` does.
    """
    cls = type(value)
    return hasattr(cls, "__aenter__") and hasattr(cls, "__aexit__")


def _code_of(factory: Callable[..., object]) -> object:
    """
    Return what decides how *factory* runs: itself for functions, methods and
    classes; for any other callable object, its type's ``__call__``, which
    calling it runs.
    """
    if inspect.isroutine(factory) or isinstance(factory, (type, functools.partial)):
        return factory
    return type(factory).__call__


def _kind_of(factory: Callable[..., object]) -> int:
    code = _code_of(factory)
    if inspect.isasyncgenfunction(code):
        return ASYNC_GENERATOR
    if inspect.iscoroutinefunction(code):
        return COROUTINE
    if inspect.isgeneratorfunction(code):
        return GENERATOR
    return PLAIN


def _check_callable_without_arguments(
    key: object, factory: Callable[..., object], params: list[inspect.Parameter]
) -> None:
    """
    Raise :exc:`RegistrationError` if *factory*, with *params*, cannot be
    called without arguments, so that it fails at registration instead of at
    first use.
    """
    required = [
        param.name
        for param in params
        if param.default is param.empty
        and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
    ]
    if required:
        names = ", ".join(required)
        name = getattr(factory, "__qualname__", None) or repr(factory)
        msg = (
            f"The factory {name} for {key_name(key)} has required parameters "
            f"({names}) that nothing fills; give them defaults, or take the "
            "container as the only parameter, named `container` or annotated "
            "with Container."
        )
        raise RegistrationError(msg)


class RegisteredService:
    """
    One registration: a key, how to make its service, its hooks, and the
    name health checks give it.

    Everything the request path needs is worked out here, once.
    """

    __slots__ = (
        "enter",
        "factory",
        "is_async",
        "key",
        "kind",
        "name",
        "not_entered",
        "on_registry_close",
        "ping",
        "takes_container",
        "value",
    )

    def __init__(
        self,
        key: object,
        *,
        factory: object = NO_FACTORY,
        value: object = None,
        enter: bool,
        ping: object,
        on_registry_close: object,
        name: object = None,
    ) -> None:
        try:
            hash(key)
        except TypeError:
            msg = (
                f"Service key {key!r} is not hashable; "
                "use a class, a NewType or an Annotated alias as the key."
            )
            raise RegistrationError(msg) from None
        if ping is not None and not callable(ping):
            msg = f"The ping for {key_name(key)} must be callable, got {ping!r}."
            raise RegistrationError(msg)
        if on_registry_close is not None and not callable(on_registry_close):
            msg = (
                f"The on_registry_close callback for {key_name(key)} must be "
                f"callable, got {on_registry_close!r}."
            )
            raise RegistrationError(msg)
        # What health checks call the service: the name given at
        # registration, else the key's, worked out once, here.
        if name is None:
            name = key_name(key)
        elif not isinstance(name, str) or not name.strip():
            msg = (
                f"The name of {key_name(key)} must be a non-empty string, got "
                f"{name!r}; leave it out to use the key's name."
            )
            raise RegistrationError(msg)
        self.name: str = name
        self.key = key
        # A ready value is entered only if it is a context manager; deciding it
        # here keeps the container from asking an impostor.
        self.enter = enter and (
            factory is not NO_FACTORY
            or is_context_manager(value)
            or is_async_context_manager(value)
        )
        # The type of the last object this factory made that is not a
        # context manager, which the container need not look at again.
        self.not_entered: type | None = None
        self.ping: Callable[..., object] | None = ping
        self.on_registry_close: Callable[[], object] | None = on_registry_close
        self.value = value
        if factory is NO_FACTORY:
            self.factory: Callable[..., object] | None = None
            self.kind = VALUE
            self.takes_container = False
        else:
            if not callable(factory):
                msg = (
                    f"The factory for {key_name(key)} must be callable, got "
                    f"{factory!r}; use register_value() for a ready value."
                )
                raise RegistrationError(msg)
            self.factory = factory
            self.kind = _kind_of(factory)
            # Introspected once, here: never on a request.
            params = _parameters(factory)
            self.takes_container = params is not None and _takes_container(params)
            if params is not None and not self.takes_container:
                _check_callable_without_arguments(key, factory, params)
        self.is_async = self.kind in (COROUTINE, ASYNC_GENERATOR) or (
            ping is not None and _kind_of(ping) in (COROUTINE, ASYNC_GENERATOR)
        )

    def __repr__(self) -> str:
        what = (
            f"value={self.value!r}"
            if self.kind == VALUE
            else f"factory={getattr(self.factory, '__qualname__', self.factory)!r}"
        )
        return f"<RegisteredService {key_name(self.key)} {what}>"


#: The resolved view of one chain: key -> (providing layer, registration).
Resolved = dict[object, tuple[str | None, RegisteredService]]


class Registry:
    """
    The services of one app: the app layer and one layer per blueprint name.

    Stored in ``app.extensions["servicecbv"]`` by :func:`~flask_servicecbv.init_app`.
    Lookups go through :meth:`resolved`, which flattens a chain of layers into
    one mapping the first time that chain is used after a change.
    """

    def __init__(self) -> None:
        self._layers: dict[str | None, dict[object, RegisteredService]] = {
            APP_LAYER: {}
        }
        self._resolved: dict[tuple[str | None, ...], Resolved] = {}
        # By id(), in registration order; the dict keeps its values alive, so
        # the ids stay unique.
        self._on_close: dict[int, RegisteredService] = {}

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{layer_name(name)}: {len(layer)}" for name, layer in self._layers.items()
        )
        return f"<Registry {counts}>"

    @property
    def layers(self) -> dict[str | None, dict[object, RegisteredService]]:
        """
        A copy of the layers and their registrations, by layer name (``None``
        for the app).
        """
        return {name: self._copy(name) for name in self._layers}

    def register(self, layer: str | None, svc: RegisteredService) -> None:
        """
        Put *svc* into *layer*, replacing what that layer had for its key.
        """
        # A layer changes in place, so that registering n services costs O(n):
        # readers on other threads never iterate a layer itself, only a copy
        # (see _copy()), and a single dict operation is atomic. The mapping
        # of layers, which readers do iterate, is copied on write: it only
        # grows by one layer per blueprint name.
        current = self._layers.get(layer)
        if current is None:
            self._layers = {**self._layers, layer: {svc.key: svc}}
        else:
            current[svc.key] = svc
        if svc.on_registry_close is not None:
            self._on_close.setdefault(id(svc), svc)
        self._resolved = {}

    def unregister(self, layer: str | None, key: object) -> None:
        """
        Remove what *layer* has for *key*, if anything.
        """
        if self._layers.get(layer, {}).pop(key, None) is not None:
            self._resolved = {}

    def _copy(self, layer: str | None) -> dict[object, RegisteredService]:
        # dict.copy() is one operation, atomic with respect to a registration
        # on another thread (under the GIL, and under the dict's own lock
        # without it), unlike iterating the layer in Python.
        return self._layers.get(layer, {}).copy()

    def lookup(self, layer: str | None, key: object) -> RegisteredService | None:
        """
        Return what *layer* itself has for *key*, or ``None``.
        """
        return self._layers.get(layer, {}).get(key)

    def resolved(self, chain: tuple[str | None, ...]) -> Resolved:
        """
        Return the flattened view of *chain*: for each key, the innermost layer
        that has it and its registration.
        """
        # Store into the cache we read from: if a registration replaces the
        # cache meanwhile, a view built from the old layers goes with the old
        # cache instead of outliving the change. No lock on the request path.
        cache = self._resolved
        resolved = cache.get(chain)
        if resolved is None:
            resolved = {}
            for layer in reversed(chain):
                resolved.update(
                    (key, (layer, svc)) for key, svc in self._copy(layer).items()
                )
            cache[chain] = resolved
        return resolved

    def not_found(
        self, key: object, chain: tuple[str | None, ...], *, where: str = ""
    ) -> ServiceNotFoundError:
        """
        Build the error for *key* missing from *chain*.

        *where* names the requester (a view attribute) when there is one.
        """
        searched = ", ".join(layer_name(layer) for layer in chain)
        elsewhere = [
            layer_name(name)
            for name, layer in self._layers.items()
            if key in layer and name not in chain
        ]
        hint = (
            f"; {' and '.join(elsewhere)} {'has' if len(elsewhere) == 1 else 'have'}"
            " it, so register it on one of the searched layers instead"
            if elsewhere
            else "; register it with register_factory() or register_value()"
        )
        msg = f"No service {key_name(key)}{where} in {searched}{hint}."
        return ServiceNotFoundError(msg)

    def _close_callbacks(self) -> Iterator[RegisteredService]:
        callbacks, self._on_close = self._on_close, {}
        yield from reversed(callbacks.values())

    def close(self) -> None:
        """
        Run every ``on_registry_close`` callback, last registered first.

        A failing callback is logged and the others still run; an async one is
        skipped with a warning, once the others have run, and kept for
        :meth:`aclose`.
        """
        skipped = []
        for svc in self._close_callbacks():
            callback = svc.on_registry_close
            assert callback is not None  # noqa: S101 -- only these are listed
            if inspect.iscoroutinefunction(callback):
                skipped.append(svc)
                continue
            try:
                callback()
            except Exception:
                log.exception(
                    "on_registry_close callback of %s failed.", key_name(svc.key)
                )
        # Kept, in registration order, for aclose_registry() to run.
        self._on_close = {
            **{id(svc): svc for svc in reversed(skipped)},
            **self._on_close,
        }
        for svc in skipped:
            warnings.warn(
                f"Skipped the async on_registry_close callback of "
                f"{key_name(svc.key)}; use aclose_registry() to run it.",
                RuntimeWarning,
                stacklevel=3,
            )

    async def aclose(self) -> None:
        """
        Like :meth:`close`, awaiting async callbacks.
        """
        for svc in self._close_callbacks():
            callback = svc.on_registry_close
            assert callback is not None  # noqa: S101 -- only these are listed
            try:
                result = callback()
                if inspect.isawaitable(result):
                    await _await(result)
            except Exception:
                log.exception(
                    "on_registry_close callback of %s failed.", key_name(svc.key)
                )


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
