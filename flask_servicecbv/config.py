"""Services configured per blueprint in ``app.config["SERVICES"]``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from werkzeug.utils import ImportStringError, import_string

from ._context import _current_container
from ._registry import RegisteredService, Registry
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from flask import Flask
    from typing_extensions import Self

__all__ = ["APP_SERVICES", "Service", "configure_services"]

#: The key of ``app.config["SERVICES"]`` whose services go to the app layer
#: rather than to a blueprint's: ``"__app__"``.
APP_SERVICES: Final[str] = "__app__"


class Service:
    """
    Base class for services built from ``app.config["SERVICES"]``.

    .. code-block:: python

        class OAuth1Service(Service):
            def __init__(self, consumer_key: str, *, timeout: float = 5.0): ...

        app.config["SERVICES"] = {
            "contacts": {"OAuth1Service": {"consumer_key": "abc"}},
            "__app__": {"OAuth1Service": (("default-key",), {"timeout": 2.0})},
        }

    Each entry is built at most once per app context, on first use, with its
    own arguments, and lives in the layered registry under its class, so a
    :class:`~flask_servicecbv.ServiceView` can declare it in ``services``.
    A subclass that defines ``ping(self)`` gets it registered as its ping;
    one that is a context manager is entered, and exited at teardown.
    """

    @classmethod
    def check_arguments(cls, *args: Any, **kwargs: Any) -> None:
        """
        Check, at :func:`~flask_servicecbv.init_app`, the arguments that
        ``app.config["SERVICES"]`` gives this class, without building it.

        By default the arguments must fit the constructor's signature.
        Override it to check values too, and raise :exc:`TypeError` or
        :exc:`ValueError` to reject them; ``init_app`` then fails with a
        :exc:`~flask_servicecbv.exceptions.ConfigurationError` naming the
        blueprint and the entry.
        Services are only built when first used, so that a server that is
        down at startup does not stop the app from starting.
        """
        inspect.signature(cls).bind(*args, **kwargs)

    @classmethod
    def from_context(cls, blueprint_name: str | None = None) -> Self:
        """
        Return this service for the current app context: the same object
        until the context ends.

        Args:
            blueprint_name:
                Use the configuration of this blueprint (its chain: itself,
                its parents, then the app); by default the current request's
                blueprints, or the app outside a request.

        Raises:
            ServiceNotFoundError: No layer of the chain configures the class.
        """
        service: Self = _current_container().get(cls, blueprint=blueprint_name)
        return service


def _all_subclasses(cls: type) -> Iterator[type]:
    sub: type
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def _find_class(name: str, where: str) -> type[Service]:
    if "." in name:
        try:
            found = import_string(name)
        except ImportStringError as e:
            msg = f"{where}: cannot import {name!r} ({e.exception}); fix the path."
            raise ConfigurationError(msg) from None
        if not (isinstance(found, type) and issubclass(found, Service)):
            msg = (
                f"{where}: {name!r} is not a subclass of "
                "flask_servicecbv.Service; subclass it."
            )
            raise ConfigurationError(msg)
        return found
    matches = {sub for sub in _all_subclasses(Service) if sub.__name__ == name}
    if len(matches) == 1:
        return matches.pop()
    if not matches:
        msg = (
            f"{where}: no subclass of flask_servicecbv.Service is named "
            f"{name!r}; import its module first or give its dotted path."
        )
    else:
        paths = ", ".join(sorted(f"{m.__module__}.{m.__qualname__}" for m in matches))
        msg = f"{where}: {name!r} is ambiguous ({paths}); give the dotted path."
    raise ConfigurationError(msg)


def _arguments(spec: object, where: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(spec, Mapping):
        return (), dict(spec)
    if (
        isinstance(spec, Sequence)
        and not isinstance(spec, str)
        and len(spec) == 2  # noqa: PLR2004 -- (args, kwargs)
        and isinstance(spec[0], Sequence)
        and not isinstance(spec[0], str)
        and isinstance(spec[1], Mapping)
    ):
        return tuple(spec[0]), dict(spec[1])
    msg = (
        f"{where}: the arguments must be {{kwargs}} or ((args...), {{kwargs}}), "
        f"got {spec!r}."
    )
    raise ConfigurationError(msg)


def _builder(
    cls: type[Service], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Callable[[], Service]:
    def build() -> Service:
        return cls(*args, **kwargs)

    build.__qualname__ = f"{cls.__qualname__}(**config)"
    return build


def configure_services(app: Flask, registry: Registry) -> None:
    """
    Register the services of ``app.config["SERVICES"]`` in *registry*.

    Called by :func:`~flask_servicecbv.init_app`; every entry is checked here,
    so bad configuration fails at startup.

    Raises:
        ConfigurationError:
            The configuration has the wrong shape, names an unknown class, fails
            to import, or gives arguments the class's constructor rejects;
            the message names the blueprint and the entry.
    """
    config = app.config.get("SERVICES")
    if config is None:
        return
    if not isinstance(config, Mapping):
        msg = (
            "app.config['SERVICES'] must map blueprint names to "
            f"{{class: arguments}}, got {type(config).__name__}."
        )
        raise ConfigurationError(msg)
    # Check everything before registering anything: a bad entry changes nothing.
    checked: list[tuple[str | None, RegisteredService]] = []
    for blueprint, entries in config.items():
        if not isinstance(blueprint, str) or not isinstance(entries, Mapping):
            msg = (
                f"app.config['SERVICES'][{blueprint!r}] must map class names "
                f"to arguments, with a str blueprint name; got {entries!r}."
            )
            raise ConfigurationError(msg)
        layer = None if blueprint == APP_SERVICES else blueprint
        for name, spec in entries.items():
            where = f"app.config['SERVICES'][{blueprint!r}][{name!r}]"
            if not isinstance(name, str):
                msg = f"{where}: the class must be given by name, as a str."
                raise ConfigurationError(msg)
            cls = _find_class(name, where)
            args, kwargs = _arguments(spec, where)
            try:
                cls.check_arguments(*args, **kwargs)
            except (TypeError, ValueError) as e:
                msg = f"{where}: {cls.__qualname__} rejects these arguments ({e})."
                raise ConfigurationError(msg) from None
            svc = RegisteredService(
                cls,
                factory=_builder(cls, args, kwargs),
                enter=True,
                ping=getattr(cls, "ping", None),
                on_registry_close=None,
            )
            checked.append((layer, svc))
    for layer, svc in checked:
        registry.register(layer, svc)
