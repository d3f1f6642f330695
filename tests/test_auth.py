"""Tests for flask_servicecbv.auth: the principal as a service, schemes, tokens."""

from __future__ import annotations

import base64
import hashlib
import itertools
import logging
import threading
from dataclasses import dataclass, field
from unittest.mock import Mock

import pytest
from flask import Blueprint

from flask_servicecbv import (
    ServiceAttr,
    ServiceView,
    auth,
    get,
    override,
    overwrite_value,
    register_factory,
    register_value,
)
from flask_servicecbv._context import _current_container
from flask_servicecbv.auth import (
    AUTHENTICATED_BY,
    APIKey,
    Authenticator,
    Basic,
    Bearer,
    HashedTokenStore,
    PasswordVerifier,
    Scheme,
    TokenVerifier,
    authenticate,
    generate_token,
    hash_token,
    scopes_of,
    token_matches,
)
from flask_servicecbv.exceptions import (
    AuthenticationError,
    AuthSchemeError,
    InvalidCredentialsRequestError,
)


@dataclass(frozen=True)
class User:
    """The principal of these tests."""

    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)


ALICE = User("alice", frozenset({"books:read"}))
BOB = User("bob")


class TokenStore(HashedTokenStore[User]):
    """The service key of the tokens."""


class AdminTokens(HashedTokenStore[User]):
    """Another store, for another blueprint."""


class Passwords:
    """A user table that checks passwords: a PasswordVerifier."""

    def __init__(self, users: dict[str, tuple[str, User]]) -> None:
        self.users = users

    def verify_password(self, username: str, password: str) -> User | None:
        found = self.users.get(username)
        return found[1] if found is not None and found[0] == password else None


def _me_view(touch: bool = True) -> type[ServiceView]:
    class Me(ServiceView):
        user = ServiceAttr(User)

        def get(self) -> dict[str, str]:
            return {"name": self.user.name} if touch else {"name": "nobody"}

    return Me


@pytest.fixture(name="store")
def _store():
    store = TokenStore()
    store.add("alice-token", ALICE)
    return store


@pytest.fixture(name="bearer_app")
def _bearer_app(app, store):
    register_value(app, TokenStore, store)
    register_factory(app, User, authenticate(Bearer(TokenStore, realm="books")))
    app.add_url_rule("/me", view_func=_me_view().as_view("me"))
    return app


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class TestBearer:
    def test_valid_token(self, bearer_app):
        """
        A valid bearer token makes the principal that the view declares.
        """
        response = bearer_app.test_client().get(
            "/me", headers={"Authorization": "Bearer alice-token"}
        )

        assert response.status_code == 200
        assert response.json == {"name": "alice"}

    def test_scheme_name_is_case_insensitive(self, bearer_app):
        """
        The scheme's name in Authorization is matched without regard to case.
        """
        response = bearer_app.test_client().get(
            "/me", headers={"Authorization": "bearer alice-token"}
        )

        assert response.json == {"name": "alice"}

    def test_missing(self, bearer_app):
        """
        Without credentials the answer is 401 with a challenge and no error.
        """
        response = bearer_app.test_client().get("/me")

        assert response.status_code == 401
        assert response.headers.getlist("WWW-Authenticate") == ['Bearer realm="books"']

    def test_unknown_token(self, bearer_app):
        """
        An unknown token is 401 with error="invalid_token"; the body and the
        exception never hold the token.
        """
        with bearer_app.test_request_context(
            headers={"Authorization": "Bearer stolen-secret"}
        ):
            with pytest.raises(AuthenticationError, match="not valid") as e:
                get(User)
            response = e.value.get_response()

        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="books", error="invalid_token"'
        )
        assert "stolen-secret" not in str(e.value)
        assert b"stolen-secret" not in response.get_data()

    @pytest.mark.parametrize("token", ["", "has space", "a\u00e9b", "=start"])
    def test_malformed_token(self, bearer_app, token):
        """
        A token that is not RFC 6750 token syntax is invalid without asking
        the store.
        """
        store = Mock(spec_set=TokenStore)
        with bearer_app.app_context():
            overwrite_value(TokenStore, store)

        response = bearer_app.test_client().get(
            "/me", headers={"Authorization": f"Bearer {token}"}
        )

        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        store.verify_token.assert_not_called()

    def test_other_scheme_is_not_bearer(self, bearer_app):
        """
        Authorization with another scheme carries no bearer credentials.
        """
        response = bearer_app.test_client().get(
            "/me", headers={"Authorization": _basic("alice", "x")}
        )

        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="books"'

    def test_query_refused(self, bearer_app):
        """
        A token in the query string is refused with 400 unless declared.
        """
        with bearer_app.test_request_context("/me?access_token=alice-token"):
            with pytest.raises(
                InvalidCredentialsRequestError, match="query string is not accepted"
            ) as e:
                get(User)
            response = e.value.get_response()

        assert response.status_code == 400
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="books", error="invalid_request"'
        )
        assert b"alice-token" not in response.get_data()

    def test_query_text_elsewhere(self, bearer_app):
        """
        A query string that only mentions access_token in a value is no token.
        """
        response = bearer_app.test_client().get(
            "/me?q=access_token", headers={"Authorization": "Bearer alice-token"}
        )

        assert response.json == {"name": "alice"}

    def test_query_declared(self, app, store):
        """
        Bearer(query=...) reads the token from that query parameter too.
        """
        register_value(app, TokenStore, store)
        register_factory(
            app, User, authenticate(Bearer(TokenStore, query="access_token"))
        )
        app.add_url_rule("/me", view_func=_me_view().as_view("me"))

        client = app.test_client()
        response = client.get("/me?access_token=alice-token")
        header = client.get("/me", headers={"Authorization": "Bearer alice-token"})

        assert response.json == {"name": "alice"}
        assert header.json == {"name": "alice"}

    def test_query_and_header(self, app, store):
        """
        A token in both the header and the declared query parameter is 400.
        """
        register_value(app, TokenStore, store)
        register_factory(app, User, authenticate(Bearer(TokenStore, query="t")))

        with (
            app.test_request_context(
                "/?t=alice-token", headers={"Authorization": "Bearer alice-token"}
            ),
            pytest.raises(InvalidCredentialsRequestError, match="once"),
        ):
            get(User)

    def test_nothing_logged(self, bearer_app, caplog):
        """
        A refused token appears in no log record.
        """
        with caplog.at_level(logging.DEBUG):
            bearer_app.test_client().get(
                "/me", headers={"Authorization": "Bearer stolen-secret"}
            )

        assert "stolen-secret" not in caplog.text

    def test_openapi(self):
        """
        The OpenAPI scheme object says http bearer, with a format if given.
        """
        scheme = Bearer(TokenStore, bearer_format="JWT", description="Tokens.")

        assert scheme.openapi() == {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Tokens.",
        }
        assert repr(scheme) == "<Bearer 'bearerAuth' realm='api'>"
        assert Bearer(TokenStore).openapi() == {"type": "http", "scheme": "bearer"}

    def test_challenge_with_scopes(self):
        """
        A bearer challenge names the error and the scopes, sorted.
        """
        scheme = Bearer(TokenStore)

        assert scheme.challenge("insufficient_scope", {"b", "a"}) == (
            'Bearer realm="api", error="insufficient_scope", scope="a b"'
        )


# Every header up to a scheme name, a separator and three characters of these:
# token characters, whitespace that str.strip() removes (Unicode included),
# a zero-width space that it does not remove, and others.
_SCHEME_NAMES = ("Bearer", "bEaReR", "Bear", "Bearerx", "Basic", "")
_SEPARATORS = ("", " ", "\t")
_CHARACTERS = "aZ0-~/+= \t\x85\u3000\u200bé,\x00"


class _Request:
    """What Bearer.credentials() reads of a request."""

    def __init__(self, header: str) -> None:
        self.environ = {"HTTP_AUTHORIZATION": header, "QUERY_STRING": ""}


class TestBearerHeader:
    def test_fused_reading_agrees(self):
        """
        The one match that reads a plain Bearer's header finds a token exactly
        when credentials() finds one that verify() would pass to the store,
        and the same token.
        """
        scheme = Bearer(TokenStore)
        rests = itertools.chain.from_iterable(
            itertools.product(_CHARACTERS, repeat=n) for n in range(4)
        )
        checked = 0
        for rest in rests:
            for name, separator in itertools.product(_SCHEME_NAMES, _SEPARATORS):
                header = name + separator + "".join(rest)
                token = scheme.credentials(_Request(header))
                found = auth._BEARER_HEADER(header)
                assert (found and found[1]) == (
                    token if token and auth._B64TOKEN(token) else None
                ), header
                checked += bool(found)

        assert checked > 100

    def test_subclass_reads_its_own_way(self, app, store):
        """
        A subclass of Bearer that overrides verify() has it called on every
        request: the fused reading is for Bearer itself.
        """
        calls = []

        class Audited(Bearer):
            def verify(self, verifier, credentials):
                calls.append(credentials)
                return super().verify(verifier, credentials)

        register_value(app, TokenStore, store)
        register_factory(app, User, authenticate(Audited(TokenStore)))
        app.add_url_rule("/me", view_func=_me_view().as_view("me"))

        response = app.test_client().get(
            "/me", headers={"Authorization": "Bearer alice-token"}
        )

        assert response.json == {"name": "alice"}
        assert calls == ["alice-token"]

    def test_header_and_query_token(self, bearer_app):
        """
        A valid header does not hide a token in the query string: 400.
        """
        response = bearer_app.test_client().get(
            "/me?access_token=x", headers={"Authorization": "Bearer alice-token"}
        )

        assert response.status_code == 400
        assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]

    def test_after_another_scheme(self, app, store):
        """
        Bearer tokens are read in the header when Bearer is not the first
        scheme, too.
        """
        register_value(app, TokenStore, store)
        register_factory(
            app,
            User,
            authenticate(APIKey(TokenStore, header="X-API-Key"), Bearer(TokenStore)),
        )
        app.add_url_rule("/me", view_func=_me_view().as_view("me"))

        response = app.test_client().get(
            "/me", headers={"Authorization": "Bearer alice-token"}
        )

        assert response.json == {"name": "alice"}

    def test_store_already_made(self, bearer_app, store):
        """
        Called with a container that already made the token store, the factory
        uses that store.
        """
        with bearer_app.test_request_context(
            headers={"Authorization": "Bearer alice-token"}
        ):
            container = _current_container()
            assert container.get(TokenStore) is store

            assert authenticate(Bearer(TokenStore))(container) is ALICE

    def test_scheme_recorded(self, bearer_app):
        """
        The scheme that authenticated the request is kept in its environ, for
        the challenge of a 403.
        """
        with bearer_app.test_request_context(
            headers={"Authorization": "Bearer alice-token"}
        ) as ctx:
            assert get(User) is ALICE
            assert ctx.request.environ[AUTHENTICATED_BY].name == "bearerAuth"


class TestLaziness:
    def test_view_that_never_touches_it(self, app):
        """
        A view that never reads the principal never authenticates: a bad
        token is not even looked up.
        """
        store = Mock(spec_set=TokenStore)
        register_value(app, TokenStore, store)
        register_factory(app, User, authenticate(Bearer(TokenStore)))
        app.add_url_rule("/open", view_func=_me_view(touch=False).as_view("open"))

        response = app.test_client().get(
            "/open", headers={"Authorization": "Bearer whatever"}
        )

        assert response.status_code == 200
        store.verify_token.assert_not_called()

    def test_once_per_request(self, app):
        """
        The principal is verified once per request, however often it is read.
        """
        store = Mock(spec_set=TokenStore)
        store.verify_token.return_value = ALICE
        register_value(app, TokenStore, store)
        register_factory(app, User, authenticate(Bearer(TokenStore)))

        class Twice(ServiceView):
            user = ServiceAttr(User)

            def get(self) -> list[str]:
                return [self.user.name, self.user.name]

        app.add_url_rule("/twice", view_func=Twice.as_view("twice"))
        client = app.test_client()

        assert client.get("/twice", headers={"Authorization": "Bearer t"}).json == [
            "alice",
            "alice",
        ]
        client.get("/twice", headers={"Authorization": "Bearer t"})
        assert store.verify_token.call_count == 2

    def test_outside_a_request(self, bearer_app):
        """
        Outside a request there are no credentials: 401.
        """
        with (
            bearer_app.app_context(),
            pytest.raises(AuthenticationError, match="no request"),
        ):
            get(User)


class TestAPIKey:
    def test_header(self, app, store):
        """
        An API key in its header is verified by the store.
        """
        register_value(app, TokenStore, store)
        register_factory(
            app, User, authenticate(APIKey(TokenStore, header="X-API-Key"))
        )
        app.add_url_rule("/me", view_func=_me_view().as_view("me"))
        client = app.test_client()

        assert client.get("/me", headers={"X-API-Key": "alice-token"}).json == {
            "name": "alice"
        }
        response = client.get("/me", headers={"X-API-Key": "nope"})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'APIKey realm="api"'

    def test_query(self, app, store):
        """
        An API key may be read from a query parameter instead; not from a
        header then.
        """
        register_value(app, TokenStore, store)
        register_factory(app, User, authenticate(APIKey(TokenStore, query="key")))
        app.add_url_rule("/me", view_func=_me_view().as_view("me"))
        client = app.test_client()

        assert client.get("/me?key=alice-token").json == {"name": "alice"}
        assert client.get("/me", headers={"key": "alice-token"}).status_code == 401

    def test_empty_key(self, app):
        """
        An empty API key is invalid without asking the store.
        """
        store = Mock(spec_set=TokenStore)
        register_value(app, TokenStore, store)
        register_factory(app, User, authenticate(APIKey(TokenStore, query="key")))
        app.add_url_rule("/me", view_func=_me_view().as_view("me"))

        assert app.test_client().get("/me?key=").status_code == 401
        store.verify_token.assert_not_called()

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({}, "not both or neither"),
            ({"header": "X-Key", "query": "key"}, "not both or neither"),
            ({"header": "X Key"}, "not a header name"),
        ],
    )
    def test_wrong_places(self, kwargs, match):
        """
        An API key is read from exactly one place, named validly.
        """
        with pytest.raises(AuthSchemeError, match=match):
            APIKey(TokenStore, **kwargs)

    def test_openapi(self):
        """
        The OpenAPI scheme object says where the key is.
        """
        assert APIKey(TokenStore, header="X-API-Key").openapi() == {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
        }
        assert APIKey(TokenStore, query="key").openapi() == {
            "type": "apiKey",
            "in": "query",
            "name": "key",
        }


@pytest.fixture(name="basic_app")
def _basic_app(app):
    register_value(app, Passwords, Passwords({"alice": ("s3cret:x", ALICE)}))
    register_factory(app, User, authenticate(Basic(Passwords, realm="books")))
    app.add_url_rule("/me", view_func=_me_view().as_view("me"))
    return app


class TestBasic:
    def test_valid_over_https(self, basic_app):
        """
        Basic credentials over HTTPS are verified; the password may hold a
        colon.
        """
        client = basic_app.test_client()

        response = client.get(
            "/me",
            base_url="https://localhost",
            headers={"Authorization": _basic("alice", "s3cret:x")},
        )

        assert response.json == {"name": "alice"}

    @pytest.mark.parametrize(
        "header",
        [
            _basic("alice", "wrong"),
            "Basic !!!",
            "Basic " + base64.b64encode(b"no-colon").decode(),
            "Basic " + base64.b64encode(b"\xff:x").decode(),
        ],
    )
    def test_refused(self, basic_app, header):
        """
        Wrong or malformed Basic credentials are 401 with the Basic challenge.
        """
        response = basic_app.test_client().get(
            "/me", base_url="https://localhost", headers={"Authorization": header}
        )

        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == (
            'Basic realm="books", charset="UTF-8"'
        )

    def test_over_http_refused(self, basic_app):
        """
        Basic credentials over plain HTTP are refused with 400 unless the
        scheme allows it.
        """
        with (
            basic_app.test_request_context(
                headers={"Authorization": _basic("alice", "s3cret:x")}
            ),
            pytest.raises(InvalidCredentialsRequestError, match="HTTPS only"),
        ):
            get(User)

    def test_over_http_allowed(self, app):
        """
        Basic(allow_http=True) accepts plain HTTP.
        """
        register_value(app, Passwords, Passwords({"bob": ("pw", BOB)}))
        register_factory(app, User, authenticate(Basic(Passwords, allow_http=True)))
        app.add_url_rule("/me", view_func=_me_view().as_view("me"))

        response = app.test_client().get(
            "/me", headers={"Authorization": _basic("bob", "pw")}
        )

        assert response.json == {"name": "bob"}

    @pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer x"}])
    def test_no_basic_header(self, basic_app, headers):
        """
        Without Basic credentials in Authorization, Basic finds nothing: 401.
        """
        response = basic_app.test_client().get("/me", headers=headers)

        assert response.status_code == 401

    def test_openapi(self):
        """
        The OpenAPI scheme object says http basic.
        """
        assert Basic(Passwords).openapi() == {"type": "http", "scheme": "basic"}


class TestSeveralSchemes:
    def test_each_scheme_is_tried(self, app, store):
        """
        The first scheme that finds credentials verifies them.
        """
        register_value(app, TokenStore, store)
        register_value(app, Passwords, Passwords({"bob": ("pw", BOB)}))
        register_factory(
            app,
            User,
            authenticate(
                Bearer(TokenStore), Basic(Passwords, allow_http=True, realm="pw")
            ),
        )
        app.add_url_rule("/me", view_func=_me_view().as_view("me"))
        client = app.test_client()

        assert client.get("/me", headers={"Authorization": "Bearer alice-token"}).json
        assert client.get("/me", headers={"Authorization": _basic("bob", "pw")}).json
        missing = client.get("/me")
        assert missing.headers.getlist("WWW-Authenticate") == [
            'Bearer realm="api"',
            'Basic realm="pw", charset="UTF-8"',
        ]
        refused = client.get("/me", headers={"Authorization": "Bearer nope"})
        assert refused.headers.getlist("WWW-Authenticate") == [
            'Bearer realm="api", error="invalid_token"',
            'Basic realm="pw", charset="UTF-8"',
        ]

    def test_records_the_scheme(self, app, store):
        """
        The scheme that authenticated the request is kept in its environ.
        """
        scheme = Bearer(TokenStore)
        register_value(app, TokenStore, store)
        register_factory(app, User, authenticate(scheme))

        with app.test_request_context(headers={"Authorization": "Bearer alice-token"}):
            get(User)
            from flask import request  # noqa: PLC0415 -- the proxy, here only

            assert request.environ[AUTHENTICATED_BY] is scheme

    @pytest.mark.parametrize(
        ("schemes", "match"),
        [
            ((), "at least one scheme"),
            (("bearer",), "takes schemes"),
            ((Bearer(TokenStore), Bearer(AdminTokens)), "two schemes named"),
        ],
    )
    def test_wrong_schemes(self, schemes, match):
        """
        authenticate() needs distinct schemes.
        """
        with pytest.raises(AuthSchemeError, match=match):
            authenticate(*schemes)

    def test_repr(self):
        """
        The factory's repr names its schemes, for `flask services list`.
        """
        factory = authenticate(Bearer(TokenStore), APIKey(TokenStore, query="k"))

        assert repr(factory) == "<Authenticator bearerAuth, apiKeyAuth>"
        assert isinstance(factory, Authenticator)

    def test_bad_realm(self):
        """
        A realm that would need escaping in a challenge is refused.
        """
        with pytest.raises(AuthSchemeError, match="cannot be sent in a challenge"):
            Bearer(TokenStore, realm='my "api"')


class TestLayers:
    def test_blueprint_has_its_own_store(self, app, store):
        """
        A blueprint registers its own token store: the same factory verifies
        its requests against it.
        """
        admin_store = TokenStore()
        admin_store.add("root-token", User("root", frozenset({"admin"})))
        register_value(app, TokenStore, store)
        register_factory(app, User, authenticate(Bearer(TokenStore)))
        admin = Blueprint("admin", __name__, url_prefix="/admin")
        register_value(admin, TokenStore, admin_store)
        admin.add_url_rule("/me", view_func=_me_view().as_view("me"))
        app.add_url_rule("/me", view_func=_me_view().as_view("me"))
        app.register_blueprint(admin)
        client = app.test_client()

        assert client.get("/me", headers={"Authorization": "Bearer alice-token"}).json
        refused = client.get(
            "/admin/me", headers={"Authorization": "Bearer alice-token"}
        )
        assert refused.status_code == 401
        root = client.get("/admin/me", headers={"Authorization": "Bearer root-token"})
        assert root.json == {"name": "root"}

    def test_test_acts_as_a_user(self, bearer_app):
        """
        A test overrides the principal's service and sends no token.
        """
        with bearer_app.app_context():
            overwrite_value(User, BOB)

        assert bearer_app.test_client().get("/me").json == {"name": "bob"}

    def test_override_store(self, bearer_app):
        """
        override() swaps the token store for one block.
        """
        fake = TokenStore()
        fake.add("fake", BOB)
        client = bearer_app.test_client()
        with bearer_app.app_context(), override(TokenStore, value=fake):
            response = client.get("/me", headers={"Authorization": "Bearer fake"})

        assert response.json == {"name": "bob"}


class TestTokens:
    def test_generate(self):
        """
        Generated tokens are long, URL-safe, distinct, and carry the prefix.
        """
        tokens = {generate_token(prefix="bm_") for _ in range(100)}

        assert len(tokens) == 100
        assert all(t.startswith("bm_") and len(t) == 46 for t in tokens)

    def test_generate_too_short(self):
        """
        Fewer than 16 random bytes are refused.
        """
        with pytest.raises(AuthSchemeError, match="guessable"):
            generate_token(8)

    def test_hash(self):
        """
        hash_token is the SHA-256 of the token, in hex; token_matches checks
        it.
        """
        digest = hash_token("abc")

        assert digest == hashlib.sha256(b"abc").hexdigest()
        assert token_matches("abc", digest)
        assert not token_matches("abd", digest)

    def test_store_keeps_hashes_only(self):
        """
        The store holds no token, verifies, and forgets revoked tokens.
        """
        store: HashedTokenStore[User] = HashedTokenStore()
        token = store.issue(ALICE, prefix="t_")

        assert token not in repr(vars(store))
        # Neither the token nor hash_token() of it, which a table may keep.
        assert hash_token(token) not in repr(vars(store))
        assert hashlib.sha256(token.encode()).digest() not in store._by_hash
        assert list(store._by_hash) == [hashlib.blake2s(token.encode()).digest()]
        assert repr(store) == "<HashedTokenStore: 1 tokens>"
        assert store.verify_token(token) is ALICE
        assert store.revoke(token)
        assert not store.revoke(token)
        assert store.verify_token(token) is None
        assert len(store) == 0

    def test_store_threads(self):
        """
        Tokens added from several threads are all kept.
        """
        store: HashedTokenStore[User] = HashedTokenStore()

        def add(index: int) -> None:
            for n in range(50):
                store.add(f"{index}-{n}", BOB)

        threads = [threading.Thread(target=add, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)

        assert len(store) == 200

    def test_protocols(self):
        """
        The store and the user table are the verifiers the schemes need.
        """
        verifier: TokenVerifier[User] = HashedTokenStore[User]()
        passwords: PasswordVerifier[User] = Passwords({})

        assert verifier.verify_token("x") is None
        assert passwords.verify_password("x", "y") is None


class TestScopesOf:
    @pytest.mark.parametrize(
        ("principal", "scopes"),
        [
            (ALICE, {"books:read"}),
            ({"scopes": ["a", "b"]}, {"a", "b"}),
            (Mock(spec_set=["scopes"], scopes="a b"), {"a", "b"}),
            ({"name": "x"}, set()),
            (object(), set()),
        ],
    )
    def test_scopes(self, principal, scopes):
        """
        Scopes come from an attribute or a key; a string is space-separated.
        """
        assert set(scopes_of(principal)) == scopes


class TestSchemeBase:
    def test_verifier_is_a_key(self):
        """
        A scheme's verifier is the key of a service: one that is not hashable
        is refused when the scheme is made.
        """
        with pytest.raises(AuthSchemeError, match=r"Bearer\(\[\]\) names no service"):
            Bearer([])

    def test_sha256(self):
        """
        The SHA-256 of hash_token() gives hashlib's digests;
        without CPython's own module it is hashlib's.
        """
        assert auth._sha256(b"abc").digest() == hashlib.sha256(b"abc").digest()
        assert auth._builtin_sha256("no_such_module") is None

    def test_abstract(self):
        """
        A scheme subclass must say how it reads, verifies and describes.
        """
        scheme = Scheme(TokenStore, realm="r", name="n")

        with pytest.raises(NotImplementedError, match=r"override credentials\(\)"):
            scheme.credentials(Mock())
        with pytest.raises(NotImplementedError, match=r"override verify\(\)"):
            scheme.verify(None, "x")
        with pytest.raises(NotImplementedError, match=r"override openapi\(\)"):
            scheme.openapi()
