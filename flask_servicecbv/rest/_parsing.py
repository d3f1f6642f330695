"""Reading one request location into a dict that a schema loads."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from flask import request
from flask.globals import _cv_app, _cv_request
from marshmallow import EXCLUDE, ValidationError, fields, validate
from werkzeug.exceptions import BadRequest

from flask_servicecbv.exceptions import (
    BodyTooLargeError,
    RequestBodyError,
    RequestValidationError,
    UnsupportedContentTypeError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Flask, Request
    from marshmallow import Schema
    from werkzeug.datastructures import Headers, MultiDict

    from ._declared import Plan, Unknown

__all__ = [
    "ABSENT",
    "BODY_LOCATIONS",
    "LOCATIONS",
    "MAX_BODY_SIZE",
    "body_limit",
    "loader_for",
    "reads_body",
]

#: What a loader returns for an optional body that was not sent: the method
#: then gets ``None``, not an empty object its schema would have to accept.
ABSENT: Final = object()

#: Locations that come from the request body; a method reads at most one.
BODY_LOCATIONS: Final = frozenset({"json", "form", "files"})

#: Every location a declaration may name.
LOCATIONS: Final = frozenset({"json", "form", "files", "query", "headers", "path"})

#: The default of ``app.config["REST_MAX_BODY_SIZE"]``: the most bytes of a
#: body that a REST view reads (1 MiB).
MAX_BODY_SIZE: Final = 1024 * 1024

# How much of a chunked body is read at a time while counting it.
_CHUNK: Final = 64 * 1024

_FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")
_MULTIPART: Final = ("multipart/form-data",)


def body_limit(app: Flask) -> int | None:
    """
    Return the most bytes of a body that a REST view of *app* reads, or
    ``None`` for no limit.

    It is ``app.config["REST_MAX_BODY_SIZE"]`` (:data:`MAX_BODY_SIZE` when
    unset, ``None`` for no limit of the REST layer's own), or Flask's
    ``MAX_CONTENT_LENGTH`` when that is set and smaller: Flask's limit holds
    for every view, the REST layer's only where a REST view reads a body.
    """
    config = app.config
    limit: int | None = config.get("REST_MAX_BODY_SIZE", MAX_BODY_SIZE)
    flask_limit: int | None = config.get("MAX_CONTENT_LENGTH")
    if flask_limit is not None and (limit is None or flask_limit < limit):
        return flask_limit
    return limit


def reads_body(plan: Plan) -> bool:
    """
    Whether the method that *plan* compiles reads the request body, so that
    it may answer ``413`` (see :func:`body_limit`).
    """
    return any(inp.location in BODY_LOCATIONS for inp in plan.inputs)


def _bound(req: Request, limit: int) -> None:
    """
    Refuse a body over *limit* bytes: by its ``Content-Length``, before
    reading it, or, for a chunked body, as soon as the bytes read pass it.

    A chunked body within the limit is kept as the request's data, where
    Werkzeug's ``get_data()`` and form parsing find it.
    """
    environ = req.environ
    raw = environ.get("CONTENT_LENGTH")
    if (
        raw
        and "HTTP_TRANSFER_ENCODING" not in environ
        and raw.isascii()
        and raw.isdigit()
    ):
        # The common case, read without Werkzeug's header parsing.
        length: int | None = int(raw)
    else:
        length = req.content_length
    if length is not None:
        if length > limit:
            raise BodyTooLargeError(limit)
        return
    cached: bytes | None = getattr(req, "_cached_data", None)
    if cached is not None:
        # Read already (by a before_request hook, say): too late to stop
        # reading, not to refuse.
        if len(cached) > limit:
            raise BodyTooLargeError(limit)
        return
    stream = req.stream
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(min(_CHUNK, limit + 1 - size)):
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(limit)
        chunks.append(chunk)
    # Werkzeug's own cache: get_data() returns it, form parsing reads it.
    req._cached_data = b"".join(chunks)  # noqa: SLF001


def _length_checks(schema: Schema, location: str) -> Callable[[Any], None] | None:
    """
    A check of the ``Length`` validators of *schema*'s list fields that runs
    before the schema loads: a list that is too long is refused without
    loading (and listing an error for) each of its items.
    """
    checks = tuple(
        (field.data_key or name, validator)
        for name, field in schema.load_fields.items()
        if isinstance(field, fields.List)
        or (isinstance(field, fields.Nested) and field.many)
        for validator in field.validators
        if isinstance(validator, validate.Length)
    )
    if not checks:
        return None

    def check(data: Any) -> None:
        if not isinstance(data, dict):
            return
        for key, validator in checks:
            value = data.get(key)
            if isinstance(value, list):
                try:
                    validator(value)
                except ValidationError as e:
                    raise RequestValidationError(
                        {location: {key: e.messages}}
                    ) from None

    return check


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
    # Only application/json: a +json type means more than JSON (RFC 7396's
    # merge patch, JSON:API), which the views do not implement; it is a 415.
    return mimetype == "application/json"


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


def _json_loader(
    schema: Schema,
    required: bool,  # noqa: FBT001 -- private
) -> Callable[[], Any]:
    check_lengths = _length_checks(schema, "json")

    def read() -> Any:
        req = _cv_request.get().request
        mimetype = req.mimetype
        if not mimetype and not _has_body():
            return _absent(required=required)
        if not _is_json(mimetype):
            raise UnsupportedContentTypeError(("application/json",), mimetype)
        app = _cv_app.get().app
        limit = body_limit(app)
        if limit is not None:
            _bound(req, limit)
        data = req.get_data(cache=True)
        if not data:
            return _absent(required=required)
        loaded = _loads(app, data)
        if check_lengths is not None:
            check_lengths(loaded)
        return loaded

    return read


def _loads(app: Flask, data: bytes) -> Any:
    """Parse a JSON body that must be UTF-8 text holding no lone surrogate."""
    try:
        # RFC 8259 (8.1): JSON between systems is UTF-8. Strict decoding
        # refuses UTF-16 and UTF-32, and the encoded surrogates (CESU-8)
        # that json.loads(bytes) would let through.
        text = data.decode()
    except UnicodeDecodeError:
        msg = (
            "The request body is not valid JSON: it is not UTF-8 text, which "
            "RFC 8259 requires; send it as UTF-8."
        )
        raise BadRequest(msg) from None
    if text[:1] == "\ufeff":
        # RFC 8259 lets a parser ignore a byte order mark.
        text = text[1:]
    try:
        loaded = app.json.loads(text)
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


# A \uD800-\uDFFF escape. From UTF-8 text, only such an escape makes a
# surrogate, which the parser accepts alone although the text it makes cannot
# be encoded (a database driver then fails with a 500). Only bodies that have
# one are searched, and pairs are fine.
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value: Any) -> bool:
    """
    Whether a loaded JSON value holds a string with an unpaired surrogate.

    The walk keeps its own stack, not Python's: any depth the parser accepts
    is searched without a RecursionError.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item) is not None:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _form_loader(
    schema: Schema, unknown: Unknown, *, required: bool, files: bool
) -> Callable[[], Any]:
    accepted = _MULTIPART if files else _FORM_TYPES
    read_fields = _from_multidict(schema, unknown)
    check_lengths = _length_checks(schema, "files" if files else "form")

    def read() -> Any:
        req = _cv_request.get().request
        mimetype = req.mimetype
        if not mimetype and not _has_body():
            return _absent(required=required)
        if mimetype not in accepted:
            raise UnsupportedContentTypeError(accepted, mimetype)
        limit = body_limit(_cv_app.get().app)
        if limit is not None:
            _bound(req, limit)
        data = read_fields(req.files if files else req.form)
        if check_lengths is not None:
            check_lengths(data)
        return data

    return read


def loader_for(
    location: str, schema: Schema, unknown: Unknown, *, required: bool
) -> Callable[[], Any]:
    """
    Return a function that reads *location* of the current request into the
    data that *schema* loads.

    Raises (from the returned function):
        RequestBodyError: A required body is missing.

        BodyTooLargeError: The body is larger than :func:`body_limit`.

        RequestValidationError: A list is longer than its field's
            ``Length`` validator allows (checked before its items).

        UnsupportedContentTypeError: The body's content type is not one the
            location accepts.

        werkzeug.exceptions.BadRequest: The JSON body does not parse.
    """
    if location == "json":
        return _json_loader(schema, required)
    if location in ("form", "files"):
        return _form_loader(
            schema, unknown, required=required, files=location == "files"
        )
    if location == "query":
        read_query = _from_multidict(schema, unknown)
        check_query = _length_checks(schema, "query")
        if check_query is None:
            return lambda: read_query(request.args)

        def read_checked() -> dict[str, Any]:
            data = read_query(request.args)
            check_query(data)
            return data

        return read_checked
    if location == "headers":
        return _from_headers(schema, unknown)
    # "path": the URL variables, handed over by the caller.
    return dict
