"""Pages by number or by cursor, their metadata in the body, and RFC 8288 links."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, Final
from urllib.parse import urlencode

from marshmallow import Schema, fields, validate

from flask_servicecbv.exceptions import RequestValidationError, RestDeclarationError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from flask import Request

__all__ = [
    "CURSOR_ARGUMENT",
    "MAX_CURSOR_LENGTH",
    "MAX_PAGE",
    "CursorMetaSchema",
    "CursorPage",
    "CursorPagination",
    "Page",
    "PageMetaSchema",
    "Pagination",
    "QueryInteger",
    "decode_cursor",
    "encode_cursor",
]

#: The highest page number accepted: offsets stay far below what databases
#: store in a 64-bit integer.
MAX_PAGE: Final = 2**31 - 1

_DIGITS = re.compile(r"[0-9]{1,19}")

#: The longest cursor that :func:`decode_cursor` reads; a longer one is
#: answered ``422`` without being read.
MAX_CURSOR_LENGTH: Final = 2048

#: The query argument that carries a cursor, and names it in a ``422``.
CURSOR_ARGUMENT: Final = "after"

# What a cursor is written with: base64url without padding.
_CURSOR_PATTERN: Final = "^[A-Za-z0-9_-]*$"


class QueryInteger(fields.Integer):
    """
    An integer sent as ASCII digits, as a query string carries it.

    Python's :class:`int` also reads ``"+3"``, ``" 3"``, ``"3_000"`` and other
    scripts' digits; an API that documents ``type: integer`` must not.
    """

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> Any:
        if isinstance(value, str) and not _DIGITS.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class PageMetaSchema(Schema):
    """The ``meta`` of a page: where it is among all the items."""

    page = fields.Integer(required=True, metadata={"description": "This page"})
    per_page = fields.Integer(required=True, metadata={"description": "Page size"})
    total = fields.Integer(required=True, metadata={"description": "Items in all"})
    pages = fields.Integer(required=True, metadata={"description": "Pages in all"})


@dataclass(frozen=True)
class Page:
    """
    One page of a listing, as requested.

    Args:
        page: The page number, from 1.

        per_page: The page size.
    """

    page: int
    per_page: int

    @property
    def offset(self) -> int:
        """How many items come before this page."""
        return (self.page - 1) * self.per_page

    def meta(self, total: int) -> dict[str, int]:
        """The page's metadata, for *total* items in all."""
        return {
            "page": self.page,
            "per_page": self.per_page,
            "total": total,
            "pages": max(1, -(-total // self.per_page)),
        }

    def links(self, total: int, request: Request) -> str:
        """
        The RFC 8288 ``Link`` header: ``first`` and ``last`` always, ``prev``
        and ``next`` where they exist, keeping the rest of the query.
        """
        last = self.meta(total)["pages"]
        rels = {"first": 1, "last": last}
        if self.page > 1:
            rels["prev"] = min(self.page - 1, last)
        if self.page < last:
            rels["next"] = self.page + 1
        args = request.args.to_dict(flat=False)
        args["per_page"] = [str(self.per_page)]
        base = request.base_url
        links = []
        for rel, number in rels.items():
            args["page"] = [str(number)]
            links.append(f'<{base}?{urlencode(args, doseq=True)}>; rel="{rel}"')
        return ", ".join(links)


class _Sizes:
    """
    The page sizes that a way of paging accepts.

    Raises:
        RestDeclarationError: *default* or *maximum* is not positive, or
            *default* is over *maximum*.
    """

    def __init__(self, default: int = 20, maximum: int = 100) -> None:
        if not 1 <= default <= maximum:
            msg = (
                f"{type(self).__name__}(default={default}, maximum={maximum}): "
                "use 1 <= default <= maximum."
            )
            raise RestDeclarationError(msg)
        self.default = default
        self.maximum = maximum

    def __repr__(self) -> str:
        return f"{type(self).__name__}(default={self.default}, maximum={self.maximum})"

    def fields_per_page(self) -> fields.Field[Any]:
        """The query field ``per_page``."""
        return QueryInteger(
            load_default=self.default,
            validate=validate.Range(min=1, max=self.maximum),
            metadata={"description": "Items per page."},
        )


class Pagination(_Sizes):
    """
    How a listing is paged: ``?page=`` (from 1) and ``?per_page=``.

    A page number or size that is not a positive integer, or is over its
    maximum, is answered with ``422``: never clamped.

    Args:
        default: The page size when ``per_page`` is not given.

        maximum: The largest ``per_page`` accepted.

    Raises:
        RestDeclarationError: *default* or *maximum* is not positive, or
            *default* is over *maximum*.
    """

    #: The schema of the page's ``meta``.
    META_SCHEMA: ClassVar[type[Schema]] = PageMetaSchema

    #: What the ``Link`` header holds, for the API description.
    LINKS: ClassVar[str] = "RFC 8288 links to other pages."

    def fields(self) -> dict[str, fields.Field[Any]]:
        """The query fields ``page`` and ``per_page``, to add to a schema."""
        return {
            "page": QueryInteger(
                load_default=1,
                validate=validate.Range(min=1, max=MAX_PAGE),
                metadata={"description": "The page number, from 1."},
            ),
            "per_page": self.fields_per_page(),
        }

    def page_of(self, query: dict[str, Any]) -> Page:
        """
        Take ``page`` and ``per_page`` out of *query* arguments loaded with
        a schema that has :meth:`fields`.
        """
        return Page(query.pop("page"), query.pop("per_page"))


# -- cursors -------------------------------------------------------------------


def _encode_value(value: Any) -> Any:
    """A sort key's value as JSON: tagged where JSON has no such type."""
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    return value


_TAGS: Final[dict[str, Callable[[str], Any]]] = {
    "dt": dt.datetime.fromisoformat,
    "d": dt.date.fromisoformat,
    "n": Decimal,
    "u": uuid.UUID,
}


def _tagged(value: dict[Any, Any]) -> Any:
    """A value that JSON has no type for, from its tagged form."""
    if len(value) != 1:
        raise ValueError(value)
    [(tag, text)] = value.items()
    if tag not in _TAGS or not isinstance(text, str):
        raise ValueError(value)
    return _TAGS[tag](text)


def _decode_value(value: Any, expected: type, *, nullable: bool = False) -> Any:
    """
    A sort key's value back from JSON, checked against *expected* (``object``
    when any scalar will do).

    Raises:
        ValueError: *value* is not of that type (``TypeError``), is a list,
            or is ``None`` and *nullable* is false.
    """
    if isinstance(value, dict):
        value = _tagged(value)
    elif value is None:
        if nullable:
            return None
        raise ValueError(value)
    elif isinstance(value, list):
        raise ValueError(value)
    if expected is object:
        return value
    if isinstance(value, bool) and expected is not bool:
        raise ValueError(value)
    if expected is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, expected):
        raise TypeError(value)
    return value


def encode_cursor(order: Sequence[str], values: Sequence[Any]) -> str:
    """
    Return the opaque cursor of an item whose sort keys in *order* (names,
    ``-`` before the descending ones) have *values*: base64url of JSON, with
    dates, decimals and UUIDs tagged.
    """
    payload = [list(order), [_encode_value(value) for value in values]]
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str,
    order: Sequence[str],
    types: Sequence[type] | None = None,
    *,
    nullable: bool = False,
) -> tuple[Any, ...]:
    """
    Return the sort key values that :func:`encode_cursor` put in *cursor*.

    Args:
        cursor: The cursor, as the client sent it.

        order: The order the listing is asked in, as the cursor must name it.

        types: The Python type of each key's values; any scalar when
            ``None``.

        nullable: Whether a value may be ``None``.

    Raises:
        RequestValidationError: (``422``, under ``query``, ``after``) the
            cursor is longer than :data:`MAX_CURSOR_LENGTH`, is not one that
            :func:`encode_cursor` made, was made for another order, or holds
            a value of another type.
    """
    message = (
        "Not a cursor of this listing in this order; start again from the first page."
    )
    invalid = RequestValidationError({"query": {CURSOR_ARGUMENT: [message]}})
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid
    expected = [object] * len(order) if types is None else list(types)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        spelled, values = json.loads(raw)
        if spelled != list(order) or len(values) != len(order):
            raise invalid
        return tuple(
            _decode_value(value, kind, nullable=nullable)
            for kind, value in zip(expected, values, strict=True)
        )
    except (
        binascii.Error,
        UnicodeDecodeError,
        TypeError,
        ValueError,
        InvalidOperation,
    ):
        raise invalid from None


class CursorMetaSchema(Schema):
    """The ``meta`` of a page by cursor: its size and the next page's cursor."""

    per_page = fields.Integer(required=True, metadata={"description": "Page size"})
    next = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": (
                "The cursor of the next page, to send as `after`; null on the "
                "last page."
            )
        },
    )


@dataclass(frozen=True)
class CursorPage:
    """
    One page of a listing by cursor, as requested.

    Args:
        after: The cursor of the item the page starts after; ``None`` for
            the first page.

        per_page: The page size.
    """

    after: str | None
    per_page: int

    def meta(self, next_cursor: str | None) -> dict[str, Any]:
        """The page's metadata, with the cursor of the next page, if any."""
        return {"per_page": self.per_page, "next": next_cursor}

    def links(self, next_cursor: str | None, request: Request) -> str:
        """
        The RFC 8288 ``Link`` header: ``first`` always, ``next`` when there
        is a next page, keeping the rest of the query.
        """
        args = request.args.to_dict(flat=False)
        args.pop(CURSOR_ARGUMENT, None)
        args["per_page"] = [str(self.per_page)]
        base = request.base_url
        links = [f'<{base}?{urlencode(args, doseq=True)}>; rel="first"']
        if next_cursor is not None:
            args[CURSOR_ARGUMENT] = [next_cursor]
            links.append(f'<{base}?{urlencode(args, doseq=True)}>; rel="next"')
        return ", ".join(links)


class CursorPagination(_Sizes):
    """
    How a listing is paged by keyset: ``?after=`` (a cursor from the previous
    page's ``meta.next`` or ``Link: rel="next"``) and ``?per_page=``.

    Each page costs the same however deep it is, and items inserted or
    deleted meanwhile never make a client miss or see twice an item that
    stays: the page starts after the last item seen, by its sort keys, not
    after a number of items.
    There are no page numbers and no totals (counting would cost what the
    cursor saves); ``meta.next`` is ``null`` on the last page.

    The repository's ``list()`` takes ``after=``, and it has a
    ``cursor_of(item, order)`` that makes the cursor of an item.

    Args:
        default: The page size when ``per_page`` is not given.

        maximum: The largest ``per_page`` accepted.

    Raises:
        RestDeclarationError: *default* or *maximum* is not positive, or
            *default* is over *maximum*.
    """

    #: The schema of the page's ``meta``.
    META_SCHEMA: ClassVar[type[Schema]] = CursorMetaSchema

    #: What the ``Link`` header holds, for the API description.
    LINKS: ClassVar[str] = (
        'RFC 8288 links to the first page, and to the next one (rel="next").'
    )

    def fields(self) -> dict[str, fields.Field[Any]]:
        """The query fields ``after`` and ``per_page``, to add to a schema."""
        return {
            CURSOR_ARGUMENT: fields.String(
                validate=[
                    validate.Length(min=1, max=MAX_CURSOR_LENGTH),
                    validate.Regexp(_CURSOR_PATTERN),
                ],
                metadata={
                    "description": (
                        "Start after the item of this cursor: the previous "
                        "page's meta.next. Leave it out for the first page."
                    )
                },
            ),
            "per_page": self.fields_per_page(),
        }

    def page_of(self, query: dict[str, Any]) -> CursorPage:
        """
        Take ``after`` and ``per_page`` out of *query* arguments loaded with
        a schema that has :meth:`fields`.
        """
        return CursorPage(query.pop(CURSOR_ARGUMENT, None), query.pop("per_page"))
