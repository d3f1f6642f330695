"""Tests for flask_servicecbv.rest._parsing: reading request locations."""

from __future__ import annotations

import pytest
from marshmallow import EXCLUDE, RAISE, Schema, fields

from flask_servicecbv.rest import RestView, json_errors, reads
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
