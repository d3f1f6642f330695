"""Tests for flask_servicecbv.rest.pagination: pages, metadata and links."""

from __future__ import annotations

import pytest
from marshmallow import Schema, ValidationError

from flask_servicecbv.exceptions import RestDeclarationError
from flask_servicecbv.rest import (
    MAX_PAGE,
    Page,
    PageMetaSchema,
    Pagination,
    QueryInteger,
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
