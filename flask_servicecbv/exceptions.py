"""Exceptions raised by flask_servicecbv."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    RequestEntityTooLarge,
    Unauthorized,
    UnprocessableEntity,
    UnsupportedMediaType,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import WSGIEnvironment

__all__ = [
    "AsyncServiceError",
    "AuthSchemeError",
    "AuthenticationError",
    "BodyTooLargeError",
    "ConfigurationError",
    "ContainerClosedError",
    "FactoryError",
    "InvalidCredentialsRequestError",
    "InvalidKeyError",
    "NoAppContextError",
    "NotInitializedError",
    "OpenAPIError",
    "PermissionDeniedError",
    "RegistrationError",
    "RequestBodyError",
    "RequestValidationError",
    "RestDeclarationError",
    "ServiceAttributeError",
    "ServiceCBVError",
    "ServiceDeclarationError",
    "ServiceNotFoundError",
    "UnsupportedContentTypeError",
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


class InvalidKeyError(ServiceNotFoundError, TypeError):
    """
    Raised by ``get`` and ``aget`` for a key that cannot name a service (one
    that is not hashable), or when they are called without a key.
    """


class RegistrationError(ServiceCBVError, ValueError):
    """
    Raised when a service cannot be registered as asked.

    For example an unhashable key, an unknown blueprint name, a blueprint that
    is already registered on an app, or :func:`flask_servicecbv.init_app` on an
    app that has already handled a request.
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
    Raised when :func:`flask_servicecbv.get`, or reading a view's service
    attribute, meets a service whose factory is async; use
    :func:`flask_servicecbv.aget` or
    :meth:`~flask_servicecbv.ServiceMixin.aservice` instead.
    """


class ServiceDeclarationError(ServiceCBVError, TypeError):
    """
    Raised when a view class declares its services wrongly.

    That is: ``services`` is not a mapping, a name is not an identifier or is
    reserved (a dunder or an HTTP method name), a name clashes with an
    attribute of the class or its bases, a subclass hides a declared service,
    or a key is not hashable.
    """


class ConfigurationError(ServiceCBVError, ValueError):
    """
    Raised by :func:`flask_servicecbv.init_app` when ``app.config["SERVICES"]``
    names an unknown class, fails to import, has the wrong shape, or gives
    arguments the class's constructor rejects.
    """


class ServiceAttributeError(ServiceCBVError, AttributeError):
    """
    Raised when code assigns to, or asks a view for, a service attribute that
    cannot take it: service attributes are read-only, and
    :meth:`~flask_servicecbv.ServiceMixin.aservice` only knows declared names.
    """


class FactoryError(ServiceCBVError):
    """
    Raised when a factory misbehaves: it needs its own service (directly or
    through others), or it is a generator that does not yield its service
    exactly once (returning without yielding is raised by ``get``; yielding
    again at cleanup is logged, since cleanups never raise).
    """


class ContainerClosedError(ServiceCBVError, RuntimeError):
    """
    Raised by ``get`` or ``aget`` when the container was closed (by
    ``overwrite_*()``, say) while the service was being built; the new
    service's cleanups have already run, and the current container will build
    it again.
    """


class RestDeclarationError(ServiceCBVError, TypeError):
    """
    Raised when a REST view declares its inputs or outputs wrongly (an unknown
    location, a schema that is not a marshmallow schema, two bodies), or
    returns a value its declaration cannot turn into a response.
    """


class RequestValidationError(ServiceCBVError, UnprocessableEntity):
    """
    Raised (and answered with ``422``) when a request's input does not load
    with its schema.

    Its ``messages`` are keyed by location, then by field, as marshmallow
    reports them: ``{"json": {"title": ["Missing data for required field."]}}``.
    """

    description = "The request's input is not valid."

    def __init__(self, messages: dict[str, Any]) -> None:
        super().__init__()
        self.messages = messages


class RequestBodyError(ServiceCBVError, BadRequest):
    """
    Raised (and answered with ``400``) when a method that reads a body gets a
    request without one.
    """

    description = "The request has no body; send one."


class UnsupportedContentTypeError(ServiceCBVError, UnsupportedMediaType):
    """
    Raised (and answered with ``415``) when a request's body has a content
    type that the method does not read; it is never parsed as empty.

    The response names the accepted types in its description and, for a
    ``POST`` or a ``PATCH``, in the ``Accept-Post`` or ``Accept-Patch`` header.
    """

    def __init__(self, accepted: tuple[str, ...], sent: str) -> None:
        self.accepted = accepted
        what = f"Content-Type {sent!r}" if sent else "a body without a Content-Type"
        super().__init__(
            f"This endpoint does not read {what}; send {' or '.join(accepted)}."
        )

    def get_headers(
        self,
        environ: WSGIEnvironment | None = None,
        scope: dict[str, Any] | None = None,
    ) -> list[tuple[str, str]]:
        """Add the accepted types as ``Accept-Post`` (``Accept-Patch``)."""
        headers = super().get_headers(environ, scope)
        # RFC 5789 and the W3C's LDP define these two; PUT has no such header.
        name = {"PATCH": "Accept-Patch", "POST": "Accept-Post"}.get(
            (environ or {}).get("REQUEST_METHOD", "")
        )
        if name is not None:
            headers.append((name, ", ".join(self.accepted)))
        return headers


class OpenAPIError(ServiceCBVError, RuntimeError):
    """
    Raised when the OpenAPI document cannot be built or served as configured:
    apispec is not installed, or the docs page is asked for without the
    document.
    """


class BodyTooLargeError(ServiceCBVError, RequestEntityTooLarge):
    """
    Raised (and answered with ``413``) when a REST view would read a request
    body larger than the limit: from ``Content-Length`` before reading, or as
    soon as a chunked body passes it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"The request body is larger than {limit} bytes; send at most "
            f"{limit} bytes."
        )


def _with_challenges(
    headers: list[tuple[str, str]], challenges: tuple[str, ...]
) -> list[tuple[str, str]]:
    # One header per challenge: RFC 9110 allows a list in one header, but
    # clients parse separate ones more reliably.
    headers.extend(("WWW-Authenticate", challenge) for challenge in challenges)
    return headers


class AuthenticationError(ServiceCBVError, Unauthorized):
    """
    Raised (and answered with ``401``) when a request that needs to know its
    caller sends no credentials, or credentials that do not verify.

    ``WWW-Authenticate`` lists a challenge per accepted scheme (RFC 9110,
    11.6.1); a bearer token that was sent and refused gets
    ``error="invalid_token"`` (RFC 6750, 3.1).
    The message never repeats the credentials.
    """

    def __init__(self, description: str, challenges: Iterable[str] = ()) -> None:
        super().__init__(description)
        self.challenges = tuple(challenges)

    def get_headers(
        self,
        environ: WSGIEnvironment | None = None,
        scope: dict[str, Any] | None = None,
    ) -> list[tuple[str, str]]:
        """Add a ``WWW-Authenticate`` header per challenge."""
        return _with_challenges(super().get_headers(environ, scope), self.challenges)


class InvalidCredentialsRequestError(ServiceCBVError, BadRequest):
    """
    Raised (and answered with ``400``, ``error="invalid_request"``, RFC 6750,
    3.1) when credentials arrive where the scheme does not read them, such as
    a bearer token in the query string, or in two places at once.
    """

    def __init__(self, description: str, challenges: Iterable[str] = ()) -> None:
        super().__init__(description)
        self.challenges = tuple(challenges)

    def get_headers(
        self,
        environ: WSGIEnvironment | None = None,
        scope: dict[str, Any] | None = None,
    ) -> list[tuple[str, str]]:
        """Add a ``WWW-Authenticate`` header per challenge."""
        return _with_challenges(super().get_headers(environ, scope), self.challenges)


class PermissionDeniedError(ServiceCBVError, Forbidden):
    """
    Raised (and answered with ``403``) when the caller is known but may not do
    what it asks: a required scope is missing (then a bearer scheme's
    challenge says ``error="insufficient_scope"`` and the scopes, RFC 6750,
    3.1), or a custom check refused.
    """

    def __init__(
        self,
        description: str,
        challenges: Iterable[str] = (),
        scopes: Iterable[str] = (),
    ) -> None:
        super().__init__(description)
        self.challenges = tuple(challenges)
        self.scopes = frozenset(scopes)

    def get_headers(
        self,
        environ: WSGIEnvironment | None = None,
        scope: dict[str, Any] | None = None,
    ) -> list[tuple[str, str]]:
        """Add a ``WWW-Authenticate`` header per challenge."""
        return _with_challenges(super().get_headers(environ, scope), self.challenges)


class AuthSchemeError(ServiceCBVError, ValueError):
    """
    Raised when an authentication scheme, or the principal factory made from
    schemes, is set up wrongly: no scheme, two places for one API key, a realm
    or parameter name that cannot be sent in a header.
    """
