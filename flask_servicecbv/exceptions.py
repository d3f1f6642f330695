"""Exceptions raised by flask_servicecbv."""

from __future__ import annotations

__all__ = [
    "AsyncServiceError",
    "NoAppContextError",
    "NotInitializedError",
    "RegistrationError",
    "ServiceCBVError",
    "ServiceNotFoundError",
]


class ServiceCBVError(Exception):
    """
    Base class for all flask_servicecbv errors.
    """


class ServiceNotFoundError(ServiceCBVError, LookupError):
    """
    Raised when no layer of the lookup chain has the requested service.

    The message names the key, the layers searched and, when another layer has
    the key, that layer.
    """


class RegistrationError(ServiceCBVError, ValueError):
    """
    Raised when a service cannot be registered as asked.

    For example an unhashable key, an unknown blueprint name, or a blueprint that
    is already registered on an app.
    """


class NotInitializedError(ServiceCBVError, RuntimeError):
    """
    Raised when services are used on an app before
    :func:`flask_servicecbv.init_app` was called for it.
    """


class NoAppContextError(ServiceCBVError, RuntimeError):
    """
    Raised when a service is requested outside of an application context.
    """


class AsyncServiceError(ServiceCBVError, TypeError):
    """
    Raised when :func:`flask_servicecbv.get` meets a service that can only be
    created or cleaned up asynchronously; use :func:`flask_servicecbv.aget`.
    """
