"""Turning what a view method returns into a response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from flask.globals import _cv_app, _cv_request
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response as WerkzeugResponse

from flask_servicecbv.exceptions import RestDeclarationError

from .etag import check_preconditions, etag_of

if TYPE_CHECKING:
    from flask import Flask, Response

    from ._declared import Output

__all__ = ["Responder", "json_bytes"]

# The methods whose preconditions a response checks (against its own tag).
_SAFE: Final = ("GET", "HEAD")

# The headers that a 304 repeats from the 200 it stands for, besides ETag.
_NOT_MODIFIED_HEADERS: Final = frozenset(
    {"cache-control", "content-location", "date", "expires", "vary"}
)


def json_bytes(app: Flask, data: Any) -> bytes:
    """
    Return the JSON body of *data* as REST views send it, and as its entity
    tag is computed from.
    """
    return f"{app.json.dumps(data)}\n".encode()


class Responder:
    """
    Build the response for one declared :class:`~.declarations.Output`.

    Called with what the method returned: data, ``(data, status)``,
    ``(data, headers)`` or ``(data, status, headers)``; a response object
    passes through untouched.
    """

    __slots__ = ("dump", "etag", "status")

    def __init__(self, output: Output) -> None:
        self.status = output.status
        self.etag = output.etag
        schema = output.schema
        self.dump = None if schema is None else schema.dump

    def __call__(self, rv: Any) -> Response | WerkzeugResponse:
        """Return the response for *rv*, what the method returned."""
        if isinstance(rv, WerkzeugResponse):
            return rv
        status: int | str = self.status
        headers: Any = None
        if type(rv) is tuple:
            rv, given, headers = _unpack(rv)
            if isinstance(rv, WerkzeugResponse):
                return _amended(rv, given, headers)
            if given is not None:
                status = given
        app = _cv_app.get().app
        if rv is None and self.dump is None:
            response = app.response_class(status=status)
            # No body, so no type for one (a 204 must not describe any).
            del response.headers["Content-Type"]
        else:
            data = rv if self.dump is None else self.dump(rv)
            body = json_bytes(app, data)
            response = app.response_class(
                body, status=status, mimetype="application/json"
            )
            if self.etag:
                tag = etag_of(body)
                req = _cv_request.get().request
                environ = req.environ
                if (
                    # Preconditions only apply to a success (RFC 9110,
                    # 13.2.1); a change checks them itself, before it is
                    # made, against the tag it changes.
                    ("HTTP_IF_MATCH" in environ or "HTTP_IF_NONE_MATCH" in environ)
                    and req.method in _SAFE
                    and 200 <= response.status_code < 300  # noqa: PLR2004
                    and check_preconditions(tag, req)
                ):
                    return _not_modified(app, tag, headers)
                response.headers["ETag"] = f'"{tag}"'
        if headers is not None:
            response.headers.update(headers)
        return response


def _not_modified(app: Flask, tag: str, headers: Any) -> Response:
    """The ``304`` for *tag*, with the cache headers a ``200`` would send (RFC 9110)."""
    response = app.response_class(status=304)
    response.headers["ETag"] = f'"{tag}"'
    if headers is not None:
        for name, value in Headers(headers).items():
            if name.lower() in _NOT_MODIFIED_HEADERS:
                response.headers.add(name, value)
    return response


def _amended(
    response: WerkzeugResponse, status: int | str | None, headers: Any
) -> WerkzeugResponse:
    """A response returned in a tuple: its status and headers amend it, as in Flask."""
    if status is not None:
        response.status = status
    if headers is not None:
        response.headers.update(headers)
    return response


def _unpack(rv: tuple[Any, ...]) -> tuple[Any, int | str | None, Any]:
    """Split a returned tuple as Flask does: data, status (or None), headers."""
    if len(rv) == 3:  # noqa: PLR2004 -- (data, status, headers)
        return rv[0], rv[1], rv[2]
    if len(rv) == 2:  # noqa: PLR2004
        if isinstance(rv[1], int | str):
            return rv[0], rv[1], None
        if isinstance(rv[1], Mapping | list | Headers):
            return rv[0], None, rv[1]
    msg = (
        f"A view returned a tuple of {len(rv)} items; return data, (data, "
        "status), (data, headers) or (data, status, headers)."
    )
    raise RestDeclarationError(msg)
