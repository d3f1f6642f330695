"""Turning what a view method returns into a response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from flask.globals import _cv_app, _cv_request
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response as WerkzeugResponse

from flask_servicecbv.exceptions import RestDeclarationError

from .etag import etag_of, if_none_match

if TYPE_CHECKING:
    from flask import Response

    from .declarations import Output

__all__ = ["Responder"]

# The headers that a 304 repeats from the 200 it stands for, besides ETag.
_NOT_MODIFIED_HEADERS: Final = frozenset(
    {"cache-control", "content-location", "date", "expires", "vary"}
)


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
            rv, status, headers = _unpack(rv, self.status)
        app = _cv_app.get().app
        if rv is None and self.dump is None:
            response = app.response_class(status=status)
            # No body, so no type for one (a 204 must not describe any).
            del response.headers["Content-Type"]
        else:
            data = rv if self.dump is None else self.dump(rv)
            body = f"{app.json.dumps(data)}\n".encode()
            if self.etag:
                tag = etag_of(body)
                if if_none_match(tag, _cv_request.get().request):
                    response = app.response_class(status=304)
                    response.headers["ETag"] = f'"{tag}"'
                    if headers is not None:
                        # A 304 sends the cache headers a 200 would (RFC 9110).
                        for name, value in Headers(headers).items():
                            if name.lower() in _NOT_MODIFIED_HEADERS:
                                response.headers.add(name, value)
                    return response
                response = app.response_class(
                    body, status=status, mimetype="application/json"
                )
                response.headers["ETag"] = f'"{tag}"'
            else:
                response = app.response_class(
                    body, status=status, mimetype="application/json"
                )
        if headers is not None:
            response.headers.update(headers)
        return response


def _unpack(rv: tuple[Any, ...], status: int) -> tuple[Any, int | str, Any]:
    """Split a returned tuple as Flask does, with the declared status as default."""
    if len(rv) == 3:  # noqa: PLR2004 -- (data, status, headers)
        return rv[0], rv[1], rv[2]
    if len(rv) == 2:  # noqa: PLR2004
        if isinstance(rv[1], int | str):
            return rv[0], rv[1], None
        if isinstance(rv[1], Mapping | list | Headers):
            return rv[0], status, rv[1]
    msg = (
        f"A view returned a tuple of {len(rv)} items; return data, (data, "
        "status), (data, headers) or (data, status, headers)."
    )
    raise RestDeclarationError(msg)
