"""Who is calling: the principal as a service, made by authentication schemes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import importlib
import re
import secrets
import threading
from collections.abc import Collection, Mapping
from hashlib import blake2s
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

from flask.globals import _cv_request

from ._container import _MISSING
from .exceptions import (
    AuthenticationError,
    AuthSchemeError,
    InvalidCredentialsRequestError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Request

    from ._container import Container

__all__ = [
    "AUTHENTICATED_BY",
    "APIKey",
    "Authenticator",
    "Basic",
    "Bearer",
    "HashedTokenStore",
    "PasswordVerifier",
    "Scheme",
    "TokenVerifier",
    "authenticate",
    "generate_token",
    "hash_token",
    "scopes_of",
    "token_matches",
]

# The principal that a verifier or store hands back; named as the REST
# layer's item type variables are, which the docs' nitpicky build knows.
T = TypeVar("T")
ItemT_co = TypeVar("ItemT_co", covariant=True)

#: The key of the WSGI environ under which the scheme that authenticated the
#: request is kept, for the challenge of a ``403``.
AUTHENTICATED_BY: Final = "servicecbv.auth.scheme"

# What a realm, a scope or a parameter name may hold, so that a challenge
# needs no escaping: printable ASCII without the quote and the backslash.
_QUOTABLE: Final = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")

# RFC 6750, 2.1: b64token; the bound method, since every request calls it.
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*").fullmatch

# A whole Authorization header that Bearer.credentials() reads as a token
# that Bearer.verify() accepts: the scheme's name in any case (what
# .lower() == "bearer" holds for), one space, the b64token with the
# whitespace that .strip() would remove around it. One match instead of a
# split, a strip and a second match; anything else takes the general path.
_BEARER_HEADER: Final = re.compile(
    r"[Bb][Ee][Aa][Rr][Ee][Rr] \s*([A-Za-z0-9\-._~+/]+=*)\s*"
).fullmatch

# An HTTP field name (RFC 9110, 5.1), for API key headers.
_FIELD_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# The query parameter of a bearer token that is refused unless declared
# (RFC 6750, 2.3).
_QUERY_TOKEN: Final = "access_token"  # noqa: S105 -- a parameter name


class _Hash(Protocol):
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...


def _builtin_sha256(module: str) -> Callable[[bytes], _Hash] | None:
    """The ``sha256`` of the stdlib's *module*, if the interpreter has it."""
    try:
        found = importlib.import_module(module)
    except ImportError:
        return None
    return found.sha256  # type: ignore[no-any-return]


# CPython's own SHA-256 (_sha2, _sha256 before 3.12), else OpenSSL's through
# hashlib: the same digests, but without OpenSSL's set-up on every call,
# which a store that finds tokens by hash_token() pays on every request.
_sha256: Final[Callable[[bytes], _Hash]] = (
    _builtin_sha256("_sha2") or _builtin_sha256("_sha256") or hashlib.sha256
)

# The fewest random bytes generate_token() accepts: 128 bits.
_MIN_TOKEN_BYTES: Final = 16


class TokenVerifier(Protocol[ItemT_co]):
    """
    What :class:`Bearer` and :class:`APIKey` verify a token with: a service,
    such as a table of token hashes, that the app registers.
    """

    def verify_token(self, token: str) -> ItemT_co | None:
        """Return the principal that *token* stands for, or ``None``."""
        ...


class PasswordVerifier(Protocol[ItemT_co]):
    """
    What :class:`Basic` verifies a user name and password with: a service,
    such as the app's user table, that the app registers.
    """

    def verify_password(self, username: str, password: str) -> ItemT_co | None:
        """Return the principal, or ``None`` when the password is wrong."""
        ...


def _quotable(value: str, where: str) -> str:
    if not _QUOTABLE.fullmatch(value):
        msg = (
            f"{where}={value!r} cannot be sent in a challenge; use printable "
            "ASCII without quotes or backslashes."
        )
        raise AuthSchemeError(msg)
    return value


class _BadPlace(Exception):  # noqa: N818 -- private, turned into a 400
    """Credentials sent where the scheme does not read them."""


class Scheme:
    """
    How one kind of credentials is read from a request and verified.

    A scheme reads credentials only from the places it was given, hands them
    to the service registered under ``verifier``, and describes itself
    for ``WWW-Authenticate`` and for the OpenAPI document.
    Subclass it for another kind of credentials.

    Args:
        verifier: The key of the service that verifies the credentials.

        realm: The realm of the challenges.

        name: The name of the scheme in the OpenAPI document's
            ``components.securitySchemes``.

        description: Describes the scheme in the OpenAPI document.

    Raises:
        AuthSchemeError: The realm cannot be sent in a challenge, or the
            verifier's key is not hashable.
    """

    #: The scheme's name in challenges (``Bearer``).
    challenge_scheme = ""

    def __init__(
        self,
        verifier: object,
        *,
        realm: str,
        name: str,
        description: str | None = None,
    ) -> None:
        try:
            hash(verifier)
        except TypeError:
            msg = (
                f"{type(self).__name__}({verifier!r}) names no service: pass the "
                "key (a class, say) the verifier is registered under."
            )
            raise AuthSchemeError(msg) from None
        self.verifier = verifier
        self.realm = _quotable(realm, f"{type(self).__name__}(realm")
        self.name = name
        self.description = description

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} realm={self.realm!r}>"

    def credentials(self, request: Request) -> Any | None:
        """
        Return the credentials that *request* carries for this scheme, as
        sent, or ``None`` when it carries none.
        """
        raise NotImplementedError(self._abstract("credentials"))

    def verify(self, verifier: Any, credentials: Any) -> Any | None:
        """
        Return the principal that *credentials* stand for, as *verifier* (the
        service) says, or ``None`` when they are not valid.
        """
        raise NotImplementedError(self._abstract("verify"))

    def challenge(self, error: str | None = None, scopes: Collection[str] = ()) -> str:
        """
        Return this scheme's ``WWW-Authenticate`` challenge, with the error
        code of a refusal where the scheme has one.
        """
        del error, scopes  # Only bearer challenges carry them.
        return f'{self.challenge_scheme} realm="{self.realm}"'

    def openapi(self) -> dict[str, Any]:
        """Return the scheme's OpenAPI security scheme object."""
        raise NotImplementedError(self._abstract("openapi"))

    def _abstract(self, method: str) -> str:
        return f"{type(self).__qualname__} is a Scheme; it must override {method}()."

    def _described(self, scheme: dict[str, Any]) -> dict[str, Any]:
        if self.description:
            scheme["description"] = self.description
        return scheme


class Bearer(Scheme):
    """
    Bearer tokens (RFC 6750) in ``Authorization: Bearer <token>``, verified by
    a :class:`TokenVerifier` service.

    A token in the query string is refused with ``400`` unless *query* names
    the parameter to read it from (RFC 6750, 2.3, advises against it: URLs
    end up in logs); one request may not send it in both places.

    Args:
        verifier: The key of the :class:`TokenVerifier` service.

        realm: The realm of the challenges.

        name: The name in ``components.securitySchemes``.

        query: Also read the token from this query parameter
            (``"access_token"``).

        bearer_format: The OpenAPI ``bearerFormat`` (``"JWT"``), a hint.

        description: Describes the scheme in the OpenAPI document.
    """

    challenge_scheme = "Bearer"

    def __init__(
        self,
        verifier: object,
        *,
        realm: str = "api",
        name: str = "bearerAuth",
        query: str | None = None,
        bearer_format: str | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(verifier, realm=realm, name=name, description=description)
        self.query = query
        self.bearer_format = bearer_format

    def credentials(self, request: Request) -> str | None:
        """Return the token from the ``Authorization`` header, or the query."""
        header = request.environ.get("HTTP_AUTHORIZATION")
        token = None
        if header:
            kind, _, value = header.partition(" ")
            if kind.lower() == "bearer":
                token = value.strip()
        if self.query is not None:
            sent = request.args.get(self.query)
            if sent is not None:
                if token is not None:
                    msg = "Send the access token once, not in two places."
                    raise _BadPlace(msg)
                token = sent
        elif _QUERY_TOKEN in request.environ.get("QUERY_STRING", "") and (
            _QUERY_TOKEN in request.args
        ):
            msg = (
                "An access token in the query string is not accepted; send it "
                "in the Authorization header."
            )
            raise _BadPlace(msg)
        return token

    def verify(self, verifier: TokenVerifier[Any], credentials: str) -> Any | None:
        """Check the token's syntax, then ask the verifier."""
        if not _B64TOKEN(credentials):
            return None
        return verifier.verify_token(credentials)

    def challenge(self, error: str | None = None, scopes: Collection[str] = ()) -> str:
        """RFC 6750, 3: the realm, and the error and scope of a refusal."""
        text = f'Bearer realm="{self.realm}"'
        if error is not None:
            text += f', error="{error}"'
        if scopes:
            text += f', scope="{" ".join(sorted(scopes))}"'
        return text

    def openapi(self) -> dict[str, Any]:
        """``{"type": "http", "scheme": "bearer"}``, with its format."""
        scheme: dict[str, Any] = {"type": "http", "scheme": "bearer"}
        if self.bearer_format:
            scheme["bearerFormat"] = self.bearer_format
        return self._described(scheme)


class APIKey(Scheme):
    """
    An API key in one header or one query parameter, verified by a
    :class:`TokenVerifier` service.

    Args:
        verifier: The key of the :class:`TokenVerifier` service.

        header: The header that holds the key (``"X-API-Key"``).

        query: The query parameter that holds it, instead of a header.

        realm: The realm of the challenges.

        name: The name in ``components.securitySchemes``.

        description: Describes the scheme in the OpenAPI document.

    Raises:
        AuthSchemeError: Neither or both of *header* and *query* are given,
            or the header's name is not a valid field name.
    """

    challenge_scheme = "APIKey"

    def __init__(
        self,
        verifier: object,
        *,
        header: str | None = None,
        query: str | None = None,
        realm: str = "api",
        name: str = "apiKeyAuth",
        description: str | None = None,
    ) -> None:
        super().__init__(verifier, realm=realm, name=name, description=description)
        if (header is None) == (query is None):
            msg = (
                "APIKey() reads the key from one place: give header= or query=, "
                "not both or neither."
            )
            raise AuthSchemeError(msg)
        if header is not None and not _FIELD_NAME.fullmatch(header):
            msg = (
                f"APIKey(header={header!r}) is not a header name; use one "
                "like X-API-Key."
            )
            raise AuthSchemeError(msg)
        self.header = header
        self.query = query
        self._environ_key = (
            None if header is None else "HTTP_" + header.upper().replace("-", "_")
        )

    def credentials(self, request: Request) -> str | None:
        """Return the key from its header, or from its query parameter."""
        if self._environ_key is not None:
            return request.environ.get(self._environ_key)
        return request.args.get(self.query)  # type: ignore[arg-type]

    def verify(self, verifier: TokenVerifier[Any], credentials: str) -> Any | None:
        """Ask the verifier; an empty key is not valid."""
        if not credentials:
            return None
        return verifier.verify_token(credentials)

    def openapi(self) -> dict[str, Any]:
        """``{"type": "apiKey", "in": "header", "name": "X-API-Key"}``, say."""
        where = "query" if self.header is None else "header"
        return self._described(
            {"type": "apiKey", "in": where, "name": self.header or self.query}
        )


class Basic(Scheme):
    """
    HTTP Basic authentication (RFC 7617), verified by a
    :class:`PasswordVerifier` service.

    The password travels in clear text, so credentials that arrive over plain
    HTTP are refused with ``400`` unless *allow_http* says otherwise (behind a
    proxy that ends TLS, use :class:`werkzeug.middleware.proxy_fix.ProxyFix`
    so that the request knows it came over HTTPS).

    Args:
        verifier: The key of the :class:`PasswordVerifier` service.

        realm: The realm of the challenges.

        name: The name in ``components.securitySchemes``.

        allow_http: Accept credentials over plain HTTP too.

        description: Describes the scheme in the OpenAPI document.
    """

    challenge_scheme = "Basic"

    def __init__(
        self,
        verifier: object,
        *,
        realm: str = "api",
        name: str = "basicAuth",
        allow_http: bool = False,
        description: str | None = None,
    ) -> None:
        super().__init__(verifier, realm=realm, name=name, description=description)
        self.allow_http = allow_http

    def credentials(self, request: Request) -> str | None:
        """Return the encoded credentials of ``Authorization: Basic ...``."""
        header = request.environ.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        kind, _, value = header.partition(" ")
        if kind.lower() != "basic":
            return None
        if not self.allow_http and not request.is_secure:
            msg = (
                "Basic credentials are accepted over HTTPS only; send the "
                "request over HTTPS."
            )
            raise _BadPlace(msg)
        return str(value).strip()

    def verify(self, verifier: PasswordVerifier[Any], credentials: str) -> Any | None:
        """Decode ``user:password`` (UTF-8), then ask the verifier."""
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, colon, password = decoded.partition(":")
        if not colon:
            return None
        return verifier.verify_password(username, password)

    def challenge(self, error: str | None = None, scopes: Collection[str] = ()) -> str:
        """RFC 7617, 2.1: the realm, and the charset of the credentials."""
        return super().challenge(error, scopes) + ', charset="UTF-8"'

    def openapi(self) -> dict[str, Any]:
        """``{"type": "http", "scheme": "basic"}``."""
        return self._described({"type": "http", "scheme": "basic"})


class Authenticator:
    """
    The factory of the principal: it reads the current request's credentials
    with the first of its schemes that finds some, and verifies them.

    Register it for the principal's key; see :func:`authenticate`.
    A request without credentials, or with credentials that do not verify, is
    answered with ``401`` and a challenge per scheme; credentials where a
    scheme does not read them, with ``400``.
    """

    __slots__ = ("_challenges", "_header_token", "_refused", "schemes")

    def __init__(self, schemes: tuple[Scheme, ...]) -> None:
        if not schemes:
            msg = "authenticate() needs at least one scheme; pass Bearer(...), say."
            raise AuthSchemeError(msg)
        given: tuple[object, ...] = schemes
        for scheme in given:
            if not isinstance(scheme, Scheme):
                msg = f"authenticate() takes schemes, not {scheme!r}."
                raise AuthSchemeError(msg)
        names = [scheme.name for scheme in schemes]
        for scheme in schemes:
            if names.count(scheme.name) > 1:
                msg = (
                    f"authenticate() has two schemes named {scheme.name!r}; give "
                    "one another name=."
                )
                raise AuthSchemeError(msg)
        self.schemes = schemes
        # The verifier's key when the first scheme is the shipped Bearer
        # reading the header alone (a subclass may read elsewhere): then a
        # bearer header takes the fused path of __call__().
        first = schemes[0]
        self._header_token = (
            first.verifier if type(first) is Bearer and first.query is None else None
        )
        # Worked out once: what each kind of 401 and 400 sends.
        self._challenges = tuple(scheme.challenge() for scheme in schemes)
        self._refused = {
            scheme.name: tuple(
                other.challenge("invalid_token" if other is scheme else None)
                for other in schemes
            )
            for scheme in schemes
        }

    def __repr__(self) -> str:
        return f"<Authenticator {', '.join(s.name for s in self.schemes)}>"

    def __call__(self, container: Container) -> Any:
        """Return the principal of the current request."""
        ctx = _cv_request.get(None)
        if ctx is None:
            msg = (
                "There is no request to read credentials from; outside a "
                "request, register or override the principal's service."
            )
            raise AuthenticationError(msg, self._challenges)
        request = ctx.request
        schemes = self.schemes
        key = self._header_token
        if key is not None:
            # What the loop below does for a bearer token in the header,
            # fused: the shipped Bearer's credentials() and verify(), when no
            # token can be in the query.
            environ = request.environ
            found = _BEARER_HEADER(environ.get("HTTP_AUTHORIZATION", ""))
            if found is not None and _QUERY_TOKEN not in environ.get(
                "QUERY_STRING", ""
            ):
                # container.get(), without its key check: Scheme() made it.
                store = container._instances.get(key, _MISSING)  # noqa: SLF001
                if store is _MISSING:
                    store = container._create(key)  # noqa: SLF001
                principal = store.verify_token(found[1])
                first = schemes[0]
                if principal is None:
                    raise AuthenticationError(_INVALID, self._refused[first.name])
                environ[AUTHENTICATED_BY] = first
                return principal
        for scheme in schemes:
            try:
                credentials = scheme.credentials(request)
            except _BadPlace as e:
                challenges = tuple(
                    c.challenge("invalid_request" if c is scheme else None)
                    for c in schemes
                )
                raise InvalidCredentialsRequestError(str(e), challenges) from None
            if credentials is None:
                continue
            principal = scheme.verify(container.get(scheme.verifier), credentials)
            if principal is None:
                raise AuthenticationError(_INVALID, self._refused[scheme.name])
            request.environ[AUTHENTICATED_BY] = scheme
            return principal
        msg = "This needs credentials; send them as the challenges say."
        raise AuthenticationError(msg, self._challenges)


# Never the credentials themselves: they may be a near miss of a real one,
# and error bodies end up in logs.
_INVALID: Final = "The credentials are not valid; send valid ones."


def authenticate(*schemes: Scheme) -> Authenticator:
    """
    Return the factory that makes the principal from the request's
    credentials, trying *schemes* in order.

    .. code-block:: python

        register_factory(app, User, authenticate(Bearer(TokenStore)))

    Register it on a blueprint to give that blueprint other credentials; the
    verifiers (``TokenStore``) are services too, looked up in the request's
    chain.

    Raises:
        AuthSchemeError: No scheme, something that is not a scheme, or two
            schemes of the same name.
    """
    return Authenticator(schemes)


def scopes_of(principal: object) -> Collection[str]:
    """
    Return the scopes *principal* holds: its ``scopes`` attribute or key (a
    collection of strings, or one space-separated string as OAuth 2.0 sends
    them); none when it has neither.
    """
    scopes = getattr(principal, "scopes", None)
    if scopes is None and isinstance(principal, Mapping):
        scopes = principal.get("scopes")
    if scopes is None:
        return ()
    if isinstance(scopes, str):
        return scopes.split()
    return scopes  # type: ignore[no-any-return]


# -- tokens ------------------------------------------------------------------


def generate_token(nbytes: int = 32, *, prefix: str = "") -> str:
    """
    Return a new random token: *prefix* followed by *nbytes* random bytes
    from :mod:`secrets`, URL-safe Base64 (43 characters for 32 bytes).

    A prefix (``"bm_"``) lets secret scanners and people recognise the token.

    Raises:
        AuthSchemeError: *nbytes* is below 16 (128 bits): guessable.
    """
    if nbytes < _MIN_TOKEN_BYTES:
        msg = (
            f"generate_token({nbytes}) would be guessable; use at least "
            f"{_MIN_TOKEN_BYTES} bytes."
        )
        raise AuthSchemeError(msg)
    return prefix + secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """
    Return the SHA-256 of *token*, in hexadecimal: what a token store keeps
    instead of the token.

    A token from :func:`generate_token` has too much entropy to be guessed
    from its hash, so it needs no slow password hash; passwords do.
    """
    return _sha256(token.encode()).hexdigest()


def token_matches(token: str, digest: str) -> bool:
    """
    Return whether *token* hashes to *digest*, compared in constant time: for
    stores that find a candidate by another key (an id in the token) and then
    check its secret.
    """
    return hmac.compare_digest(hash_token(token), digest)


class HashedTokenStore(Generic[T]):
    """
    A :class:`TokenVerifier` that keeps principals by a hash of their tokens,
    in memory: for tests, examples and small apps.

    It never holds a token: only its BLAKE2s digest, a cryptographic hash as
    safe here as SHA-256 and quicker to make on every request (the store is
    in memory, so nothing else needs to compute it; a table that other
    programs read keeps :func:`hash_token` instead).
    Looking the hash up in a dict is safe although not constant-time: timing
    can only tell how much of the hash of the attacker's own guess matches,
    which says nothing about a stored token.
    Safe to share between threads.
    """

    def __init__(self) -> None:
        # By the raw digest: hashing to bytes is quicker than to hex.
        self._by_hash: dict[bytes, T] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<HashedTokenStore: {len(self._by_hash)} tokens>"

    def __len__(self) -> int:
        return len(self._by_hash)

    def add(self, token: str, principal: T) -> None:
        """Store *principal* under the hash of *token*."""
        with self._lock:
            self._by_hash[blake2s(token.encode()).digest()] = principal

    def issue(self, principal: T, *, nbytes: int = 32, prefix: str = "") -> str:
        """
        Generate a token for *principal* with :func:`generate_token`, store
        its hash, and return the token: the one time it is seen.
        """
        token = generate_token(nbytes, prefix=prefix)
        self.add(token, principal)
        return token

    def revoke(self, token: str) -> bool:
        """Forget *token*; return whether it was stored."""
        with self._lock:
            return self._by_hash.pop(blake2s(token.encode()).digest(), None) is not None

    def verify_token(self, token: str) -> T | None:
        """See :meth:`TokenVerifier.verify_token`."""
        return self._by_hash.get(blake2s(token.encode()).digest())
