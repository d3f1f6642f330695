"""Tests for flask_servicecbv.rest.pagination: pages, metadata and links."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from marshmallow import Schema, ValidationError

from flask_servicecbv.exceptions import RequestValidationError, RestDeclarationError
from flask_servicecbv.rest import (
    MAX_PAGE,
    Page,
    PageMetaSchema,
    Pagination,
    QueryInteger,
)
from flask_servicecbv.rest.pagination import (
    MAX_CURSOR_LENGTH,
    CursorMetaSchema,
    CursorPage,
    CursorPagination,
    decode_cursor,
    encode_cursor,
)


@pytest.fixture(name="query")
def _query():
    """
    A query schema with the fields of Pagination(default=10, maximum=50).
    """
    return Schema.from_dict(Pagination(10, 50).fields())()


class TestQueryInteger:
    @pytest.mark.parametrize(("raw", "value"), [("3", 3), ("007", 7), (4, 4)])
    def test_digits(self, raw, value):
        """
        ASCII digits (or an int) load as an integer.
        """
        assert QueryInteger().deserialize(raw) == value

    @pytest.mark.parametrize(
        "raw", ["+3", " 3", "3 ", "3\n", "3_000", "٣", "-1", "1.0", "", "1" * 20]
    )
    def test_refused(self, raw):
        """
        Signs, spaces, underscores, other digits and over 19 digits are refused.
        """
        with pytest.raises(ValidationError, match="Not a valid integer"):
            QueryInteger().deserialize(raw)


class TestPagination:
    def test_defaults(self, query):
        """
        Without arguments, page 1 of the default size.
        """
        assert Pagination(10, 50).page_of(query.load({})) == Page(1, 10)

    def test_page_of_leaves_filters(self, query):
        """
        page_of() takes the page out and leaves the other arguments.
        """
        loaded = {**query.load({"page": "2", "per_page": "50"}), "tag": "a"}

        assert Pagination().page_of(loaded) == Page(2, 50)
        assert loaded == {"tag": "a"}

    @pytest.mark.parametrize(
        "args",
        [
            {"page": "0"},
            {"page": "-1"},
            {"page": "x"},
            {"page": str(MAX_PAGE + 1)},
            {"per_page": "0"},
            {"per_page": "51"},
        ],
    )
    def test_out_of_bounds(self, query, args):
        """
        A page or size that is not positive, or over its maximum, is refused.
        """
        with pytest.raises(ValidationError, match=next(iter(args))):
            query.load(args)

    def test_bounds(self, query):
        """
        The largest page and size are accepted.
        """
        loaded = query.load({"page": str(MAX_PAGE), "per_page": "50"})

        assert loaded == {"page": MAX_PAGE, "per_page": 50}

    @pytest.mark.parametrize(("default", "maximum"), [(0, 10), (11, 10), (-1, -1)])
    def test_bad_sizes(self, default, maximum):
        """
        The default must be positive and at most the maximum.
        """
        with pytest.raises(RestDeclarationError, match="use 1 <= default <= maximum"):
            Pagination(default, maximum)

    def test_repr(self):
        """
        The repr shows the sizes.
        """
        assert repr(Pagination(5, 9)) == "Pagination(default=5, maximum=9)"


class TestPage:
    @pytest.mark.parametrize(
        ("page", "offset"), [(Page(1, 10), 0), (Page(3, 10), 20), (Page(2, 7), 7)]
    )
    def test_offset(self, page, offset):
        """
        The offset counts the items of the pages before.
        """
        assert page.offset == offset

    @pytest.mark.parametrize(("total", "pages"), [(0, 1), (1, 1), (10, 1), (11, 2)])
    def test_meta(self, total, pages):
        """
        The metadata counts pages, at least one.
        """
        meta = Page(1, 10).meta(total)

        assert meta == {"page": 1, "per_page": 10, "total": total, "pages": pages}
        assert PageMetaSchema().validate(meta) == {}

    def test_links_middle(self, app):
        """
        A middle page links to first, last, prev and next, keeping the query.
        """
        with app.test_request_context("/items?tag=a&tag=b&page=2&per_page=5") as ctx:
            links = Page(2, 5).links(12, ctx.request)

        base = "http://localhost/items?tag=a&tag=b"
        assert links == (
            f'<{base}&page=1&per_page=5>; rel="first", '
            f'<{base}&page=3&per_page=5>; rel="last", '
            f'<{base}&page=1&per_page=5>; rel="prev", '
            f'<{base}&page=3&per_page=5>; rel="next"'
        )

    def test_links_only_page(self, app):
        """
        The only page has neither prev nor next.
        """
        with app.test_request_context("/items") as ctx:
            links = Page(1, 5).links(0, ctx.request)

        assert links == (
            '<http://localhost/items?per_page=5&page=1>; rel="first", '
            '<http://localhost/items?per_page=5&page=1>; rel="last"'
        )

    def test_links_past_the_end(self, app):
        """
        A page past the end links back to the last page as prev.
        """
        with app.test_request_context("/items?page=9") as ctx:
            links = Page(9, 5).links(6, ctx.request)

        assert 'page=2&per_page=5>; rel="prev"' in links
        assert 'rel="next"' not in links


class TestCursorCodec:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), dt.datetime),
            (dt.date(2024, 1, 2), dt.date),
            (Decimal("1.50"), Decimal),
            (uuid.UUID(int=5), uuid.UUID),
            ("text", str),
            (3, int),
            (True, bool),
        ],
    )
    def test_round_trip(self, value, expected):
        """
        Sort key values come back as they went, checked by type.
        """
        cursor = encode_cursor(["k", "id"], [value, 1])

        assert decode_cursor(cursor, ["k", "id"], [expected, int]) == (value, 1)
        assert cursor.replace("-", "").replace("_", "").isalnum()

    def test_int_as_float(self):
        """
        An integer is a float where the key holds floats.
        """
        [value] = decode_cursor(encode_cursor(["k"], [3]), ["k"], [float])
        assert value == 3.0
        assert isinstance(value, float)

    def test_any_type(self):
        """
        Without types, any scalar comes back; None only when nullable.
        """
        cursor = encode_cursor(["a", "b"], [None, "x"])

        assert decode_cursor(cursor, ["a", "b"], nullable=True) == (None, "x")
        with pytest.raises(RequestValidationError, match="input is not valid"):
            decode_cursor(cursor, ["a", "b"])

    @pytest.mark.parametrize(
        "payload",
        [
            "not json",
            "3",
            '[["k"], [1, 2]]',
            '[["k"], ["1"]]',
            '[["k"], [true]]',
            '[["k"], [["x"]]]',
            '[["k"], [{"zz": "x"}]]',
            '[["k"], [{"dt": 3}]]',
            '[["k"], [{"dt": "x", "d": "y"}]]',
            '[["k"], [{"u": "x"}]]',
            '[["k"], [{"n": "x"}]]',
            '[["j"], [1]]',
        ],
    )
    def test_garbage(self, payload):
        """
        Anything but a cursor of this order with values of these types is a
        422 under query.after.
        """
        cursor = base64.urlsafe_b64encode(payload.encode()).decode()
        with pytest.raises(RequestValidationError) as raised:
            decode_cursor(cursor, ["k"], [int])
        assert raised.value.messages == {
            "query": {
                "after": [
                    (
                        "Not a cursor of this listing in this order; start again "
                        "from the first page."
                    )
                ]
            }
        }

    @pytest.mark.parametrize(
        "cursor",
        ["!!!", "\u00e9t\u00e9", "A" * (MAX_CURSOR_LENGTH + 1), "__7-"],
    )
    def test_not_a_cursor(self, cursor):
        """
        Text that is not base64url of UTF-8, or is too long, is a 422.
        """
        with pytest.raises(RequestValidationError, match="input is not valid"):
            decode_cursor(cursor, ["k"])


class TestCursorPagination:
    def test_fields_and_page(self):
        """
        The query has after and per_page; page_of takes them out.
        """
        schema = Schema.from_dict(CursorPagination(3, 9).fields())()
        loaded = {**schema.load({"after": "abc_-1"}), "tag": "a"}

        assert CursorPagination().page_of(loaded) == CursorPage("abc_-1", 3)
        assert loaded == {"tag": "a"}
        assert CursorPagination().page_of({"per_page": 2}) == CursorPage(None, 2)

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            ({"after": "a b"}, "String does not match expected pattern."),
            ({"after": "a" * (MAX_CURSOR_LENGTH + 1)}, "Length must be between 1"),
            ({"after": ""}, "Length must be between 1"),
            ({"per_page": "10"}, "Must be greater than or equal to 1"),
        ],
    )
    def test_refused(self, args, message):
        """
        A cursor of other characters, empty or too long, or a size over the
        maximum is refused.
        """
        schema = Schema.from_dict(CursorPagination(3, 9).fields())()
        with pytest.raises(ValidationError, match=message):
            schema.load(args)

    def test_bad_sizes(self):
        """
        The sizes are checked as for Pagination, naming the class.
        """
        with pytest.raises(
            RestDeclarationError, match=r"^CursorPagination\(default=0, maximum=1\)"
        ):
            CursorPagination(0, 1)

    def test_repr(self):
        """
        The repr names the class and shows the sizes.
        """
        assert repr(CursorPagination(5, 9)) == "CursorPagination(default=5, maximum=9)"

    def test_meta(self):
        """
        The meta has the size and the next cursor, without totals.
        """
        meta = CursorPage(None, 5).meta("abc")

        assert meta == {"per_page": 5, "next": "abc"}
        assert CursorMetaSchema().validate({"per_page": 5, "next": None}) == {}

    def test_links(self, app):
        """
        The links keep the query but the cursor: first always, next when
        there is one.
        """
        with app.test_request_context("/items?tag=a&after=old&per_page=5") as ctx:
            links = CursorPage("old", 5).links("new", ctx.request)
            last = CursorPage("old", 5).links(None, ctx.request)

        base = "http://localhost/items?tag=a&per_page=5"
        assert links == f'<{base}>; rel="first", <{base}&after=new>; rel="next"'
        assert last == f'<{base}>; rel="first"'
