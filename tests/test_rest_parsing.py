"""Tests for flask_servicecbv.rest._parsing: reading request locations."""

from __future__ import annotations

import io

import pytest
from flask import request
from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from flask_servicecbv.rest import (
    MAX_BODY_SIZE,
    RestView,
    body_limit,
    json_errors,
    reads,
    reads_body,
)
from flask_servicecbv.rest._parsing import BODY_LOCATIONS, LOCATIONS, loader_for


class Item(Schema):
    """A body with one required field."""

    title = fields.String(required=True)


@pytest.fixture(name="app")
def _app(app):
    """
    An app whose errors are JSON, with POST /json and POST /form echoing
    what they read.
    """
    json_errors(app)

    class Json(RestView):
        @reads(Item)
        def post(self, *, body):
            return body

    class Form(RestView):
        @reads(Item, location="form")
        def post(self, *, form):
            return form

    app.add_url_rule("/json", view_func=Json.as_view("json"))
    app.add_url_rule("/form", view_func=Form.as_view("form"))
    return app


class TestJsonBody:
    def test_charset(self, client):
        """
        A media type parameter does not change the type.
        """
        response = client.post(
            "/json",
            data='{"title": "é"}'.encode(),
            content_type="application/json; charset=utf-8",
        )

        assert response.json == {"title": "é"}

    def test_malformed(self, client):
        """
        A body that does not parse is answered with 400 and the parser's
        message.
        """
        response = client.post(
            "/json", data='{"title": ', content_type="application/json"
        )

        assert response.status_code == 400
        assert response.json["message"] == (
            "The request body is not valid JSON: "
            "Expecting value: line 1 column 11 (char 10)."
        )

    def test_too_deep(self, client):
        """
        A body nested deeper than the parser goes is a 400, not a 500.
        """
        response = client.post(
            "/json", data="[" * 100_000, content_type="application/json"
        )

        assert response.status_code == 400
        assert response.json["message"].startswith("The request body is not valid JSON")

    @pytest.mark.parametrize(
        "body",
        [
            b'{"n": 1, "t": ["a"], "title": "x\\ud800"}',
            b'{"title": "x\\uDFFF y"}',
            b'{"title": "ok", "\\udc00": 1}',
        ],
        ids=["value", "low", "key"],
    )
    def test_unpaired_surrogate(self, client, body):
        """
        A \\u escape of an unpaired surrogate is no character: a 400, before
        a database driver fails to encode it.
        """
        response = client.post("/json", data=body, content_type="application/json")

        assert response.status_code == 400
        assert response.json["message"] == (
            "The request body is not valid JSON: a \\u escape is an unpaired "
            "surrogate, which is no character."
        )

    def test_surrogate_pair(self, client):
        """
        An escaped surrogate pair is one character and loads.
        """
        response = client.post(
            "/json",
            data=b'{"title": "\\ud83d\\ude00"}',
            content_type="application/json",
        )

        assert response.json["title"] == "\U0001f600"

    def test_not_utf8(self, client):
        """
        A body that is not text is a malformed body too.
        """
        response = client.post(
            "/json", data=b"\xff\xfe{", content_type="application/json"
        )

        assert response.status_code == 400
        assert response.json["message"].startswith("The request body is not valid JSON")

    def test_null(self, client):
        """
        A JSON body that is not an object fails validation with 422.
        """
        response = client.post("/json", data="[1]", content_type="application/json")

        assert response.status_code == 422
        assert response.json["errors"] == {"json": {"_schema": ["Invalid input type."]}}

    @pytest.mark.parametrize(
        "content_type", ["text/plain", "application/x-www-form-urlencoded"]
    )
    def test_other_type(self, client, content_type):
        """
        A body of another type is answered with 415 naming the JSON type.
        """
        response = client.post(
            "/json", data='{"title": "a"}', content_type=content_type
        )

        assert response.status_code == 415
        assert response.json["message"] == (
            f"This endpoint does not read Content-Type {content_type!r}; "
            "send application/json."
        )
        assert response.headers["Accept-Post"] == "application/json"

    def test_no_type(self, client):
        """
        A body without a Content-Type is answered with 415, not guessed.
        """
        response = client.post(
            "/json", data='{"title": "a"}', headers={"Content-Type": ""}
        )

        assert response.status_code == 415
        assert "a body without a Content-Type" in response.json["message"]


class TestFormBody:
    @pytest.mark.parametrize(
        "content_type", ["application/x-www-form-urlencoded", "multipart/form-data"]
    )
    def test_types(self, client, content_type):
        """
        A form is read urlencoded or multipart.
        """
        response = client.post("/form", data={"title": "a"}, content_type=content_type)

        assert response.json == {"title": "a"}

    def test_json(self, client):
        """
        JSON sent to a form endpoint is answered with 415 naming both form
        types.
        """
        response = client.post("/form", json={"title": "a"})

        assert response.status_code == 415
        assert response.headers["Accept-Post"] == (
            "application/x-www-form-urlencoded, multipart/form-data"
        )

    def test_unknown_raises(self, client):
        """
        A form field the schema does not declare is answered with 422.
        """
        response = client.post("/form", data={"title": "a", "x": "1"})

        assert response.json["errors"] == {"form": {"x": ["Unknown field."]}}


class TestLoaderFor:
    def test_locations(self):
        """
        Body locations are among the known locations.
        """
        assert BODY_LOCATIONS < LOCATIONS
        assert {"json", "form", "files", "query", "headers", "path"} == LOCATIONS

    @pytest.mark.parametrize("unknown", [EXCLUDE, RAISE])
    def test_path(self, unknown):
        """
        The path loader copies the URL variables it is given.
        """
        load = loader_for("path", Item(), unknown, required=True)

        assert load(item_id=3) == {"item_id": 3}

    def test_query(self, app):
        """
        The query loader reads the current request's arguments.
        """
        load = loader_for("query", Item(), EXCLUDE, required=True)

        with app.test_request_context("/?title=a&other=b"):
            assert load() == {"title": "a"}


class Tagged(Schema):
    """At most three tags, each at most three characters long."""

    tags = fields.List(
        fields.String(validate=validate.Length(max=3)),
        validate=validate.Length(max=3),
    )
    refs = fields.Nested(Item, many=True, validate=validate.Length(min=1))
    title = fields.String()


class Deep(Schema):
    """Any JSON value, at any depth."""

    data = fields.Raw()


class Unreadable(io.RawIOBase):
    """A request stream that fails the test if it is read."""

    def readinto(self, buffer):  # pragma: no cover -- only on a bug
        pytest.fail("the body was read")


class Counted(io.RawIOBase):
    """An endless request stream that counts what is read from it."""

    def __init__(self):
        self.read_bytes = 0

    def readinto(self, buffer):
        buffer[:] = b" " * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


CHUNKED = {"Transfer-Encoding": "chunked"}
# Werkzeug reads a chunked body only from a server that says it ends it.
TERMINATED = {"wsgi.input_terminated": True}


@pytest.fixture(name="limited")
def _limited(app):
    """The app, with /tagged, /tagged-form, /search and /deep."""

    class TaggedView(RestView):
        @reads(Tagged)
        def post(self, *, body):
            return body

    class TaggedForm(RestView):
        @reads(Tagged, location="form")
        def post(self, *, form):
            return form

    class Search(RestView):
        @reads(Tagged, location="query")
        def get(self, *, query):
            return query

    class DeepView(RestView):
        @reads(Deep)
        def post(self, *, body):
            return {"loaded": True}

    app.add_url_rule("/tagged", view_func=TaggedView.as_view("tagged"))
    app.add_url_rule("/tagged-form", view_func=TaggedForm.as_view("tagged_form"))
    app.add_url_rule("/search", view_func=Search.as_view("search"))
    app.add_url_rule("/deep", view_func=DeepView.as_view("deep"))
    return app


class TestBodyLimit:
    def test_default(self, app):
        """
        By default a REST view reads at most MAX_BODY_SIZE bytes, 1 MiB.
        """
        assert MAX_BODY_SIZE == 1024 * 1024
        assert body_limit(app) == MAX_BODY_SIZE

    @pytest.mark.parametrize(
        ("rest", "flask", "limit"),
        [
            (100, None, 100),
            (100, 50, 50),
            (50, 100, 50),
            (None, None, None),
            (None, 70, 70),
        ],
    )
    def test_config(self, app, rest, flask, limit):
        """
        REST_MAX_BODY_SIZE sets the limit (None: none of the REST layer's
        own); Flask's MAX_CONTENT_LENGTH wins when smaller.
        """
        app.config["REST_MAX_BODY_SIZE"] = rest
        app.config["MAX_CONTENT_LENGTH"] = flask

        assert body_limit(app) == limit

    def test_content_length_refused_before_reading(self, client):
        """
        A Content-Length over the limit is a JSON 413 before the body is read.
        """
        response = client.post(
            "/json",
            content_type="application/json",
            environ_overrides={
                "wsgi.input": Unreadable(),
                "CONTENT_LENGTH": str(MAX_BODY_SIZE + 1),
            },
        )

        assert response.status_code == 413
        assert response.json == {
            "code": 413,
            "status": "Request Entity Too Large",
            "message": (
                f"The request body is larger than {MAX_BODY_SIZE} bytes; "
                f"send at most {MAX_BODY_SIZE} bytes."
            ),
        }

    def test_at_the_limit(self, app, client):
        """
        A body of exactly the limit is read.
        """
        body = b'{"title": "a"}'
        app.config["REST_MAX_BODY_SIZE"] = len(body)

        response = client.post("/json", data=body, content_type="application/json")

        assert response.json == {"title": "a"}

    def test_chunked_refused_once_past(self, client):
        """
        An endless chunked body is a 413 as soon as the bytes read pass the
        limit: no more is read than a chunk past it.
        """
        stream = Counted()

        response = client.post(
            "/json",
            content_type="application/json",
            headers=CHUNKED,
            environ_overrides={**TERMINATED, "wsgi.input": stream},
        )

        assert response.status_code == 413
        assert MAX_BODY_SIZE < stream.read_bytes <= MAX_BODY_SIZE + 64 * 1024

    @pytest.mark.parametrize(
        ("path", "content_type", "body"),
        [
            ("/json", "application/json", b'{"title": "a"}'),
            ("/form", "application/x-www-form-urlencoded", b"title=a"),
        ],
    )
    def test_chunked_within(self, app, client, path, content_type, body):
        """
        A chunked JSON or form body within the limit is read, in chunks.
        """
        app.config["REST_MAX_BODY_SIZE"] = len(body) + 3

        response = client.post(
            path,
            input_stream=io.BytesIO(body),
            content_type=content_type,
            headers=CHUNKED,
            environ_overrides=TERMINATED,
        )

        assert response.json == {"title": "a"}

    def test_chunked_form_refused(self, app, client):
        """
        A chunked form body over the limit is a 413.
        """
        app.config["REST_MAX_BODY_SIZE"] = 5

        response = client.post(
            "/form",
            input_stream=io.BytesIO(b"title=abc"),
            content_type="application/x-www-form-urlencoded",
            headers=CHUNKED,
            environ_overrides=TERMINATED,
        )

        assert response.status_code == 413

    def test_form_content_length(self, app, client):
        """
        A form body whose Content-Length passes the limit is a 413.
        """
        app.config["REST_MAX_BODY_SIZE"] = 5

        response = client.post("/form", data={"title": "abcdef"})

        assert response.status_code == 413

    @pytest.mark.parametrize(("size", "status"), [(20, 200), (10, 413)])
    def test_read_before(self, app, client, size, status):
        """
        A chunked body that a hook read first is checked by its size.
        """
        app.config["REST_MAX_BODY_SIZE"] = size
        app.before_request(lambda: request.get_data() and None)

        response = client.post(
            "/json",
            input_stream=io.BytesIO(b'{"title": "a"}'),
            content_type="application/json",
            headers=CHUNKED,
            environ_overrides=TERMINATED,
        )

        assert response.status_code == status

    def test_no_limit(self, app, client):
        """
        With REST_MAX_BODY_SIZE None and no MAX_CONTENT_LENGTH, a body of any
        size is read.
        """
        app.config["REST_MAX_BODY_SIZE"] = None
        title = "x" * (MAX_BODY_SIZE + 1)

        response = client.post("/json", json={"title": title})
        form = client.post("/form", data={"title": title})

        assert response.json == form.json == {"title": title}

    def test_reads_body(self, limited):
        """
        reads_body tells the plans that read a body, for the API description.
        """
        views = limited.view_functions

        assert reads_body(views["tagged"].view_class.rest_plans["post"])
        assert reads_body(views["tagged_form"].view_class.rest_plans["post"])
        assert not reads_body(views["search"].view_class.rest_plans["get"])


class TestListLength:
    def test_json_list_checked_first(self, limited):
        """
        A list longer than its Length is refused with that one error, before
        its items are validated: the 422 does not grow with the list.
        """
        body = {"tags": ["too long"] * 50_000, "refs": [{"title": "a"}]}

        response = limited.test_client().post("/tagged", json=body)

        assert response.status_code == 422
        assert response.json["errors"] == {
            "json": {"tags": ["Longer than maximum length 3."]}
        }

    def test_nested_many(self, limited):
        """
        A Nested(many=True) field's Length is checked first too.
        """
        response = limited.test_client().post("/tagged", json={"refs": []})

        assert response.json["errors"] == {
            "json": {"refs": ["Shorter than minimum length 1."]}
        }

    def test_within(self, limited):
        """
        A list within its Length loads, its items validated as usual.
        """
        client = limited.test_client()

        ok = client.post("/tagged", json={"tags": ["a"], "refs": [{"title": "a"}]})
        bad = client.post("/tagged", json={"tags": ["long"], "refs": [{"title": "a"}]})

        assert ok.json == {"tags": ["a"], "refs": [{"title": "a"}]}
        assert bad.json["errors"] == {
            "json": {"tags": {"0": ["Longer than maximum length 3."]}}
        }

    @pytest.mark.parametrize("body", [["a"], {"title": "a", "tags": "a"}])
    def test_not_a_list(self, limited, body):
        """
        A body that is not an object, or a field that is not a list, is left
        to the schema.
        """
        response = limited.test_client().post("/tagged", json=body)

        assert response.status_code == 422
        assert "Longer" not in response.text

    def test_form(self, limited):
        """
        A form's repeated field is checked first too; a form within passes.
        """
        client = limited.test_client()

        response = client.post("/tagged-form", data={"tags": ["long"] * 10})

        assert response.json["errors"] == {
            "form": {"tags": ["Longer than maximum length 3."]}
        }
        assert client.post("/tagged-form", data={"tags": ["a"]}).json == {"tags": ["a"]}

    def test_query(self, limited):
        """
        So is a repeated query argument; a query within passes.
        """
        client = limited.test_client()

        response = client.get("/search?" + "&".join(["tags=long"] * 10))
        assert response.json["errors"] == {
            "query": {"tags": ["Longer than maximum length 3."]}
        }
        assert client.get("/search?tags=a&tags=b").json == {"tags": ["a", "b"]}


class TestEncodings:
    @pytest.mark.parametrize(
        "body",
        [
            '{"title": "\ud800"}'.encode("utf-16", "surrogatepass"),
            '{"title": "\udfff"}'.encode("utf-16-be", "surrogatepass"),
            '{"title": "\ud800"}'.encode("utf-32", "surrogatepass"),
            '{"title": "\ud800"}'.encode("utf-32-le", "surrogatepass"),
            b'{"title": "\xed\xa0\x80"}',
            b'{"title": "\xed\xa0\xbd\xed\xb8\x80"}',
        ],
        ids=["utf-16", "utf-16-be", "utf-32", "utf-32-le", "cesu-8", "cesu-8-pair"],
    )
    def test_surrogates_in_any_encoding(self, client, body):
        """
        Surrogates that come as bytes, not as \\u escapes, are refused with a
        400, whatever the encoding.
        """
        response = client.post("/json", data=body, content_type="application/json")

        assert response.status_code == 400
        assert response.json["message"] == (
            "The request body is not valid JSON: it is not UTF-8 text, which "
            "RFC 8259 requires; send it as UTF-8."
        )

    @pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32-be"])
    def test_not_utf8_refused(self, client, encoding):
        """
        JSON in another encoding than UTF-8 is a 400 (RFC 8259, 8.1), even
        when it holds only characters.
        """
        body = '{"title": "é"}'.encode(encoding)

        response = client.post("/json", data=body, content_type="application/json")

        assert response.status_code == 400

    def test_byte_order_mark(self, client):
        """
        A UTF-8 byte order mark is ignored, as RFC 8259 allows.
        """
        body = b'\xef\xbb\xbf{"title": "\xc3\xa9"}'

        response = client.post("/json", data=body, content_type="application/json")

        assert response.json == {"title": "é"}

    @pytest.mark.parametrize(
        ("inner", "status"),
        [('"\\ud83d\\ude00"', 200), ('"\\ud800"', 400), ('{"\\ud800": 1}', 400)],
        ids=["pair", "lone", "lone-key"],
    )
    def test_deep_surrogates(self, limited, inner, status):
        """
        A deep structure holding an escaped surrogate, paired or not, is
        checked without recursion: a 200 or a 400, never a 500.
        """
        depth = 600
        body = f'{{"data": {"[" * depth}{inner}{"]" * depth}}}'

        response = limited.test_client().post(
            "/deep", data=body, content_type="application/json"
        )

        assert response.status_code == status

    def test_very_deep_with_surrogate(self, limited):
        """
        100,000 levels of nesting around a surrogate pair is a 400 (the parser
        refuses the depth), not a 500.
        """
        depth = 100_000
        body = f'{{"data": {"[" * depth}"\\ud83d\\ude00"{"]" * depth}}}'

        response = limited.test_client().post(
            "/deep", data=body, content_type="application/json"
        )

        assert response.status_code == 400
        assert response.json["message"].startswith("The request body is not valid JSON")
