"""
Checked by ``mypy --strict``: authentication and permissions written as the
docs show them.

The principal is a typed service attribute, requirements keep the methods'
signatures, and the schemes, factories and token helpers have their types.
``tests/test_rest_auth.py`` imports this module and runs the view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from flask import Flask
from typing_extensions import assert_type

from flask_servicecbv import ServiceAttr, init_app, register_factory, register_value
from flask_servicecbv.auth import (
    APIKey,
    Authenticator,
    Basic,
    Bearer,
    HashedTokenStore,
    PasswordVerifier,
    TokenVerifier,
    authenticate,
    generate_token,
    hash_token,
    scopes_of,
    token_matches,
)
from flask_servicecbv.rest import (
    Requirement,
    RestView,
    authenticated,
    public,
    requires,
    returns,
)


@dataclass(frozen=True)
class User:
    """The caller."""

    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)


class Tokens(HashedTokenStore[User]):
    """The token store."""


class Users:
    """The user table."""

    def verify_password(self, username: str, password: str) -> User | None:
        """Return the user whose password this is."""
        return User(username) if password else None


class Loans(RestView):
    """Reads need loans:read, writes loans:write."""

    PRINCIPAL = User
    REQUIRES: ClassVar[dict[str, Requirement]] = {
        "read": requires("loans:read"),
        "write": requires("loans:write", check=lambda user: user.name != "guest"),
    }
    user = ServiceAttr(User)

    @returns(None)
    def get(self) -> dict[str, str]:
        """The caller's name, typed."""
        assert_type(self.user, User)
        return {"name": self.user.name}

    @authenticated
    def put(self, item_id: int) -> str:
        """A requirement keeps the method's signature."""
        return str(item_id)

    @public
    @returns(None, status=204)
    def delete(self) -> None:
        """Anyone."""


def setup() -> tuple[Flask, str]:
    """Register the principal and its verifiers; return the app and a token."""
    app = init_app(Flask(__name__))
    tokens = Tokens()
    token = tokens.issue(User("ada", frozenset({"loans:read"})), prefix="lib_")
    assert_type(token, str)
    assert_type(tokens.verify_token(token), User | None)
    register_value(app, Tokens, tokens)
    register_value(app, Users, Users())
    factory = authenticate(
        Bearer(Tokens, realm="library"),
        APIKey(Tokens, header="X-API-Key"),
        Basic(Users),
    )
    assert_type(factory, Authenticator)
    register_factory(app, User, factory)
    verifier: TokenVerifier[User] = tokens
    passwords: PasswordVerifier[User] = Users()
    assert_type(verifier.verify_token("x"), User | None)
    assert_type(passwords.verify_password("a", "b"), User | None)
    assert_type(generate_token(), str)
    assert_type(hash_token("x"), str)
    assert_type(token_matches("x", hash_token("x")), bool)
    scopes: Any = scopes_of(User("ada"))
    del scopes
    app.add_url_rule("/loans", view_func=Loans.as_view("loans"))
    app.add_url_rule("/loans/<int:item_id>", view_func=Loans.as_view("loan"))
    return app, token
