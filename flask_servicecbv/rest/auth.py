"""Permissions of REST views: who may call each method, checked before it runs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, TypeVar

from flask.globals import _cv_request
from flask.views import http_method_funcs

from flask_servicecbv._container import _MISSING
from flask_servicecbv._context import _current_container
from flask_servicecbv.auth import AUTHENTICATED_BY, scopes_of
from flask_servicecbv.exceptions import PermissionDeniedError, RestDeclarationError

from ._declared import Check, Requirement

if TYPE_CHECKING:
    from collections.abc import Collection

__all__ = ["METHOD_GROUPS", "Requirement", "authenticated", "public", "requires"]

F = TypeVar("F", bound=Callable[..., Any])

#: The groups of methods that :attr:`RestMixin.REQUIRES
#: <flask_servicecbv.rest.RestMixin.REQUIRES>` may name instead of methods.
#: ``HEAD`` runs ``get``; Flask answers ``OPTIONS`` itself.
METHOD_GROUPS: Final[Mapping[str, frozenset[str]]] = {
    "read": frozenset({"get"}),
    "write": frozenset({"post", "put", "patch", "delete"}),
}

# RFC 6749, 3.3: a scope token.
_SCOPE: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")

_401: Final = "Unauthorized: the request has no credentials, or they are not valid."
_403: Final = "Forbidden: the caller may not do this."
_403_SCOPES: Final = "Forbidden: the caller lacks a scope it needs ({scopes})."


def requires(
    *scopes: str,
    check: Check | Iterable[Check] | None = None,
    principal: object = None,
) -> Requirement:
    """
    Return the :class:`Requirement` of an authenticated caller that holds
    every one of *scopes* and passes every *check*.

    .. code-block:: python

        @requires("loans:write")
        @reads(LoanSchema)
        def post(self, *, body): ...

    Args:
        scopes: The scopes the caller must hold.

        check: A callable, or several, called with the principal; a false
            answer is a ``403``.

        principal: The key of the principal's service, when it is not the
            view's :attr:`RestMixin.PRINCIPAL
            <flask_servicecbv.rest.RestMixin.PRINCIPAL>`.

    Raises:
        RestDeclarationError: A scope is not a scope token (RFC 6749: no
            spaces, quotes or backslashes), or a check is not callable.
    """
    given: tuple[object, ...] = scopes
    for scope in given:
        if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
            msg = (
                f"requires({scope!r}): a scope is printable ASCII without "
                "spaces, quotes or backslashes."
            )
            raise RestDeclarationError(msg)
    checks: tuple[object, ...] = (
        () if check is None else (check,) if callable(check) else tuple(check)
    )
    for one in checks:
        if not callable(one):
            msg = f"requires(check=...): {one!r} is not callable; pass a function."
            raise RestDeclarationError(msg)
    return Requirement(frozenset(scopes), checks, principal)  # type: ignore[arg-type]


#: Any authenticated caller.
authenticated: Final = Requirement()

#: Anyone: nothing is authenticated, and the document says ``security: []``.
public: Final = Requirement(public=True)


# -- compiling, for declarations.py ----------------------------------------


def check_requires(cls: type) -> None:
    """Check the REQUIRES that *cls* sets itself."""
    own = cls.__dict__.get("REQUIRES")
    if own is None or isinstance(own, Requirement):
        return
    where = f"{cls.__qualname__}.REQUIRES"
    if not isinstance(own, Mapping):
        msg = (
            f"{where} is {own!r}; give a Requirement, or map methods (or "
            "'read' and 'write') to Requirements."
        )
        raise RestDeclarationError(msg)
    for name, value in own.items():
        if name not in http_method_funcs and name not in METHOD_GROUPS:
            msg = (
                f"{where}[{name!r}]: {name!r} is not an HTTP method or a group; "
                "use get, post, put, patch, delete, 'read' or 'write'."
            )
            raise RestDeclarationError(msg)
        if not isinstance(value, Requirement):
            msg = (
                f"{where}[{name!r}] is {value!r}; give a Requirement, such as "
                "requires('scope'), authenticated or public."
            )
            raise RestDeclarationError(msg)


def requirement_for(
    cls: type, method: str, own: Requirement | None
) -> Requirement | None:
    """
    The requirement of *method* of *cls*: the method's own, else the class's
    ``REQUIRES`` for the method, its group, or every method; with the
    principal's key filled in.
    """
    requirement = own
    if requirement is None:
        declared = getattr(cls, "REQUIRES", None)
        if isinstance(declared, Requirement):
            requirement = declared
        elif declared is not None:
            requirement = declared.get(method) or next(
                (
                    declared[group]
                    for group, methods in METHOD_GROUPS.items()
                    if method in methods and group in declared
                ),
                None,
            )
    if requirement is None or requirement.public or requirement.principal is not None:
        return requirement
    principal = getattr(cls, "PRINCIPAL", None)
    if principal is None:
        msg = (
            f"{cls.__qualname__}.{method} needs an authenticated caller but no "
            "principal is named; set PRINCIPAL = YourUser on the class (or a "
            "base), or pass requires(principal=YourUser)."
        )
        raise RestDeclarationError(msg)
    return replace(requirement, principal=principal)


def documented_errors(
    requirement: Requirement | None,
) -> list[tuple[int, str, dict[str, dict[str, Any]]]]:
    """The ``401`` and ``403`` that *requirement* may answer, with their headers."""
    if requirement is None or requirement.public:
        return []
    errors: list[tuple[int, str, dict[str, dict[str, Any]]]] = [
        (
            401,
            _401,
            {
                "WWW-Authenticate": {
                    "description": "A challenge per accepted scheme.",
                    "schema": {"type": "string"},
                }
            },
        )
    ]
    if requirement.scopes or requirement.checks:
        text = (
            _403_SCOPES.format(scopes=", ".join(sorted(requirement.scopes)))
            if requirement.scopes
            else _403
        )
        errors.append(
            (
                403,
                text,
                {
                    "WWW-Authenticate": {
                        "description": (
                            'A bearer challenge with error="insufficient_scope" '
                            "and the scopes needed."
                        ),
                        "schema": {"type": "string"},
                    }
                },
            )
        )
    return errors


def _challenges(scopes: Collection[str]) -> tuple[str, ...]:
    # The error path only: the scheme that authenticated the request says how
    # it words a lack of scope.
    ctx = _cv_request.get(None)
    scheme = None if ctx is None else ctx.request.environ.get(AUTHENTICATED_BY)
    if scheme is None or not scopes:
        return ()
    return (scheme.challenge("insufficient_scope", scopes),)


def _refused(check: Check) -> PermissionDeniedError:
    doc = (getattr(check, "__doc__", None) or "").strip()
    text = " ".join(doc.split("\n\n", 1)[0].split()) if doc else ""
    return PermissionDeniedError(text or "The caller may not do this.")


def authorizer(  # noqa: C901 -- the request path, inlined on purpose
    requirement: Requirement | None,
) -> Callable[[], Any] | None:
    """
    What a request runs first for *requirement*: it resolves the principal
    (``401`` without one), then checks the scopes and the checks (``403``).
    ``None`` when there is nothing to check.
    """
    if requirement is None or requirement.public:
        return None
    key = requirement.principal
    scopes = requirement.scopes
    checks = requirement.checks

    def principal() -> Any:
        # As a service attribute resolves: the container's cache first.
        cont = _current_container()
        found = cont._instances.get(key, _MISSING)  # noqa: SLF001
        if found is _MISSING:
            found = cont._create(key)  # noqa: SLF001
        return found

    if not scopes and not checks:
        return principal
    missing_text = _403_SCOPES.format(scopes=", ".join(sorted(scopes)))

    def authorize() -> Any:
        # principal() inlined: this runs on every request of the method.
        cont = _current_container()
        found = cont._instances.get(key, _MISSING)  # noqa: SLF001
        if found is _MISSING:
            found = cont._create(key)  # noqa: SLF001
        if scopes:
            # scopes_of() inlined for the common case, a set of scopes.
            held = getattr(found, "scopes", None)
            if type(held) is not frozenset and type(held) is not set:
                held = scopes_of(found)
            if not scopes.issubset(held):
                raise PermissionDeniedError(missing_text, _challenges(scopes), scopes)
        for check in checks:
            if not check(found):
                raise _refused(check)
        return found

    return authorize
