"""Services with a life cycle for Flask class-based views."""

from __future__ import annotations

from . import exceptions
from ._container import Container, ServicePing
from ._registry import RegisteredService, Registry
from .checks import UnresolvedService, check_services, unused_layers
from .config import APP_SERVICES, Service
from .exceptions import ServiceCBVError, ServiceNotFoundError
from .extension import (
    ServiceCBV,
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
from .health import HealthView
from .views import ServiceAttr, ServiceMixin, ServiceView

__all__ = [
    "APP_SERVICES",
    "Container",
    "HealthView",
    "RegisteredService",
    "Registry",
    "Service",
    "ServiceAttr",
    "ServiceCBV",
    "ServiceCBVError",
    "ServiceMixin",
    "ServiceNotFoundError",
    "ServicePing",
    "ServiceView",
    "UnresolvedService",
    "aclose_registry",
    "aget",
    "check_services",
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
    "unused_layers",
]
