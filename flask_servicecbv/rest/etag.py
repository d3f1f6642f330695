"""Entity tags and the conditional requests of RFC 9110."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Final

from werkzeug.exceptions import BadRequest, PreconditionFailed, PreconditionRequired

if TYPE_CHECKING:
    from flask import Request

__all__ = ["check_if_match", "check_preconditions", "etag_of", "if_none_match"]

_SAFE = ("GET", "HEAD")

# One entity tag: quoted (RFC 9110, 8.8.3), or bare letters and digits,
# which Werkzeug reads as a tag too and some old clients send.
_TAG = r'(?:W/)?(?:"[\x21\x23-\x7e]*"|[A-Za-z0-9]+)'

#: What ``If-Match`` and ``If-None-Match`` may hold: ``*``, or a list of
#: entity tags (RFC 9110, 13.1.1 and 13.1.2); anything else is refused with
#: ``400``. The OpenAPI document shows it as the headers' pattern.
ENTITY_TAGS: Final = rf"\*|{_TAG}(?:[ \t]*,[ \t]*{_TAG})*"
_ENTITY_TAGS: Final = re.compile(ENTITY_TAGS)


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


def check_preconditions(
    etag: str | None, request: Request, *, required: bool = False
) -> bool:
    """
    Evaluate the request's ``If-Match`` and ``If-None-Match`` against the
    current entity tag of the resource, *etag* (``None``: no current
    representation), in the order of RFC 9110, section 13.2.2.

    1. ``If-Match``, with the strong comparison, on every method: no match
       (or ``*`` with no current representation) is a ``412``; without it, a
       *required* change (any method but ``GET`` and ``HEAD``) is a ``428``.
    2. ``If-None-Match``, with the weak comparison: a match (or ``*`` with a
       current representation) makes a ``GET`` or ``HEAD`` a ``304``, and
       any other method a ``412``.

    A change calls it before changing the resource, with the current tag;
    a ``GET`` with the tag of what it would send.

    Returns:
        Whether the answer is ``304 Not Modified``.

    Raises:
        werkzeug.exceptions.PreconditionFailed: A precondition fails (412).

        werkzeug.exceptions.PreconditionRequired: *required*, a change, and
            no ``If-Match`` (428).

        werkzeug.exceptions.BadRequest: A header is not ``*`` or a list of
            entity tags (400).
    """
    environ = request.environ
    for key, name in (
        ("HTTP_IF_MATCH", "If-Match"),
        ("HTTP_IF_NONE_MATCH", "If-None-Match"),
    ):
        # What the document's pattern refuses is refused, not ignored.
        if key in environ and _ENTITY_TAGS.fullmatch(environ[key]) is None:
            msg = f"{name} is not * or a list of entity tags; send ETags as received."
            raise BadRequest(msg)
    safe = request.method in _SAFE
    if "HTTP_IF_MATCH" in environ:
        if etag is None or not request.if_match.contains(etag):
            msg = "The resource has changed (If-Match does not match its ETag)."
            raise PreconditionFailed(msg)
    elif required and not safe:
        msg = "This request must be conditional; send If-Match with the ETag."
        raise PreconditionRequired(msg)
    if (
        "HTTP_IF_NONE_MATCH" in environ
        and etag is not None
        and request.if_none_match.contains_weak(etag)
    ):
        if safe:
            return True
        msg = (
            "The resource exists with a tag that If-None-Match names; it was "
            "not changed."
        )
        raise PreconditionFailed(msg)
    return False
