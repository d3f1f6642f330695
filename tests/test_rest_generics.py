"""Tests for flask_servicecbv.rest.generics: generic views over a repository."""

# Test views set `schema`, `FILTERS` and the other options as the docs show;
# ClassVar annotations on every test view would be noise.

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar
from unittest.mock import Mock

import pytest
from flask import Blueprint, abort
from marshmallow import Schema, ValidationError, fields
from werkzeug.exceptions import PreconditionFailed
from werkzeug.routing import ValidationError as RoutingValidationError

from flask_servicecbv import ServiceAttr, overwrite_value, register_value
from flask_servicecbv.exceptions import RequestValidationError, RestDeclarationError
from flask_servicecbv.rest import (
    MAX_ID,
    CollectionView,
    IdConverter,
    InMemoryRepository,
    ItemView,
    Pagination,
    ReadOnlyCollectionView,
    ReadOnlyItemView,
    Repository,
    RestView,
    json_errors,
    reads,
    returns,
)
from flask_servicecbv.rest.generics import (
    SortField,
    _Items,
    action,
    at_least,
    at_most,
    one_of,
    search,
)
from flask_servicecbv.rest.openapi import build_spec
from flask_servicecbv.rest.pagination import CursorPagination


class Bookmarks(InMemoryRepository):
    """The service key of the bookmark repository."""


class ReadOnly(Bookmarks):
    """A repository that refuses new items once filled."""

    def __init__(self, items):
        super().__init__(items)
        self.filled = True

    def create(self, data):
        if getattr(self, "filled", False):
            abort(403, "This repository is read-only.")
        return super().create(data)


class BookmarkSchema(Schema):
    """A bookmark: the id is never read, the note never sent."""

    id = fields.Integer(dump_only=True)
    title = fields.String(required=True)
    url = fields.String(required=True)
    tags = fields.List(fields.String())
    note = fields.String(load_only=True)


class TagFilter(Schema):
    """Filters of the listing: the bookmarks with a tag."""

    tags = fields.String()


class BookmarkList(CollectionView):
    """The bookmarks."""

    repository = ServiceAttr(Bookmarks)
    schema = BookmarkSchema
    FILTERS = TagFilter
    PAGINATION = Pagination(default=2, maximum=3)


class BookmarkItem(ItemView):
    """One bookmark."""

    repository = ServiceAttr(Bookmarks)
    schema = BookmarkSchema


def bookmark(n, *tags):
    """The data of bookmark *n*."""
    return {"title": f"b{n}", "url": f"https://e.com/{n}", "tags": list(tags)}


@pytest.fixture(name="repository")
def _repository():
    return Bookmarks([bookmark(1, "a"), bookmark(2), bookmark(3, "a", "b")])


@pytest.fixture(name="app")
def _app(app, repository):
    """
    An app serving BookmarkList at /bookmarks/ and BookmarkItem at
    /bookmarks/<id:item_id>.
    """
    json_errors(app)
    app.url_map.converters["id"] = IdConverter
    register_value(app, Bookmarks, repository)
    app.add_url_rule("/bookmarks/", view_func=BookmarkList.as_view("bookmarks"))
    app.add_url_rule(
        "/bookmarks/<id:item_id>", view_func=BookmarkItem.as_view("bookmark")
    )
    return app


def listed(n, *tags):
    """Bookmark *n* as the API sends it."""
    return {"id": n, **bookmark(n, *tags)}


class TestList:
    def test_page_dumped_in_one_call(self):
        """
        A page's items are dumped by one call of the item schema, to the
        same data as one call per item; no items dump to None.
        """

        class Item(Schema):
            name = fields.String()

        calls = []

        class Counted(Item):
            def dump(self, obj, *, many=None):
                calls.append(many)
                return super().dump(obj, many=many)

        items = [{"name": "a"}, {"name": "b"}, {"name": "c"}]
        field = _Items(fields.Nested(Counted()))

        assert field.serialize("items", {"items": items}) == Item(many=True).dump(items)
        assert calls == [True]
        assert field.serialize("items", {"items": None}) is None

    def test_first_page(self, client):
        """
        The listing's first page has the default size, metadata and links.
        """
        response = client.get("/bookmarks/")

        assert response.json == {
            "items": [listed(1, "a"), listed(2)],
            "meta": {"page": 1, "per_page": 2, "total": 3, "pages": 2},
        }
        assert response.headers["Link"] == (
            '<http://localhost/bookmarks/?per_page=2&page=1>; rel="first", '
            '<http://localhost/bookmarks/?per_page=2&page=2>; rel="last", '
            '<http://localhost/bookmarks/?per_page=2&page=2>; rel="next"'
        )

    def test_other_page(self, client):
        """
        `page` and `per_page` choose the page; Link has first, last, prev
        and next.
        """
        response = client.get("/bookmarks/?page=2&per_page=1")

        url = "http://localhost/bookmarks/?page={}&per_page=1"
        assert response.headers["Link"] == (
            f'<{url.format(1)}>; rel="first", <{url.format(3)}>; rel="last", '
            f'<{url.format(1)}>; rel="prev", <{url.format(3)}>; rel="next"'
        )
        assert response.json["items"] == [listed(2)]
        assert response.json["meta"] == {
            "page": 2,
            "per_page": 1,
            "total": 3,
            "pages": 3,
        }

    def test_past_the_end(self, client, repository, monkeypatch):
        """
        A page past the end is empty, and the repository is not asked for it.
        """
        monkeypatch.setattr(repository, "list", None)

        response = client.get("/bookmarks/?page=5")

        assert response.json["items"] == []
        assert response.json["meta"]["total"] == 3

    def test_maximum(self, client):
        """
        The maximum page size is accepted.
        """
        assert len(client.get("/bookmarks/?per_page=3").json["items"]) == 3

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("page", "0"),
            ("page", "-1"),
            ("page", "x"),
            ("page", "+3"),
            ("page", "%203"),
            ("page", "%D9%A3"),
            ("page", "1.5"),
            ("per_page", "0"),
            ("per_page", "4"),
            ("per_page", "-2"),
        ],
    )
    def test_bad_page(self, client, name, value):
        """
        A page or size that is not a positive ASCII integer, or over the
        maximum, is answered with 422 naming the argument.
        """
        response = client.get(f"/bookmarks/?{name}={value}")

        assert response.status_code == 422
        assert list(response.json["errors"]["query"]) == [name]

    def test_filter(self, client):
        """
        A FILTERS schema filters the listing, and links keep the filter.
        """
        response = client.get("/bookmarks/?tags=a&per_page=1")

        assert response.json["items"] == [listed(1, "a")]
        assert response.json["meta"]["total"] == 2
        assert 'tags=a&per_page=1&page=2>; rel="next"' in response.headers["Link"]

    def test_unknown_argument(self, client):
        """
        Query arguments that FILTERS does not declare are left out.
        """
        assert client.get("/bookmarks/?other=1").json["meta"]["total"] == 3

    def test_etag(self, client):
        """
        The listing has an ETag; If-None-Match answers 304 with it.
        """
        etag = client.get("/bookmarks/").headers["ETag"]

        response = client.get("/bookmarks/", headers={"If-None-Match": etag})

        assert response.status_code == 304
        assert response.headers["ETag"] == etag
        client.post("/bookmarks/", json=bookmark(4))
        assert (
            client.get("/bookmarks/", headers={"If-None-Match": etag}).status_code
            == 200
        )

    def test_without_filters(self, app, client):
        """
        A listing without FILTERS ignores other query arguments.
        """

        class All(CollectionView):
            repository = ServiceAttr(Bookmarks)
            schema = BookmarkSchema

        app.add_url_rule("/all/", view_func=All.as_view("all"))

        response = client.get("/all/?tags=a")

        assert response.json["meta"] == {
            "page": 1,
            "per_page": 20,
            "total": 3,
            "pages": 1,
        }


class TestCreate:
    def test_created(self, client):
        """
        POST creates an item: 201, the item, and its Location.
        """
        response = client.post("/bookmarks/", json={**bookmark(4), "note": "n"})

        assert response.status_code == 201
        assert response.json == listed(4)
        assert response.headers["Location"] == "/bookmarks/4"
        assert client.get("/bookmarks/4").json == listed(4)

    def test_mounted(self, client):
        """
        Location keeps the prefix the app is mounted under.
        """
        response = client.post(
            "/bookmarks/", json=bookmark(4), base_url="http://localhost/app"
        )

        assert response.headers["Location"] == "/app/bookmarks/4"

    def test_item_endpoint(self, app, client):
        """
        With ITEM_ENDPOINT, Location is built with url_for.
        """

        class Elsewhere(CollectionView):
            repository = ServiceAttr(Bookmarks)
            schema = BookmarkSchema
            ITEM_ENDPOINT = "bookmark"

        app.add_url_rule("/other", view_func=Elsewhere.as_view("other"))

        response = client.post("/other", json=bookmark(4))

        assert response.headers["Location"] == "/bookmarks/4"

    def test_object_items(self, app, client):
        """
        Location reads the id of an item that is an object, not a mapping.
        """

        class Obj:
            def __init__(self, data):
                self.__dict__.update(data, id=9)

        class Objects(CollectionView):
            repository = ServiceAttr(Bookmarks)
            schema = BookmarkSchema

            def create_item(self, data):
                return Obj(data)

        app.add_url_rule("/objects/", view_func=Objects.as_view("objects"))

        response = client.post("/objects/", json=bookmark(4))

        assert response.headers["Location"] == "/objects/9"
        assert response.json["id"] == 9

    def test_dump_only_refused(self, client):
        """
        A body may not set a dump_only field.
        """
        response = client.post("/bookmarks/", json={**bookmark(4), "id": 1})

        assert response.status_code == 422
        assert response.json["errors"] == {"json": {"id": ["Unknown field."]}}

    def test_invalid(self, client):
        """
        A body missing required fields is answered with 422.
        """
        response = client.post("/bookmarks/", json={"title": "t"})

        assert response.json["errors"] == {
            "json": {"url": ["Missing data for required field."]}
        }

    def test_customised(self, app, client, repository):
        """
        Overriding create_item changes how items are made, and only that.
        """

        class Stamped(CollectionView):
            repository = ServiceAttr(Bookmarks)
            schema = BookmarkSchema

            def create_item(self, data):
                return super().create_item({**data, "tags": ["stamped"]})

        app.add_url_rule("/stamped/", view_func=Stamped.as_view("stamped"))

        response = client.post("/stamped/", json=bookmark(4))

        assert response.status_code == 201
        assert response.json == listed(4, "stamped")
        assert repository.get(4)["tags"] == ["stamped"]


class TestRetrieve:
    def test_found(self, client):
        """
        GET returns the item, without load_only fields, with an ETag.
        """
        client.post("/bookmarks/", json={**bookmark(4), "note": "private"})

        response = client.get("/bookmarks/4")

        assert response.json == listed(4)
        assert "ETag" in response.headers

    def test_missing(self, client):
        """
        A missing item is a 404 naming it.
        """
        response = client.get("/bookmarks/99")

        assert response.status_code == 404
        assert response.json["message"] == "There is no item 99."

    def test_not_modified(self, client):
        """
        A matching If-None-Match is a 304 with the ETag.
        """
        etag = client.get("/bookmarks/1").headers["ETag"]

        response = client.get("/bookmarks/1", headers={"If-None-Match": f"W/{etag}"})

        assert response.status_code == 304
        assert response.headers["ETag"] == etag


class TestUpdate:
    def test_put(self, client):
        """
        PUT replaces the item.
        """
        response = client.put("/bookmarks/1", json=bookmark(9))

        assert response.json == {**listed(9), "id": 1}
        assert client.get("/bookmarks/1").json == {**listed(9), "id": 1}

    def test_put_requires_every_field(self, client):
        """
        PUT requires every required field.
        """
        response = client.put("/bookmarks/1", json={"title": "t"})

        assert response.status_code == 422
        assert response.json["errors"] == {
            "json": {"url": ["Missing data for required field."]}
        }

    def test_patch(self, client):
        """
        PATCH changes the fields it sends.
        """
        response = client.patch("/bookmarks/1", json={"title": "new"})

        assert response.json == {**listed(1, "a"), "title": "new"}

    def test_patch_text_plain(self, client):
        """
        A PATCH sent as text/plain is refused with 415 and changes nothing.
        """
        response = client.patch(
            "/bookmarks/1", data='{"title": "lost"}', content_type="text/plain"
        )

        assert response.status_code == 415
        assert response.headers["Accept-Patch"] == "application/json"
        assert client.get("/bookmarks/1").json == listed(1, "a")

    @pytest.mark.parametrize("method", ["put", "patch"])
    def test_missing(self, client, method):
        """
        Updating a missing item is a 404.
        """
        response = getattr(client, method)("/bookmarks/99", json=bookmark(9))

        assert response.status_code == 404

    def test_deleted_meanwhile(self, app, client, repository, monkeypatch):
        """
        An item deleted between the check and the update is a 404.
        """
        monkeypatch.setattr(repository, "update", lambda *_, **__: None)

        assert client.patch("/bookmarks/1", json={"title": "x"}).status_code == 404

    def test_if_match(self, client):
        """
        PUT with the current ETag in If-Match succeeds, and sends the new ETag.
        """
        etag = client.get("/bookmarks/1").headers["ETag"]

        response = client.put(
            "/bookmarks/1", json=bookmark(9), headers={"If-Match": etag}
        )

        assert response.status_code == 200
        assert response.headers["ETag"] == client.get("/bookmarks/1").headers["ETag"]
        assert response.headers["ETag"] != etag

    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    def test_stale(self, client, method):
        """
        An If-Match with an old ETag is a 412, and nothing changes.
        """
        etag = client.get("/bookmarks/1").headers["ETag"]
        client.patch("/bookmarks/1", json={"title": "changed"})

        response = getattr(client, method)(
            "/bookmarks/1", json=bookmark(9), headers={"If-Match": etag}
        )

        assert response.status_code == 412
        assert client.get("/bookmarks/1").json["title"] == "changed"

    def test_weak_never_matches(self, client):
        """
        If-Match uses the strong comparison: the current ETag, weak, is a 412.
        """
        etag = client.get("/bookmarks/1").headers["ETag"]

        response = client.patch(
            "/bookmarks/1", json={"title": "x"}, headers={"If-Match": f"W/{etag}"}
        )

        assert response.status_code == 412

    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    def test_required(self, app, client, method):
        """
        With REQUIRE_IF_MATCH, a change without If-Match is a 428, and one
        with it succeeds.
        """

        class Strict(BookmarkItem):
            REQUIRE_IF_MATCH = True

        app.add_url_rule("/strict/<id:item_id>", view_func=Strict.as_view("strict"))

        response = getattr(client, method)("/strict/1", json=bookmark(9))

        assert response.status_code == 428
        etag = client.get("/strict/1").headers["ETag"]
        response = getattr(client, method)(
            "/strict/1", json=bookmark(9), headers={"If-Match": etag}
        )
        assert response.status_code in (200, 204)


class TestDelete:
    def test_deleted(self, client):
        """
        DELETE is a 204 without a body, then GET is a 404.
        """
        response = client.delete("/bookmarks/1")

        assert response.status_code == 204
        assert response.data == b""
        assert client.get("/bookmarks/1").status_code == 404

    def test_missing(self, client):
        """
        Deleting a missing item is a 404.
        """
        assert client.delete("/bookmarks/99").status_code == 404

    def test_deleted_meanwhile(self, client, repository, monkeypatch):
        """
        An item deleted between the check and the deletion is a 404.
        """
        monkeypatch.setattr(repository, "delete", lambda _: False)

        assert client.delete("/bookmarks/1").status_code == 404


class TestRepositoryService:
    def test_overwrite_value(self, app, client):
        """
        overwrite_value swaps the repository under the generic views.
        """
        with app.app_context():
            overwrite_value(Bookmarks, Bookmarks([bookmark(7)]))

        assert client.get("/bookmarks/").json["items"] == [{**listed(7), "id": 1}]

    def test_blueprint_repository(self, app, client):
        """
        A read-only repository registered on a blueprint serves that
        blueprint's views; the app's views keep the app's.
        """
        public = Blueprint("public", __name__, url_prefix="/public")
        register_value(public, Bookmarks, ReadOnly([bookmark(5)]))
        public.add_url_rule("/bookmarks/", view_func=BookmarkList.as_view("list"))
        app.register_blueprint(public)

        assert client.get("/public/bookmarks/").json["meta"]["total"] == 1
        response = client.post("/public/bookmarks/", json=bookmark(6))
        assert response.status_code == 403
        assert response.json["message"] == "This repository is read-only."
        assert client.get("/bookmarks/").json["meta"]["total"] == 3


class TestDeclarations:
    def test_plans(self):
        """
        The generic views have the plans of their methods.
        """
        assert set(BookmarkList.rest_plans) == {"get", "post"}
        assert set(BookmarkItem.rest_plans) == {"get", "put", "patch", "delete"}
        assert BookmarkList.rest_plans["post"].output.status == 201
        assert BookmarkItem.rest_plans["patch"].inputs[0].partial is True
        assert BookmarkItem.rest_plans["put"].inputs[0].partial is False
        assert BookmarkItem.rest_plans["delete"].output.schema is None

    def test_schema_built_once(self):
        """
        A schema class is instantiated once per view class, and shared by
        its plans.
        """
        schemas = {
            id(plan.output.schema)
            for name, plan in BookmarkItem.rest_plans.items()
            if name != "delete"
        }

        assert len(schemas) == 1
        assert BookmarkItem.rest_plans["put"].inputs[0].schema is (
            BookmarkItem.rest_plans["get"].output.schema
        )

    def test_lookup(self, app, client):
        """
        LOOKUP names the URL variable of the id, and ID_FIELD the item's id
        for Location.
        """

        class Keyed(Schema):
            key = fields.Integer(dump_only=True)
            title = fields.String()

        class KeyedBookmarks(InMemoryRepository):
            def create(self, data):
                item = super().create(data)
                return {"key": item.pop("id"), **item}

        class KeyedList(CollectionView):
            repository = ServiceAttr(KeyedBookmarks)
            schema = Keyed
            ID_FIELD = "key"
            ITEM_ENDPOINT = "keyed"
            LOOKUP = "key"

        class KeyedItem(ItemView):
            repository = ServiceAttr(KeyedBookmarks)
            schema = Keyed
            LOOKUP = "key"

        register_value(app, KeyedBookmarks, KeyedBookmarks())
        app.add_url_rule("/keyed/", view_func=KeyedList.as_view("keyeds"))
        app.add_url_rule("/keyed/<id:key>", view_func=KeyedItem.as_view("keyed"))

        response = client.post("/keyed/", json={"title": "t"})

        assert response.json == {"key": 1, "title": "t"}
        assert response.headers["Location"] == "/keyed/1"
        assert client.get("/keyed/1").json["title"] == "t"
        assert client.delete("/keyed/1").status_code == 204

    def test_subclass_schema(self, app, client):
        """
        A subclass with another schema gets its own plans; the parent's are
        unchanged.
        """

        class Short(Schema):
            id = fields.Integer(dump_only=True)
            title = fields.String(required=True)

        class ShortItem(BookmarkItem):
            schema = Short

        app.add_url_rule("/short/<id:item_id>", view_func=ShortItem.as_view("short"))

        assert client.get("/short/1").json == {"id": 1, "title": "b1"}
        assert client.get("/bookmarks/1").json == listed(1, "a")
        assert isinstance(ShortItem.rest_plans["get"].output.schema, Short)
        assert isinstance(BookmarkItem.rest_plans["get"].output.schema, BookmarkSchema)

    def test_subclass_same_schema(self):
        """
        A subclass without its own schema builds its own instance once.
        """

        class Again(BookmarkItem):
            pass

        schema = Again.rest_plans["get"].output.schema
        assert isinstance(schema, BookmarkSchema)
        assert Again.rest_plans["put"].inputs[0].schema is schema

    def test_schema_instance(self, app, client):
        """
        A schema instance is used as it is, for loading and dumping.
        """

        class Titles(CollectionView):
            repository = ServiceAttr(Bookmarks)

        class Named(Titles):
            schema = BookmarkSchema(only=["id", "title"])

        app.add_url_rule("/named/", view_func=Named.as_view("named"))

        assert Named.rest_plans["post"].inputs[0].schema is Named.schema
        assert Named.rest_plans["post"].output.schema is Named.schema
        assert client.get("/named/?per_page=1").json["items"] == [
            {"id": 1, "title": "b1"}
        ]
        response = client.post("/named/", json={"title": "t", "url": "u"})
        assert response.json["errors"] == {"json": {"url": ["Unknown field."]}}

    def test_no_schema(self, app, client):
        """
        A generic view without a schema says so when it is requested.
        """

        class Unset(CollectionView):
            repository = ServiceAttr(Bookmarks)

        app.add_url_rule("/unset/", view_func=Unset.as_view("unset"))

        assert Unset.rest_plans == {}
        with pytest.raises(
            RestDeclarationError, match=r"Unset\.get serves nothing: .* set `schema"
        ):
            client.get("/unset/")

    @pytest.mark.parametrize("value", [dict, {"title": "x"}, 42])
    def test_bad_schema(self, value):
        """
        A schema that is not a marshmallow schema is refused when the class
        is created.
        """
        with pytest.raises(RestDeclarationError, match=r"\.schema must be a marsh"):

            class Bad(ItemView):
                repository = ServiceAttr(Bookmarks)
                schema = value


class TestIdConverter:
    @pytest.mark.parametrize("raw", ["1", str(MAX_ID), "42"])
    def test_matches(self, client, raw):
        """
        Ids from 1 to MAX_ID reach the view.
        """
        response = client.get(f"/bookmarks/{raw}")

        assert response.status_code in (200, 404)
        if raw != "1":
            assert response.json["message"] == f"There is no item {raw}."

    @pytest.mark.parametrize(
        "raw", ["0", "01", "-1", "x", "%D9%A3", str(MAX_ID + 1), "9" * 20, "1.0"]
    )
    def test_not_found(self, client, raw):
        """
        Anything else is a 404 from routing.
        """
        response = client.get(f"/bookmarks/{raw}")

        assert response.status_code == 404
        assert response.json["message"].startswith("The requested URL")

    def test_to_url(self, app):
        """
        url_for writes the id as digits.
        """
        with app.test_request_context():
            from flask import url_for  # noqa: PLC0415 -- used here only

            assert url_for("bookmark", item_id=12) == "/bookmarks/12"

    def test_to_python_bound(self, app):
        """
        to_python refuses an id over MAX_ID.
        """
        converter = IdConverter(app.url_map)

        assert converter.to_python("5") == 5
        with pytest.raises(RoutingValidationError, match=r"^$"):
            converter.to_python(str(MAX_ID + 1))


class TestInMemoryRepository:
    def test_protocol(self):
        """
        InMemoryRepository satisfies the runtime-checkable Repository.
        """
        assert isinstance(InMemoryRepository(), Repository)
        assert not isinstance(object(), Repository)

    def test_create_and_get(self):
        """
        Ids count from 1; get returns copies.
        """
        repo = InMemoryRepository([{"a": 1}])

        created = repo.create({"a": 2})

        assert created == {"a": 2, "id": 2}
        assert repo.get(2) == created
        repo.get(2)["a"] = 99
        assert repo.get(2)["a"] == 2
        assert repo.get(3) is None

    def test_list_and_count(self):
        """
        list pages in creation order; count counts.
        """
        repo = InMemoryRepository([{"n": n} for n in range(5)])

        assert [i["n"] for i in repo.list(offset=1, limit=2, filters={})] == [1, 2]
        assert repo.count(filters={}) == 5

    def test_filters(self):
        """
        A filter selects equal values, or lists that contain it.
        """
        repo = InMemoryRepository(
            [{"t": "a", "tags": ["x"]}, {"t": "b", "tags": ["x", "y"]}, {"t": "a"}]
        )

        assert repo.count(filters={"t": "a"}) == 2
        assert repo.count(filters={"tags": "y"}) == 1
        assert repo.count(filters={"t": "a", "tags": "x"}) == 1
        assert repo.list(offset=0, limit=9, filters={"t": "c"}) == []

    def test_update(self):
        """
        A partial update merges; a full one replaces and keeps the id.
        """
        repo = InMemoryRepository([{"a": 1, "b": 2}])

        assert repo.update(1, {"a": 3}, partial=True) == {"a": 3, "b": 2, "id": 1}
        assert repo.update(1, {"c": 4}, partial=False) == {"c": 4, "id": 1}
        assert repo.update(2, {"c": 4}, partial=True) is None

    def test_delete(self):
        """
        delete says whether there was an item.
        """
        repo = InMemoryRepository([{"a": 1}])

        assert repo.delete(1) is True
        assert repo.delete(1) is False
        assert repo.get(1) is None

    def test_repr(self):
        """
        The repr counts the items.
        """
        assert repr(InMemoryRepository([{}, {}])) == "<InMemoryRepository: 2 items>"


def test_protocol_is_typed() -> None:
    """
    A Repository of a given item type is a generic alias.
    """
    alias: Any = Repository[dict]
    assert alias.__origin__ is Repository


class TestPreconditions:
    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    @pytest.mark.parametrize("header", ["*", "current", '"other", current'])
    def test_if_none_match_on_a_change(self, client, method, header):
        """
        If-None-Match on a change: `*` (the item exists) or its current tag
        is a 412, and nothing changes (RFC 9110, 13.1.2).
        """
        etag = client.get("/bookmarks/1").headers["ETag"]
        value = header.replace("current", etag)

        response = getattr(client, method)(
            "/bookmarks/1", json=bookmark(9), headers={"If-None-Match": value}
        )

        assert response.status_code == 412
        assert response.json["message"] == (
            "The resource exists with a tag that If-None-Match names; it was "
            "not changed."
        )
        assert client.get("/bookmarks/1").json == listed(1, "a")

    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    def test_if_none_match_other_tag(self, client, method):
        """
        If-None-Match with another tag lets a change through.
        """
        response = getattr(client, method)(
            "/bookmarks/1", json=bookmark(9), headers={"If-None-Match": '"other"'}
        )

        assert response.status_code in (200, 204)

    def test_if_match_before_if_none_match(self, client):
        """
        If-Match is evaluated first: a matching If-Match with a matching
        If-None-Match is a 412 from the second; a stale one fails on the first.
        """
        etag = client.get("/bookmarks/1").headers["ETag"]

        both = {"If-Match": etag, "If-None-Match": etag}
        response = client.patch("/bookmarks/1", json={"title": "x"}, headers=both)
        assert response.status_code == 412
        assert "If-None-Match" in response.json["message"]

        stale = {"If-Match": '"stale"', "If-None-Match": etag}
        response = client.patch("/bookmarks/1", json={"title": "x"}, headers=stale)
        assert response.status_code == 412
        assert "If-Match does not match" in response.json["message"]

    @pytest.mark.parametrize("path", ["/bookmarks/1", "/bookmarks/"])
    @pytest.mark.parametrize("method", ["get", "head"])
    def test_if_match_on_get(self, client, path, method):
        """
        If-Match applies to GET and HEAD too: another tag is a 412, the
        current one or `*` a 200.
        """
        etag = client.get(path).headers["ETag"]

        stale = getattr(client, method)(path, headers={"If-Match": '"other"'})
        current = getattr(client, method)(path, headers={"If-Match": etag})
        star = getattr(client, method)(path, headers={"If-Match": "*"})

        assert stale.status_code == 412
        assert (current.status_code, star.status_code) == (200, 200)

    def test_if_match_on_a_missing_item(self, client):
        """
        A precondition on a missing item is ignored: its answer is a 404
        either way (RFC 9110, 13.2.1).
        """
        response = client.get("/bookmarks/99", headers={"If-Match": "*"})

        assert response.status_code == 404

    def test_plain_change_passes_no_precondition(self, client, repository, monkeypatch):
        """
        A change without precondition headers calls the repository as before,
        without `precondition`.
        """
        calls = []

        def update(item_id, data, *, partial):
            calls.append((item_id, partial))
            return {**data, "id": item_id, "url": "https://e.com/1"}

        def delete(item_id):
            calls.append(item_id)
            return True

        monkeypatch.setattr(repository, "update", update)
        monkeypatch.setattr(repository, "delete", delete)

        assert client.patch("/bookmarks/1", json={"title": "x"}).status_code == 200
        assert client.delete("/bookmarks/1").status_code == 204
        assert calls == [(1, True), 1]

    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    def test_conditional_change_passes_the_check(
        self, client, repository, monkeypatch, method
    ):
        """
        A conditional change hands the view's check to the repository, which
        calls it with the current item.
        """
        seen = []
        update, delete = repository.update, repository.delete

        def spy(precondition):
            def check(item):
                seen.append(item["id"])
                precondition(item)

            return check

        monkeypatch.setattr(
            repository,
            "update",
            lambda *a, precondition, **k: update(
                *a, precondition=spy(precondition), **k
            ),
        )
        monkeypatch.setattr(
            repository,
            "delete",
            lambda *a, precondition: delete(*a, precondition=spy(precondition)),
        )
        etag = client.get("/bookmarks/1").headers["ETag"]

        response = getattr(client, method)(
            "/bookmarks/1", json=bookmark(9), headers={"If-Match": etag}
        )

        assert response.status_code in (200, 204)
        assert seen == [1]


class SlowBookmarks(Bookmarks):
    """
    A repository whose `get` pauses after reading, outside its lock: the
    window in which another writer changes the item.
    """

    def get(self, item_id):
        item = super().get(item_id)
        time.sleep(0.02)
        return item


class TestAtomicConditionalWrite:
    ROUNDS = 5
    WRITERS = 4

    def test_one_if_match_one_winner(self, app):
        """
        Concurrent PATCHes with the same If-Match: exactly one gets a 200, the
        others a 412, round after round, since the repository checks and
        writes under one lock.
        """
        slow = SlowBookmarks([bookmark(1)])
        app.url_map.converters["id"] = IdConverter
        json_errors(app)
        register_value(app, SlowBookmarks, slow)

        class SlowItem(ItemView):
            repository = ServiceAttr(SlowBookmarks)
            schema = BookmarkSchema

        app.add_url_rule("/slow/<id:item_id>", view_func=SlowItem.as_view("slow"))

        for n in range(self.ROUNDS):
            etag = app.test_client().get("/slow/1").headers["ETag"]
            barrier = threading.Barrier(self.WRITERS, timeout=10)
            statuses = []

            def write(writer, n=n, etag=etag, barrier=barrier, statuses=statuses):
                client = app.test_client()
                barrier.wait()
                response = client.patch(
                    "/slow/1",
                    json={"title": f"round {n} writer {writer}"},
                    headers={"If-Match": etag},
                )
                statuses.append(response.status_code)

            threads = [
                threading.Thread(target=write, args=(w,)) for w in range(self.WRITERS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=10)

            assert sorted(statuses) == [200] + [412] * (self.WRITERS - 1), n


class TestInMemoryPrecondition:
    def test_update_checks_current_item(self):
        """
        update() calls the precondition with the current item, and writes
        only when it returns.
        """
        repo = InMemoryRepository([{"title": "a"}])
        seen = []

        updated = repo.update(1, {"title": "b"}, partial=True, precondition=seen.append)

        assert seen == [{"title": "a", "id": 1}]
        assert updated == {"title": "b", "id": 1}

    def test_update_refused(self):
        """
        A precondition that raises leaves the item as it was.
        """
        repo = InMemoryRepository([{"title": "a"}])

        with pytest.raises(PreconditionFailed, match="changed"):
            repo.update(1, {"title": "b"}, partial=False, precondition=_refuse)

        assert repo.get(1) == {"title": "a", "id": 1}

    def test_delete_refused(self):
        """
        A delete whose precondition raises keeps the item; one that passes
        deletes it.
        """
        repo = InMemoryRepository([{"title": "a"}])

        with pytest.raises(PreconditionFailed, match="changed"):
            repo.delete(1, precondition=_refuse)
        assert repo.get(1) is not None
        assert repo.delete(1, precondition=lambda item: None)
        assert repo.get(1) is None

    def test_missing_item_not_checked(self):
        """
        For a missing item, update returns None and delete False, without
        calling the precondition.
        """
        repo = InMemoryRepository()

        assert repo.update(1, {}, partial=True, precondition=_refuse) is None
        assert repo.delete(1, precondition=_refuse) is False


def _refuse(item):
    raise PreconditionFailed("The item changed.")


class TestReadOnlyViews:
    @pytest.fixture(name="ro_client")
    def _ro_client(self, app):
        class PublicList(ReadOnlyCollectionView):
            repository = ServiceAttr(Bookmarks)
            schema = BookmarkSchema

        class PublicItem(ReadOnlyItemView):
            repository = ServiceAttr(Bookmarks)
            schema = BookmarkSchema

        app.add_url_rule("/public/", view_func=PublicList.as_view("public"))
        app.add_url_rule(
            "/public/<id:item_id>", view_func=PublicItem.as_view("public_item")
        )
        return app.test_client()

    def test_list_only(self, ro_client):
        """
        ReadOnlyCollectionView lists, and answers POST with 405.
        """
        assert ro_client.get("/public/").json["meta"]["total"] == 3
        response = ro_client.post("/public/", json=bookmark(9))
        assert response.status_code == 405
        assert sorted(response.headers["Allow"].split(", ")) == [
            "GET",
            "HEAD",
            "OPTIONS",
        ]

    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    def test_retrieve_only(self, ro_client, method):
        """
        ReadOnlyItemView retrieves, and answers every change with 405.
        """
        assert ro_client.get("/public/1").json == listed(1, "a")
        response = getattr(ro_client, method)("/public/1", json=bookmark(9))
        assert response.status_code == 405
        assert sorted(response.headers["Allow"].split(", ")) == [
            "GET",
            "HEAD",
            "OPTIONS",
        ]


# -- ordering, filters, cursors and actions --------------------------------


class ShelfSchema(Schema):
    """A book on a shelf."""

    id = fields.Integer(dump_only=True)
    title = fields.String(required=True)
    year = fields.Integer(required=True)
    lent = fields.Boolean(load_default=False)


class Shelf(InMemoryRepository):
    """The service key of the shelf, with range and search filters."""

    FILTERS: ClassVar = {
        "year_from": lambda item, year: item["year"] >= year,
        "year_to": lambda item, year: item["year"] <= year,
        "years": lambda item, years: item["year"] in years,
        "q": lambda item, text: text.casefold() in item["title"].casefold(),
    }


class ShelfFilters(Schema):
    """Filters beyond equality."""

    year_from = at_least(fields.Integer())
    year_to = at_most(fields.Integer(), description="Up to this year.")
    years = one_of(fields.Integer(), max_values=3)
    q = search(max_length=10)


class ShelfList(CollectionView):
    """The shelf."""

    repository = ServiceAttr(Shelf)
    schema = ShelfSchema
    FILTERS = ShelfFilters
    SORTABLE = ("title", "year")
    PAGINATION = Pagination(default=3)


class ShelfCursor(ReadOnlyCollectionView):
    """The shelf, by cursor."""

    repository = ServiceAttr(Shelf)
    schema = ShelfSchema
    FILTERS = ShelfFilters
    SORTABLE = ("title", "year")
    PAGINATION = CursorPagination(default=2, maximum=5)


class NotLentError(Exception):
    """The book is on the shelf."""


class ShelfItem(ItemView):
    """One book."""

    repository = ServiceAttr(Shelf)
    schema = ShelfSchema
    ERRORS: ClassVar = {NotLentError: 409}

    @action("lend")
    @returns(ShelfSchema)
    def lend(self, item, **_):
        """Lend the book."""
        return self.repository.update(item["id"], {"lent": True}, partial=True)

    @action("give-back", method="put")
    @reads(Schema.from_dict({"note": fields.String()}), arg="body", required=False)
    @returns(ShelfSchema)
    def give_back(self, item, *, body, item_id):
        """Take the book back."""
        if not item["lent"]:
            raise NotLentError
        assert item_id == item["id"]
        self.calls.append(body)
        return self.repository.update(item_id, {"lent": False}, partial=True)

    @action("card", method="get")
    def card(self, item, **_):
        """The book's card, as text."""
        return f"{item['title']} ({item['year']})"

    calls: ClassVar[list[Any]] = []


BOOKS = [("Dune", 1965), ("Anathem", 2008), ("Emma", 1815), ("Dune", 1984)]


@pytest.fixture(name="shelf")
def _shelf():
    return Shelf([{"title": t, "year": y, "lent": False} for t, y in BOOKS])


@pytest.fixture(name="shelf_app")
def _shelf_app(app, shelf):
    """An app serving the shelf at /shelf/, /cursor/ and /shelf/<id>."""
    json_errors(app)
    app.url_map.converters["id"] = IdConverter
    register_value(app, Shelf, shelf)
    app.add_url_rule("/shelf/", view_func=ShelfList.as_view("shelf"))
    app.add_url_rule("/cursor/", view_func=ShelfCursor.as_view("cursor"))
    ShelfItem.add_url_rules(app, "/shelf/<id:item_id>", "book")
    ShelfItem.calls.clear()
    return app


@pytest.fixture(name="shelf_client")
def _shelf_client(shelf_app):
    return shelf_app.test_client()


def ids(response):
    """The ids of a listing's items."""
    assert response.status_code == 200, response.json
    return [item["id"] for item in response.json["items"]]


class TestSorting:
    @pytest.mark.parametrize(
        ("sort", "expected"),
        [
            ("title", [2, 1, 4]),
            ("-title", [3, 1, 4]),
            ("title,-year", [2, 4, 1]),
            ("-year", [2, 4, 1]),
            ("year,title", [3, 1, 4]),
        ],
    )
    def test_order(self, shelf_client, sort, expected):
        """
        ?sort= orders by the names it gives, - for descending, the id last.
        """
        assert ids(shelf_client.get(f"/shelf/?sort={sort}")) == expected

    def test_repeated_argument(self, shelf_client):
        """
        Several sort arguments add up, as one comma-separated list would.
        """
        response = shelf_client.get("/shelf/?sort=title&sort=-year")
        assert ids(response) == [2, 4, 1]

    @pytest.mark.parametrize(
        "sort", ["year,title,-year", "year,year,title", "year&sort=title,year"]
    )
    def test_repeated_name(self, shelf_client, sort):
        """
        A name given again is left out: its first mention decides, so every
        value the document allows is accepted.
        """
        assert ids(shelf_client.get(f"/shelf/?sort={sort}")) == ids(
            shelf_client.get("/shelf/?sort=year,title")
        )

    def test_default_order(self, shelf_client):
        """
        Without ?sort=, the repository's default order: the order of creation.
        """
        assert ids(shelf_client.get("/shelf/")) == [1, 2, 3]

    @pytest.mark.parametrize(
        ("sort", "culprit"),
        [
            ("author", "author"),
            ("", ""),
            ("title,", ""),
            ("--year", "--year"),
        ],
    )
    def test_refused(self, shelf_client, sort, culprit):
        """
        A name that is not allowed, or an empty one, is a 422 under
        query.sort, naming it and the allowed names.
        """
        response = shelf_client.get(f"/shelf/?sort={sort}")

        assert response.status_code == 422
        assert response.json["errors"] == {
            "query": {
                "sort": [
                    (
                        f"Cannot sort by {culprit!r}; sort by title, year "
                        "(- before one descends)."
                    )
                ]
            }
        }

    def test_not_passed_to_filters(self, shelf_app, shelf, monkeypatch):
        """
        The view takes sort out of the filters: count() and list() never see
        it, and list() gets it as order=.
        """
        seen = []
        real = Shelf.list

        def spy(self, **kwargs):
            seen.append(kwargs)
            return real(self, **kwargs)

        monkeypatch.setattr(Shelf, "list", spy)
        monkeypatch.setattr(
            Shelf, "count", lambda self, *, filters: seen.append(filters) or 4
        )

        shelf_app.test_client().get("/shelf/?sort=-year&year_from=1900")

        assert seen[0] == {"year_from": 1900}
        assert seen[1]["filters"] == {"year_from": 1900}
        assert seen[1]["order"] == ("-year",)

    def test_unsorted_view_passes_no_order(self, app, client):
        """
        A view that declares no SORTABLE calls list() without order=, so a
        repository that knows nothing of ordering still serves it.
        """

        class Plain:
            def count(self, *, filters):
                return 1

            def list(self, *, offset, limit, filters):
                return [{"id": 1, "title": "t", "year": 1}]

        class PlainList(ReadOnlyCollectionView):
            repository = ServiceAttr(Shelf)
            schema = ShelfSchema

        json_errors(app)
        register_value(app, Shelf, Plain())
        app.add_url_rule("/plain/", view_func=PlainList.as_view("plain"))

        assert ids(client.get("/plain/?sort=title")) == [1]

    def test_keeps_order_in_links(self, shelf_client):
        """
        The links to other pages keep the order.
        """
        response = shelf_client.get("/shelf/?sort=-year&per_page=1")
        assert "sort=-year" in response.headers["Link"]

    @pytest.mark.parametrize(
        ("value", "match"),
        [
            ("title", r"SORTABLE is the string 'title'; give a tuple"),
            (("-title",), r"SORTABLE names '-title'; give each name once"),
            (("a,b",), r"SORTABLE names 'a,b'"),
            (("title", "title"), r"SORTABLE names 'title'"),
        ],
    )
    def test_bad_declaration(self, value, match):
        """
        SORTABLE must be a sequence of plain names, each once.
        """
        with pytest.raises(RestDeclarationError, match=match):
            type(
                "Bad",
                (CollectionView,),
                {"schema": ShelfSchema, "SORTABLE": value},
            )


class TestSortField:
    def test_loads_a_string(self):
        """
        Outside a query string, one comma-separated string loads too.
        """
        assert SortField(["a", "b"]).deserialize("b,-a") == ["b", "-a"]

    @pytest.mark.parametrize("value", [3, ["a", 3]])
    def test_not_text(self, value):
        """
        Anything but text, or a list of text, is not a valid list.
        """
        with pytest.raises(ValidationError, match="Not a valid list"):
            SortField(["a"]).deserialize(value)

    def test_own_metadata(self):
        """
        Metadata given to the field adds to the description and style.
        """
        field = SortField(["a"], metadata={"description": "How."})
        assert field.metadata == {
            "description": "How.",
            "style": "form",
            "explode": False,
            "minItems": 1,
        }


class TestFilterArguments:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("year_from=1965", [1, 2, 4]),
            ("year_to=1965", [1, 3]),
            ("year_from=1900&year_to=1990", [1, 4]),
            ("years=1815&years=2008", [2, 3]),
            ("q=DUNE", [1, 4]),
            ("q=un&year_from=1970", [4]),
        ],
    )
    def test_select(self, shelf_client, query, expected):
        """
        Ranges, membership and search select what the repository says.
        """
        assert ids(shelf_client.get(f"/shelf/?per_page=9&{query}")) == expected

    @pytest.mark.parametrize(
        ("query", "name", "message"),
        [
            (
                "years=1&years=2&years=3&years=4",
                "years",
                "Longer than maximum length 3",
            ),
            ("q=", "q", "Length must be between 1 and 10."),
            ("q=abcdefghijk", "q", "Length must be between 1 and 10."),
            ("q=a%00b", "q", "Must not contain the NUL character."),
        ],
    )
    def test_refused(self, shelf_client, query, name, message):
        """
        Too many values, an empty or too long search, or NUL are a 422.
        """
        response = shelf_client.get(f"/shelf/?{query}")

        assert response.status_code == 422
        assert message in str(response.json["errors"]["query"][name])

    def test_described(self, shelf_app):
        """
        The filters' query parameters carry descriptions, a given one kept.
        """
        spec = build_spec(shelf_app)
        params = {
            p["name"]: p
            for p in spec["paths"]["/shelf/"]["get"]["parameters"]
            if "name" in p
        }

        assert params["year_from"]["description"] == (
            "Items whose value is at least this."
        )
        assert params["year_to"]["description"] == "Up to this year."
        assert params["years"]["description"].startswith("Items that have any")
        assert params["years"]["schema"] == {
            "type": "array",
            "items": {"type": "integer"},
            "maxItems": 3,
        }
        assert params["q"]["schema"]["pattern"] == "^[^\\u0000]*$"
        assert params["q"]["description"] == (
            "Items that contain this text, ignoring case."
        )
        assert at_most(fields.Integer()).metadata["description"] == (
            "Items whose value is at most this."
        )
        own = fields.Integer(metadata={"description": "Mine."})
        assert at_least(own).metadata["description"] == "Mine."

    def test_sort_documented(self, shelf_app):
        """
        The sort parameter is a comma-separated array of an enum of names
        and -names (style form, explode false), of at least one: ?sort=
        alone is refused.
        """
        spec = build_spec(shelf_app)
        [sort] = [
            p
            for p in spec["paths"]["/shelf/"]["get"]["parameters"]
            if p.get("name") == "sort"
        ]

        assert sort["style"] == "form"
        assert sort["explode"] is False
        assert sort["schema"] == {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "enum": ["title", "-title", "year", "-year"]},
        }


class TestInMemoryOrdering:
    def test_order_and_none(self):
        """
        order= sorts by fields, - descending; a missing field sorts first.
        """
        repo = InMemoryRepository([{"n": 2}, {"n": 1}, {}, {"n": 2}])

        listed_ = repo.list(limit=9, filters={}, order=("n",))
        assert [i["id"] for i in listed_] == [3, 2, 1, 4]
        listed_ = repo.list(limit=9, filters={}, order=("-n", "-id"))
        assert [i["id"] for i in listed_] == [4, 1, 2, 3]

    def test_twice(self):
        """
        A name given twice is a 422 under query.sort.
        """
        repo = InMemoryRepository()
        with pytest.raises(RequestValidationError) as raised:
            repo.list(limit=1, filters={}, order=("n", "-n"))
        assert raised.value.messages == {
            "query": {"sort": ["Cannot sort by '-n' twice: give each name once."]}
        }
        with pytest.raises(RequestValidationError, match="input is not valid"):
            repo.cursor_of({"n": 1}, ("n", "n"))

    @pytest.mark.parametrize("order", [(), ("n",), ("-n", "id"), ("n", "-id")])
    def test_walk(self, order):
        """
        Walking by cursor gives every item once, in order, with None values.
        """
        repo = InMemoryRepository([{"n": n % 3 or None} for n in range(10)])
        everything = [i["id"] for i in repo.list(limit=99, filters={}, order=order)]
        seen, after = [], None
        while True:
            page = repo.list(limit=3, filters={}, order=order, after=after)
            seen += [i["id"] for i in page]
            if len(page) < 3:
                break
            after = repo.cursor_of(page[-1], order)
        assert seen == everything

    def test_same_item_not_beyond(self):
        """
        The cursor's own item is not after itself; offset counts after it.
        """
        repo = InMemoryRepository([{"n": 1}, {"n": 1}, {"n": 1}])
        cursor = repo.cursor_of(repo.get(1), ("n",))

        assert [
            i["id"] for i in repo.list(limit=9, filters={}, order=("n",), after=cursor)
        ] == [2, 3]
        assert [
            i["id"]
            for i in repo.list(
                offset=1, limit=9, filters={}, order=("n",), after=cursor
            )
        ] == [3]

    def test_other_order(self):
        """
        A cursor made for another order is a 422 under query.after.
        """
        repo = InMemoryRepository([{"n": 1}])
        cursor = repo.cursor_of(repo.get(1), ("n",))
        with pytest.raises(RequestValidationError) as raised:
            repo.list(limit=1, filters={}, order=("-n",), after=cursor)
        assert list(raised.value.messages["query"]) == ["after"]


class TestCursorPagination:
    def test_walk(self, shelf_client):
        """
        Pages follow meta.next, and Link rel=next, to the end; the last page
        has next null and links only to the first.
        """
        response = shelf_client.get("/cursor/?sort=title")
        assert ids(response) == [2, 1]
        meta = response.json["meta"]
        assert meta["per_page"] == 2
        base = "http://localhost/cursor/?sort=title&per_page=2"
        assert response.headers["Link"] == (
            f'<{base}>; rel="first", <{base}&after={meta["next"]}>; rel="next"'
        )

        response = shelf_client.get(f"/cursor/?sort=title&after={meta['next']}")
        assert ids(response) == [4, 3]
        assert response.json["meta"] == {"per_page": 2, "next": None}
        assert response.headers["Link"] == f'<{base}>; rel="first"'

    def test_no_count(self, shelf_app, monkeypatch):
        """
        A page by cursor never counts the items.
        """
        count = Mock(side_effect=AssertionError)
        monkeypatch.setattr(Shelf, "count", count)

        assert ids(shelf_app.test_client().get("/cursor/")) == [1, 2]
        count.assert_not_called()

    def test_stable_under_inserts(self, shelf_client, shelf):
        """
        Items inserted between two pages, before or after the cursor, never
        make the walk miss or repeat an item that was there.
        """
        first = shelf_client.get("/cursor/?sort=-year&per_page=2")
        assert ids(first) == [2, 4]
        shelf.create({"title": "Before", "year": 2020})
        shelf.create({"title": "After", "year": 1000})
        rest = shelf_client.get(
            f"/cursor/?sort=-year&per_page=5&after={first.json['meta']['next']}"
        )
        assert ids(rest) == [1, 3, 6]

    @pytest.mark.parametrize(
        ("after", "message"),
        [
            ("!!", "String does not match expected pattern."),
            ("", "Length must be between 1 and 2048."),
            ("A" * 2049, "Length must be between 1 and 2048."),
            ("e30", "Not a cursor of this listing in this order"),
        ],
    )
    def test_bad_cursor(self, shelf_client, after, message):
        """
        A cursor that is not base64url, empty, too long or not of this
        listing is a 422 under query.after.
        """
        response = shelf_client.get(f"/cursor/?after={after}")
        assert response.status_code == 422
        assert response.json["errors"]["query"]["after"][0].startswith(message)

    def test_other_order(self, shelf_client):
        """
        A cursor of another order is a 422.
        """
        first = shelf_client.get("/cursor/?sort=title")
        response = shelf_client.get(
            f"/cursor/?sort=year&after={first.json['meta']['next']}"
        )
        assert response.status_code == 422

    def test_without_sort(self, app, client):
        """
        A listing by cursor without SORTABLE pages in the repository's
        default order, and passes no order= to list().
        """

        class Unsorted(Shelf):
            def list(self, *, offset, limit, filters, after=None):
                return super().list(
                    offset=offset, limit=limit, filters=filters, after=after
                )

        class ByCursor(ReadOnlyCollectionView):
            repository = ServiceAttr(Shelf)
            schema = ShelfSchema
            PAGINATION = CursorPagination(default=3)

        json_errors(app)
        register_value(
            app, Shelf, Unsorted([{"title": "t", "year": n} for n in range(4)])
        )
        app.add_url_rule("/by-cursor/", view_func=ByCursor.as_view("by_cursor"))
        first = client.get("/by-cursor/")
        assert ids(first) == [1, 2, 3]
        assert ids(client.get(f"/by-cursor/?after={first.json['meta']['next']}")) == [4]

    def test_documented(self, shelf_app):
        """
        The document shows after and per_page, no page, and the meta with
        next.
        """
        spec = build_spec(shelf_app)
        operation = spec["paths"]["/cursor/"]["get"]
        names = [p["name"] for p in operation["parameters"] if "name" in p]
        assert "after" in names
        assert "page" not in names
        meta = spec["components"]["schemas"]["CursorMeta"]
        assert meta["properties"]["next"]["type"] == ["string", "null"]
        assert sorted(meta["required"]) == ["next", "per_page"]
        link = operation["responses"]["200"]["headers"]["Link"]
        assert "next" in link["description"]


class TestActions:
    def test_post(self, shelf_client):
        """
        An action runs on the item and answers with what it declares.
        """
        response = shelf_client.post("/shelf/1/lend")
        assert response.status_code == 200
        assert response.json == {"id": 1, "title": "Dune", "year": 1965, "lent": True}

    def test_inputs_and_errors(self, shelf_client):
        """
        An action gets its declared inputs and the URL variables; ERRORS of
        the view apply.
        """
        response = shelf_client.put("/shelf/2/give-back")
        assert response.status_code == 409
        assert response.json["message"] == "The book is on the shelf."

        shelf_client.post("/shelf/2/lend")
        response = shelf_client.put("/shelf/2/give-back", json={"note": "fine"})
        assert response.status_code == 200
        assert response.json["lent"] is False
        assert ShelfItem.calls == [{"note": "fine"}]

    def test_missing_item(self, shelf_client):
        """
        An action on a missing item is a 404, never run.
        """
        assert shelf_client.post("/shelf/9/lend").status_code == 404

    def test_only_its_method(self, shelf_client):
        """
        An action's URL serves its one method: others are 405.
        """
        response = shelf_client.get("/shelf/1/lend")
        assert response.status_code == 405
        assert sorted(response.headers["Allow"].split(", ")) == ["OPTIONS", "POST"]

    def test_preconditions(self, shelf_client):
        """
        If-Match is checked against the item before the action runs.
        """
        stale = shelf_client.post("/shelf/1/lend", headers={"If-Match": '"x"'})
        assert stale.status_code == 412
        assert shelf_client.get("/shelf/1").json["lent"] is False

        tag = shelf_client.get("/shelf/1").headers["ETag"]
        fresh = shelf_client.post("/shelf/1/lend", headers={"If-Match": tag})
        assert fresh.status_code == 200

    def test_required_if_match(self, app, shelf):
        """
        With REQUIRE_IF_MATCH, an action without If-Match is a 428.
        """

        class Strict(ShelfItem):
            REQUIRE_IF_MATCH = True

        json_errors(app)
        app.url_map.converters["id"] = IdConverter
        register_value(app, Shelf, shelf)
        Strict.add_url_rules(app, "/strict/<id:item_id>/", "strict")
        client = app.test_client()

        assert client.post("/strict/1/lend").status_code == 428
        assert client.get("/strict/1/card").status_code == 200

    def test_get_action(self, shelf_client):
        """
        A GET action checks no precondition and may return anything Flask
        takes.
        """
        response = shelf_client.get("/shelf/3/card", headers={"If-Match": '"x"'})
        assert response.status_code == 200
        assert response.text == "Emma (1815)"

    def test_endpoints_and_classes(self, shelf_app):
        """
        add_url_rules adds the item at its rule and each action below it;
        the action views are named after the item view.
        """
        rules = {
            r.rule: r.endpoint
            for r in shelf_app.url_map.iter_rules()
            if r.rule.startswith("/shelf/<")
        }
        assert rules == {
            "/shelf/<id:item_id>": "book",
            "/shelf/<id:item_id>/lend": "book_lend",
            "/shelf/<id:item_id>/give-back": "book_give_back",
            "/shelf/<id:item_id>/card": "book_card",
        }
        view = ShelfItem.actions["give-back"]
        assert view.__name__ == "ShelfItemGiveBack"
        assert view.methods == {"PUT"}
        assert view.actions == {}
        assert repr(view.ACTION) == "<Action PUT 'give-back'>"

    def test_inherited(self):
        """
        A subclass of an item view has the actions, on views of its own.
        """

        class Sub(ShelfItem):
            pass

        assert set(Sub.actions) == {"lend", "give-back", "card"}
        assert issubclass(Sub.actions["lend"], Sub)

    def test_documented(self, shelf_app):
        """
        An action is an operation: its summary, inputs, output, 404, declared
        errors, and If-Match for other methods than GET.
        """
        paths = build_spec(shelf_app)["paths"]
        lend = paths["/shelf/{item_id}/lend"]
        assert list(lend) == ["post"]
        assert lend["post"]["summary"] == "Lend the book."
        assert sorted(lend["post"]["responses"]) == ["200", "400", "404", "409", "412"]
        refs = [p.get("$ref", "") for p in lend["post"]["parameters"]]
        assert "#/components/parameters/IfMatchChange" in refs

        give_back = paths["/shelf/{item_id}/give-back"]["put"]
        assert "requestBody" in give_back
        assert give_back["responses"]["409"]["description"] == (
            "The book is on the shelf."
        )
        card = paths["/shelf/{item_id}/card"]["get"]
        assert not any("IfMatch" in p.get("$ref", "") for p in card["parameters"])

    @pytest.mark.parametrize(
        ("args", "match"),
        [
            (("Lend",), r"action\('Lend'\): use lower-case letters"),
            (("a/b",), r"action\('a/b'\)"),
            (("lend",), None),
        ],
    )
    def test_bad_name(self, args, match):
        """
        An action's name is one lower-case URL segment.
        """
        if match is None:
            assert callable(action(*args))
            return
        with pytest.raises(RestDeclarationError, match=match):
            action(*args)

    def test_bad_method(self):
        """
        An action's method is an HTTP method in lower case.
        """
        with pytest.raises(RestDeclarationError, match=r"method='POST'\): use get"):
            action("lend", method="POST")

    def test_async(self):
        """
        An async function cannot be an action.
        """

        async def lend(self, item):  # pragma: no cover -- never called
            return item

        with pytest.raises(RestDeclarationError, match="actions are synchronous"):
            action("lend")(lend)

    def test_not_generic(self):
        """
        An action on a view that is not a generic view is refused.
        """
        with pytest.raises((RestDeclarationError, RuntimeError), match="Plain") as e:

            class Plain(RestView):
                @action("lend")
                def lend(self, item):  # pragma: no cover -- never called
                    return item

        # Python before 3.12 reports an error of __set_name__ as its cause.
        error = e.value.__cause__ or e.value
        assert isinstance(error, RestDeclarationError)
        assert "Plain is not a generic item view; derive it from ItemView" in str(error)
