"""Reading one request location into a dict that a schema loads."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from flask import request
from flask.globals import _cv_app, _cv_request
from marshmallow import EXCLUDE, fields
from werkzeug.exceptions import BadRequest

from flask_servicecbv.exceptions import RequestBodyError, UnsupportedContentTypeError

if TYPE_CHECKING:
    from collections.abc import Callable

    from marshmallow import Schema
    from werkzeug.datastructures import Headers, MultiDict

    from .declarations import Unknown

__all__ = ["ABSENT", "BODY_LOCATIONS", "LOCATIONS", "loader_for"]

#: What a loader returns for an optional body that was not sent: the method
#: then gets ``None``, not an empty object its schema would have to accept.
ABSENT: Final = object()

#: Locations that come from the request body; a method reads at most one.
BODY_LOCATIONS: Final = frozenset({"json", "form", "files"})

#: Every location a declaration may name.
LOCATIONS: Final = frozenset({"json", "form", "files", "query", "headers", "path"})

_FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")
_MULTIPART: Final = ("multipart/form-data",)


def _list_keys(schema: Schema) -> frozenset[str]:
    # Fields that take several values from a multi-dict (?tag=a&tag=b).
    return frozenset(
        field.data_key or name
        for name, field in schema.load_fields.items()
        if isinstance(field, fields.List | fields.Tuple)
    )


def _data_keys(schema: Schema) -> tuple[str, ...]:
    return tuple(field.data_key or name for name, field in schema.load_fields.items())


def _from_multidict(
    schema: Schema, unknown: Unknown
) -> Callable[[MultiDict[str, Any]], dict[str, Any]]:
    lists = _list_keys(schema)
    known = _data_keys(schema)
    if unknown == EXCLUDE:
        # Only what the schema knows: nothing else is looked at.
        def read(data: MultiDict[str, Any]) -> dict[str, Any]:
            return {
                key: data.getlist(key) if key in lists else data[key]
                for key in known
                if key in data
            }

        return read

    def read_all(data: MultiDict[str, Any]) -> dict[str, Any]:
        return {key: data.getlist(key) if key in lists else data[key] for key in data}

    return read_all


def _from_headers(schema: Schema, unknown: Unknown) -> Callable[[], dict[str, Any]]:
    lists = _list_keys(schema)
    known = _data_keys(schema)

    def value(headers: Headers, key: str) -> Any:
        return headers.getlist(key) if key in lists else headers[key]

    if unknown == EXCLUDE:

        def read() -> dict[str, Any]:
            headers = request.headers
            return {key: value(headers, key) for key in known if key in headers}

        return read

    # Header names are case-insensitive: a declared name takes the schema's
    # spelling, so that it loads into its field whatever case was sent.
    spelling = {key.lower(): key for key in known}

    def read_all() -> dict[str, Any]:
        headers = request.headers
        loaded: dict[str, Any] = {}
        for name in dict.fromkeys(headers.keys()):
            key = spelling.get(name.lower(), name)
            loaded[key] = headers.getlist(name) if key in lists else headers[name]
        return loaded

    return read_all


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _has_body() -> bool:
    # A body is present when it has a length, or is sent in chunks.
    req = _cv_request.get().request  # one lookup, not a proxy per use
    return bool(req.content_length) or "chunked" in (
        req.headers.get("Transfer-Encoding", "").lower()
    )


def _absent(*, required: bool) -> Any:
    """What a missing body reads as: an error when it is required."""
    if required:
        raise RequestBodyError
    return ABSENT


def _json_loader(required: bool) -> Callable[[], Any]:  # noqa: FBT001 -- private
    def read() -> Any:
        req = _cv_request.get().request
        mimetype = req.mimetype
        if not mimetype and not _has_body():
            return _absent(required=required)
        if not _is_json(mimetype):
            raise UnsupportedContentTypeError(("application/json",), mimetype)
        data = req.get_data(cache=True)
        if not data:
            return _absent(required=required)
        try:
            loaded = _cv_app.get().app.json.loads(data)
        except (ValueError, RecursionError) as e:
            # The parser's message says where the JSON breaks (or that it
            # nests too deep); it holds no more than the client sent.
            msg = f"The request body is not valid JSON: {e}."
            raise BadRequest(msg) from None
        if _SURROGATE_ESCAPE.search(data) is not None and _lone_surrogate(loaded):
            msg = (
                "The request body is not valid JSON: a \\u escape is an unpaired "
                "surrogate, which is no character."
            )
            raise BadRequest(msg)
        return loaded

    return read


# A \uD800-\uDFFF escape: the parser accepts one alone, although the text it
# makes cannot be encoded (a database driver then fails with a 500). Only
# bodies that have one are searched, and pairs are fine.
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate(value: Any) -> bool:
    """Whether a loaded JSON value holds a string with an unpaired surrogate."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(item) for item in value)
    return False


def _form_loader(
    schema: Schema, unknown: Unknown, *, required: bool, files: bool
) -> Callable[[], Any]:
    accepted = _MULTIPART if files else _FORM_TYPES
    read_fields = _from_multidict(schema, unknown)

    def read() -> Any:
        req = _cv_request.get().request
        mimetype = req.mimetype
        if not mimetype and not _has_body():
            return _absent(required=required)
        if mimetype not in accepted:
            raise UnsupportedContentTypeError(accepted, mimetype)
        return read_fields(req.files if files else req.form)

    return read


def loader_for(
    location: str, schema: Schema, unknown: Unknown, *, required: bool
) -> Callable[[], Any]:
    """
    Return a function that reads *location* of the current request into the
    data that *schema* loads.

    Raises (from the returned function):
        RequestBodyError: A required body is missing.

        UnsupportedContentTypeError: The body's content type is not one the
            location accepts.

        werkzeug.exceptions.BadRequest: The JSON body does not parse.
    """
    if location == "json":
        return _json_loader(required)
    if location in ("form", "files"):
        return _form_loader(
            schema, unknown, required=required, files=location == "files"
        )
    if location == "query":
        read_query = _from_multidict(schema, unknown)
        return lambda: read_query(request.args)
    if location == "headers":
        return _from_headers(schema, unknown)
    # "path": the URL variables, handed over by the caller.
    return dict
