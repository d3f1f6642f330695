"""Tests for flask_servicecbv.rest.openapi: the document, its serving and CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from typing import Any, ClassVar

import pytest
import swagger_ui_bundle
from flask import Blueprint, Flask, Response
from flask.views import MethodView
from marshmallow import EXCLUDE, INCLUDE, Schema, fields, validate
from openapi_spec_validator import validate as validate_spec
from servers import schemathesis
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter
from werkzeug.serving import make_server

import flask_servicecbv as svc
from flask_servicecbv.auth import APIKey, Basic, Bearer, HashedTokenStore, authenticate
from flask_servicecbv.exceptions import OpenAPIError
from flask_servicecbv.rest import (
    CollectionView,
    IdConverter,
    InMemoryRepository,
    ItemView,
    RestView,
    authenticated,
    json_errors,
    openapi,
    public,
    reads,
    requires,
    returns,
)
from flask_servicecbv.rest.declarations import ErrorResponse, doc
from flask_servicecbv.rest.openapi import OpenAPI, build_spec, spec_json
from flask_servicecbv.rest.validate import NO_NUL, FullMatch

# http or https, a host of letters, digits, dots and dashes, and a path.
URL_PATTERN = r"https?://[A-Za-z][A-Za-z0-9.-]{0,60}(/[A-Za-z0-9._~/-]{0,60})?"


class NoteSchema(Schema):
    """A note: its URL is checked by the same pattern the document shows."""

    id = fields.Integer(dump_only=True)
    url = fields.String(required=True, validate=FullMatch(URL_PATTERN))
    title = fields.String(
        required=True, validate=[validate.Length(min=1, max=40), NO_NUL]
    )


class Notes(InMemoryRepository):
    """The repository service key."""


class SearchArgs(Schema):
    q = fields.String(required=True, validate=validate.Length(max=20))
    tag = fields.List(fields.String(validate=validate.Length(max=10)))


class Result(Schema):
    q = fields.String()
    tag = fields.List(fields.String())


class TraceHeaders(Schema):
    trace = fields.String(data_key="X-Trace", validate=validate.Length(max=20))


class Upload(Schema):
    name = fields.String(required=True, validate=validate.Length(max=20))


class Described(Schema):
    """A schema whose Meta has a description."""

    class Meta:
        description = "Described on purpose."

    name = fields.String(required=True, validate=validate.Length(max=20))


def note_views() -> tuple[type[CollectionView], type[ItemView]]:
    class NoteList(CollectionView):
        """Notes: list and create."""

        notes = svc.ServiceAttr(Notes)
        repository = notes
        schema = NoteSchema
        ITEM_ENDPOINT = ".note"

    class NoteItem(ItemView):
        notes = svc.ServiceAttr(Notes)
        repository = notes
        schema = NoteSchema
        LOOKUP = "note_id"

    return NoteList, NoteItem


@pytest.fixture(name="full_app")
def _full_app():
    """
    An app with every kind of view the document describes.
    """
    app = svc.init_app(Flask("full"))
    app.url_map.converters["id"] = IdConverter
    json_errors(app)
    svc.register_value(app, Notes, Notes())
    note_list, note_item = note_views()

    class Search(RestView):
        """
        Search the notes.

        Finds what matches q.
        """

        @reads(SearchArgs, location="query")
        @reads(TraceHeaders, location="headers")
        @returns(Result)
        def get(self, *, query: dict[str, Any], headers: dict[str, Any]) -> Any:
            return query

    class Form(RestView):
        @reads(Upload, location="form", description="The upload.")
        @returns(Upload, status=201)
        def post(self, *, form: dict[str, Any]) -> Any:
            return form

    class Open(RestView):
        UNKNOWN = {"json": INCLUDE}

        @reads(Upload)
        @returns(None, status=204)
        def put(self, *, body: dict[str, Any]) -> None:
            pass

        @reads(Upload, unknown=EXCLUDE)
        @returns(None, status=204)
        def post(self, *, body: dict[str, Any]) -> None:
            pass

        @reads(Upload, required=False)
        @returns(None, status=204)
        def patch(self, *, body: dict[str, Any]) -> None:
            pass

    class Meta(RestView):
        @reads(Described)
        @returns(Described)
        def post(self, *, body: dict[str, Any]) -> Any:
            return body

    class Plain(svc.ServiceView):
        def get(self, **kwargs: object) -> str:
            return "plain"

    class NotAService(MethodView):
        def get(self) -> str:  # pragma: no cover -- never requested
            return "no"

    api = Blueprint("api", __name__)
    v2 = Blueprint("v2", __name__)
    api.add_url_rule("/notes", view_func=note_list.as_view("notes"))
    api.add_url_rule("/notes/<id:note_id>", view_func=note_item.as_view("note"))
    v2.add_url_rule("/search", view_func=Search.as_view("search"))
    api.register_blueprint(v2, url_prefix="/v2")
    app.register_blueprint(api, url_prefix="/api")
    app.add_url_rule("/form", view_func=Form.as_view("form"))
    app.add_url_rule("/open", view_func=Open.as_view("open"))
    app.add_url_rule("/meta", view_func=Meta.as_view("meta"))
    app.add_url_rule("/plain/<int:n>", view_func=Plain.as_view("plain"))
    app.add_url_rule("/plain2/<any(a, b):kind>", view_func=Plain.as_view("plain2"))
    app.add_url_rule("/health", view_func=svc.HealthView.as_view("health"))
    app.add_url_rule("/mv", view_func=NotAService.as_view("mv"))
    return app


@pytest.fixture(name="doc")
def _doc(full_app):
    return build_spec(full_app)


class TestDocument:
    def test_valid(self, doc):
        """
        The document is valid OpenAPI 3.1.
        """
        validate_spec(doc)
        assert doc["openapi"] == "3.1.0"

    def test_info_defaults(self, doc):
        """
        Nothing is required: the title is the app's name; no servers are
        listed, and every tag that an operation uses is declared.
        """
        assert doc["info"] == {"title": "full", "version": "1.0.0"}
        assert "servers" not in doc
        assert doc["tags"] == [{"name": "api"}, {"name": "api.v2"}]

    def test_info_configured(self, full_app):
        """
        Title, version, description, servers, tags and security come from
        the configuration.
        """
        full_app.config.update(
            OPENAPI_TITLE="Notes API",
            OPENAPI_VERSION=2,
            OPENAPI_DESCRIPTION="All the notes.",
            OPENAPI_SERVERS=[{"url": "https://api.example.com"}],
            OPENAPI_TAGS=[{"name": "api", "description": "The API."}],
            OPENAPI_SECURITY_SCHEMES={"bearer": {"type": "http", "scheme": "bearer"}},
            OPENAPI_SECURITY=[{"bearer": []}],
        )

        doc = build_spec(full_app)

        validate_spec(doc)
        assert doc["info"] == {
            "title": "Notes API",
            "version": "2",
            "description": "All the notes.",
        }
        assert doc["servers"] == [{"url": "https://api.example.com"}]
        # Configured tags first, then the other tags the operations use.
        assert doc["tags"] == [
            {"name": "api", "description": "The API."},
            {"name": "api.v2"},
        ]
        assert doc["security"] == [{"bearer": []}]
        assert doc["components"]["securitySchemes"] == {
            "bearer": {"type": "http", "scheme": "bearer"}
        }

    def test_only_service_views(self, doc):
        """
        Every service view on the URL map is described, and nothing else.
        """
        assert sorted(doc["paths"]) == [
            "/api/notes",
            "/api/notes/{note_id}",
            "/api/v2/search",
            "/form",
            "/health",
            "/meta",
            "/open",
            "/plain/{n}",
            "/plain2/{kind}",
        ]

    def test_methods(self, doc):
        """
        Each path has exactly the methods its view serves.
        """
        assert sorted(doc["paths"]["/api/notes"]) == ["get", "post"]
        assert sorted(doc["paths"]["/api/notes/{note_id}"]) == [
            "delete",
            "get",
            "patch",
            "put",
        ]

    def test_operation_ids_and_tags(self, doc):
        """
        operationId is the endpoint and the method; the tag is the blueprint.
        """
        search = doc["paths"]["/api/v2/search"]["get"]
        assert search["operationId"] == "api.v2.search.get"
        assert search["tags"] == ["api.v2"]
        assert "tags" not in doc["paths"]["/form"]["post"]

    def test_docstrings(self, doc):
        """
        The method's docstring, else the class's, gives summary and
        description; the generic views' methods are summarised after their
        schema and described by the view class's docstring, never by the
        library's.
        """
        search = doc["paths"]["/api/v2/search"]["get"]
        assert search["summary"] == "Search the notes."
        assert search["description"] == "Finds what matches q."
        notes = doc["paths"]["/api/notes"]
        assert notes["post"]["summary"] == "Create a Note."
        assert notes["post"]["description"] == "Notes: list and create."
        assert notes["get"]["summary"] == "List Note items, a page at a time."
        item = doc["paths"]["/api/notes/{note_id}"]
        assert [item[m]["summary"] for m in ("get", "put", "patch", "delete")] == [
            "Retrieve a Note.",
            "Replace a Note.",
            "Change some fields of a Note.",
            "Delete a Note.",
        ]
        assert "description" not in item["get"]
        assert "summary" not in doc["paths"]["/open"]["put"]

    def test_query_and_header_parameters(self, doc):
        """
        Query and header inputs become parameters, lists exploded.
        """
        params = doc["paths"]["/api/v2/search"]["get"]["parameters"]
        by_name = {p["name"]: p for p in params}
        assert by_name["q"]["in"] == "query"
        assert by_name["q"]["required"] is True
        assert by_name["tag"]["schema"]["type"] == "array"
        assert by_name["tag"]["explode"] is True
        assert by_name["X-Trace"]["in"] == "header"

    @pytest.mark.parametrize(
        ("path", "schema"),
        [
            (
                "/api/notes/{note_id}",
                {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
            ),
            ("/plain/{n}", {"type": "integer", "minimum": 0}),
            ("/plain2/{kind}", {"type": "string", "enum": ["a", "b"]}),
        ],
    )
    def test_path_parameters(self, doc, path, schema):
        """
        URL variables are parameters typed after their converter.
        """
        operation = doc["paths"][path]["get"]
        param = operation["parameters"][0]
        assert param["in"] == "path"
        assert param["required"] is True
        assert param["schema"] == schema
        assert operation["responses"]["404"] == {
            "$ref": "#/components/responses/NotFound"
        }

    def test_request_bodies(self, doc):
        """
        Bodies list their accepted media types; a JSON body may answer 400,
        415 and 422.
        """
        post = doc["paths"]["/api/notes"]["post"]
        assert post["requestBody"] == {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/NoteInput"}
                }
            },
        }
        assert {"400", "413", "415", "422"} <= set(post["responses"])
        form = doc["paths"]["/form"]["post"]["requestBody"]
        assert form["description"] == "The upload."
        assert sorted(form["content"]) == [
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ]

    def test_created(self, doc):
        """
        A create answers 201 with a required Location header.
        """
        created = doc["paths"]["/api/notes"]["post"]["responses"]["201"]
        assert created["headers"]["Location"]["required"] is True

    def test_list(self, doc):
        """
        The list takes page, per_page with their bounds, answers a page with
        a Link header, an ETag, and 304.
        """
        get = doc["paths"]["/api/notes"]["get"]
        by_name = {p["name"]: p for p in _parameters(doc, get)}
        assert by_name["per_page"]["schema"]["maximum"] == 100
        assert by_name["page"]["schema"]["minimum"] == 1
        ok = get["responses"]["200"]
        assert ok["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/NoteListPage"
        }
        assert ok["headers"]["Link"]["required"] is False
        assert ok["headers"]["ETag"]["required"] is True
        assert "304" in get["responses"]
        assert "422" in get["responses"]

    def test_conditional_requests(self, doc):
        """
        Changing an item may answer 412; only a view that requires If-Match
        documents 428.
        """
        item = doc["paths"]["/api/notes/{note_id}"]
        for method in ("put", "patch", "delete"):
            assert "412" in item[method]["responses"]
            assert "428" not in item[method]["responses"]
        assert "304" in item["get"]["responses"]
        assert "304" not in item["put"]["responses"]
        assert item["delete"]["responses"]["204"] == {"description": "No Content"}

    def test_if_match_required(self, full_app):
        """
        REQUIRE_IF_MATCH documents 428.
        """
        _, note_item = note_views()

        class Strict(note_item):
            REQUIRE_IF_MATCH = True

        full_app.add_url_rule("/strict/<id:note_id>", view_func=Strict.as_view("s"))

        doc = build_spec(full_app)

        assert "428" in doc["paths"]["/strict/{note_id}"]["put"]["responses"]

    def test_partial_names(self, doc):
        """
        PATCH's schema is a distinct component without required fields.
        """
        schemas = doc["components"]["schemas"]
        assert "required" not in schemas["NotePatch"]
        assert schemas["NoteInput"]["required"] == ["url", "title"]
        patch = doc["paths"]["/api/notes/{note_id}"]["patch"]
        assert patch["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/NotePatch"
        }

    def test_patterns_documented(self, doc):
        """
        A FullMatch validator's pattern is in the document, anchored.
        """
        properties = doc["components"]["schemas"]["Note"]["properties"]
        assert properties["url"]["pattern"] == f"^(?:{URL_PATTERN})$"
        assert properties["title"]["pattern"] == "^(?:[^\\x00]*)$"

    def test_unknown_fields(self, doc):
        """
        Bodies that reject unknown fields say so; a view that includes or
        excludes them documents a variant that allows them.
        """
        schemas = doc["components"]["schemas"]
        assert schemas["Note"]["additionalProperties"] is False
        put = doc["paths"]["/open"]["put"]["requestBody"]["content"]
        assert put["application/json"]["schema"] == {
            "$ref": "#/components/schemas/UploadOpenInput"
        }
        assert schemas["UploadOpenInput"]["additionalProperties"] is True
        post = doc["paths"]["/open"]["post"]["requestBody"]["content"]
        assert post["application/json"]["schema"] == {
            "$ref": "#/components/schemas/UploadLenientInput"
        }
        assert schemas["UploadLenientInput"]["additionalProperties"] is True

    def test_optional_body(self, doc):
        """
        A body that may be left out is not required; the variant for its
        unknown fields is reused.
        """
        patch = doc["paths"]["/open"]["patch"]
        assert patch["requestBody"]["required"] is False
        assert patch["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/UploadOpenInput"
        }

    def test_methods_without_handler(self, full_app):
        """
        A rule's method that the view does not serve, and a second rule for
        the same path, add nothing; a path with no served method is left out.
        """
        _, note_item = note_views()
        full_app.add_url_rule(
            "/gp/<id:note_id>",
            view_func=note_item.as_view("gp"),
            methods=["GET", "POST"],
        )
        full_app.add_url_rule(
            "/gp/<id:note_id>", view_func=note_item.as_view("gp2"), methods=["GET"]
        )

        class OnlyGet(RestView):
            @returns(Result)
            def get(self) -> Any:  # pragma: no cover -- not requested
                return {}

        full_app.add_url_rule(
            "/post-only", view_func=OnlyGet.as_view("po"), methods=["POST"]
        )

        doc = build_spec(full_app)

        assert list(doc["paths"]["/gp/{note_id}"]) == ["get"]
        assert doc["paths"]["/gp/{note_id}"]["get"]["operationId"] == "gp.get"
        assert "/post-only" not in doc["paths"]

    def test_meta_description_keeps_additional_properties(self, doc):
        """
        A schema whose Meta has a description still forbids unknown fields.
        """
        described = doc["components"]["schemas"]["Described"]
        assert described["description"] == "Described on purpose."
        assert described["additionalProperties"] is False

    def test_error_responses(self, doc):
        """
        Error responses are shared components with the JSON error body.
        """
        responses = doc["components"]["responses"]
        assert responses["NotFound"]["content"] == {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        }
        assert set(doc["components"]["schemas"]["Error"]["required"]) == {
            "code",
            "status",
            "message",
        }

    def test_problem_details(self, full_app):
        """
        With problem details on, errors are documented as
        application/problem+json.
        """
        app = svc.init_app(Flask("problem"))
        json_errors(app, problem=True)
        _, note_item = note_views()
        app.url_map.converters["id"] = IdConverter
        app.add_url_rule("/n/<id:note_id>", view_func=note_item.as_view("n"))

        doc = build_spec(app)

        validate_spec(doc)
        assert doc["components"]["responses"]["NotFoundProblem"]["content"] == {
            "application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}
            }
        }

    def test_html_errors(self):
        """
        Without JSON errors, the document says errors are Flask's HTML pages.
        """
        app = svc.init_app(Flask("html"))
        _, note_item = note_views()
        app.add_url_rule("/n/<int:note_id>", view_func=note_item.as_view("n"))

        doc = build_spec(app)

        assert doc["components"]["responses"]["NotFoundHtml"]["content"] == {
            "text/html": {"schema": {"type": "string"}}
        }

    def test_blueprint_errors(self):
        """
        A blueprint's own JSON error handler documents its endpoints' errors;
        one that is not ours documents HTML.
        """
        app = svc.init_app(Flask("bp"))
        _, note_item = note_views()
        problems = Blueprint("problems", __name__)
        json_errors(problems, problem=True)
        own = Blueprint("own", __name__)
        own.register_error_handler(HTTPException, lambda e: ("gone", 404))
        problems.add_url_rule("/n/<int:note_id>", view_func=note_item.as_view("n"))
        own.add_url_rule("/n/<int:note_id>", view_func=note_item.as_view("n"))
        app.register_blueprint(problems, url_prefix="/p")
        app.register_blueprint(own, url_prefix="/o")

        doc = build_spec(app)

        p404 = doc["paths"]["/p/n/{note_id}"]["get"]["responses"]["404"]
        o404 = doc["paths"]["/o/n/{note_id}"]["get"]["responses"]["404"]
        assert p404 == {"$ref": "#/components/responses/NotFoundProblem"}
        assert o404 == {"$ref": "#/components/responses/NotFoundHtml"}

    def test_health(self, doc):
        """
        HealthView documents 200 and 503.
        """
        responses = doc["paths"]["/health"]["get"]["responses"]
        assert sorted(responses) == ["200", "503"]

    def test_plain_service_view(self, doc):
        """
        A service view without declarations documents a default response.
        """
        responses = doc["paths"]["/plain/{n}"]["get"]["responses"]
        assert responses["default"] == {"description": "What the view returns."}

    def test_method_without_output(self, full_app):
        """
        A method that reads but declares no output documents a default.
        """

        class ReadsOnly(RestView):
            @reads(Upload)
            def post(self, *, body: dict[str, Any]) -> str:  # pragma: no cover
                return "ok"

        full_app.add_url_rule("/ro", view_func=ReadsOnly.as_view("ro"))

        doc = build_spec(full_app)

        assert "default" in doc["paths"]["/ro"]["post"]["responses"]

    def test_as_view_arguments_and_several_names(self, full_app):
        """
        A view registered with as_view arguments, and under several rules and
        names, is documented at each, with unique operation ids.
        """

        class Greeting(RestView):
            def __init__(self, word: str) -> None:
                self.word = word

            @returns(Result)
            def get(self) -> Any:
                return {"q": self.word}

        full_app.add_url_rule("/hi", view_func=Greeting.as_view("hi", "hi"))
        full_app.add_url_rule("/hello", view_func=Greeting.as_view("hello", "hey"))
        full_app.add_url_rule("/hi/again", endpoint="hi")

        doc = build_spec(full_app)

        ids = [doc["paths"][p]["get"]["operationId"] for p in ("/hi", "/hello")]
        assert ids == ["hi.get", "hello.get"]
        assert doc["paths"]["/hi/again"]["get"]["operationId"] == "hi.get.2"
        assert full_app.test_client().get("/hello").json == {"q": "hey"}

    def test_path_schema(self, full_app):
        """
        A path schema types the URL variables it has, the others keep their
        converter's type; it may answer 404.
        """

        class Slug(Schema):
            slug = fields.String(validate=validate.Length(min=3, max=10))

        class BySlug(RestView):
            @reads(Slug, location="path")
            @returns(Slug)
            def get(self, slug: str, n: int) -> Any:  # pragma: no cover
                return {"slug": slug}

        full_app.add_url_rule("/by/<slug>/<int:n>", view_func=BySlug.as_view("by"))

        doc = build_spec(full_app)

        operation = doc["paths"]["/by/{slug}/{n}"]["get"]
        by_name = {p["name"]: p["schema"] for p in operation["parameters"]}
        assert by_name == {
            "slug": {"type": "string", "minLength": 3, "maxLength": 10},
            "n": {"type": "integer", "minimum": 0},
        }
        assert "422" not in operation["responses"]
        assert "404" in operation["responses"]

    @pytest.mark.parametrize(
        ("rule", "schema"),
        [
            ("/c/<float:x>", {"type": "number", "minimum": 0}),
            ("/c/<int(signed=True):x>", {"type": "integer"}),
            (
                "/c/<int(min=2, max=9):x>",
                {"type": "integer", "minimum": 2, "maximum": 9},
            ),
            ("/c/<uuid:x>", {"type": "string", "format": "uuid"}),
            ("/c/<path:x>", {"type": "string"}),
            ("/c/<x>", {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}),
            ("/c/<hex:x>", {"type": "string"}),
        ],
    )
    def test_converters(self, rule, schema):
        """
        Each Werkzeug converter maps to its parameter schema.
        """

        class Hex(BaseConverter):
            regex = "[0-9a-f]+"

        app = svc.init_app(Flask("conv"))
        app.url_map.converters["hex"] = Hex

        class View(svc.ServiceView):
            def get(self, x: object) -> str:  # pragma: no cover -- not requested
                return "x"

        app.add_url_rule(rule, view_func=View.as_view("v"))

        (param,) = next(iter(build_spec(app)["paths"].values()))["get"]["parameters"]

        assert param["schema"] == schema

    def test_same_class_name(self):
        """
        Two schema classes with the same name get distinct, stable names, in
        the characters a component name allows.
        """

        def make() -> type[Schema]:
            class Item(Schema):
                name = fields.String()

            return Item

        first, second = make(), make()

        class Two(RestView):
            @reads(first)
            @returns(second)
            def post(self, *, body: dict[str, Any]) -> Any:  # pragma: no cover
                return body

        app = svc.init_app(Flask("two"))
        app.add_url_rule("/two", view_func=Two.as_view("two"))

        doc = build_spec(app)

        qualified = (
            "test_rest_openapi_TestDocument_test_same_class_name_locals_make_"
            "locals_Item"
        )
        assert sorted(doc["components"]["schemas"]) == ["ItemInput", qualified]
        assert doc["paths"]["/two"]["post"]["responses"]["200"]["content"] == {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{qualified}"}
            }
        }

    def test_only_and_exclude_names(self):
        """
        Schema instances with only, exclude or partial on some fields are
        distinct components named after what they keep.
        """

        class Pair(Schema):
            first_name = fields.String(required=True)
            last = fields.String(required=True)

        class View(RestView):
            @reads(Pair(partial=("first_name",)))
            @returns(Pair(only=("first_name",)))
            def post(self, *, body: dict[str, Any]) -> Any:  # pragma: no cover
                return body

            @reads(Pair(exclude=("last",)))
            @returns(Pair)
            def put(self, *, body: dict[str, Any]) -> Any:  # pragma: no cover
                return body

        app = svc.init_app(Flask("pair"))
        app.add_url_rule("/pair", view_func=View.as_view("pair"))

        doc = build_spec(app)

        assert sorted(doc["components"]["schemas"]) == [
            "Pair",
            "PairOnlyFirstName",
            "PairPatchOnFirstName",
            "PairWithoutLastInput",
        ]
        patch_on = doc["components"]["schemas"]["PairPatchOnFirstName"]
        assert patch_on["required"] == ["last"]

    def test_no_apispec_warnings(self, full_app, recwarn):
        """
        Building the document warns of nothing (warnings are errors anyway).
        """
        build_spec(full_app)

        assert list(recwarn) == []


def test_views_answer_as_documented(full_app):
    """
    The test app's views answer valid requests with what the document says.
    """
    client = full_app.test_client()

    search = client.get("/api/v2/search?q=x&tag=a&tag=b", headers={"X-Trace": "t"})
    form = client.post("/form", data={"name": "n"})
    put = client.put("/open", json={"name": "n", "extra": 1})
    post = client.post("/open", json={"name": "n", "extra": 1})
    patch = client.patch("/open")
    meta = client.post("/meta", json={"name": "n"})
    plain = client.get("/plain/3")

    assert (search.status_code, search.json) == (200, {"q": "x", "tag": ["a", "b"]})
    assert (form.status_code, form.json) == (201, {"name": "n"})
    assert [r.status_code for r in (put, post, patch)] == [204, 204, 204]
    assert meta.json == {"name": "n"}
    assert plain.get_data(as_text=True) == "plain"


class TestCache:
    def test_built_once(self, full_app, monkeypatch):
        """
        The document is built once and served from the cache.
        """
        builds = []
        real = openapi._Builder.build

        def counting(self):
            builds.append(1)
            return real(self)

        monkeypatch.setattr(openapi._Builder, "build", counting)

        first = build_spec(full_app)
        assert build_spec(full_app) is first
        assert spec_json(full_app) == spec_json(full_app)
        assert len(builds) == 1

    def test_rebuilt_for_new_routes(self, full_app):
        """
        A route added after the first build is in the next document.
        """
        build_spec(full_app)
        _, note_item = note_views()
        full_app.add_url_rule("/more/<id:note_id>", view_func=note_item.as_view("m"))

        assert "/more/{note_id}" in build_spec(full_app)["paths"]


class TestServing:
    def test_served(self, full_app):
        """
        /openapi.json serves the document with an ETag; If-None-Match gets 304.
        """
        OpenAPI(full_app)
        client = full_app.test_client()

        response = client.get("/openapi.json")

        assert response.status_code == 200
        assert response.json == build_spec(full_app)
        etag = response.headers["ETag"]
        again = client.get("/openapi.json", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.headers["ETag"] == etag

    def test_documents_itself_not(self, full_app):
        """
        The document's own route is not a service view, so not documented.
        """
        OpenAPI(full_app)

        assert "/openapi.json" not in build_spec(full_app)["paths"]

    def test_configured_path(self, full_app):
        """
        OPENAPI_URL moves the document; None turns it off.
        """
        full_app.config["OPENAPI_URL"] = "/spec.json"
        ext = OpenAPI()
        assert ext.init_app(full_app) is full_app
        client = full_app.test_client()

        assert client.get("/spec.json").status_code == 200
        assert client.get("/openapi.json").status_code == 404

    def test_off(self, full_app):
        """
        With OPENAPI_URL None, nothing is served.
        """
        full_app.config["OPENAPI_URL"] = None
        OpenAPI(full_app)

        assert full_app.test_client().get("/openapi.json").status_code == 404

    def test_docs_page_needs_document(self, full_app):
        """
        A docs page without the document it loads is refused.
        """
        full_app.config.update(OPENAPI_URL=None, OPENAPI_DOCS_URL="/docs")

        with pytest.raises(OpenAPIError, match="OPENAPI_DOCS_URL needs OPENAPI_URL"):
            OpenAPI(full_app)

    def test_docs_page_cdn(self, full_app):
        """
        The docs page loads Swagger UI from OPENAPI_DOCS_ASSETS and the
        document from OPENAPI_URL.
        """
        full_app.config.update(
            OPENAPI_DOCS_URL="/docs", OPENAPI_DOCS_ASSETS="https://cdn.example/sui/"
        )
        OpenAPI(full_app)

        page = full_app.test_client().get("/docs")

        assert page.status_code == 200
        assert page.mimetype == "text/html"
        html = page.get_data(as_text=True)
        assert '<script src="https://cdn.example/sui/swagger-ui-bundle.js">' in html
        assert 'url: "/openapi.json"' in html

    def test_docs_page_local_assets(self, full_app):
        """
        With a directory as OPENAPI_DOCS_ASSETS, the app serves the assets.
        """
        full_app.config.update(
            OPENAPI_DOCS_URL="/docs",
            OPENAPI_DOCS_ASSETS=swagger_ui_bundle.swagger_ui_path,
        )
        OpenAPI(full_app)
        client = full_app.test_client()

        html = client.get("/docs").get_data(as_text=True)
        script = client.get("/docs/assets/swagger-ui-bundle.js")

        assert '<script src="/docs/assets/swagger-ui-bundle.js">' in html
        assert script.status_code == 200
        assert b"SwaggerUIBundle" in script.get_data()
        script.close()
        assert client.get("/docs/assets/nope.js").status_code == 404


class TestCLI:
    def test_print(self, full_app):
        """
        `flask openapi print` prints the document.
        """
        OpenAPI(full_app)

        result = full_app.test_cli_runner().invoke(args=["openapi", "print"])

        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == build_spec(full_app)

    def test_write(self, full_app, tmp_path):
        """
        `flask openapi write FILE` writes it.
        """
        OpenAPI(full_app)
        target = tmp_path / "openapi.json"

        result = full_app.test_cli_runner().invoke(
            args=["openapi", "write", str(target)]
        )

        assert result.exit_code == 0, result.output
        assert f"Wrote the OpenAPI document to {target}." in result.output
        assert json.loads(target.read_text()) == build_spec(full_app)


class TestWithoutApispec:
    def test_import_and_clear_error(self, monkeypatch):
        """
        Without apispec the package imports; asking for the document names
        the extra to install.
        """
        monkeypatch.setitem(sys.modules, "apispec", None)
        app = svc.init_app(Flask("bare"))

        with pytest.raises(OpenAPIError, match=r"flask-servicecbv\[openapi\]"):
            build_spec(app)
        with pytest.raises(OpenAPIError, match=r"pip install"):
            OpenAPI(app)

    def test_import_in_fresh_interpreter(self):
        """
        A fresh interpreter without apispec imports the REST layer and its
        OpenAPI module.
        """
        code = (
            "import sys; sys.modules['apispec'] = None\n"
            "import flask_servicecbv, flask_servicecbv.rest\n"
            "import flask_servicecbv.rest.openapi\n"
            "print('ok')\n"
        )
        out = subprocess.run(  # noqa: S603 -- our own interpreter
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert out.stdout == "ok\n"


# -- the fuzzer and the browser --------------------------------------------


@pytest.fixture(name="served")
def _served(full_app):
    """Serve the full app on loopback; yield its base URL."""
    full_app.config.update(
        OPENAPI_DOCS_URL="/docs", OPENAPI_DOCS_ASSETS=_swagger_assets()
    )
    OpenAPI(full_app)
    server = make_server("127.0.0.1", 0, full_app, threaded=True)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def _swagger_assets() -> str:
    return str(swagger_ui_bundle.swagger_ui_path)


@pytest.mark.slow
def test_schemathesis(served, tmp_path):
    """
    schemathesis with every check finds nothing: no 5xx, and every status,
    content type, header and body is what the document says.
    """
    result = schemathesis(
        f"{served}/openapi.json", tmp_path, "--max-examples=25", timeout=300
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "API Operations:" in result.stdout


@pytest.mark.slow
def test_docs_page_in_browser(served, tmp_path, program):  # pragma: needs chromium
    """
    In a real browser, the docs page renders every operation of the document.
    """
    chromium = program(
        "chromium", "chromium-browser", install="apt-get install chromium"
    )
    result = subprocess.run(  # noqa: S603 -- a browser we found
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{served}/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    dom = result.stdout
    assert 'class="swagger-ui' in dom, result.stderr[-2000:]
    assert "opblock-summary-path" in dom
    for path in ("/api/notes", "/api/notes/{note_id}", "/api/v2/search", "/health"):
        assert f'data-path="{path}"' in dom


def test_response_type_kept(full_app):
    """
    A Response returned by a documented view passes untouched (the document
    describes declarations, not this escape hatch).
    """

    class Raw(RestView):
        @returns(Result)
        def get(self) -> Response:
            return Response("raw", mimetype="text/plain")

    full_app.add_url_rule("/raw", view_func=Raw.as_view("raw"))

    assert full_app.test_client().get("/raw").get_data() == b"raw"


def test_same_qualified_name():
    """
    Classes that even share their module and qualified name are numbered.
    """
    names = openapi._Names()

    def make() -> type[Schema]:
        class Item(Schema):
            name = fields.String()

        return Item

    first, second, third = make(), make(), make()

    assert [names(first), names(second()), names(third), names(first)] == [
        "Item",
        "test_rest_openapi_test_same_qualified_name_locals_make_locals_Item",
        "test_rest_openapi_test_same_qualified_name_locals_make_locals_Item2",
        "Item",
    ]


# -- what generated clients see ----------------------------------------------


class Author(Schema):
    name = fields.String(required=True)
    born = fields.Integer(load_default=1900)


class Book(Schema):
    """A book, with an author nested, and a field that is never sent back."""

    id = fields.Integer(dump_only=True)
    title = fields.String(required=True)
    notes = fields.String(load_default="")
    secret = fields.String(load_only=True)
    author = fields.Nested(Author, required=True)
    shelf = fields.String(dump_only=True, metadata={"always_sent": False})
    rating = fields.Integer(metadata={"always_sent": True})
    tags = fields.List(fields.String(), dump_default=[])
    subtitle = fields.String()


class Books(InMemoryRepository):
    """The repository service key."""


class BookInputSchema(Schema):
    """A class whose request variant is BookInputInput."""

    name = fields.String()


class BookPatchSchema(Schema):
    """A class whose name is that of another schema's PATCH variant."""

    name = fields.String()


class NoCopiesLeftError(Exception):
    """No copies of the book are left."""


def _book_app(*, problem: bool = False, strict: bool = False) -> Flask:
    app = svc.init_app(Flask("books"))
    app.url_map.converters["id"] = IdConverter
    json_errors(app, problem=problem)
    svc.register_value(app, Books, Books())

    class BookList(CollectionView):
        """
        The books of the library.

            Indented text stays indented relative to the rest.
        """

        repository = svc.ServiceAttr(Books)
        schema = Book
        ERRORS: ClassVar = {NoCopiesLeftError: ErrorResponse(409, methods=("post",))}
        OPENAPI: ClassVar = {
            "responses": {503: "The database is busy."},
            "post": {"summary": "Add a book.", "tags": ["books"]},
        }

    class BookItem(ItemView):
        repository = svc.ServiceAttr(Books)
        schema = Book
        REQUIRE_IF_MATCH = strict

    class Other(RestView):
        @reads(BookInputSchema)
        @returns(BookPatchSchema, errors={409: "Taken.", 410: "Gone."})
        def put(self, *, body: dict[str, Any]) -> Any:  # pragma: no cover
            return body

        @doc(
            summary="Say hello.",
            deprecated=True,
            operation_id="hello",
            responses={"299": {"description": "Odd."}},
            extra={"x-internal": True},
        )
        @returns(Result, etag=True)
        def get(self) -> Any:
            return {"q": "hello"}

    api = Blueprint("lib", __name__)
    api.add_url_rule("/books", view_func=BookList.as_view("books"))
    api.add_url_rule("/books/<id:item_id>", view_func=BookItem.as_view("book"))
    app.register_blueprint(api)
    app.add_url_rule("/other", view_func=Other.as_view("other"))
    return app


@pytest.fixture(name="books")
def _books() -> dict[str, Any]:
    doc = build_spec(_book_app())
    validate_spec(doc)
    return doc


def _parameters(doc: dict[str, Any], operation: dict[str, Any]) -> list[Any]:
    """The operation's parameters, shared ones resolved."""
    shared = doc["components"].get("parameters", {})
    return [
        shared[p["$ref"].rpartition("/")[2]] if "$ref" in p else p
        for p in operation["parameters"]
    ]


def _body_ref(operation: dict[str, Any]) -> str:
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return str(schema["$ref"]).rpartition("/")[2]


class TestVariants:
    def test_names(self, books):
        """
        A schema's response variant keeps its name; bodies use Input, and
        PATCH bodies Patch; a response schema named like a variant keeps its
        name and the variant is numbered.
        """
        paths = books["paths"]
        assert _body_ref(paths["/books"]["post"]) == "BookInput"
        assert _body_ref(paths["/books/{item_id}"]["put"]) == "BookInput"
        assert _body_ref(paths["/books/{item_id}"]["patch"]) == "BookPatch2"
        assert _body_ref(paths["/other"]["put"]) == "BookInputInput"
        assert sorted(books["components"]["schemas"]) == [
            "Author",
            "AuthorInput",
            "AuthorPatch",
            "Book",
            "BookInput",
            "BookInputInput",
            "BookListPage",
            "BookPatch",
            "BookPatch2",
            "Error",
            "PageMeta",
            "Result",
        ]

    def test_response_variant(self, books):
        """
        A response lists no load_only field and requires every field it
        always sends: required, dump_only, with a load or dump default, or
        marked always_sent; defaults are left out.
        """
        book = books["components"]["schemas"]["Book"]
        assert "secret" not in book["properties"]
        assert book["required"] == [
            "id",
            "title",
            "notes",
            "author",
            "rating",
            "tags",
        ]
        assert "default" not in book["properties"]["notes"]
        assert book["properties"]["author"] == {"$ref": "#/components/schemas/Author"}
        author = books["components"]["schemas"]["Author"]
        assert author["required"] == ["name", "born"]
        assert "default" not in author["properties"]["born"]

    def test_request_variant(self, books):
        """
        A request body lists no dump_only field, keeps defaults, and requires
        what loading requires; its nested schemas are request variants.
        """
        book = books["components"]["schemas"]["BookInput"]
        assert sorted(book["properties"]) == [
            "author",
            "notes",
            "rating",
            "secret",
            "subtitle",
            "tags",
            "title",
        ]
        assert book["required"] == ["title", "author"]
        assert book["properties"]["notes"]["default"] == ""
        assert book["properties"]["author"] == {
            "$ref": "#/components/schemas/AuthorInput"
        }
        assert books["components"]["schemas"]["AuthorInput"]["required"] == ["name"]

    def test_patch_variant(self, books):
        """
        A PATCH body has no required field and no default, nested schemas
        included.
        """
        schemas = books["components"]["schemas"]
        text = json.dumps([schemas["BookPatch2"], schemas["AuthorPatch"]])
        assert '"default"' not in text
        assert '"required"' not in text
        assert "id" not in schemas["BookPatch2"]["properties"]
        assert schemas["BookPatch2"]["properties"]["author"] == {
            "$ref": "#/components/schemas/AuthorPatch"
        }

    def test_patch_keeps_what_it_does_not_send(self):
        """
        PATCH with one field changes that field only: the server applies no
        default, as the document says.
        """
        app = _book_app()
        client = app.test_client()
        created = client.post(
            "/books", json={"title": "T", "notes": "keep", "author": {"name": "A"}}
        ).json

        patched = client.patch(f"/books/{created['id']}", json={"title": "U"})

        assert patched.json["notes"] == "keep"

    def test_required_is_what_is_sent(self):
        """
        Every field a response variant requires is in what the view sends,
        and a round trip of GET to PUT needs nothing stripped.
        """
        app = _book_app()
        doc = build_spec(app)
        client = app.test_client()
        created = client.post(
            "/books", json={"title": "T", "rating": 3, "author": {"name": "A"}}
        ).json
        got = client.get(f"/books/{created['id']}").json
        required = doc["components"]["schemas"]["Book"]["required"]
        assert set(required) <= set(got)
        writable = set(doc["components"]["schemas"]["BookInput"]["properties"])

        put = client.put(
            f"/books/{created['id']}", json={k: got[k] for k in got if k in writable}
        )

        assert put.status_code == 200

    def test_example_sends_what_it_requires(self, tmp_path):
        """
        The example API's responses hold every field that its Bookmark
        component requires, which is all seven; its document shows the
        errors it declares.
        """
        from example_api import create_app  # noqa: PLC0415 -- the example

        app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}"})
        doc = build_spec(app)
        token = app.test_cli_runner().invoke(args=["tokens", "create", "a"]).output
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token.split()[-1]}"
        created = client.post(
            "/api/v1/bookmarks", json={"url": "https://a.example", "title": "A"}
        ).json
        got = client.get(f"/api/v1/bookmarks/{created['id']}").json

        required = doc["components"]["schemas"]["Bookmark"]["required"]
        assert len(required) == 7
        assert set(required) == set(got) == set(created)
        # Its operations on the database declare the 503 they may answer.
        busy = doc["paths"]["/api/v1/bookmarks"]["post"]["responses"]["503"]
        assert busy["description"].startswith("The database is busy")
        assert "503" not in doc["paths"]["/"]["get"]["responses"]
        svc.close_registry(app)

    def test_partial_schema_instance(self):
        """
        A schema instance's own partial is how its body loads, and what its
        variant says; an output schema with partial keeps a name saying so.
        """

        class Pair(Schema):
            a = fields.String(required=True)
            b = fields.String(required=True)

        class View(RestView):
            @reads(Pair(partial=True))
            @returns(Pair(partial=("a",)))
            def post(self, *, body: dict[str, Any]) -> Any:
                return body

            @returns(Pair(partial=True))
            def get(self) -> Any:  # pragma: no cover -- not requested
                return {}

        app = svc.init_app(Flask("pair"))
        app.add_url_rule("/pair", view_func=View.as_view("pair"))

        doc = build_spec(app)

        assert _body_ref(doc["paths"]["/pair"]["post"]) == "PairPatch"
        assert sorted(doc["components"]["schemas"]) == [
            "PairPartial",
            "PairPartialOnA",
            "PairPatch",
        ]
        assert app.test_client().post("/pair", json={"b": "x"}).json == {"b": "x"}

    def test_variants_of_nested_lists_and_cycles(self):
        """
        References inside lists, maps and combinators point at the variant
        too, and a schema that nests itself is made once.
        """

        class Node(Schema):
            name = fields.String(load_default="n")
            # Node is not defined yet where the lambdas are written.
            children = fields.List(fields.Nested(lambda: Node()))  # noqa: PLW0108
            by_name = fields.Dict(
                keys=fields.String(),
                values=fields.Nested(lambda: Node()),  # noqa: PLW0108
            )

        class View(RestView):
            @reads(Node, partial=True)
            @returns(Node)
            def patch(self, *, body: dict[str, Any]) -> Any:  # pragma: no cover
                return body

        app = svc.init_app(Flask("tree"))
        app.add_url_rule("/tree", view_func=View.as_view("tree"))

        doc = build_spec(app)

        validate_spec(doc)
        patch = doc["components"]["schemas"]["NodePatch"]["properties"]
        ref = {"$ref": "#/components/schemas/NodePatch"}
        assert patch["children"]["items"] == ref
        assert patch["by_name"]["additionalProperties"] == ref
        assert "default" not in patch["name"]

    def test_subschemas(self):
        """
        Defaults and requirements are taken out of every kind of subschema.
        """
        variants = openapi._Variants({}, {})
        schema = {
            "default": 1,
            "required": ["a"],
            "properties": {"default": {"default": 2}},
            "anyOf": [{"default": 3}],
            "items": {"required": ["b"], "default": 4},
            "enum": [1],
        }

        variants.rewrite(schema, "patch", top=False, strip=True)

        assert schema == {
            "properties": {"default": {}},
            "anyOf": [{}],
            "items": {},
            "enum": [1],
        }


class TestConditionalHeaders:
    def test_get_with_etag(self, books):
        """
        A GET that sends an ETag declares If-None-Match and If-Match, with
        the entity-tag syntax, and documents 304, 400 and 412.
        """
        get = books["paths"]["/books/{item_id}"]["get"]
        headers = {p["name"]: p for p in _parameters(books, get) if p["in"] == "header"}
        assert sorted(headers) == ["If-Match", "If-None-Match"]
        assert headers["If-Match"]["required"] is False
        schema = headers["If-None-Match"]["schema"]
        assert schema["type"] == "string"
        assert {"304", "400", "412"} <= set(get["responses"])
        other = books["paths"]["/other"]["get"]
        assert {p["name"] for p in _parameters(books, other)} == {
            "If-Match",
            "If-None-Match",
        }
        # Shared: each operation names the component.
        assert other["parameters"][0] == {"$ref": "#/components/parameters/IfNoneMatch"}

    @pytest.mark.parametrize(
        ("value", "valid"),
        [
            ('"abc"', True),
            ("*", True),
            ('W/"a", "b",\t"c"', True),
            ("abc", True),
            ('"a', False),
            ("a b", False),
            ('"a"\n', False),
            ('"é"', False),
        ],
    )
    def test_pattern(self, books, value, valid):
        """
        The pattern is the entity-tag syntax, as the views check it.
        """
        get = books["paths"]["/books/{item_id}"]["get"]
        schema = _parameters(books, get)[1]["schema"]
        assert (re.fullmatch(schema["pattern"], value) is not None) is valid

    def test_writes(self, books):
        """
        The generic PUT, PATCH and DELETE declare If-Match and If-None-Match,
        optional, and document 412, not 428.
        """
        item = books["paths"]["/books/{item_id}"]
        for method in ("put", "patch", "delete"):
            params = {p["name"]: p for p in _parameters(books, item[method])}
            assert params["If-Match"]["required"] is False
            assert params["If-None-Match"]["required"] is False
            assert "412" in item[method]["responses"]
            assert "428" not in item[method]["responses"]
        post = books["paths"]["/books"]["post"]
        assert all(p["in"] != "header" for p in post.get("parameters", []))

    def test_required_if_match(self):
        """
        With REQUIRE_IF_MATCH, If-Match is a required parameter and 428 is
        documented.
        """
        doc = build_spec(_book_app(strict=True))

        delete = doc["paths"]["/books/{item_id}"]["delete"]
        params = {p["name"]: p for p in _parameters(doc, delete)}
        assert params["If-Match"]["required"] is True
        assert "428" in delete["responses"]

    @pytest.mark.parametrize("header", ["If-Match", "If-None-Match"])
    def test_malformed_refused(self, header):
        """
        A conditional header that the pattern refuses is answered 400, on a
        read and on a write.
        """
        app = _book_app()
        client = app.test_client()
        created = client.post("/books", json={"title": "T", "author": {"name": "A"}})
        url = f"/books/{created.json['id']}"

        got = client.get(url, headers={header: '"unclosed'})
        deleted = client.delete(url, headers={header: "a b"})

        assert got.status_code == deleted.status_code == 400
        assert got.json["message"] == (
            f"{header} is not * or a list of entity tags; send ETags as received."
        )
        assert client.get(url).status_code == 200

    def test_get_preconditions_answer_as_documented(self):
        """
        A declared GET answers If-None-Match with 304 and a stale If-Match
        with 412, as its operation documents.
        """
        client = _book_app().test_client()
        etag = client.get("/other").headers["ETag"]

        cached = client.get("/other", headers={"If-None-Match": etag})
        stale = client.get("/other", headers={"If-Match": '"stale"'})

        assert (cached.status_code, stale.status_code) == (304, 412)


class TestDeclaredErrorsDocumented:
    def test_class_errors(self, books):
        """
        ERRORS documents its statuses on the methods it answers for, in the
        JSON error shape, and answers them.
        """
        post = books["paths"]["/books"]["post"]["responses"]
        assert post["409"] == {
            "description": "No copies of the book are left.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
            },
        }
        assert "409" not in books["paths"]["/books"]["get"]["responses"]

    def test_returns_errors(self, books):
        """
        returns(errors=...) documents each status with its description.
        """
        put = books["paths"]["/other"]["put"]["responses"]
        assert put["409"]["description"] == "Taken."
        assert put["410"]["description"] == "Gone."

    def test_same_status_joined(self):
        """
        Exceptions answered with one status share its description, each
        text once.
        """

        class AError(Exception):
            """A went wrong."""

        class BError(Exception):
            """B went wrong."""

        class CError(Exception):
            pass

        class View(RestView):
            ERRORS: ClassVar = {
                AError: 409,
                BError: 409,
                CError: ErrorResponse(409, "A went wrong."),
            }

            @returns(None, status=204)
            def post(self) -> None:  # pragma: no cover -- not requested
                pass

        app = svc.init_app(Flask("ab"))
        app.add_url_rule("/ab", view_func=View.as_view("ab"))

        responses = build_spec(app)["paths"]["/ab"]["post"]["responses"]

        assert responses["409"]["description"] == "A went wrong. B went wrong."
        assert responses["409"]["content"] == {
            "text/html": {"schema": {"type": "string"}}
        }

    def test_headers(self):
        """
        An ErrorResponse's headers are documented on its response.
        """

        class AError(Exception):
            """A went wrong."""

        class View(RestView):
            ERRORS: ClassVar = {
                AError: ErrorResponse(
                    401, headers={"WWW-Authenticate": 'Bearer realm="a"'}
                )
            }

            @returns(None, status=204)
            def post(self) -> None:  # pragma: no cover -- not requested
                pass

        app = svc.init_app(Flask("ab"))
        app.add_url_rule("/ab", view_func=View.as_view("ab"))

        responses = build_spec(app)["paths"]["/ab"]["post"]["responses"]

        assert responses["401"]["headers"] == {
            "WWW-Authenticate": {
                "description": "Sent with this error.",
                "schema": {"type": "string", "examples": ['Bearer realm="a"']},
                "required": True,
            }
        }

    def test_problem_details(self):
        """
        Declared errors use the app's error media type.
        """
        doc = build_spec(_book_app(problem=True))

        content = doc["paths"]["/books"]["post"]["responses"]["409"]["content"]
        assert list(content) == ["application/problem+json"]


class TestOperationHook:
    def test_class_hook(self, books):
        """
        OPENAPI adds responses to every method and changes one method's
        summary and tags; the tag is declared.
        """
        listing = books["paths"]["/books"]
        assert listing["get"]["responses"]["503"]["description"] == (
            "The database is busy."
        )
        assert listing["post"]["summary"] == "Add a book."
        assert listing["post"]["tags"] == ["books"]
        assert listing["get"]["tags"] == ["lib"]
        assert books["tags"] == [{"name": "books"}, {"name": "lib"}]

    def test_doc_decorator(self, books):
        """
        doc() sets any operation field and adds raw responses.
        """
        get = books["paths"]["/other"]["get"]
        assert get["summary"] == "Say hello."
        assert get["deprecated"] is True
        assert get["operationId"] == "hello"
        assert get["x-internal"] is True
        assert get["responses"]["299"] == {"description": "Odd."}

    def test_cleandoc(self, books):
        """
        Docstrings are cleaned as inspect.cleandoc does, whatever the Python
        version: relative indentation stays.
        """
        description = books["paths"]["/books"]["post"]["description"]
        assert description == (
            "The books of the library.\n\n"
            "    Indented text stays indented relative to the rest."
        )


class TestStableDocument:
    def test_no_python_phrases(self, books):
        """
        Response names and descriptions come from the project's own table,
        not http.HTTPStatus, whose phrases change between Python versions.
        """
        responses = books["components"]["responses"]
        assert responses["UnprocessableContent"]["description"] == (
            "Unprocessable Content"
        )
        assert responses["ContentTooLarge"]["description"] == "Content Too Large"
        assert "Entity" not in json.dumps(books)

    def test_415_headers_per_method(self, books):
        """
        The 415 response lists the header each method sends: Accept-Post on
        POST, Accept-Patch on PATCH, none on PUT.
        """
        paths = books["paths"]
        refs = [
            paths["/books"]["post"]["responses"]["415"]["$ref"],
            paths["/books/{item_id}"]["patch"]["responses"]["415"]["$ref"],
            paths["/books/{item_id}"]["put"]["responses"]["415"]["$ref"],
        ]
        assert [r.rpartition("/")[2] for r in refs] == [
            "UnsupportedMediaTypeAcceptPost",
            "UnsupportedMediaTypeAcceptPatch",
            "UnsupportedMediaType",
        ]
        responses = books["components"]["responses"]
        post = responses["UnsupportedMediaTypeAcceptPost"]["headers"]
        assert list(post) == ["Accept-Post"]
        assert post["Accept-Post"]["required"] is True
        assert "headers" not in responses["UnsupportedMediaType"]

    def test_413_on_bodies(self, books):
        """
        Every operation that reads a body documents 413; the others do not.
        """
        paths = books["paths"]
        assert "413" in paths["/books"]["post"]["responses"]
        assert "413" in paths["/books/{item_id}"]["patch"]["responses"]
        assert "413" not in paths["/books/{item_id}"]["get"]["responses"]

    def test_same_bytes_twice(self):
        """
        Two builds of the same app give the same bytes.
        """
        first = spec_json(_book_app())
        assert spec_json(_book_app()) == first

    def test_no_schemas(self):
        """
        An app without schemas has no schemas section.
        """
        app = svc.init_app(Flask("bare"))
        app.add_url_rule("/health", view_func=svc.HealthView.as_view("health"))

        doc = build_spec(app)

        assert "schemas" not in doc.get("components", {})
        assert "tags" not in doc


# -- security ----------------------------------------------------------------


class Caller:
    """The principal of the security tests."""

    scopes: ClassVar[frozenset[str]] = frozenset()


class CallerTokens(HashedTokenStore[Caller]):
    """Their token store."""


class AdminPasswords:
    """The admin blueprint's user table."""

    def verify_password(  # pragma: no cover -- the document only
        self, username: str, password: str
    ) -> Caller | None:
        return None


class SecuredNotes(RestView):
    """Reads need notes:read, writes notes:write."""

    PRINCIPAL = Caller
    REQUIRES: ClassVar[Any] = {
        "read": requires("notes:read"),
        "write": requires("notes:write"),
    }

    @returns(None)
    def get(self) -> None:  # pragma: no cover -- the document only
        pass

    @returns(None, status=204)
    def post(self) -> None:  # pragma: no cover -- the document only
        pass


class Everyone(RestView):
    """Anyone may call."""

    @public
    def get(self) -> None:  # pragma: no cover -- the document only
        pass


class SignedIn(RestView):
    """Any authenticated caller."""

    PRINCIPAL = Caller

    @authenticated
    def get(self) -> None:  # pragma: no cover -- the document only
        pass


def _secured_app(name: str = "secured", **config: Any) -> Flask:
    app = svc.init_app(Flask(name))
    app.config.update(config)
    json_errors(app)
    svc.register_value(app, CallerTokens, CallerTokens())
    svc.register_factory(
        app,
        Caller,
        authenticate(
            Bearer(CallerTokens, realm="notes"),
            APIKey(CallerTokens, header="X-API-Key"),
        ),
    )
    admin = Blueprint("admin", __name__, url_prefix="/admin")
    svc.register_value(admin, AdminPasswords, AdminPasswords())
    svc.register_factory(admin, Caller, authenticate(Basic(AdminPasswords)))
    admin.add_url_rule("/notes", view_func=SecuredNotes.as_view("notes"))
    app.add_url_rule("/notes", view_func=SecuredNotes.as_view("notes"))
    app.add_url_rule("/everyone", view_func=Everyone.as_view("everyone"))
    app.add_url_rule("/signed-in", view_func=SignedIn.as_view("signed_in"))
    app.add_url_rule("/health", view_func=svc.HealthView.as_view("health"))
    app.register_blueprint(admin)
    return app


class TestSecurity:
    def test_valid(self):
        """
        A document with security is valid OpenAPI 3.1.
        """
        validate_spec(build_spec(_secured_app()))

    def test_schemes_in_use(self):
        """
        components.securitySchemes holds the schemes of the principal
        factories that the operations use, blueprints' included.
        """
        doc = build_spec(_secured_app())

        assert doc["components"]["securitySchemes"] == {
            "bearerAuth": {"type": "http", "scheme": "bearer"},
            "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "basicAuth": {"type": "http", "scheme": "basic"},
        }

    def test_operation_security(self):
        """
        Each operation lists its principal's schemes with its scopes; a
        blueprint's operations list the blueprint's schemes.
        """
        paths = build_spec(_secured_app())["paths"]

        assert paths["/notes"]["get"]["security"] == [
            {"bearerAuth": ["notes:read"]},
            {"apiKeyAuth": ["notes:read"]},
        ]
        assert paths["/notes"]["post"]["security"] == [
            {"bearerAuth": ["notes:write"]},
            {"apiKeyAuth": ["notes:write"]},
        ]
        assert paths["/admin/notes"]["get"]["security"] == [
            {"basicAuth": ["notes:read"]}
        ]
        assert paths["/signed-in"]["get"]["security"] == [
            {"bearerAuth": []},
            {"apiKeyAuth": []},
        ]

    def test_public(self):
        """
        A public operation says security: [] and documents no 401.
        """
        operation = build_spec(_secured_app())["paths"]["/everyone"]["get"]

        assert operation["security"] == []
        assert "401" not in operation["responses"]

    def test_errors_documented(self):
        """
        401 is documented with WWW-Authenticate where a caller is needed, 403
        where scopes are, and 400 where a bearer token may be refused.
        """
        paths = build_spec(_secured_app())["paths"]
        notes = paths["/notes"]["get"]["responses"]
        signed_in = paths["/signed-in"]["get"]["responses"]
        admin = paths["/admin/notes"]["get"]["responses"]

        assert notes["401"]["headers"]["WWW-Authenticate"]["schema"] == {
            "type": "string"
        }
        assert notes["401"]["content"] == {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        }
        assert (
            "insufficient_scope"
            in (notes["403"]["headers"]["WWW-Authenticate"]["description"])
        )
        assert notes["403"]["description"] == (
            "Forbidden: the caller lacks a scope it needs (notes:read)."
        )
        assert "400" in notes
        assert "401" in signed_in
        assert "403" not in signed_in
        assert "400" not in admin

    def test_global_security_kept(self):
        """
        OPENAPI_SECURITY and OPENAPI_SECURITY_SCHEMES keep working: a
        configured scheme wins over a factory's of the same name, and the
        health check says security: [].
        """
        configured = {"type": "http", "scheme": "bearer", "bearerFormat": "opaque"}
        doc = build_spec(
            _secured_app(
                OPENAPI_SECURITY_SCHEMES={"bearerAuth": configured},
                OPENAPI_SECURITY=[{"bearerAuth": []}],
            )
        )

        validate_spec(doc)
        assert doc["security"] == [{"bearerAuth": []}]
        assert doc["components"]["securitySchemes"]["bearerAuth"] == configured
        assert doc["paths"]["/health"]["get"]["security"] == []

    def test_health_without_global_security(self):
        """
        Without global security the health check needs no security key.
        """
        doc = build_spec(_secured_app())

        assert "security" not in doc["paths"]["/health"]["get"]

    def test_principal_of_another_factory(self):
        """
        A principal that the app's own factory makes has no known schemes:
        the operation inherits OPENAPI_SECURITY.
        """
        app = svc.init_app(Flask("own"))
        svc.register_value(app, Caller, Caller())
        app.add_url_rule("/signed-in", view_func=SignedIn.as_view("signed_in"))

        operation = build_spec(app)["paths"]["/signed-in"]["get"]

        assert "security" not in operation
        assert "401" in operation["responses"]

    def test_without_registry(self):
        """
        An app without the service registry has no schemes to document.
        """
        app = Flask("bare")
        app.add_url_rule("/signed-in", view_func=SignedIn.as_view("signed_in"))

        assert "security" not in build_spec(app)["paths"]["/signed-in"]["get"]

    def test_same_scheme_twice(self):
        """
        Two blueprints with equal schemes of one name share the component.
        """
        app = _secured_app()
        other = Blueprint("other", __name__, url_prefix="/other")
        svc.register_factory(other, Caller, authenticate(Bearer(CallerTokens)))
        other.add_url_rule("/notes", view_func=SecuredNotes.as_view("notes"))
        app.register_blueprint(other)

        doc = build_spec(app)

        assert doc["paths"]["/other/notes"]["get"]["security"] == [
            {"bearerAuth": ["notes:read"]}
        ]

    def test_conflicting_names(self):
        """
        Two different schemes of one name cannot share the component.
        """
        app = _secured_app()
        other = Blueprint("other", __name__, url_prefix="/other")
        svc.register_factory(
            other, Caller, authenticate(Bearer(CallerTokens, bearer_format="JWT"))
        )
        other.add_url_rule("/notes", view_func=SecuredNotes.as_view("notes"))
        app.register_blueprint(other)

        with pytest.raises(OpenAPIError, match="named 'bearerAuth' but differ"):
            build_spec(app)

    def test_hook_wins(self):
        """
        OPENAPI's security replaces the one the declarations give.
        """

        class Custom(SecuredNotes):
            OPENAPI: ClassVar = {"security": [{"other": []}]}

        app = _secured_app()
        app.add_url_rule("/custom", view_func=Custom.as_view("custom"))

        operation = build_spec(app)["paths"]["/custom"]["get"]

        assert operation["security"] == [{"other": []}]
