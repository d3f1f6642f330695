"""Services with a life cycle for Flask class-based views."""

from __future__ import annotations

from . import exceptions
from ._container import Container, ServicePing
from ._registry import RegisteredService, Registry
from .exceptions import ServiceCBVError, ServiceNotFoundError
from .extension import (
    aclose_registry,
    aget,
    close_registry,
    container,
    get,
    get_pings,
    init_app,
    override,
    overwrite_factory,
    overwrite_value,
    register_factory,
    register_value,
    registry,
)

__all__ = [
    "Container",
    "RegisteredService",
    "Registry",
    "ServiceCBVError",
    "ServiceNotFoundError",
    "ServicePing",
    "aclose_registry",
    "aget",
    "close_registry",
    "container",
    "exceptions",
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
