"""Finding the current app's registry and the current app context's container."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from flask.globals import _cv_app, _cv_request

from ._container import Container, _chain_of, searching
from .exceptions import NoAppContextError, NotInitializedError

if TYPE_CHECKING:
    from flask import Flask
    from flask.ctx import AppContext

    from ._registry import Registry

# Everything above the container (views, config, the extension's functions,
# the checks and the CLI) finds the current container here, so that each
# module of the package only imports the ones below it.

#: Where :func:`~flask_servicecbv.init_app` keeps the
#: :class:`~flask_servicecbv.Registry` in ``app.extensions``.
EXTENSION_KEY: Final = "servicecbv"

# Where the current Container lives on ``g``.
_G_KEY: Final = "_servicecbv"

_NO_APP_CONTEXT: Final = (
    "Working outside of application context: services live in an app context, "
    "so push one with `with app.app_context():` (a request does it for you)."
)


def _registry_of(app: Flask) -> Registry:
    reg: Registry | None = app.extensions.get(EXTENSION_KEY)
    if reg is None:
        msg = (
            f"The app {app.name!r} has no service registry; "
            "call flask_servicecbv.init_app(app) first."
        )
        raise NotInitializedError(msg)
    return reg


def _container_for(ctx: AppContext) -> Container:
    reg = _registry_of(ctx.app)
    request_ctx = _cv_request.get(None)
    chain = _chain_of(request_ctx, ctx.app)
    store = ctx.g.__dict__
    cont: Container | None = store.get(_G_KEY)
    if cont is None:
        cont = store[_G_KEY] = Container(reg, chain, request_ctx, ctx.app.blueprints)
    else:
        cont._rechain(chain, request_ctx)  # noqa: SLF001 -- our own class
    return cont


def _current_container() -> Container:
    # The one way to the current container, on the request path of get() and
    # of service attributes: inside a get(..., blueprint=), its view; else the
    # app context's own, made or re-chained when missing or stale.
    ctx = _cv_app.get(None)
    if ctx is None:
        raise NoAppContextError(_NO_APP_CONTEXT)
    cont = searching.get()
    if cont is None:
        cont = ctx.g.__dict__.get(_G_KEY)
        if cont is None or cont._request_ctx is not _cv_request.get(None):  # noqa: SLF001
            return _container_for(ctx)
    return cont


def _current_app() -> Flask:
    """
    Return the app of the current app context, without a proxy.
    """
    ctx = _cv_app.get(None)
    if ctx is None:
        raise NoAppContextError(_NO_APP_CONTEXT)
    return ctx.app


def _current_registry() -> Registry:
    return _registry_of(_current_app())
