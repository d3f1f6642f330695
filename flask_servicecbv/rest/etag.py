"""Entity tags and the conditional requests of RFC 9110."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from werkzeug.exceptions import PreconditionFailed, PreconditionRequired

if TYPE_CHECKING:
    from flask import Request

__all__ = ["check_if_match", "etag_of", "if_none_match"]


def etag_of(body: bytes) -> str:
    """
    Return the entity tag of a representation: a hash of its bytes.

    The tag is strong, since equal tags mean equal bytes; it is unquoted.
    """
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def if_none_match(etag: str, request: Request) -> bool:
    """
    Whether a ``GET`` or ``HEAD`` *request*'s ``If-None-Match`` matches *etag*,
    so that the answer is ``304 Not Modified``.

    ``If-None-Match`` uses the weak comparison: ``W/"x"`` matches ``"x"``;
    ``*`` matches any current representation.
    """
    # Most requests send none: do not have Werkzeug parse what is not there.
    if "HTTP_IF_NONE_MATCH" not in request.environ or request.method not in (
        "GET",
        "HEAD",
    ):
        return False
    return request.if_none_match.contains_weak(etag)


def check_if_match(etag: str | None, request: Request, *, required: bool) -> None:
    """
    Check the ``If-Match`` precondition of a request that changes a resource
    whose current entity tag is *etag* (``None``: no current representation).

    ``If-Match`` uses the strong comparison: a weak tag never matches.

    Raises:
        werkzeug.exceptions.PreconditionFailed: ``If-Match`` does not match
            (``412``).

        werkzeug.exceptions.PreconditionRequired: *required* and the request
            has no ``If-Match`` (``428``).
    """
    if_match = request.if_match
    if "If-Match" not in request.headers:
        if required:
            msg = "This request must be conditional; send If-Match with the ETag."
            raise PreconditionRequired(msg)
        return
    if etag is None or not if_match.contains(etag):
        msg = "The resource has changed (If-Match does not match its ETag)."
        raise PreconditionFailed(msg)
