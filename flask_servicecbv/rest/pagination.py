"""Page numbers in the query, page metadata in the body, and RFC 8288 links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

from marshmallow import Schema, fields, validate

from flask_servicecbv.exceptions import RestDeclarationError

if TYPE_CHECKING:
    from flask import Request

__all__ = ["MAX_PAGE", "Page", "PageMetaSchema", "Pagination", "QueryInteger"]

#: The highest page number accepted: offsets stay far below what databases
#: store in a 64-bit integer.
MAX_PAGE: Final = 2**31 - 1

_DIGITS = re.compile(r"[0-9]{1,19}")


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


class Pagination:
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

    def __init__(self, default: int = 20, maximum: int = 100) -> None:
        if not 1 <= default <= maximum:
            msg = (
                f"Pagination(default={default}, maximum={maximum}): use "
                "1 <= default <= maximum."
            )
            raise RestDeclarationError(msg)
        self.default = default
        self.maximum = maximum

    def __repr__(self) -> str:
        return f"Pagination(default={self.default}, maximum={self.maximum})"

    def fields(self) -> dict[str, fields.Field[Any]]:
        """The query fields ``page`` and ``per_page``, to add to a schema."""
        return {
            "page": QueryInteger(
                load_default=1,
                validate=validate.Range(min=1, max=MAX_PAGE),
                metadata={"description": "The page number, from 1."},
            ),
            "per_page": QueryInteger(
                load_default=self.default,
                validate=validate.Range(min=1, max=self.maximum),
                metadata={"description": "Items per page."},
            ),
        }

    def page_of(self, query: dict[str, Any]) -> Page:
        """
        Take ``page`` and ``per_page`` out of *query* arguments loaded with
        a schema that has :meth:`fields`.
        """
        return Page(query.pop("page"), query.pop("per_page"))
