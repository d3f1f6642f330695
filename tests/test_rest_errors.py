"""Tests for flask_servicecbv.rest.errors: one JSON shape for every error."""

from __future__ import annotations

import json
import types

import pytest
from flask import Blueprint, Response, abort
from marshmallow import Schema, fields, validate
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, TooManyRequests, Unauthorized

from flask_servicecbv.exceptions import (
    AuthenticationError,
    InvalidCredentialsRequestError,
    PermissionDeniedError,
    RestDeclarationError,
)
from flask_servicecbv.rest import (
    MAX_ERRORS,
    MAX_FIELD_ERRORS,
    PROBLEM_JSON,
    ErrorSchema,
    ProblemSchema,
    RestView,
    capped_errors,
    json_errors,
    reads,
    returns,
)
from flask_servicecbv.rest import errors as errors_module

SECRET = "s3cr3t-config-value"  # noqa: S105 -- a fake that must not leak
# What a failing view's exception says: none of it may reach the client.
QUERY = f"SELECT * FROM users WHERE password = '{SECRET}'"  # noqa: S608 -- a fake
BASIC = WWWAuthenticate("basic", {"realm": "api"}).to_header()


class Note(Schema):
    """A note with a required text."""

    text = fields.String(required=True)
    rank = fields.Integer()


def add_views(target):
    """
    Add the views every test uses to *target*, an app or a blueprint.
    """
    note = {"text": "kept", "rank": 1}

    class Notes(RestView):
        @returns(Note)
        def get(self):
            return note

        @reads(Note, partial=True)
        @returns(Note)
        def patch(self, *, body):
            note.update(body)
            return note

        @reads(Note)
        def post(self, *, body):  # pragma: no cover -- never called
            return body

    class Replace(RestView):
        @reads(Note)
        def put(self, *, body):  # pragma: no cover -- never called
            return body

    class Fail(RestView):
        def get(self):
            msg = QUERY
            raise RuntimeError(msg)

    class Guarded(RestView):
        def get(self):
            abort(401, www_authenticate=WWWAuthenticate("basic", {"realm": "api"}))

    class Slow(RestView):
        def get(self):
            raise TooManyRequests(description="Slow down.", retry_after=30)

    class Teapot(RestView):
        def get(self):
            abort(Response("short and stout", status=418, mimetype="text/plain"))

    class Built(RestView):
        def get(self):
            raise Forbidden(response=Response("built", status=403))

    target.add_url_rule("/notes", view_func=Notes.as_view("notes"))
    target.add_url_rule("/fail", view_func=Fail.as_view("fail"))
    target.add_url_rule("/replace", view_func=Replace.as_view("replace"))
    target.add_url_rule("/guarded", view_func=Guarded.as_view("guarded"))
    target.add_url_rule("/slow", view_func=Slow.as_view("slow"))
    target.add_url_rule("/teapot", view_func=Teapot.as_view("teapot"))
    target.add_url_rule("/built", view_func=Built.as_view("built"))


@pytest.fixture(name="app")
def _app(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # so that the handler runs
    app.config["SECRET_KEY"] = SECRET
    return app


@pytest.fixture(name="plain")
def _plain(app, client):
    """
    A client of an app whose errors are plain JSON.
    """
    json_errors(app)
    add_views(app)
    return client


@pytest.fixture(name="problem")
def _problem(app, client):
    """
    A client of an app whose errors are problem details.
    """
    json_errors(app, problem=True)
    add_views(app)
    return client


class TestPlain:
    def test_not_found(self, plain):
        """
        A 404 has the plain shape.
        """
        response = plain.get("/nothing")

        assert response.status_code == 404
        assert response.mimetype == "application/json"
        assert response.json["code"] == 404
        assert response.json["status"] == "Not Found"
        assert response.json["message"].startswith("The requested URL was not found")
        assert ErrorSchema().validate(response.json) == {}

    def test_method_not_allowed(self, plain):
        """
        A 405 keeps its Allow header.
        """
        response = plain.delete("/notes")

        assert response.status_code == 405
        assert set(response.headers["Allow"].split(", ")) == {
            "GET",
            "HEAD",
            "OPTIONS",
            "PATCH",
            "POST",
        }
        assert response.json["code"] == 405

    def test_unauthorized(self, plain):
        """
        A 401 keeps its WWW-Authenticate header.
        """
        response = plain.get("/guarded")

        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == BASIC
        assert response.mimetype == "application/json"

    def test_any_http_exception(self, plain):
        """
        Any HTTPException keeps its description and headers.
        """
        response = plain.get("/slow")

        assert response.status_code == 429
        assert response.headers["Retry-After"] == "30"
        assert response.json == {
            "code": 429,
            "status": "Too Many Requests",
            "message": "Slow down.",
        }

    def test_response_passes(self, plain):
        """
        abort() with a response sends that response.
        """
        response = plain.get("/teapot")

        assert response.status_code == 418
        assert response.text == "short and stout"

    def test_built_response(self, plain):
        """
        An HTTPException that carries a response sends that response.
        """
        response = plain.get("/built")

        assert response.status_code == 403
        assert response.text == "built"

    def test_patch(self, plain):
        """
        A JSON PATCH changes the note.
        """
        response = plain.patch("/notes", json={"text": "new"})

        assert response.json == {"text": "new", "rank": 1}
        assert plain.get("/notes").json == {"text": "new", "rank": 1}

    def test_malformed_json(self, plain):
        """
        A body that does not parse is a 400 with the parser's message.
        """
        data = '{"text": "a",}'
        with pytest.raises(json.JSONDecodeError, match="line 1 column") as e:
            json.loads(data)

        response = plain.patch("/notes", data=data, content_type="application/json")

        assert response.status_code == 400
        assert response.json["message"] == (
            f"The request body is not valid JSON: {e.value}."
        )

    def test_unsupported_type(self, plain):
        """
        A PATCH sent as text/plain is a 415 naming the accepted type with
        Accept-Patch, and changes nothing.
        """
        response = plain.patch(
            "/notes", data='{"text": "lost"}', content_type="text/plain"
        )

        assert response.status_code == 415
        assert response.headers["Accept-Patch"] == "application/json"
        assert "Accept-Post" not in response.headers
        assert "send application/json" in response.json["message"]
        assert plain.get("/notes").json == {"text": "kept", "rank": 1}

    def test_unsupported_type_post(self, plain):
        """
        A POST of another type names the accepted type with Accept-Post.
        """
        response = plain.post("/notes", data="text=a")

        assert response.status_code == 415
        assert response.headers["Accept-Post"] == "application/json"

    def test_unsupported_type_put(self, plain):
        """
        A PUT of another type is a 415 without Accept-Post or Accept-Patch,
        which only POST and PATCH have.
        """
        response = plain.put("/replace", data="text=a")

        assert response.status_code == 415
        assert "application/json" in response.json["message"]
        assert "Accept-Post" not in response.headers
        assert "Accept-Patch" not in response.headers

    def test_missing_body(self, plain):
        """
        A missing body is a 400.
        """
        response = plain.post("/notes")

        assert response.status_code == 400
        assert response.json["message"] == "The request has no body; send one."

    def test_validation(self, plain):
        """
        Validation failures are a 422 with messages by location and field.
        """
        response = plain.post("/notes", json={"rank": "high"})

        assert response.status_code == 422
        assert response.json == {
            "code": 422,
            "status": "Unprocessable Entity",
            "message": "The request's input is not valid.",
            "errors": {
                "json": {
                    "text": ["Missing data for required field."],
                    "rank": ["Not a valid integer."],
                }
            },
        }
        assert ErrorSchema().validate(response.json) == {}

    def test_too_large(self, app, plain):
        """
        A body over MAX_CONTENT_LENGTH is a 413.
        """
        app.config["MAX_CONTENT_LENGTH"] = 16

        response = plain.patch("/notes", json={"text": "x" * 100})

        assert response.status_code == 413
        assert response.json["status"] == "Request Entity Too Large"
        assert plain.get("/notes").json["text"] == "kept"

    def test_internal_error(self, plain):
        """
        A 500 says nothing of the exception outside debug mode.
        """
        response = plain.get("/fail")

        assert response.status_code == 500
        assert response.json == {
            "code": 500,
            "status": "Internal Server Error",
            "message": (
                "The server encountered an internal error and was unable to "
                "complete your request. Either the server is overloaded or "
                "there is an error in the application."
            ),
        }
        for leak in (SECRET, "SELECT", "RuntimeError", "Traceback"):
            assert leak not in response.text

    def test_internal_error_text(self, app, plain):
        """
        An InternalServerError raised with a description keeps it out of the
        body too.
        """

        @app.get("/raised")
        def raised():
            abort(500, f"password {SECRET}")

        assert SECRET not in plain.get("/raised").text

    def test_internal_error_debug(self, app, plain):
        """
        In debug mode, a 500 names the exception.
        """
        app.debug = True

        response = plain.get("/fail")

        assert response.status_code == 500
        assert response.json["exception"] == (f"RuntimeError: {QUERY}")

    def test_http_exception_no_exception_key(self, app, plain):
        """
        In debug mode, other errors are not given an exception.
        """
        app.debug = True

        assert "exception" not in plain.get("/nothing").json


class TestProblem:
    def test_not_found(self, problem):
        """
        With problem=True, errors are RFC 9457 problem details.
        """
        response = problem.get("/nothing")

        assert response.status_code == 404
        assert response.mimetype == PROBLEM_JSON
        assert response.json["type"] == "about:blank"
        assert response.json["title"] == "Not Found"
        assert response.json["status"] == 404
        assert response.json["detail"].startswith("The requested URL")
        assert ProblemSchema().validate(response.json) == {}

    def test_validation(self, problem):
        """
        A 422 problem carries the messages by location and field.
        """
        response = problem.post("/notes", json={})

        assert response.status_code == 422
        assert response.mimetype == PROBLEM_JSON
        assert response.json["errors"] == {
            "json": {"text": ["Missing data for required field."]}
        }
        assert ProblemSchema().validate(response.json) == {}

    def test_method_not_allowed(self, problem):
        """
        A 405 problem keeps Allow.
        """
        response = problem.put("/notes")

        assert response.status_code == 405
        assert "PATCH" in response.headers["Allow"]

    def test_internal_error(self, problem):
        """
        A 500 problem says nothing of the exception.
        """
        response = problem.get("/fail")

        assert response.status_code == 500
        assert SECRET not in response.text
        assert "exception" not in response.json


class TestBlueprint:
    def test_blueprint_errors(self, app, client):
        """
        On a blueprint, errors of its views are JSON and the app's are not.
        """
        api = Blueprint("api", __name__, url_prefix="/api")
        json_errors(api, problem=True)
        add_views(api)
        add_views(app)
        app.register_blueprint(api)

        response = client.get("/api/guarded")
        assert response.mimetype == PROBLEM_JSON
        assert response.headers["WWW-Authenticate"] == BASIC
        assert client.get("/api/fail").mimetype == PROBLEM_JSON
        assert client.get("/guarded").mimetype == "text/html"

    def test_abort_in_blueprint(self, app, client):
        """
        An HTTPException raised by a blueprint's view keeps its description.
        """
        api = Blueprint("api", __name__, url_prefix="/api")
        json_errors(api)

        @api.get("/locked")
        def locked():
            raise Unauthorized(description="Log in first.")

        app.register_blueprint(api)

        assert client.get("/api/locked").json["message"] == "Log in first."


class TestJsonErrors:
    @pytest.mark.parametrize("target", [None, "app", object()])
    def test_bad_target(self, target):
        """
        json_errors() takes an app or a blueprint only.
        """
        with pytest.raises(RestDeclarationError, match=r"takes a Flask app or a Bl"):
            json_errors(target)


class Tags(Schema):
    """Tags of three characters at most, no Length on the list."""

    tags = fields.List(fields.String(validate=validate.Length(max=3)))
    pairs = fields.List(fields.List(fields.Integer()))


class TestCappedErrors:
    @pytest.fixture(name="tagged")
    def _tagged(self, app):
        """A client of /tags, which reads Tags and RAISEs on unknown fields."""
        json_errors(app)

        class TagsView(RestView):
            @reads(Tags)
            def post(self, *, body):  # pragma: no cover -- never called
                return body

        app.add_url_rule("/tags", view_func=TagsView.as_view("tags"))
        return app.test_client()

    def test_items_of_a_field(self, tagged):
        """
        A list of 100,000 invalid items lists MAX_FIELD_ERRORS of them, and
        the message says that not every error is listed.
        """
        response = tagged.post("/tags", json={"tags": ["long"] * 100_000})

        assert response.status_code == 422
        errors = response.json["errors"]["json"]["tags"]
        assert list(errors) == [str(n) for n in range(MAX_FIELD_ERRORS)]
        assert response.json["message"] == (
            "The request's input is not valid. Not every error is listed."
        )
        assert len(response.data) < 2_000

    def test_in_all(self, tagged):
        """
        A body of many unknown fields lists MAX_ERRORS of them.
        """
        body = {f"field{n}": 1 for n in range(1000)}

        response = tagged.post("/tags", json=body)

        errors = response.json["errors"]["json"]
        assert len(errors) == MAX_ERRORS
        assert set(errors) < set(body)

    def test_long_names_cut(self, tagged):
        """
        An unknown field's name is cut to 100 characters in the 422.
        """
        response = tagged.post("/tags", json={"x" * 100_000: 1})

        assert response.json["errors"] == {
            "json": {f"{'x' * 99}\u2026": ["Unknown field."]}
        }

    def test_small_errors_untouched(self, tagged):
        """
        Errors within the caps are listed as marshmallow gives them.
        """
        response = tagged.post("/tags", json={"tags": ["ok", "long"], "pairs": [["x"]]})

        assert response.json["errors"] == {
            "json": {
                "tags": {"1": ["Longer than maximum length 3."]},
                "pairs": {"0": {"0": ["Not a valid integer."]}},
            }
        }
        assert response.json["message"] == "The request's input is not valid."

    def test_capped_errors(self):
        """
        capped_errors keeps MAX_FIELD_ERRORS messages of one field, stops at
        MAX_ERRORS in all, and keeps nested messages in order.
        """
        many = [f"m{n}" for n in range(MAX_FIELD_ERRORS + 5)]
        nested = {n: {"x": ["bad"]} for n in range(MAX_ERRORS)}

        capped, cut = capped_errors({"json": {"a": many, "b": nested, "c": "one"}})

        assert cut
        assert capped["json"]["a"] == many[:MAX_FIELD_ERRORS]
        assert capped["json"]["b"] == {
            n: {"x": ["bad"]} for n in range(MAX_FIELD_ERRORS)
        }
        assert capped["json"]["c"] == "one"
        assert capped_errors({"json": {"a": ["x"]}}) == ({"json": {"a": ["x"]}}, False)

    @pytest.mark.parametrize(
        "messages",
        [
            {"json": {"a": ["x"], "b": ["y", "z"]}, "query": {"q": ["bad"]}},
            {"json": {"a": ["x" * 101]}},
            {"json": {"x" * 101: ["bad"]}},
            {"x" * 101: {"a": ["bad"]}},
            {"json": {"a": ["bad"] * (MAX_FIELD_ERRORS + 1)}},
            {"json": {f"f{n}": ["bad"] for n in range(MAX_ERRORS + 1)}},
            {"json": {"a": {"0": ["bad"]}}},
            {"json": {"a": "one"}},
            {"json": "one"},
            {1: {"a": ["bad"]}},
            {"json": {1: ["bad"], "a": [{"nested": "dict"}]}},
            types.MappingProxyType({"json": {"a": ["x"]}}),
        ],
    )
    def test_shortcut_agrees(self, messages, monkeypatch):
        """
        Messages that need no cut come back as they are, and the shortcut
        that tells so agrees with the full walk on every shape.
        """
        quick = capped_errors(messages)
        monkeypatch.setattr(errors_module, "_within_caps", lambda _: False)
        walked = capped_errors(messages)

        assert quick == walked

    def test_nothing_to_cut_is_not_copied(self):
        """Messages within the caps are returned as they are."""
        messages = {"json": {"a": ["x"], "b": ["y", "z"]}, "query": {"q": ["bad"]}}

        assert capped_errors(messages)[0] is messages

    def test_budget_spent(self):
        """
        Once MAX_ERRORS are listed, later locations and fields are left out.
        """
        fields_ = {f"f{n}": ["bad"] for n in range(MAX_ERRORS)}

        capped, cut = capped_errors({"json": fields_, "query": {"q": ["bad"]}})

        assert cut
        assert capped == {"json": fields_}


class TestAuthenticationErrors:
    @pytest.mark.parametrize("problem", [False, True])
    def test_every_challenge_kept(self, app, client, problem):
        """
        A 401 keeps one WWW-Authenticate header per challenge, in either
        error shape, and the body holds the message only.
        """
        json_errors(app, problem=problem)
        challenges = ('Bearer realm="api", error="invalid_token"', 'Basic realm="api"')

        @app.get("/locked")
        def locked():
            raise AuthenticationError("The credentials are not valid.", challenges)

        response = client.get("/locked")

        assert response.status_code == 401
        assert response.headers.getlist("WWW-Authenticate") == list(challenges)
        assert "invalid_token" not in response.get_data(as_text=True)
        assert response.mimetype == (PROBLEM_JSON if problem else "application/json")

    def test_insufficient_scope_kept(self, app, client):
        """
        A 403 keeps its insufficient_scope challenge.
        """
        json_errors(app)
        challenge = 'Bearer realm="api", error="insufficient_scope", scope="a"'

        @app.get("/scoped")
        def scoped():
            raise PermissionDeniedError("Needs a.", (challenge,), {"a"})

        response = client.get("/scoped")

        assert response.status_code == 403
        assert response.headers["WWW-Authenticate"] == challenge
        assert response.json["message"] == "Needs a."

    def test_invalid_request_kept(self, app, client):
        """
        A 400 for credentials in the wrong place keeps its challenge.
        """
        json_errors(app)
        challenge = 'Bearer realm="api", error="invalid_request"'

        @app.get("/query")
        def query():
            raise InvalidCredentialsRequestError("Not in the query.", (challenge,))

        response = client.get("/query")

        assert response.status_code == 400
        assert response.headers["WWW-Authenticate"] == challenge
