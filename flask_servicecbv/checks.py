"""Startup checks: which declared services cannot be resolved."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ._context import _registry_of
from ._registry import chain_for
from .views import ServiceMixin

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["UnresolvedService", "check_services", "unused_layers"]


class UnresolvedService(NamedTuple):
    """
    A service attribute of a view that no layer of its endpoint's chain
    provides.
    """

    #: The endpoint of the view, e.g. ``"api.bookmarks"``.
    endpoint: str
    #: The attribute the view declares.
    attribute: str
    #: The key no layer has.
    key: object

    @property
    def chain(self) -> tuple[str | None, ...]:
        """
        The layers searched for this endpoint, innermost first; ``None`` is
        the app.
        """
        blueprint = self.endpoint.rpartition(".")[0]
        return chain_for(blueprint or None)


def check_services(app: Flask) -> list[UnresolvedService]:
    """
    Return every (endpoint, attribute, key) of *app*'s service views that
    cannot be resolved from that endpoint's blueprint chain.

    An empty list means every declared service of every view resolves; run it
    in a test or at startup to catch wiring mistakes before a request does.

    Raises:
        NotInitializedError: *app* has no :func:`~flask_servicecbv.init_app`.
    """
    registry = _registry_of(app)
    missing: list[UnresolvedService] = []
    for endpoint, view in sorted(app.view_functions.items()):
        view_class = getattr(view, "view_class", None)
        if not (isinstance(view_class, type) and issubclass(view_class, ServiceMixin)):
            continue
        blueprint = endpoint.rpartition(".")[0]
        resolved = registry.resolved(chain_for(blueprint or None))
        missing.extend(
            UnresolvedService(endpoint, attribute, key)
            for attribute, key in view_class.service_attributes.items()
            if key not in resolved
        )
    return missing


def unused_layers(app: Flask) -> list[str]:
    """
    Return the names of blueprint layers that have services although no
    blueprint of that name is registered on *app*.

    Such a layer is never searched; the usual cause is a misspelt blueprint
    name in ``app.config["SERVICES"]``.
    Call it once every blueprint is registered.

    Raises:
        NotInitializedError: *app* has no :func:`~flask_servicecbv.init_app`.
    """
    registry = _registry_of(app)
    return sorted(
        name
        for name, layer in registry.layers.items()
        if name is not None and layer and name not in app.blueprints
    )
