"""Tests for flask_servicecbv.rest.auth: permissions declared on REST views."""

# Test views declare `REQUIRES = ...` and `PRINCIPAL = ...` as the library
# documents them; ClassVar annotations on every test view would be noise.

from __future__ import annotations

import asyncio
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from flask import Blueprint, abort
from marshmallow import Schema, fields

from flask_servicecbv import (
    ServiceAttr,
    get,
    overwrite_value,
    register_factory,
    register_value,
)
from flask_servicecbv.auth import Bearer, HashedTokenStore, authenticate
from flask_servicecbv.exceptions import PermissionDeniedError, RestDeclarationError
from flask_servicecbv.rest import (
    InMemoryRepository,
    ItemView,
    Requirement,
    RestView,
    authenticated,
    json_errors,
    public,
    reads,
    requires,
    returns,
)
from flask_servicecbv.rest.auth import METHOD_GROUPS, authorizer


@dataclass(frozen=True)
class User:
    """The principal of these tests."""

    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)


READER = User("reader", frozenset({"notes:read"}))
WRITER = User("writer", frozenset({"notes:read", "notes:write"}))
ADMIN = User("admin", frozenset({"admin"}))
OTHER = User("other", frozenset({"notes:read", "notes:write"}))


class Claims(dict[str, Any]):
    """A principal that is a mapping, as decoded JWT claims are."""

    @property
    def name(self) -> str:
        return str(self["name"])


class Tokens(HashedTokenStore[User]):
    """The token store."""


class Note(Schema):
    """A note."""

    id = fields.Integer(dump_only=True)
    text = fields.String(required=True)
    owner = fields.String(dump_only=True)


def is_admin(user: User) -> bool:
    """Only administrators may do this."""
    return "admin" in user.scopes


@pytest.fixture(name="tokens")
def _tokens():
    tokens = Tokens()
    for user in (READER, WRITER, ADMIN, OTHER):
        tokens.add(f"{user.name}-token", user)
    return tokens


@pytest.fixture(name="secured")
def _secured(app, tokens):
    """An app with JSON errors and bearer tokens for User."""
    json_errors(app)
    register_value(app, Tokens, tokens)
    register_factory(app, User, authenticate(Bearer(Tokens, realm="notes")))
    return app


def _bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {name}-token"}


class Notes(RestView):
    """Notes: reads need notes:read, writes notes:write."""

    PRINCIPAL = User
    REQUIRES: ClassVar[Any] = {
        "read": requires("notes:read"),
        "write": requires("notes:write"),
    }
    user = ServiceAttr(User)

    @returns(None)
    def get(self) -> dict[str, str]:
        return {"caller": self.user.name}

    @reads(Note)
    @returns(None, status=201)
    def post(self, *, body: dict[str, Any]) -> dict[str, str]:
        return {"text": body["text"], "by": self.user.name}

    @requires(check=is_admin)
    @returns(None, status=204)
    def delete(self) -> None:
        return None


class TestScopes:
    def test_reads_and_writes(self, secured):
        """
        Each method needs the scope of its group.
        """
        secured.add_url_rule("/notes", view_func=Notes.as_view("notes"))
        client = secured.test_client()

        assert client.get("/notes", headers=_bearer("reader")).json == {
            "caller": "reader"
        }
        created = client.post("/notes", json={"text": "hi"}, headers=_bearer("writer"))
        assert created.status_code == 201

    def test_missing_scope(self, secured):
        """
        A caller without the scope gets 403 in the JSON error shape, with an
        insufficient_scope bearer challenge naming the scope.
        """
        secured.add_url_rule("/notes", view_func=Notes.as_view("notes"))

        response = secured.test_client().post(
            "/notes", json={"text": "hi"}, headers=_bearer("reader")
        )

        assert response.status_code == 403
        assert response.json == {
            "code": 403,
            "status": "Forbidden",
            "message": "Forbidden: the caller lacks a scope it needs (notes:write).",
        }
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="notes", error="insufficient_scope", scope="notes:write"'
        )

    def test_no_credentials(self, secured):
        """
        Without credentials the answer is 401 in the JSON error shape, with
        the challenge.
        """
        secured.add_url_rule("/notes", view_func=Notes.as_view("notes"))

        response = secured.test_client().get("/notes")

        assert response.status_code == 401
        assert response.json["code"] == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="notes"'

    def test_invalid_token(self, secured):
        """
        An unknown token is 401 with error="invalid_token"; the body does not
        repeat it.
        """
        secured.add_url_rule("/notes", view_func=Notes.as_view("notes"))

        response = secured.test_client().get(
            "/notes", headers={"Authorization": "Bearer guessed"}
        )

        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        assert b"guessed" not in response.data

    def test_before_validation(self, secured):
        """
        Who is calling is checked before the input: no 422 for a stranger.
        """
        secured.add_url_rule("/notes", view_func=Notes.as_view("notes"))

        response = secured.test_client().post("/notes", json={"wrong": 1})

        assert response.status_code == 401

    def test_custom_check(self, secured):
        """
        A custom check that refuses is a 403 with the check's docstring.
        """
        secured.add_url_rule("/notes", view_func=Notes.as_view("notes"))
        client = secured.test_client()

        refused = client.delete("/notes", headers=_bearer("writer"))
        assert refused.status_code == 403
        assert refused.json["message"] == "Only administrators may do this."
        assert "WWW-Authenticate" not in refused.headers
        assert client.delete("/notes", headers=_bearer("admin")).status_code == 204

    def test_check_without_docstring(self, secured):
        """
        A check without a docstring refuses with a generic message.
        """

        class Locked(RestView):
            PRINCIPAL = User
            REQUIRES = requires(check=lambda _: False)

            def get(self) -> str:  # pragma: no cover -- never called
                return "never"

        secured.add_url_rule("/locked", view_func=Locked.as_view("locked"))

        response = secured.test_client().get("/locked", headers=_bearer("admin"))

        assert response.json["message"] == "The caller may not do this."

    def test_test_acts_as_a_user(self, secured):
        """
        A test overrides the principal's service and sends no token; a 403
        then has no bearer challenge, since no scheme authenticated.
        """
        secured.add_url_rule("/notes", view_func=Notes.as_view("notes"))
        with secured.app_context():
            overwrite_value(User, READER)
        client = secured.test_client()

        assert client.get("/notes").json == {"caller": "reader"}
        denied = client.post("/notes", json={"text": "x"})
        assert denied.status_code == 403
        assert "WWW-Authenticate" not in denied.headers

    @pytest.mark.parametrize(
        "scopes",
        [
            frozenset({"notes:read"}),
            {"notes:read"},
            ["notes:read"],
            "notes:read other",
            ("notes:read",),
        ],
    )
    @pytest.mark.parametrize("as_mapping", [False, True])
    def test_principal_scopes_of_any_kind(self, secured, scopes, as_mapping):
        """
        A principal's scopes may be any collection, or one space-separated
        string, in an attribute or a key: each holds notes:read and not
        notes:write.
        """
        secured.add_url_rule("/notes", view_func=Notes.as_view("notes"))
        principal: Any = (
            Claims(name="reader", scopes=scopes)
            if as_mapping
            else User("reader", scopes)  # type: ignore[arg-type]
        )
        with secured.app_context():
            overwrite_value(User, principal)
        client = secured.test_client()

        assert client.get("/notes").json == {"caller": "reader"}
        assert client.post("/notes", json={"text": "x"}).status_code == 403

    def test_exception(self):
        """
        The 403 exception keeps the scopes it lacked.
        """
        with pytest.raises(PermissionDeniedError, match="may not") as e:
            raise PermissionDeniedError("You may not.", (), {"a"})

        assert e.value.scopes == frozenset({"a"})
        assert e.value.challenges == ()


class TestDeclaring:
    def test_method_wins_over_class(self, secured):
        """
        A method's own requirement wins over the class's.
        """

        class Mixed(RestView):
            PRINCIPAL = User
            REQUIRES = requires("admin")

            @public
            def get(self) -> str:
                return "anyone"

            def post(self) -> str:
                return "admins"

        secured.add_url_rule("/mixed", view_func=Mixed.as_view("mixed"))
        client = secured.test_client()

        assert client.get("/mixed").status_code == 200
        assert client.post("/mixed", headers=_bearer("reader")).status_code == 403
        assert client.post("/mixed", headers=_bearer("admin")).status_code == 200
        assert Mixed.rest_plans["get"].requirement is public
        assert Mixed.rest_plans["post"].requirement == Requirement(
            frozenset({"admin"}), principal=User
        )

    def test_method_name_wins_over_group(self):
        """
        REQUIRES under a method's name wins over its group's.
        """

        class ByName(RestView):
            PRINCIPAL = User
            REQUIRES: ClassVar[Any] = {"read": requires("a"), "get": requires("b")}

            def get(self) -> str:  # pragma: no cover -- never called
                return "b"

        assert ByName.rest_plans["get"].requirement.scopes == {"b"}

    def test_group_without_entry(self):
        """
        A method that REQUIRES does not name has no requirement.
        """

        class OnlyWrites(RestView):
            PRINCIPAL = User
            REQUIRES: ClassVar[Any] = {"write": authenticated}

            def get(self) -> str:  # pragma: no cover -- never called
                return "open"

            def post(self) -> str:  # pragma: no cover -- never called
                return "closed"

        assert "get" not in OnlyWrites.rest_plans
        assert OnlyWrites.rest_plans["post"].requirement == Requirement(principal=User)

    def test_principal_on_the_requirement(self, secured):
        """
        requires(principal=...) names the principal without PRINCIPAL.
        """

        class Own(RestView):
            @requires("notes:read", principal=User)
            def get(self) -> str:
                return "ok"

        secured.add_url_rule("/own", view_func=Own.as_view("own"))

        assert secured.test_client().get("/own", headers=_bearer("reader")).text == "ok"

    def test_authenticated(self, secured):
        """
        `authenticated` needs a caller and no scope.
        """

        class Anyone(RestView):
            PRINCIPAL = User

            @authenticated
            def get(self) -> str:
                return "ok"

        secured.add_url_rule("/any", view_func=Anyone.as_view("any"))
        client = secured.test_client()

        assert client.get("/any").status_code == 401
        assert client.get("/any", headers=_bearer("admin")).status_code == 200

    def test_inherited(self, secured):
        """
        REQUIRES and PRINCIPAL are inherited from a base view.
        """

        class Base(RestView):
            PRINCIPAL = User
            REQUIRES = requires("notes:write")

        class Child(Base):
            def get(self) -> str:  # pragma: no cover -- never called
                return "ok"

        secured.add_url_rule("/child", view_func=Child.as_view("child"))

        response = secured.test_client().get("/child", headers=_bearer("reader"))

        assert response.status_code == 403

    def test_async(self, secured):
        """
        An async method checks its requirement too.
        """

        class Later(RestView):
            PRINCIPAL = User
            REQUIRES = requires("notes:read")

            async def get(self) -> str:
                await asyncio.sleep(0)
                return "later"

        secured.add_url_rule("/later", view_func=Later.as_view("later"))
        client = secured.test_client()

        assert client.get("/later").status_code == 401
        assert client.get("/later", headers=_bearer("reader")).text == "later"

    def test_groups(self):
        """
        The groups cover every method a view may define.
        """
        assert METHOD_GROUPS["read"] | METHOD_GROUPS["write"] == {
            "get",
            "post",
            "put",
            "patch",
            "delete",
        }

    def test_undeclared(self):
        """
        A view that declares no requirement checks nothing.
        """

        class Open(RestView):
            @returns(None)
            def get(self) -> str:  # pragma: no cover -- never called
                return "open"

        assert Open.rest_plans["get"].requirement is None

    def test_principal_made_already(self, secured):
        """
        A principal that the request made already is not made again.
        """
        checks = [
            authorizer(requires("notes:read", principal=User)),
            authorizer(requires(principal=User)),
        ]
        with secured.test_request_context(headers=_bearer("reader")):
            made = get(User)

            for authorize in checks:
                assert authorize is not None
                assert authorize() is made

    def test_nothing_to_authorize(self):
        """
        Public and missing requirements compile to no check.
        """
        assert authorizer(None) is None
        assert authorizer(public) is None


class TestTypedViews:
    def test_views_of_the_type_check(self, monkeypatch):
        """
        The views of tests/type_check/check_auth.py, which mypy checks, serve
        as written.
        """
        path = Path(__file__).parent / "type_check" / "check_auth.py"
        spec = importlib.util.spec_from_file_location("check_auth", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, "check_auth", module)
        spec.loader.exec_module(module)
        app, token = module.setup()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        assert client.get("/loans", headers=headers).json == {"name": "ada"}
        assert client.get("/loans").status_code == 401
        assert client.put("/loans/3", headers=headers).text == "3"
        assert client.delete("/loans").status_code == 204


class TestDeclarationErrors:
    def test_no_principal(self):
        """
        A requirement without a principal's key is refused at class creation.
        """
        with pytest.raises(RestDeclarationError, match="set PRINCIPAL"):

            class Nobody(RestView):
                REQUIRES = authenticated

                def get(self) -> str:  # pragma: no cover -- never called
                    return "x"

    @pytest.mark.parametrize("scope", ["has space", 'quo"te', "", 3])
    def test_bad_scope(self, scope):
        """
        A scope must be a scope token.
        """
        with pytest.raises(RestDeclarationError, match="a scope is printable"):
            requires(scope)

    def test_bad_check(self):
        """
        Checks must be callable.
        """
        with pytest.raises(RestDeclarationError, match="is not callable"):
            requires(check=[is_admin, "admin"])

    def test_checks_list(self):
        """
        Several checks may be given.
        """
        assert requires(check=[is_admin, is_admin]).checks == (is_admin, is_admin)

    def test_on_a_class(self):
        """
        A requirement decorates methods, not classes.
        """
        with pytest.raises(RestDeclarationError, match="set REQUIRES on the class"):

            @requires("a")
            class Whole(RestView):
                pass

    @pytest.mark.parametrize(
        ("value", "match"),
        [
            ("notes:read", "give a Requirement, or map methods"),
            ({"fetch": authenticated}, "is not an HTTP method or a group"),
            ({"get": "notes:read"}, "give a Requirement, such as"),
        ],
    )
    def test_bad_requires(self, value, match):
        """
        REQUIRES must be a Requirement or map methods and groups to them.
        """
        with pytest.raises(RestDeclarationError, match=match):
            type("Bad", (RestView,), {"REQUIRES": value, "PRINCIPAL": User})


class Owned(InMemoryRepository):
    """The notes of every user, by owner."""


class OwnNotes(ItemView):
    """Notes that only their owner sees: another's is 404."""

    repository = ServiceAttr(Owned)
    user = ServiceAttr(User)
    schema = Note
    PRINCIPAL = User
    REQUIRES: ClassVar[Any] = {
        "read": requires("notes:read"),
        "write": requires("notes:write"),
    }

    def check_object(self, item: Any) -> None:
        if item["owner"] != self.user.name:
            abort(404, f"There is no item {item['id']}.")


class SharedNotes(OwnNotes):
    """Notes that anyone may read, but only their owner changes: 403."""

    def check_object(self, item: Any) -> None:
        if request_method() != "GET" and item["owner"] != self.user.name:
            abort(403, "Only the owner may change this note.")


def request_method() -> str:
    from flask import request  # noqa: PLC0415 -- the proxy, here only

    return request.method


class TestObjectPermissions:
    @pytest.fixture(name="notes")
    def _notes(self, secured):
        repository = Owned([{"text": "mine", "owner": "writer"}])
        register_value(secured, Owned, repository)
        bp = Blueprint("n", __name__)
        bp.add_url_rule("/own/<int:item_id>", view_func=OwnNotes.as_view("own"))
        bp.add_url_rule("/shared/<int:item_id>", view_func=SharedNotes.as_view("sh"))
        secured.register_blueprint(bp)
        return secured.test_client()

    def test_owner(self, notes):
        """
        The owner retrieves, changes and deletes the item.
        """
        assert notes.get("/own/1", headers=_bearer("writer")).json["text"] == "mine"
        assert (
            notes.patch("/own/1", json={"text": "x"}, headers=_bearer("writer")).json[
                "text"
            ]
            == "x"
        )
        assert notes.delete("/own/1", headers=_bearer("writer")).status_code == 204

    @pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
    def test_hidden(self, notes, method):
        """
        Another caller's item is 404, the same as a missing one.
        """
        kwargs: dict[str, Any] = {"headers": _bearer("other")}
        if method in ("put", "patch"):
            kwargs["json"] = {"text": "x"}
        other = getattr(notes, method)("/own/1", **kwargs)
        missing = getattr(notes, method)("/own/99", **kwargs)

        assert other.status_code == missing.status_code
        assert other.json == {**missing.json, "message": "There is no item 1."}

    def test_forbidden(self, notes):
        """
        Where existence may show, another caller's change is 403.
        """
        assert notes.get("/shared/1", headers=_bearer("reader")).status_code == 200
        response = notes.delete("/shared/1", headers=_bearer("other"))

        assert response.status_code == 403
        assert response.json["message"] == "Only the owner may change this note."
