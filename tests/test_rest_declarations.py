"""Tests for flask_servicecbv.rest.declarations: reads, returns and the plans."""

# Test views declare `decorators = [...]` and `UNKNOWN = {...}` as Flask and the
# library document them; ClassVar annotations on every test view would be noise.

from __future__ import annotations

import asyncio
import functools
import importlib.util
import io
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import pytest
from flask import Blueprint, abort
from flask.views import MethodView
from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, fields, validate
from werkzeug.datastructures import FileStorage

from flask_servicecbv import ServiceAttr, register_factory, register_value
from flask_servicecbv.exceptions import RestDeclarationError
from flask_servicecbv.rest import (
    ARGUMENT_NAMES,
    Input,
    Output,
    Plan,
    RestView,
    json_errors,
    reads,
    returns,
)
from flask_servicecbv.rest.declarations import (
    STATUS_NAMES,
    DeclaredError,
    ErrorResponse,
    doc,
    status_name,
)


class Item(Schema):
    """A body with one required field."""

    title = fields.String(required=True)
    rank = fields.Integer()


class Search(Schema):
    """Query arguments, one of them repeated."""

    q = fields.String()
    tag = fields.List(fields.String())


class Auth(Schema):
    """Two headers, spelled as HTTP spells them."""

    token = fields.String(data_key="X-Token", required=True)
    tags = fields.List(fields.String(), data_key="x-tag")


class ItemPath(Schema):
    """The URL variable of an item, loaded as an integer."""

    item_id = fields.Integer(validate=validate.Range(min=1))


class Upload(Schema):
    """A multipart file."""

    doc = fields.Raw(required=True)


class Counter:
    """A service that counts."""

    def __init__(self) -> None:
        self.calls = 0


def declaration_error(excinfo: pytest.ExceptionInfo[BaseException]) -> BaseException:
    """
    The RestDeclarationError raised by a class statement.

    Python before 3.12 reports an exception raised in ``__set_name__`` as
    a RuntimeError caused by it.
    """
    error = excinfo.value
    return error if isinstance(error, RestDeclarationError) else error.__cause__


@pytest.fixture(name="app")
def _app(app):
    json_errors(app)
    return app


# -- locations ---------------------------------------------------------------


class TestLocations:
    def test_json(self, app, client):
        """
        A JSON body loads with the schema and arrives as `body`.
        """

        class Create(RestView):
            @reads(Item)
            def post(self, *, body):
                return {"got": body}

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        response = client.post("/items", json={"title": "a", "rank": 2})

        assert response.json == {"got": {"title": "a", "rank": 2}}

    @pytest.mark.parametrize(
        "content_type", ["application/merge-patch+json", "application/vnd.api+json"]
    )
    def test_json_suffix_refused(self, app, client, content_type):
        """
        A `+json` media type other than application/json is refused with 415:
        its semantics (a merge patch, JSON:API) are not implemented.
        """
        json_errors(app)

        class Create(RestView):
            @reads(Item)
            def post(self, *, body):  # pragma: no cover -- never called
                return body

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        response = client.post(
            "/items", data='{"title": "a"}', content_type=content_type
        )

        assert response.status_code == 415
        assert response.headers["Accept-Post"] == "application/json"

    def test_form(self, app, client):
        """
        A form body arrives as `form`.
        """

        class Create(RestView):
            @reads(Item, location="form")
            def post(self, *, form):
                return form

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        response = client.post("/items", data={"title": "a", "rank": "3"})

        assert response.json == {"title": "a", "rank": 3}

    def test_files(self, app, client):
        """
        Multipart files arrive as `files`, form fields beside them as `form`.
        """

        class Meta(Schema):
            title = fields.String()

        class Store(RestView):
            @reads(Upload, location="files")
            @reads(Meta, location="form")
            def post(self, *, files, form):
                doc = files["doc"]
                assert isinstance(doc, FileStorage)
                return {"name": doc.filename, "text": doc.read().decode(), **form}

        app.add_url_rule("/docs", view_func=Store.as_view("docs"))

        response = client.post(
            "/docs",
            data={"doc": (io.BytesIO(b"hello"), "a.txt"), "title": "t"},
            content_type="multipart/form-data",
        )

        assert response.json == {"name": "a.txt", "text": "hello", "title": "t"}

    def test_files_not_urlencoded(self, app, client):
        """
        Files need multipart: a urlencoded form is answered with 415.
        """

        class Store(RestView):
            @reads(Upload, location="files")
            def post(self, *, files):  # pragma: no cover -- never called
                return {}

        app.add_url_rule("/docs", view_func=Store.as_view("docs"))

        response = client.post("/docs", data={"doc": "x"})

        assert response.status_code == 415
        assert "multipart/form-data" in response.json["message"]

    def test_query(self, app, client):
        """
        Query arguments arrive as `query`; a list field takes every repeated
        key, and a plain field the first.
        """

        class Find(RestView):
            @reads(Search, location="query")
            def get(self, *, query):
                return query

        app.add_url_rule("/find", view_func=Find.as_view("find"))

        response = client.get("/find?q=a&q=b&tag=x&tag=y")

        assert response.json == {"q": "a", "tag": ["x", "y"]}

    def test_query_raise(self, app, client):
        """
        With unknown=RAISE, every query argument is loaded, lists included.
        """

        class Find(RestView):
            @reads(Search, location="query", unknown=RAISE)
            def get(self, *, query):
                return query

        app.add_url_rule("/find", view_func=Find.as_view("find"))

        assert client.get("/find?tag=x&tag=y").json == {"tag": ["x", "y"]}
        response = client.get("/find?tag=x&page=2")
        assert response.status_code == 422
        assert response.json["errors"] == {"query": {"page": ["Unknown field."]}}

    @pytest.mark.parametrize("name", ["X-Token", "x-token", "X-TOKEN"])
    def test_headers(self, app, client, name):
        """
        Headers arrive as `headers`, whatever the case they were sent in.
        """

        class Show(RestView):
            @reads(Auth, location="headers")
            def get(self, *, headers):
                return headers

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        response = client.get("/show", headers=[(name, "t"), ("x-tag", "a")])

        assert response.json == {"token": "t", "tags": ["a"]}

    def test_headers_include(self, app, client):
        """
        With INCLUDE, every header is loaded: declared ones under the schema's
        spelling whatever the case sent, lists as lists; others as sent.
        """

        class Show(RestView):
            @reads(Auth, location="headers", unknown=INCLUDE)
            def get(self, *, headers):
                return headers

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        response = client.get("/show", headers=[("x-token", "t"), ("X-Tag", "a")])

        assert response.json["token"] == "t"  # noqa: S105 -- a header value
        assert response.json["tags"] == ["a"]
        assert response.json["Host"] == "localhost"

    def test_headers_raise(self, app, client):
        """
        With RAISE, any undeclared header is answered with 422.
        """

        class Show(RestView):
            @reads(Auth, location="headers", unknown=RAISE)
            def get(self, *, headers):  # pragma: no cover -- never called
                return headers

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        response = client.get("/show", headers=[("x-token", "t"), ("X-Tag", "a")])

        assert response.status_code == 422
        assert "Host" in response.json["errors"]["headers"]
        assert "tags" not in response.json["errors"]["headers"]

    def test_path(self, app, client):
        """
        A path schema replaces the raw URL variables with loaded ones.
        """

        class Show(RestView):
            @reads(ItemPath, location="path")
            def get(self, *, item_id):
                return {"id": item_id, "type": type(item_id).__name__}

        app.add_url_rule("/items/<item_id>", view_func=Show.as_view("show"))

        assert client.get("/items/7").json == {"id": 7, "type": "int"}

    @pytest.mark.parametrize("raw", ["x", "0", "-1"])
    def test_path_not_loaded(self, app, client, raw):
        """
        URL variables that do not load name no resource: 404.
        """

        class Show(RestView):
            @reads(ItemPath, location="path")
            def get(self, *, item_id):  # pragma: no cover -- never called
                return {}

        app.add_url_rule("/items/<item_id>", view_func=Show.as_view("show"))

        assert client.get(f"/items/{raw}").status_code == 404

    def test_path_undeclared_variable(self, app, client):
        """
        A URL variable that the path schema does not declare passes as it is.
        """

        class Show(RestView):
            @reads(ItemPath, location="path")
            def get(self, *, item_id, slug):
                return [item_id, slug]

        app.add_url_rule("/items/<item_id>/<slug>", view_func=Show.as_view("show"))

        assert client.get("/items/3/x").json == [3, "x"]

    def test_arg(self, app, client):
        """
        `arg=` names the keyword argument instead of the location's default.
        """

        class Find(RestView):
            @reads(Search, location="query", arg="search")
            def get(self, *, search):
                return search

        app.add_url_rule("/find", view_func=Find.as_view("find"))

        assert client.get("/find?q=a").json == {"q": "a"}

    def test_url_variables_beside_inputs(self, app, client):
        """
        URL variables and parsed inputs arrive side by side as keywords.
        """

        class Update(RestView):
            @reads(Item)
            def put(self, item_id, *, body):
                return {"id": item_id, **body}

        app.add_url_rule("/items/<int:item_id>", view_func=Update.as_view("item"))

        response = client.put("/items/4", json={"title": "a"})

        assert response.json == {"id": 4, "title": "a"}

    def test_collision(self, app):
        """
        A URL variable named like an input's argument is refused.
        """

        class Update(RestView):
            @reads(Item)
            def put(self, *, body):  # pragma: no cover -- never called
                return body

        app.add_url_rule("/items/<body>", view_func=Update.as_view("item"))

        with pytest.raises(
            RestDeclarationError,
            match=r"Update\.put: the URL variable 'body' collides .* give reads",
        ):
            app.test_client().put("/items/x", json={"title": "a"})

    def test_argument_names(self):
        """
        The default argument names are documented in ARGUMENT_NAMES.
        """
        assert dict(ARGUMENT_NAMES) == {
            "json": "body",
            "form": "form",
            "files": "files",
            "query": "query",
            "headers": "headers",
        }


# -- bodies ------------------------------------------------------------------


class TestBodies:
    def test_missing(self, app, client):
        """
        A required body that is missing is answered with 400.
        """

        class Create(RestView):
            @reads(Item)
            def post(self, *, body):  # pragma: no cover -- never called
                return body

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        response = client.post("/items")

        assert response.status_code == 400
        assert response.json["message"] == "The request has no body; send one."

    def test_empty_json(self, app, client):
        """
        An empty body sent as JSON is a missing body too.
        """

        class Create(RestView):
            @reads(Item)
            def post(self, *, body):  # pragma: no cover -- never called
                return body

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        response = client.post("/items", data=b"", content_type="application/json")

        assert response.status_code == 400

    @pytest.mark.parametrize(
        ("location", "content_type"),
        [("json", None), ("json", "application/json"), ("form", None)],
    )
    def test_not_required(self, app, client, location, content_type):
        """
        `required=False` passes None for a body that was not sent.
        """

        class Optional(Schema):
            title = fields.String()

        class Create(RestView):
            @reads(Optional, location=location, required=False)
            def post(self, *, form=None, body=None):
                return {"got": body if form is None else form}

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        response = client.post("/items", data=b"", content_type=content_type)

        assert response.json == {"got": None}

    def test_not_required_empty_form(self, app, client):
        """
        An empty urlencoded body is an empty form, not a missing one.
        """

        class Optional(Schema):
            title = fields.String()

        class Create(RestView):
            @reads(Optional, location="form", required=False)
            def post(self, *, form):
                return {"got": form}

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        response = client.post(
            "/items", data=b"", content_type="application/x-www-form-urlencoded"
        )

        assert response.json == {"got": {}}

    def test_not_required_sent(self, app, client):
        """
        An optional body that is sent is loaded as usual.
        """

        class Create(RestView):
            @reads(Item, required=False)
            def post(self, *, body):
                return {"got": body}

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        assert client.post("/items", json={"title": "a"}).json == {
            "got": {"title": "a"}
        }

    def test_form_missing(self, app, client):
        """
        A required form body that is missing is answered with 400.
        """

        class Create(RestView):
            @reads(Item, location="form")
            def post(self, *, form):  # pragma: no cover -- never called
                return form

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        assert client.post("/items").status_code == 400

    def test_chunked(self, app, client):
        """
        A chunked body without a Content-Type is not missing: it is refused
        with 415.
        """

        class Create(RestView):
            @reads(Item)
            def post(self, *, body):  # pragma: no cover -- never called
                return body

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        response = client.post(
            "/items",
            input_stream=io.BytesIO(b"{}"),
            headers={"Transfer-Encoding": "chunked"},
        )

        assert response.status_code == 415
        assert "a body without a Content-Type" in response.json["message"]


# -- unknown fields ----------------------------------------------------------


class TestUnknown:
    def test_body_raises(self, app, client):
        """
        A body with a field the schema does not declare is answered with 422.
        """

        class Create(RestView):
            @reads(Item)
            def post(self, *, body):  # pragma: no cover -- never called
                return body

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        response = client.post("/items", json={"title": "a", "extra": 1})

        assert response.status_code == 422
        assert response.json["errors"] == {"json": {"extra": ["Unknown field."]}}

    def test_query_and_headers_exclude(self, app, client):
        """
        Undeclared query arguments and headers are left out.
        """

        class Find(RestView):
            @reads(Search, location="query")
            @reads(Auth, location="headers")
            def get(self, *, query, headers):
                return [query, headers]

        app.add_url_rule("/find", view_func=Find.as_view("find"))

        response = client.get("/find?q=a&other=1", headers={"X-Token": "t"})

        assert response.json == [{"q": "a"}, {"token": "t"}]

    def test_per_view(self, app, client):
        """
        A view's UNKNOWN changes a location's default and keeps the others'.
        """

        class Create(RestView):
            UNKNOWN = {"json": EXCLUDE}

            @reads(Item)
            @reads(Search, location="query")
            def post(self, *, body, query):
                return [body, query]

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        response = client.post("/items?zzz=1", json={"title": "a", "extra": 1})

        assert response.json == [{"title": "a"}, {}]

    def test_merged_along_the_mro(self, app, client):
        """
        A subclass's UNKNOWN changes only the locations it names; its bases'
        other entries still apply.
        """

        class Base(RestView):
            UNKNOWN = {"json": EXCLUDE}

        class Create(Base):
            UNKNOWN = {"query": RAISE}

            @reads(Item)
            @reads(Search, location="query")
            def post(self, *, body, query):
                return [body, query]

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        ok = client.post("/items", json={"title": "a", "extra": 1})
        refused = client.post("/items?zzz=1", json={"title": "a"})

        assert ok.json == [{"title": "a"}, {}]
        assert refused.json["errors"] == {"query": {"zzz": ["Unknown field."]}}

    def test_per_location(self, app, client):
        """
        `reads(unknown=...)` wins over the view's UNKNOWN.
        """

        class Create(RestView):
            UNKNOWN = {"json": EXCLUDE}

            @reads(Item, unknown=INCLUDE)
            def post(self, *, body):
                return body

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        response = client.post("/items", json={"title": "a", "extra": 1})

        assert response.json == {"title": "a", "extra": 1}

    def test_form_exclude(self, app, client):
        """
        With EXCLUDE, a form loads only the fields its schema declares.
        """

        class Create(RestView):
            @reads(Item, location="form", unknown=EXCLUDE)
            def post(self, *, form):
                return form

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        assert client.post("/items", data={"title": "a", "x": "1"}).json == {
            "title": "a"
        }


# -- validation --------------------------------------------------------------


class TestValidation:
    def test_messages_by_location(self, app, client):
        """
        Failed inputs are answered with 422, messages keyed by location and
        field, every failing location at once.
        """

        class Create(RestView):
            @reads(Item)
            @reads(Auth, location="headers")
            def post(self, *, body, headers):  # pragma: no cover -- never called
                return body

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        response = client.post("/items", json={"rank": "x"})

        assert response.status_code == 422
        assert response.json["errors"] == {
            "headers": {"X-Token": ["Missing data for required field."]},
            "json": {
                "title": ["Missing data for required field."],
                "rank": ["Not a valid integer."],
            },
        }
        response = client.post("/items", json={"rank": "x"}, headers={"X-Token": "t"})
        assert response.json["errors"] == {
            "json": {
                "title": ["Missing data for required field."],
                "rank": ["Not a valid integer."],
            }
        }

    def test_partial(self, app, client):
        """
        `partial=True` lets required fields be missing.
        """

        class Change(RestView):
            @reads(Item, partial=True)
            def patch(self, *, body):
                return body

        app.add_url_rule("/items", view_func=Change.as_view("items"))

        assert client.patch("/items", json={"rank": 1}).json == {"rank": 1}

    def test_partial_fields(self, app, client):
        """
        `partial=` with field names makes only those optional.
        """

        class Change(RestView):
            @reads(Item, partial=["title"])
            def patch(self, *, body):
                return body

        app.add_url_rule("/items", view_func=Change.as_view("items"))

        assert client.patch("/items", json={}).json == {}
        assert Change.rest_plans["patch"].inputs[0].partial == ("title",)


# -- class-level declarations and inheritance --------------------------------


class TestClassLevel:
    def test_applies_to_undeclared(self, app, client):
        """
        A class-level declaration applies to the methods without their own.
        """

        class Title(Schema):
            title = fields.String()

        @reads(Search, location="query")
        @returns(Title)
        class Find(RestView):
            def get(self, *, query):
                return {"title": query.get("q"), "other": 1}

            @reads(Item)
            @returns(Item)
            def post(self, *, body):
                return {**body, "rank": 9}

        app.add_url_rule("/find", view_func=Find.as_view("find"))

        assert client.get("/find?q=a").json == {"title": "a"}
        assert client.post("/find?q=a", json={"title": "b"}).json == {
            "title": "b",
            "rank": 9,
        }
        assert Find.rest_plans["get"].inputs[0].location == "query"
        assert [i.location for i in Find.rest_plans["post"].inputs] == ["json"]

    def test_stacked(self, app, client):
        """
        Two class-level declarations both apply, whatever their order.
        """

        class Title(Schema):
            title = fields.String()

        @returns(Title)
        @reads(Search, location="query")
        class Find(RestView):
            def get(self, *, query):
                return {"title": query.get("q"), "other": 1}

        app.add_url_rule("/find", view_func=Find.as_view("find"))

        assert client.get("/find?q=a").json == {"title": "a"}
        assert set(Find.rest_plans) == {"get"}

    def test_inherited(self, app, client):
        """
        A subclass of a class with class-level declarations has the plans.
        """

        @reads(Search, location="query")
        class Find(RestView):
            def get(self, *, query):
                return query

        class More(Find):
            pass

        app.add_url_rule("/more", view_func=More.as_view("more"))

        assert client.get("/more?q=a").json == {"q": "a"}
        assert More.rest_plans["get"] == Find.rest_plans["get"]

    def test_subclass_own_plan(self, app, client):
        """
        A subclass that declares a method again gets its own plan; the
        parent's is unchanged.
        """

        class Find(RestView):
            @reads(Search, location="query")
            def get(self, *, query):
                return query

        class Strict(Schema):
            q = fields.String(required=True)

        class StrictFind(Find):
            @reads(Strict, location="query")
            def get(self, *, query):
                return {"strict": query}

        app.add_url_rule("/find", view_func=Find.as_view("find"))
        app.add_url_rule("/strict", view_func=StrictFind.as_view("strict"))

        assert client.get("/find").json == {}
        assert client.get("/strict").status_code == 422
        assert client.get("/strict?q=a").json == {"strict": {"q": "a"}}
        assert isinstance(Find.rest_plans["get"].inputs[0].schema, Search)
        assert isinstance(StrictFind.rest_plans["get"].inputs[0].schema, Strict)

    def test_subclass_inherits_declared_method(self, app, client):
        """
        A subclass that does not redefine a declared method runs the parent's
        declarations with its own UNKNOWN.
        """

        class Create(RestView):
            @reads(Item)
            def post(self, *, body):
                return body

        class Lenient(Create):
            UNKNOWN = {"json": EXCLUDE}

        app.add_url_rule("/create", view_func=Create.as_view("create"))
        app.add_url_rule("/lenient", view_func=Lenient.as_view("lenient"))

        body = {"title": "a", "x": 1}
        assert client.post("/create", json=body).status_code == 422
        assert client.post("/lenient", json=body).json == {"title": "a"}

    def test_undeclared_method_untouched(self, app, client):
        """
        A method without any declaration is served as Flask serves it.
        """

        class Mixed(RestView):
            def get(self):
                return "plain"

            @returns(Item)
            def post(self):
                return {"title": "a"}

        app.add_url_rule("/mixed", view_func=Mixed.as_view("mixed"))

        assert client.get("/mixed").text == "plain"
        assert client.post("/mixed").json == {"title": "a"}
        assert set(Mixed.rest_plans) == {"post"}

    def test_plan(self):
        """
        The plan holds the inputs and the output, as declared.
        """

        class Create(RestView):
            @reads(Search, location="query", description="filters")
            @reads(Item)
            @returns(Item, status=201, headers={"Location": "where"})
            def post(self, *, body, query):  # pragma: no cover -- never called
                return body

        plan = Create.rest_plans["post"]

        assert isinstance(plan, Plan)
        assert plan.method == "post"
        assert [(i.location, i.arg, i.description) for i in plan.inputs] == [
            ("json", "body", None),
            ("query", "query", "filters"),
        ]
        assert all(isinstance(i, Input) for i in plan.inputs)
        assert isinstance(plan.output, Output)
        assert plan.output.status == 201
        assert plan.output.headers == {"Location": "where"}


# -- declaration errors ------------------------------------------------------


class TestDeclarationErrors:
    def test_not_rest_mixin(self):
        """
        @reads on a method of a class that is not a RestMixin is refused when
        the class is created.
        """
        with pytest.raises(
            (RestDeclarationError, RuntimeError), match="Plain"
        ) as excinfo:

            class Plain(MethodView):
                @reads(Item)
                def post(self, *, body):  # pragma: no cover -- never called
                    return body

        with pytest.raises(RestDeclarationError, match="derive it from RestView"):
            raise declaration_error(excinfo)

    def test_class_not_rest_mixin(self):
        """
        @returns on a class that is not a RestMixin is refused.
        """
        with pytest.raises(
            RestDeclarationError, match=r"derive '.*Plain' from RestView"
        ):

            @returns(Item)
            class Plain(MethodView):
                pass

    def test_not_http_method(self):
        """
        Declaring a method that is not an HTTP handler is refused.
        """
        with pytest.raises(
            RestDeclarationError, match=r"Bad\.helper .* is not an HTTP method"
        ):

            class Bad(RestView):
                @reads(Item)
                def helper(self, *, body):  # pragma: no cover -- never called
                    return body

    def test_outside_a_class(self):
        """
        A declared function outside a class still calls the function.
        """
        declared = reads(Item)(lambda x: x * 2)

        assert declared(21) == 42

    def test_not_callable(self):
        """
        @reads decorates methods and classes only.
        """
        with pytest.raises(RestDeclarationError, match="decorate methods or view"):
            reads(Item)(42)

    def test_two_bodies(self):
        """
        A method reads one body.
        """
        with pytest.raises(RestDeclarationError, match="a request has one body"):

            class Bad(RestView):
                @reads(Item)
                @reads(Item, location="form")
                def post(self, *, body, form):  # pragma: no cover -- never called
                    return body

    def test_same_location_twice(self):
        """
        A method reads each location once.
        """
        with pytest.raises(RestDeclarationError, match="reads 'query' twice"):

            class Bad(RestView):
                @reads(Search, location="query")
                @reads(Search, location="query", arg="other")
                def get(self, *, query, other):  # pragma: no cover -- never called
                    return query

    def test_same_arg_twice(self):
        """
        Two inputs may not share an argument name.
        """
        with pytest.raises(RestDeclarationError, match="same argument; give one"):

            class Bad(RestView):
                @reads(Search, location="query", arg="x")
                @reads(Auth, location="headers", arg="x")
                def get(self, *, x):  # pragma: no cover -- never called
                    return x

    def test_bad_location(self):
        """
        An unknown location is refused, naming the known ones.
        """
        with pytest.raises(
            RestDeclarationError, match=r"location='cookies'\) is not a known"
        ):
            reads(Item, location="cookies")

    def test_path_arg(self):
        """
        Path inputs keep the URL variables' names: arg= is refused.
        """
        with pytest.raises(RestDeclarationError, match=r"keep their own names"):
            reads(Item, location="path", arg="ids")

    def test_bad_arg(self):
        """
        An argument name must be an identifier.
        """
        with pytest.raises(RestDeclarationError, match=r"arg='not valid'\) is not"):
            reads(Item, arg="not valid")

    def test_bad_unknown(self):
        """
        `unknown=` is one of marshmallow's RAISE, EXCLUDE or INCLUDE.
        """
        with pytest.raises(RestDeclarationError, match=r"unknown='ignore'\) is not"):
            reads(Item, unknown="ignore")

    def test_bad_view_unknown_value(self):
        """
        A view's UNKNOWN values are marshmallow's RAISE, EXCLUDE or INCLUDE.
        """
        with pytest.raises(RestDeclarationError, match=r"Bad\.UNKNOWN\['json'\]"):

            class Bad(RestView):
                UNKNOWN = {"json": "skip"}

    def test_bad_view_unknown_location(self):
        """
        A view's UNKNOWN names known locations: a typo does not pass silently.
        """
        with pytest.raises(RestDeclarationError, match=r"UNKNOWN\['body'\]: 'body' is"):

            class Bad(RestView):
                UNKNOWN = {"body": EXCLUDE}

    @pytest.mark.parametrize("declare", [reads, returns])
    def test_not_a_schema(self, declare):
        """
        A schema must be a marshmallow schema class or instance.
        """
        with pytest.raises(RestDeclarationError, match=r"dict.* is not a marshmallow"):
            declare(dict)

    @pytest.mark.parametrize(
        ("schema", "many"), [(Item(), True), (Item(many=True), False)]
    )
    def test_many_contradiction(self, schema, many):
        """
        `many=` may not contradict a schema instance's own.
        """
        with pytest.raises(RestDeclarationError, match="contradicts the schema"):
            returns(schema, many=many)

    @pytest.mark.parametrize("status", [100, 404, 500])
    def test_bad_status(self, status):
        """
        A declared status is a success or redirection.
        """
        with pytest.raises(RestDeclarationError, match=f"status={status}"):
            returns(Item, status=status)


# -- schemas -----------------------------------------------------------------


class TestSchemas:
    def test_built_once_per_class(self, app, client):
        """
        Schema classes are instantiated when declared, never per request.
        """
        built = []

        class Counted(Schema):
            title = fields.String()

            def __init__(self, **kwargs):
                built.append(kwargs.get("many"))
                super().__init__(**kwargs)

        class Create(RestView):
            @reads(Counted)
            @returns(Counted, many=True)
            def post(self, *, body):
                return [body, body]

        app.add_url_rule("/items", view_func=Create.as_view("items"))
        before = list(built)

        for _ in range(3):
            assert (
                client.post("/items", json={"title": "a"}).json == [{"title": "a"}] * 2
            )

        assert before == [False, True]
        assert built == before

    def test_instance_kept(self):
        """
        A schema instance is used as it is.
        """
        schema = Item(only=["title"])

        class Create(RestView):
            @reads(schema)
            def post(self, *, body):  # pragma: no cover -- never called
                return body

        assert Create.rest_plans["post"].inputs[0].schema is schema


# -- running -----------------------------------------------------------------


class TestRunning:
    def test_decorators(self, app, client):
        """
        Flask's `decorators` wrap a view with declarations.
        """
        calls = []

        def logged(view):
            @functools.wraps(view)
            def wrapper(**kwargs):
                calls.append(kwargs)
                return view(**kwargs)

            return wrapper

        class Create(RestView):
            decorators = [logged]

            @reads(Item)
            @returns(Item, status=201)
            def post(self, item_id, *, body):
                return {**body, "rank": item_id}

        app.add_url_rule("/items/<int:item_id>", view_func=Create.as_view("items"))

        response = client.post("/items/5", json={"title": "a"})

        assert response.status_code == 201
        assert response.json == {"title": "a", "rank": 5}
        assert calls == [{"item_id": 5}]

    def test_one_instance(self, app, client):
        """
        With `init_every_request = False`, one view instance serves every
        request and keeps no request's input.
        """
        seen = set()

        class Find(RestView):
            init_every_request = False

            @reads(Search, location="query")
            def get(self, *, query):
                seen.add(id(self))
                return query

        app.add_url_rule("/find", view_func=Find.as_view("find"))

        assert client.get("/find?q=a").json == {"q": "a"}
        assert client.get("/find").json == {}
        assert len(seen) == 1

    def test_one_instance_threads(self, app):
        """
        One view instance shared by threads gives each concurrent request its
        own input and its own services.
        """
        register_factory(app, Counter, Counter)
        threads = 8
        entered = threading.Barrier(threads, timeout=10)

        class Echo(RestView):
            init_every_request = False
            counter = ServiceAttr(Counter)

            @reads(Search, location="query")
            def get(self, *, query):
                self.counter.calls += 1
                # Every request is inside the view at once; a broken barrier
                # (after ten seconds) fails the test.
                entered.wait()
                return {"q": query["q"], "calls": self.counter.calls, "view": id(self)}

        app.add_url_rule("/echo", view_func=Echo.as_view("echo"))

        def fetch(n):
            response = app.test_client().get(f"/echo?q={n}")
            return response.status_code, response.json

        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(fetch, range(threads), timeout=30))

        assert [status for status, _ in results] == [200] * threads
        assert [body["q"] for _, body in results] == [str(n) for n in range(threads)]
        assert all(body["calls"] == 1 for _, body in results)
        assert len({body["view"] for _, body in results}) == 1

    def test_async(self, app, client):
        """
        An async handler reads and returns through its declarations.
        """

        class Create(RestView):
            @reads(Item)
            @returns(Item, status=201)
            async def post(self, *, body):
                await asyncio.sleep(0)
                return {**body, "rank": 1, "extra": "dropped"}

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        response = client.post("/items", json={"title": "a"})

        assert response.status_code == 201
        assert response.json == {"title": "a", "rank": 1}

    def test_async_path_and_errors(self, app, client):
        """
        An async handler loads its path and answers validation errors.
        """

        class Show(RestView):
            @reads(ItemPath, location="path")
            @reads(Search, location="query")
            async def get(self, *, item_id, query):
                return {"id": item_id, **query}

        app.add_url_rule("/items/<item_id>", view_func=Show.as_view("show"))

        assert client.get("/items/2?q=a").json == {"id": 2, "q": "a"}
        assert client.get("/items/x").status_code == 404

    def test_async_only_inputs(self, app, client):
        """
        An async handler with inputs only returns what Flask makes of it.
        """

        class Find(RestView):
            @reads(Search, location="query")
            async def get(self, *, query):
                return query

        app.add_url_rule("/find", view_func=Find.as_view("find"))

        assert client.get("/find?q=a").json == {"q": "a"}

    def test_async_collision(self, app):
        """
        An async handler refuses a URL variable named like an input too.
        """

        class Find(RestView):
            @reads(Search, location="query")
            async def get(self, *, query):  # pragma: no cover -- never called
                return query

        app.add_url_rule("/find/<query>", view_func=Find.as_view("find"))

        with pytest.raises(RestDeclarationError, match="'query' collides"):
            app.test_client().get("/find/x")

    def test_async_cleanups(self, app, client):
        """
        The async cleanups of an async handler's services run before it
        returns, with declarations as without.
        """
        events = []

        async def connect():
            events.append("open")
            yield Counter()
            events.append("close")

        register_factory(app, Counter, connect)

        class Create(RestView):
            services: ClassVar = {"counter": Counter}

            @reads(Item)
            @returns(Item)
            async def post(self, *, body):
                await self.aservice("counter")
                events.append("view")
                return body

        @app.after_request
        def after(response):
            events.append("after")
            return response

        app.add_url_rule("/items", view_func=Create.as_view("items"))

        assert client.post("/items", json={"title": "a"}).json == {"title": "a"}
        assert events == ["open", "view", "close", "after"]

    def test_async_cleanups_on_error(self, app, client):
        """
        The async cleanups run when a declared async handler aborts too.
        """
        events = []

        async def connect():
            yield Counter()
            events.append("close")

        register_factory(app, Counter, connect)

        class Show(RestView):
            services: ClassVar = {"counter": Counter}

            @reads(Search, location="query")
            @returns(Item)
            async def get(self, *, query):
                await self.aservice("counter")
                abort(404, f"No {query['q']}.")

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        response = client.get("/show?q=x")

        assert response.status_code == 404
        assert response.json["message"] == "No x."
        assert events == ["close"]

    def test_async_class_level(self, app, client):
        """
        A class-level declaration applies to an async handler.
        """

        @returns(Item)
        class Show(RestView):
            async def get(self):
                return {"title": "a", "other": 1}

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        assert client.get("/show").json == {"title": "a"}

    def test_blueprint_service(self, app, client):
        """
        A view with declarations resolves services through its blueprint.
        """
        api = Blueprint("api", __name__, url_prefix="/api")
        register_value(app, Counter, Counter())
        counter = Counter()
        counter.calls = 7
        register_value(api, Counter, counter)

        class Show(RestView):
            counter = ServiceAttr(Counter)

            @returns(None)
            def get(self):
                return {"calls": self.counter.calls}

        api.add_url_rule("/show", view_func=Show.as_view("show"))
        app.add_url_rule("/show", view_func=Show.as_view("show"))
        app.register_blueprint(api)

        assert client.get("/api/show").json == {"calls": 7}
        assert client.get("/show").json == {"calls": 0}


class TestTypedViews:
    def test_views_of_the_type_check(self, app, client, monkeypatch):
        """
        The views of tests/type_check/check_rest.py, which mypy checks, serve
        their declarations.
        """
        path = Path(__file__).parent / "type_check" / "check_rest.py"
        spec = importlib.util.spec_from_file_location("check_rest", path)
        module = importlib.util.module_from_spec(spec)
        # dataclass() looks the module up while it runs.
        monkeypatch.setitem(sys.modules, "check_rest", module)
        spec.loader.exec_module(module)
        register_value(app, module.SearchClient, module.SearchClient())
        register_value(app, module.BookmarkRepository, module.BookmarkRepository())
        app.add_url_rule("/search", view_func=module.Search.as_view("search"))
        app.add_url_rule("/again", view_func=module.SearchInstance.as_view("again"))
        app.add_url_rule(
            "/bookmarks/", view_func=module.BookmarkList.as_view("bookmarks")
        )
        app.add_url_rule(
            "/bookmarks/<int:item_id>", view_func=module.BookmarkItem.as_view("item")
        )

        assert client.get("/search?q=a").json == [{"title": "a"}]
        assert client.get("/again?q=b").json == [{"title": "b"}]
        assert client.get("/search").status_code == 422
        assert client.post("/bookmarks/", json={}).json == {
            "id": 1,
            "title": "untitled",
        }
        assert client.delete("/bookmarks/1").status_code == 428


class NoCopiesLeftError(Exception):
    """
    No copies of the book are left to lend.

    More text that is not sent.
    """


class LoanLimitError(NoCopiesLeftError):
    pass


class SecretError(Exception):
    pass


class TestDeclaredErrors:
    def test_mapped_exception_answers_its_status(self, app, client):
        """
        An exception mapped in ERRORS is answered with its status, in the
        JSON error shape, with the declared text, never the exception's.
        """
        json_errors(app)

        class Lend(RestView):
            ERRORS: ClassVar = {NoCopiesLeftError: 409}

            @returns(Item, status=201)
            def post(self):
                msg = "internal detail: row 42 locked"
                raise NoCopiesLeftError(msg)

        app.add_url_rule("/loans", view_func=Lend.as_view("loans"))

        response = client.post("/loans")

        assert response.status_code == 409
        assert response.json == {
            "code": 409,
            "status": "Conflict",
            "message": "No copies of the book are left to lend.",
        }
        assert "row 42" not in response.get_data(as_text=True)

    def test_debug_names_the_exception(self, app, client):
        """
        In debug mode the error body also names the original exception.
        """
        json_errors(app)
        app.debug = True

        class Lend(RestView):
            ERRORS: ClassVar = {SecretError: ErrorResponse(403, "Not yours.")}

            def get(self):
                msg = "the detail"
                raise SecretError(msg)

        app.add_url_rule("/loans", view_func=Lend.as_view("loans"))

        response = client.get("/loans")

        assert response.status_code == 403
        assert response.json["message"] == "Not yours."
        assert response.json["exception"] == "SecretError: the detail"

    def test_most_specific_class_and_mro_merge(self, app, client):
        """
        ERRORS merges along the MRO; the most specific mapped class of the
        raised exception decides; an undocumented status still answers.
        """
        json_errors(app)

        class Base(RestView):
            ERRORS: ClassVar = {NoCopiesLeftError: 409}

        class Lend(Base):
            ERRORS: ClassVar = {LoanLimitError: ErrorResponse(499, "Too many loans.")}

            @returns(None, status=204)
            def post(self):
                raise LoanLimitError

            @returns(None, status=204)
            def put(self):
                raise NoCopiesLeftError

        app.add_url_rule("/loans", view_func=Lend.as_view("loans"))

        limited = client.post("/loans")
        none_left = client.put("/loans")

        assert (limited.status_code, limited.json["message"]) == (
            499,
            "Too many loans.",
        )
        assert none_left.status_code == 409
        statuses = [e.status for e in Lend.rest_plans["post"].errors]
        assert statuses == [409, 499]

    def test_methods_limit_an_answer(self, app, client):
        """
        ErrorResponse(methods=...) answers, and documents, for those methods
        only; elsewhere the exception propagates.
        """
        json_errors(app)

        class Lend(RestView):
            ERRORS: ClassVar = {NoCopiesLeftError: ErrorResponse(409, methods=["post"])}

            @returns(None, status=204)
            def post(self):
                raise NoCopiesLeftError

            @returns(None, status=204)
            def delete(self):
                raise NoCopiesLeftError

        app.add_url_rule("/loans", view_func=Lend.as_view("loans"))

        assert client.post("/loans").status_code == 409
        with pytest.raises(NoCopiesLeftError):
            client.delete("/loans")
        assert Lend.rest_plans["delete"].errors == ()

    def test_headers_sent_and_documented(self, app, client):
        """
        ErrorResponse(headers=...) sends the headers with the answer, and the
        plan documents them.
        """
        json_errors(app)

        class Lend(RestView):
            ERRORS: ClassVar = {
                NoCopiesLeftError: ErrorResponse(
                    503, "Try later.", headers={"Retry-After": "30"}
                )
            }

            @returns(None, status=204)
            def post(self):
                raise NoCopiesLeftError

        app.add_url_rule("/loans", view_func=Lend.as_view("loans"))

        response = client.post("/loans")

        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        assert response.json["message"] == "Try later."
        (error,) = Lend.rest_plans["post"].errors
        assert error.values == {"Retry-After": "30"}
        assert error.headers == {
            "Retry-After": {
                "description": "Sent with this error.",
                "schema": {"type": "string", "examples": ["30"]},
                "required": True,
            }
        }

    @pytest.mark.parametrize("headers", [{"Retry-After": 30}, {1: "x"}])
    def test_refuses_headers_not_strings(self, headers):
        """
        ErrorResponse(headers=...) maps header names to values, as strings.
        """
        with pytest.raises(RestDeclarationError, match="give both as strings"):

            class Lend(RestView):
                ERRORS: ClassVar = {
                    NoCopiesLeftError: ErrorResponse(503, headers=headers)
                }

    def test_description_defaults(self, app, client):
        """
        Without a description, the exception's own docstring summary, else
        the status's name, is the text.
        """
        json_errors(app)

        class Lend(RestView):
            ERRORS: ClassVar = {NoCopiesLeftError: 409, SecretError: 422}

            def get(self):
                raise SecretError

        app.add_url_rule("/loans", view_func=Lend.as_view("loans"))

        texts = [e.description for e in Lend.rest_plans["get"].errors]
        assert texts == [
            "No copies of the book are left to lend.",
            "Unprocessable Content",
        ]
        assert client.get("/loans").json["message"] == "Unprocessable Content"

    def test_plain_method_compiled_for_errors(self, app, client):
        """
        A method with no reads or returns still answers the class's ERRORS,
        and returns what it returns.
        """
        json_errors(app)

        class Lend(RestView):
            ERRORS: ClassVar = {NoCopiesLeftError: 409}

            def get(self):
                return "plain"

            def post(self):
                raise NoCopiesLeftError

        app.add_url_rule("/loans", view_func=Lend.as_view("loans"))

        assert client.get("/loans").get_data(as_text=True) == "plain"
        assert client.post("/loans").status_code == 409
        assert Lend.rest_plans["get"].output is None

    def test_async(self, app, client):
        """
        An async method's mapped exceptions are answered too.
        """
        json_errors(app)

        class Lend(RestView):
            ERRORS: ClassVar = {NoCopiesLeftError: 409}

            @returns(Item)
            async def get(self):
                await asyncio.sleep(0)
                raise NoCopiesLeftError

        app.add_url_rule("/loans", view_func=Lend.as_view("loans"))

        assert client.get("/loans").status_code == 409

    def test_returns_errors(self):
        """
        returns(errors=...) documents statuses the method answers itself.
        """

        class Lend(RestView):
            @returns(Item, errors={409: "No copies are left."})
            def post(self):  # pragma: no cover -- not requested
                abort(409)

        (error,) = Lend.rest_plans["post"].errors
        assert error == DeclaredError(409, "No copies are left.")

    @pytest.mark.parametrize("status", [200, 302, 600, "409", True])
    def test_returns_errors_refuses_non_errors(self, status):
        """
        An error status must be a number from 400 to 599.
        """
        with pytest.raises(RestDeclarationError, match="is not an error status"):
            returns(Item, errors={status: "x"})

    def test_refuses_non_exceptions(self):
        """
        ERRORS maps exception classes.
        """
        with pytest.raises(RestDeclarationError, match="is not an exception class"):

            class Lend(RestView):
                ERRORS: ClassVar = {"NoCopiesLeftError": 409}

    def test_refuses_bad_status(self):
        """
        ERRORS' statuses are error statuses.
        """
        with pytest.raises(
            RestDeclarationError, match=r"ERRORS\[NoCopiesLeftError\]: 201 is not"
        ):

            class Lend(RestView):
                ERRORS: ClassVar = {NoCopiesLeftError: 201}

    def test_refuses_unknown_methods(self):
        """
        ErrorResponse(methods=...) names HTTP methods in lower case.
        """
        with pytest.raises(RestDeclarationError, match="are not all HTTP methods"):

            class Lend(RestView):
                ERRORS: ClassVar = {
                    NoCopiesLeftError: ErrorResponse(409, methods=frozenset({"POST"}))
                }


class TestOperationHook:
    def test_doc_decorator(self):
        """
        doc() keeps what it sets in the method's plan, in OpenAPI's spelling.
        """

        class Lend(RestView):
            @doc(
                summary="Lend a book.",
                description="Long.",
                tags=["loans"],
                deprecated=True,
                operation_id="lend",
                responses={409: "No copies.", "default": {"description": "x"}},
                extra={"x-internal": True},
            )
            @returns(Item)
            def post(self):  # pragma: no cover -- not requested
                return {}

        assert Lend.rest_plans["post"].doc == {
            "summary": "Lend a book.",
            "description": "Long.",
            "tags": ["loans"],
            "deprecated": True,
            "operationId": "lend",
            "responses": {"409": "No copies.", "default": {"description": "x"}},
            "x-internal": True,
        }

    def test_doc_alone_makes_a_plan(self, app, client):
        """
        A method with only doc() has a plan, and answers as before.
        """

        class Lend(RestView):
            @doc(summary="Say hi.")
            def get(self):
                return "hi"

        app.add_url_rule("/hi", view_func=Lend.as_view("hi"))

        assert client.get("/hi").get_data(as_text=True) == "hi"
        assert Lend.rest_plans["get"].doc == {"summary": "Say hi."}

    def test_class_hook_merges(self):
        """
        OPENAPI merges along the MRO: the class-wide part, then the method's,
        then doc(); responses merge by status.
        """

        class Base(RestView):
            OPENAPI: ClassVar = {
                "tags": ["base"],
                "responses": {403: "Forbidden here."},
                "get": {"summary": "Base get."},
            }

        class Lend(Base):
            OPENAPI: ClassVar = {
                "responses": {409: "No copies."},
                "post": {"summary": "Lend."},
            }

            @returns(Item)
            def get(self):  # pragma: no cover -- not requested
                return {}

            @doc(responses={409: "None left."})
            @returns(Item)
            def post(self):  # pragma: no cover -- not requested
                return {}

        assert Lend.rest_plans["get"].doc == {
            "tags": ["base"],
            "responses": {"403": "Forbidden here.", "409": "No copies."},
            "summary": "Base get.",
        }
        assert Lend.rest_plans["post"].doc == {
            "tags": ["base"],
            "responses": {"403": "Forbidden here.", "409": "None left."},
            "summary": "Lend.",
        }

    def test_doc_on_class_refused(self):
        """
        doc() decorates methods; a class sets OPENAPI.
        """
        with pytest.raises(RestDeclarationError, match="set OPENAPI on the class"):

            @doc(summary="x")
            class Lend(RestView):
                pass

    @pytest.mark.parametrize(
        ("hook", "match"),
        [
            ({"summery": "x"}, "'summery' is not an operation field"),
            ({"get": {"parameters": []}}, r"OPENAPI\['get'\]: 'parameters' is not"),
            ({"responses": {409: 3}}, "give a description or an OpenAPI response"),
            ({"responses": {"2XX": "ok"}}, "is not an error status"),
        ],
    )
    def test_class_hook_refused(self, hook, match):
        """
        OPENAPI is checked when the class is created.
        """
        with pytest.raises(RestDeclarationError, match=match):

            class Lend(RestView):
                OPENAPI: ClassVar = hook

    def test_doc_refused(self):
        """
        doc(extra=...) is checked too.
        """
        with pytest.raises(RestDeclarationError, match="'servers' is not"):
            doc(extra={"servers": []})


class TestStatusNames:
    def test_fixed_names(self):
        """
        Status names are the project's own, whatever http.HTTPStatus says.
        """
        assert status_name(422) == "Unprocessable Content"
        assert status_name(413) == "Content Too Large"
        assert status_name(599) == "Status 599"
        assert STATUS_NAMES[304] == "Not Modified"
