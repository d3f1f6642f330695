"""Tests for flask_servicecbv.rest.response: what a declared method returns."""

from __future__ import annotations

import pytest
from flask import Response, jsonify
from marshmallow import Schema, fields
from werkzeug.datastructures import Headers

from flask_servicecbv.exceptions import RestDeclarationError
from flask_servicecbv.rest import RestView, returns


class User(Schema):
    """An item with a field that is never sent and one never read."""

    id = fields.Integer(dump_only=True)
    name = fields.String(required=True)
    password = fields.String(load_only=True)


USER = {"id": 1, "name": "ann", "password": "secret", "other": "x"}


@pytest.fixture(name="serve")
def _serve(app, client):
    """
    Serve GET /show returning *value* with @returns(User, **declared).
    """

    def serve(value, **declared):
        class Show(RestView):
            @returns(User, **declared)
            def get(self):
                return value

        app.add_url_rule("/show", view_func=Show.as_view("show"))
        return client.get("/show")

    return serve


class TestShapes:
    def test_data(self, serve):
        """
        Returned data is dumped with the schema: load_only and undeclared
        fields are not sent.
        """
        response = serve(USER)

        assert response.status_code == 200
        assert response.mimetype == "application/json"
        assert response.json == {"id": 1, "name": "ann"}

    def test_status(self, serve):
        """
        `(data, status)` sets the status.
        """
        response = serve((USER, 202))

        assert response.status_code == 202
        assert response.json == {"id": 1, "name": "ann"}

    @pytest.mark.parametrize("status", ["202 ACCEPTED", "202"])
    def test_status_text(self, serve, status):
        """
        A status may be text, as Flask takes it.
        """
        response = serve((USER, status))

        assert response.status == "202 ACCEPTED"
        assert response.json == {"id": 1, "name": "ann"}

    def test_declared_status(self, serve):
        """
        The declared status is the default.
        """
        assert serve(USER, status=201).status_code == 201

    @pytest.mark.parametrize(
        "headers", [{"X-Id": "1"}, [("X-Id", "1")], Headers({"X-Id": "1"})]
    )
    def test_headers(self, serve, headers):
        """
        `(data, headers)` adds headers and keeps the declared status.
        """
        response = serve((USER, headers), status=201)

        assert response.status_code == 201
        assert response.headers["X-Id"] == "1"

    def test_status_and_headers(self, serve):
        """
        `(data, status, headers)` sets both.
        """
        response = serve((USER, 203, {"X-Id": "1"}))

        assert response.status_code == 203
        assert response.headers["X-Id"] == "1"
        assert response.json == {"id": 1, "name": "ann"}

    def test_response_untouched(self, serve):
        """
        A returned response passes through untouched.
        """
        response = serve(Response("raw", status=418, mimetype="text/plain"))

        assert response.status_code == 418
        assert response.text == "raw"

    def test_jsonify_untouched(self, app, serve):
        """
        A jsonify() response is not dumped again.
        """
        with app.app_context():
            made = jsonify(other=1)

        assert serve(made).json == {"other": 1}

    def test_response_with_status(self, app, serve):
        """
        A response in a tuple keeps its body; a status in the tuple replaces
        its own, as Flask does.
        """
        with app.app_context():
            made = jsonify(other=1)

        response = serve((made, 201))

        assert response.status_code == 201
        assert response.json == {"other": 1}

    def test_response_with_headers(self, serve):
        """
        Headers in a tuple are added to a returned response, which keeps its
        status.
        """
        made = Response("raw", status=418)

        response = serve((made, {"X-Id": "1"}), status=201)

        assert response.status_code == 418
        assert response.text == "raw"
        assert response.headers["X-Id"] == "1"

    def test_response_with_status_and_headers(self, serve):
        """
        `(response, status, headers)` amends both.
        """
        response = serve((Response("raw"), "202 ACCEPTED", [("X-Id", "1")]))

        assert response.status == "202 ACCEPTED"
        assert response.headers["X-Id"] == "1"
        assert response.text == "raw"

    @pytest.mark.parametrize(
        ("value", "size"), [((USER,), 1), ((USER, None), 2), ((USER, 1, {}, 2), 4)]
    )
    def test_bad_tuple(self, app, serve, value, size):
        """
        A tuple of another shape is refused, naming the shapes.
        """
        with pytest.raises(
            RestDeclarationError, match=f"a tuple of {size} items; return data, "
        ):
            serve(value)

    def test_many(self, serve):
        """
        `many=True` dumps a list.
        """
        response = serve([USER, {**USER, "id": 2}], many=True)

        assert response.json == [{"id": 1, "name": "ann"}, {"id": 2, "name": "ann"}]

    def test_no_schema(self, app, client):
        """
        `returns(None)` sends data as it is.
        """

        class Show(RestView):
            @returns(None, status=202)
            def get(self):
                return {"any": ["thing"]}

        app.add_url_rule("/show", view_func=Show.as_view("show"))

        response = client.get("/show")

        assert response.status_code == 202
        assert response.json == {"any": ["thing"]}

    def test_no_content(self, app, client):
        """
        `returns(None)` with None makes a response without a body or a
        Content-Type.
        """

        class Remove(RestView):
            @returns(None, status=204)
            def delete(self):
                return None

        app.add_url_rule("/show", view_func=Remove.as_view("show"))

        response = client.delete("/show")

        assert response.status_code == 204
        assert response.data == b""
        assert "Content-Type" not in response.headers

    def test_no_content_headers(self, app, client):
        """
        An empty response keeps returned headers.
        """

        class Remove(RestView):
            @returns(None, status=204)
            def delete(self):
                return None, {"X-Gone": "1"}

        app.add_url_rule("/show", view_func=Remove.as_view("show"))

        assert client.delete("/show").headers["X-Gone"] == "1"


class TestETag:
    @pytest.fixture(name="tagged")
    def _tagged(self, app, client):
        """
        GET and POST /show return the same user, with an ETag.
        """

        class Show(RestView):
            @returns(User, etag=True)
            def get(self):
                return USER

            @returns(User, etag=True)
            def post(self):
                return USER

        app.add_url_rule("/show", view_func=Show.as_view("show"))
        return client

    def test_sent(self, tagged):
        """
        The response carries a quoted strong ETag.
        """
        response = tagged.get("/show")

        assert response.headers["ETag"].startswith('"')
        assert response.headers["ETag"].endswith('"')
        assert tagged.get("/show").headers["ETag"] == response.headers["ETag"]

    @pytest.mark.parametrize("form", ["{}", "W/{}", '"other", {}', "*"])
    def test_not_modified(self, tagged, form):
        """
        A matching If-None-Match (weak comparison, or `*`) is answered with
        304 carrying the same ETag and no body.
        """
        etag = tagged.get("/show").headers["ETag"]

        response = tagged.get("/show", headers={"If-None-Match": form.format(etag)})

        assert response.status_code == 304
        assert response.headers["ETag"] == etag
        assert response.data == b""

    def test_not_modified_keeps_cache_headers(self, app, client):
        """
        A 304 keeps the cache headers that the 200 would send (RFC 9110
        section 15.4.5), and no others.
        """
        cache = {
            "Cache-Control": "max-age=60",
            "Vary": "Accept",
            "Expires": "Thu, 01 Jan 2099 00:00:00 GMT",
            "Content-Location": "/show/1",
        }

        class Show(RestView):
            @returns(User, etag=True)
            def get(self):
                return USER, {**cache, "X-Other": "1"}

        app.add_url_rule("/show", view_func=Show.as_view("show"))
        etag = client.get("/show").headers["ETag"]

        response = client.get("/show", headers={"If-None-Match": etag})

        assert response.status_code == 304
        assert {name: response.headers.get(name) for name in cache} == cache
        assert "X-Other" not in response.headers

    def test_only_success(self, app, client):
        """
        A response that is not a success ignores If-None-Match (RFC 9110
        section 13.2.1): a redirect stays a redirect.
        """

        class Moved(RestView):
            @returns(User, etag=True)
            def get(self):
                return USER, 302, {"Location": "/elsewhere"}

        app.add_url_rule("/moved", view_func=Moved.as_view("moved"))

        response = client.get("/moved", headers={"If-None-Match": "*"})

        assert response.status_code == 302
        assert response.headers["Location"] == "/elsewhere"

    def test_head(self, tagged):
        """
        HEAD is conditional too.
        """
        etag = tagged.get("/show").headers["ETag"]

        assert tagged.head("/show", headers={"If-None-Match": etag}).status_code == 304

    def test_other_tag(self, tagged):
        """
        Another tag is answered with the representation.
        """
        response = tagged.get("/show", headers={"If-None-Match": '"other"'})

        assert response.status_code == 200
        assert response.json == {"id": 1, "name": "ann"}

    def test_other_methods(self, tagged):
        """
        Methods other than GET and HEAD are never answered with 304.
        """
        etag = tagged.get("/show").headers["ETag"]

        response = tagged.post("/show", headers={"If-None-Match": etag})

        assert response.status_code == 200
        assert response.headers["ETag"] == etag

    @pytest.mark.parametrize("method", ["get", "head"])
    def test_if_match_stale(self, tagged, method):
        """
        A GET or HEAD whose If-Match names another tag is a 412 (RFC 9110,
        13.1.1), even with a matching If-None-Match: If-Match comes first.
        """
        etag = tagged.get("/show").headers["ETag"]

        stale = getattr(tagged, method)("/show", headers={"If-Match": '"other"'})
        both = getattr(tagged, method)(
            "/show", headers={"If-Match": '"other"', "If-None-Match": etag}
        )

        assert (stale.status_code, both.status_code) == (412, 412)

    @pytest.mark.parametrize("form", ["{}", '"other", {}', "*"])
    def test_if_match_current(self, tagged, form):
        """
        The current tag (strong comparison), or `*`, passes If-Match; with a
        matching If-None-Match the answer is then a 304.
        """
        etag = tagged.get("/show").headers["ETag"]
        if_match = {"If-Match": form.format(etag)}

        response = tagged.get("/show", headers=if_match)
        not_modified = tagged.get("/show", headers={**if_match, "If-None-Match": etag})

        assert response.status_code == 200
        assert response.json == {"id": 1, "name": "ann"}
        assert not_modified.status_code == 304

    def test_if_match_weak(self, tagged):
        """
        A weak tag never passes If-Match, not even the current one.
        """
        etag = tagged.get("/show").headers["ETag"]

        assert tagged.get("/show", headers={"If-Match": f"W/{etag}"}).status_code == 412

    def test_other_methods_if_match(self, tagged):
        """
        A change's If-Match is the method's to check, against the tag before
        the change: the response does not check it against its new tag.
        """
        response = tagged.post("/show", headers={"If-Match": '"before"'})

        assert response.status_code == 200
