"""One JSON shape for every error an app answers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from flask import Blueprint, Flask, current_app
from flask.globals import _cv_app, _cv_request
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException, InternalServerError

from flask_servicecbv.exceptions import RequestValidationError, RestDeclarationError

from .response import json_bytes

if TYPE_CHECKING:
    from flask.sansio.scaffold import Scaffold
    from werkzeug.wrappers import Response

__all__ = [
    "MAX_ERRORS",
    "MAX_FIELD_ERRORS",
    "PROBLEM_JSON",
    "ErrorSchema",
    "ProblemSchema",
    "error_body",
    "json_errors",
]

#: The media type of RFC 9457 problem details.
PROBLEM_JSON: Final = "application/problem+json"

#: The most errors (messages of a field or of an item) that a ``422`` lists.
MAX_ERRORS: Final = 50

#: The most items one field's errors list (the items of a list field, say),
#: and the most messages of one field or item.
MAX_FIELD_ERRORS: Final = 10

# The most characters of a field name or a message that a 422 repeats: an
# unknown field is named by the client, and may be as long as the body.
_MAX_TEXT: Final = 100

_LEFT_OUT: Final = " Not every error is listed."

# Headers that describe the HTML body Werkzeug would have sent, not ours.
_BODY_HEADERS: Final = frozenset({"content-type", "content-length"})


class ErrorSchema(Schema):
    """
    The plain JSON error body: ``{"code": 404, "status": "Not Found",
    "message": "..."}``, with ``"errors"`` on a ``422``, keyed by location
    and field.
    """

    code = fields.Integer(required=True, metadata={"description": "HTTP status code"})
    status = fields.String(required=True, metadata={"description": "Status phrase"})
    message = fields.String(required=True, metadata={"description": "What happened"})
    errors = fields.Dict(
        keys=fields.String(),
        metadata={"description": "Validation messages by location and field"},
    )


class ProblemSchema(Schema):
    """
    The RFC 9457 error body, sent as ``application/problem+json``:
    ``{"type": "about:blank", "title": "Not Found", "status": 404,
    "detail": "..."}``, with ``"errors"`` on a ``422``.
    """

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(keys=fields.String())


def _message(e: HTTPException) -> str:
    if isinstance(e, InternalServerError) and not current_app.debug:
        # Whatever text the code gave it, a 500 says nothing of the internals
        # outside debug mode: the exception is in the log.
        return InternalServerError.description or ""
    return e.description or ""


def _short(text: Any) -> Any:
    if isinstance(text, str) and len(text) > _MAX_TEXT:
        return f"{text[: _MAX_TEXT - 1]}\u2026"
    return text


def _within_caps(messages: Mapping[str, Any]) -> bool:
    """
    Whether *messages* are a dict of locations, each a dict of fields, each
    a list of messages, that :func:`capped_errors` would leave as they are.
    """
    if type(messages) is not dict:
        return False
    listed = 0
    for location, fields_ in messages.items():
        if (
            type(fields_) is not dict
            or type(location) is not str
            or len(location) > _MAX_TEXT
        ):
            return False
        listed += len(fields_)
        if listed > MAX_ERRORS:
            return False
        for name, texts in fields_.items():
            if (
                type(texts) is not list
                or len(texts) > MAX_FIELD_ERRORS
                or (type(name) is str and len(name) > _MAX_TEXT)
            ):
                return False
            for text in texts:
                if type(text) is str and len(text) > _MAX_TEXT:
                    return False
    return True


def capped_errors(messages: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """
    Return validation *messages* cut to what a ``422`` lists, and whether
    anything was left out.

    The first :data:`MAX_ERRORS` errors in all are kept, at most
    :data:`MAX_FIELD_ERRORS` items below one field and messages of one field
    or item, and names and messages are cut to 100 characters: an error body
    does not grow with the input. *messages* that need no cut are returned
    as they are.
    """
    if _within_caps(messages):
        # The common case, a few fields' messages: nothing to cut or copy.
        return messages, False  # type: ignore[return-value]
    budget = MAX_ERRORS
    cut = False
    capped: dict[str, Any] = {}
    # Depth first, in order, with a stack of (entries, their copy, depth):
    # depth 0 holds locations, 1 their fields, deeper levels what is below a
    # field.
    stack: list[tuple[Iterator[tuple[Any, Any]], dict[Any, Any], int]] = [
        (iter(messages.items()), capped, 0)
    ]
    while stack:
        entries, copy, depth = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        if budget == 0:
            cut = True
            break
        if depth >= 2 and len(copy) == MAX_FIELD_ERRORS:  # noqa: PLR2004
            cut = True
            stack.pop()
            continue
        key, value = entry
        if isinstance(value, Mapping):
            inner: dict[Any, Any] = {}
            copy[_short(key)] = inner
            stack.append((iter(value.items()), inner, depth + 1))
            continue
        budget -= 1
        if isinstance(value, list):
            cut = cut or len(value) > MAX_FIELD_ERRORS
            copy[_short(key)] = [_short(text) for text in value[:MAX_FIELD_ERRORS]]
        else:
            copy[_short(key)] = _short(value)
    return capped, cut


def error_body(e: HTTPException, *, problem: bool = False) -> dict[str, Any]:
    """
    Return the JSON body for *e*, in the plain shape or as problem details.

    In debug mode the body of a ``500`` also names the original exception.
    The ``errors`` of a ``422`` are cut as :func:`capped_errors` says, and
    the message then says so.
    """
    code = e.code or 500
    body: dict[str, Any]
    message = _message(e)
    errors = None
    if isinstance(e, RequestValidationError):
        errors, cut = capped_errors(e.messages)
        if cut:
            message += _LEFT_OUT
    if problem:
        body = {"type": "about:blank", "title": e.name, "status": code}
        body["detail"] = message
    else:
        body = {"code": code, "status": e.name, "message": message}
    if errors is not None:
        body["errors"] = errors
    original = getattr(e, "original_exception", None)
    if original is not None and current_app.debug:
        body["exception"] = f"{type(original).__qualname__}: {original}"
    return body


def _handler(*, problem: bool) -> Any:
    mimetype = PROBLEM_JSON if problem else "application/json"

    def handle(e: HTTPException) -> Response:
        if e.response is not None:
            # The code that raised it built the response it wants sent.
            return e.response  # type: ignore[return-value]
        # The contexts themselves, not their proxies: this answers every
        # 4xx of a REST API.
        app = _cv_app.get().app
        response = app.response_class(
            json_bytes(app, error_body(e, problem=problem)),
            status=e.code or 500,
            mimetype=mimetype,
        )
        # Keep what the exception says in headers: Allow on a 405,
        # WWW-Authenticate on a 401, Retry-After, Accept-Post.
        req = _cv_request.get(None)
        for name, value in e.get_headers(None if req is None else req.request.environ):
            if name.lower() not in _BODY_HEADERS:
                response.headers.add(name, value)
        return response

    # What the API description documents as the error bodies' media type.
    handle.__servicecbv_problem__ = problem  # type: ignore[attr-defined]
    return handle


def json_errors(target: Scaffold, *, problem: bool = False) -> None:
    """
    Answer every error of *target* (a Flask app, or a blueprint) with JSON.

    Every :class:`~werkzeug.exceptions.HTTPException` keeps its status, its
    description and its headers (``Allow`` on ``405``, ``WWW-Authenticate`` on
    ``401``); an unhandled exception becomes a ``500`` whose body says
    nothing of it unless the app is in debug mode (Flask logs it).

    Args:
        target: The app, or a blueprint: then only errors raised in its views
            (Flask answers routing errors, ``404`` and ``405``, with the app's
            handlers).

        problem: Send RFC 9457 problem details as
            ``application/problem+json`` instead of the plain shape.

    Raises:
        RestDeclarationError: *target* is neither an app nor a blueprint.
    """
    if not isinstance(target, Flask | Blueprint):
        msg = f"json_errors() takes a Flask app or a Blueprint, not {target!r}."
        raise RestDeclarationError(msg)
    target.register_error_handler(HTTPException, _handler(problem=problem))
