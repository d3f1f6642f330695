"""Class-based views that declare the services they use."""

from __future__ import annotations

import functools
import inspect
import keyword
from collections.abc import Callable, Coroutine, Mapping
from contextvars import ContextVar
from types import FunctionType, MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar, overload

from flask import Flask, current_app
from flask.globals import _cv_app, _cv_request
from flask.views import MethodView, http_method_funcs
from werkzeug.exceptions import HTTPException

from ._container import _MISSING
from ._context import _G_KEY, _current_container
from ._registry import COROUTINE, key_name
from .exceptions import (
    AsyncServiceError,
    ServiceAttributeError,
    ServiceDeclarationError,
    ServiceNotFoundError,
)

__all__ = ["ServiceAttr", "ServiceMixin", "ServiceView"]

T = TypeVar("T")

# Names a service attribute may not take although no base class defines them:
# MethodView dispatches HTTP methods by these names.
_RESERVED = frozenset(http_method_funcs)

# The services a class itself declares, kept on each class.
_OWN = "_servicecbv_own"

# What an app that does not override Flask.ensure_sync runs views with.
_FLASK_ENSURE_SYNC = Flask.ensure_sync
_METHOD_VIEW_DISPATCH = MethodView.dispatch_request


class ServiceAttr(Generic[T]):
    """
    A service as a typed, read-only attribute of a view.

    ``db = ServiceAttr(Connection)`` in the body of a :class:`ServiceMixin`
    subclass does what ``services = {"db": Connection}`` does, and lets type
    checkers know that ``self.db`` is a ``Connection``.
    Each access resolves through the current app context's container and the
    request's blueprint chain, so the service is created at most once per app
    context and not at all if the attribute is never read.

    Args:
        key: The key the service is registered under.
    """

    __slots__ = ("key", "name", "owner")

    @overload
    def __init__(self: ServiceAttr[T], key: type[T]) -> None: ...
    @overload
    def __init__(self: ServiceAttr[Any], key: object) -> None: ...
    def __init__(self, key: object) -> None:
        _check_key(key, "ServiceAttr()")
        self.key = key
        self.name = "?"
        self.owner: type | None = None

    def __repr__(self) -> str:
        return f"<ServiceAttr {self.name}: {key_name(self.key)}>"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.owner = owner

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> ServiceAttr[T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...
    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        # The request path: no proxies, no introspection, a dict lookup when
        # the service was already made in this app context.
        cont = _current_container()
        service = cont._instances.get(self.key, _MISSING)  # noqa: SLF001
        if service is _MISSING:
            try:
                service = cont._create(self.key)  # noqa: SLF001
            except ServiceNotFoundError:
                # Only our own key gets the view's name: a factory that misses
                # one of its dependencies must be told which one.
                if self.key in cont._resolved:  # noqa: SLF001
                    raise
                raise cont._registry.not_found(  # noqa: SLF001
                    self.key, cont.chain, where=self._where(instance)
                ) from None
            except AsyncServiceError:
                # Awaiting only helps when this service's own factory is async.
                if cont._resolved[self.key][1].kind < COROUTINE:  # noqa: SLF001
                    raise
                raise self._needs_await(instance) from None
        return service

    def __set__(self, instance: object, value: object) -> None:
        msg = (
            f"{self._where(instance).removeprefix(' for ')} is a service and "
            "cannot be assigned; replace it with overwrite_value() or override()."
        )
        raise ServiceAttributeError(msg)

    def _where(self, instance: object) -> str:
        return f" for {type(instance).__qualname__}.{self.name}"

    def _needs_await(self, instance: object) -> AsyncServiceError:
        msg = (
            f"Service {key_name(self.key)}{self._where(instance)} has an async "
            f"factory; use `await self.aservice({self.name!r})`."
        )
        return AsyncServiceError(msg)


def _check_key(key: object, where: str) -> None:
    try:
        hash(key)
    except TypeError:
        msg = (
            f"{where}: the service key {key!r} is not hashable; "
            "use a class, a NewType or an Annotated alias."
        )
        raise ServiceDeclarationError(msg) from None


def _check_name(cls: type, name: object) -> None:
    where = f"{cls.__qualname__}.services"
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        msg = f"{where}: {name!r} is not a valid attribute name; use an identifier."
        raise ServiceDeclarationError(msg)
    if name.startswith("__") or name in _RESERVED:
        msg = f"{where}: {name!r} is reserved for Python or HTTP dispatch; rename it."
        raise ServiceDeclarationError(msg)
    for klass in cls.__mro__:
        found = klass.__dict__.get(name, _MISSING)
        if found is not _MISSING and not (
            klass is not cls and isinstance(found, ServiceAttr)
        ):
            msg = (
                f"{where}: {name!r} clashes with {klass.__qualname__}.{name}; "
                "give the service another name."
            )
            raise ServiceDeclarationError(msg)


def _own_services(cls: type) -> dict[str, object]:
    own: dict[str, object] = {}
    declared = cls.__dict__.get("services", None)
    if declared is not None:
        if not isinstance(declared, Mapping):
            msg = (
                f"{cls.__qualname__}.services must map attribute names to "
                f"service keys, got {type(declared).__name__}."
            )
            raise ServiceDeclarationError(msg)
        for name, key in declared.items():
            _check_name(cls, name)
            _check_key(key, f"{cls.__qualname__}.services[{name!r}]")
            attr: ServiceAttr[Any] = ServiceAttr(key)
            setattr(cls, name, attr)
            attr.__set_name__(cls, name)
            own[name] = key
    for name, value in list(cls.__dict__.items()):
        if isinstance(value, ServiceAttr) and name not in own:
            if name.startswith("__") or name in _RESERVED:
                _check_name(cls, name)
            for base in cls.__mro__[1:]:
                found = base.__dict__.get(name, _MISSING)
                if found is not _MISSING and not isinstance(found, ServiceAttr):
                    msg = (
                        f"{cls.__qualname__}.{name} clashes with "
                        f"{base.__qualname__}.{name}; give the service another name."
                    )
                    raise ServiceDeclarationError(msg)
            own[name] = value.key
    return own


# Set while an async handler runs, so that a handler awaiting another one
# (``await self.post()``) leaves the cleanups to the outermost.
_in_async_handler: ContextVar[bool] = ContextVar("_in_async_handler", default=False)


def _closing_async(
    method: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """
    Wrap an async view method so that the async cleanups of the app context's
    container run in the method's own event loop before it returns.
    """

    @functools.wraps(method)
    async def run(*args: Any, **kwargs: Any) -> Any:
        if _in_async_handler.get():
            return await method(*args, **kwargs)
        token = _in_async_handler.set(True)
        try:
            result = await method(*args, **kwargs)
        except BaseException as exc:
            # Flask turns an HTTPException into a response, and then hands
            # teardown no exception: async cleanups see it the same way.
            await _aclose_current(None if isinstance(exc, HTTPException) else exc)
            raise
        finally:
            _in_async_handler.reset(token)
        await _aclose_current(None)
        return result

    run.__servicecbv_closing__ = True  # type: ignore[attr-defined]
    return run


async def _aclose_current(exc: BaseException | None) -> None:
    ctx = _cv_app.get(None)
    if ctx is not None:
        cont = ctx.g.__dict__.get(_G_KEY)
        if cont is not None:
            await cont._aclose_async(exc)  # noqa: SLF001


def _flask_dispatch(view: Any, kwargs: dict[str, Any]) -> Any:
    # What the view function of View.as_view() does.
    return current_app.ensure_sync(view.dispatch_request)(**kwargs)


class ServiceMixin:
    """
    Give a :class:`flask.views.View` subclass services as attributes.

    Declare them in :attr:`services`, or one by one with :class:`ServiceAttr`.
    Declarations merge along the MRO (a subclass adds to or replaces its
    parents' entries; mixins may declare services too) and are checked when
    the class is created.
    ``async def`` handlers, including those inherited from plain mixins, run
    the async cleanups of the app context's container in their own event loop
    before they return (once, for the outermost handler, when one awaits
    another); sync cleanups stay for teardown, as in sync handlers.
    """

    #: Attribute name to service key, for this class; merged with the bases'.
    services: ClassVar[Mapping[str, object]] = {}

    #: Every service attribute of the class and its bases, read-only, computed
    #: at class creation.
    service_attributes: ClassVar[Mapping[str, object]] = MappingProxyType({})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for klass in cls.__mro__:
            if not issubclass(klass, ServiceMixin) and (
                "services" in klass.__dict__
                or any(isinstance(v, ServiceAttr) for v in klass.__dict__.values())
            ):
                msg = (
                    f"{klass.__qualname__} declares services but is not a "
                    "ServiceMixin subclass; derive it from ServiceMixin."
                )
                raise ServiceDeclarationError(msg)
        setattr(cls, _OWN, _own_services(cls))
        merged: dict[str, object] = {}
        for klass in reversed(cls.__mro__):
            merged.update(klass.__dict__.get(_OWN, {}))
        for name in merged:
            # What the MRO finds first must be the service, not a method or
            # attribute of a subclass or an earlier base that hides it.
            found = next(k.__dict__[name] for k in cls.__mro__ if name in k.__dict__)
            if not isinstance(found, ServiceAttr):
                msg = (
                    f"{cls.__qualname__}.{name} hides the service {name!r} that a "
                    "base class declares; rename one of them."
                )
                raise ServiceDeclarationError(msg)
        cls.service_attributes = MappingProxyType(merged)
        for name in (*http_method_funcs, "dispatch_request"):
            # Through the MRO: a plain mixin's async handler needs wrapping too.
            method = getattr(cls, name, None)
            if inspect.iscoroutinefunction(method) and not getattr(
                method, "__servicecbv_closing__", False
            ):
                setattr(cls, name, _closing_async(method))

    @classmethod
    def as_view(
        cls, name: str, *class_args: Any, **class_kwargs: Any
    ) -> Callable[..., Any]:
        """
        Return the view function, as :meth:`flask.views.View.as_view` does.

        Handlers that are plain functions are called directly: Flask's
        ``ensure_sync()`` would only find, on every request, that they are
        not coroutine functions, which is known when the view is registered.
        An app that overrides ``ensure_sync()``, a view with ``decorators`` or
        ``init_every_request = False``, and a handler or ``dispatch_request``
        that is not the function seen here (set on the instance, or patched
        on the class later) get Flask's own dispatch.
        """
        flask_view = super().as_view(name, *class_args, **class_kwargs)  # type: ignore[misc]
        if cls.decorators or not cls.init_every_request:  # type: ignore[attr-defined]
            return flask_view  # type: ignore[no-any-return]
        dispatch = cls.dispatch_request  # type: ignore[attr-defined]
        if dispatch is _METHOD_VIEW_DISPATCH:
            handlers = (getattr(cls, method, None) for method in http_method_funcs)
            plain = frozenset(
                func
                for func in handlers
                if isinstance(func, FunctionType)
                and not inspect.iscoroutinefunction(func)
            )
        elif isinstance(dispatch, FunctionType) and not inspect.iscoroutinefunction(
            dispatch
        ):
            plain = None
        else:
            return flask_view  # type: ignore[no-any-return]

        def view(**kwargs: Any) -> Any:
            self = view.view_class(*class_args, **class_kwargs)  # type: ignore[attr-defined]
            req = _cv_request.get(None)
            if (
                req is None
                or type(self) is not cls
                or cls.dispatch_request is not dispatch
                or type(req.app).ensure_sync is not _FLASK_ENSURE_SYNC
            ):
                return _flask_dispatch(self, kwargs)
            if plain is None:
                return self.dispatch_request(**kwargs)  # type: ignore[attr-defined]
            # MethodView.dispatch_request(), for handlers known to be plain.
            method = req.request.method
            handler = getattr(self, method.lower(), None)
            if handler is None and method == "HEAD":
                handler = getattr(self, "get", None)
            if getattr(handler, "__func__", None) in plain:
                return handler(**kwargs)  # type: ignore[misc]
            return _flask_dispatch(self, kwargs)

        view.__dict__.update(flask_view.__dict__)
        view.__name__ = flask_view.__name__
        view.__doc__ = flask_view.__doc__
        view.__module__ = flask_view.__module__
        return view

    async def aservice(self, name: str) -> Any:
        """
        Return the service declared as *name*, creating it with its async
        factory if needed: ``client = await self.aservice("client")``.

        Raises:
            ServiceAttributeError: *name* is not a declared service.

            ServiceNotFoundError: No layer of the chain has the service.
        """
        key = type(self).service_attributes.get(name, _MISSING)
        if key is _MISSING:
            declared = ", ".join(sorted(type(self).service_attributes)) or "none"
            msg = (
                f"{type(self).__qualname__} declares no service {name!r} "
                f"(declared: {declared}); add it to `services`."
            )
            raise ServiceAttributeError(msg)
        cont = _current_container()
        try:
            return await cont.aget(key)
        except ServiceNotFoundError:
            if key in cont._resolved:  # noqa: SLF001 -- a dependency is missing
                raise
            where = f" for {type(self).__qualname__}.{name}"
            raise cont._registry.not_found(key, cont.chain, where=where) from None  # noqa: SLF001


class ServiceView(ServiceMixin, MethodView):
    """
    A :class:`flask.views.MethodView` with declared services.

    .. code-block:: python

        class BookmarkList(ServiceView):
            services = {"db": Connection}

            def get(self):
                return {"items": list_bookmarks(self.db)}
    """
