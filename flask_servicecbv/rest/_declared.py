"""
What a view method declares, as data: its inputs, its output, who may call
it, and the plan its class compiles them into; and the method with its
declarations until then. Below the modules that read and compile them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from flask_servicecbv.exceptions import RestDeclarationError

if TYPE_CHECKING:
    from marshmallow import Schema

F = TypeVar("F", bound=Callable[..., Any])

#: marshmallow's ways with unknown fields.
Unknown = Literal["exclude", "include", "raise"]

#: A custom check: called with the principal, it says whether the caller may
#: go on.
Check = Callable[[Any], bool]

# The class attribute that marks RestMixin and its subclasses.
_REST_VIEW: Final = "_servicecbv_rest_view"


@dataclass(frozen=True)
class Input:
    """
    One location a method reads, as declared with :func:`reads`.

    Args:
        schema: The schema instance that loads it (built once).

        location: ``"json"``, ``"form"``, ``"files"``, ``"query"``,
            ``"headers"`` or ``"path"``.

        arg: The keyword argument the loaded data is passed as.

        unknown: ``None`` (the view's default for the location), or
            marshmallow's ``RAISE``, ``EXCLUDE`` or ``INCLUDE``.

        required: For body locations: whether a missing body is an error.

        partial: Passed to :meth:`marshmallow.Schema.load`.

        description: For the API description.
    """

    schema: Schema
    location: str
    arg: str
    unknown: Unknown | None = None
    required: bool = True
    partial: bool | tuple[str, ...] = False
    description: str | None = None


@dataclass(frozen=True)
class Output:
    """
    What a method returns, as declared with :func:`returns`.

    Args:
        schema: The schema instance that dumps it, or ``None`` for a response
            without a body (``204``, say) or data that is already JSON-ready.

        status: The status code of a successful response.

        headers: The response headers the method may set, name to
            description, for the API description.

        description: For the API description.

        etag: Whether the response carries an ``ETag`` computed from its body,
            and a matching ``If-None-Match`` is answered with ``304``.

        errors: The error statuses the method answers with besides the
            ones the plan implies, status to description, for the API
            description.
    """

    schema: Schema | None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    description: str | None = None
    etag: bool = False
    errors: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorResponse:
    """
    The answer to a domain exception, as a value of :attr:`RestMixin.ERRORS`.

    Args:
        status: The error status, from 400 to 599.

        description: The message of the JSON error body, and the response's
            description in the API description; by default the first
            paragraph of the exception class's own docstring, else the
            status's name. Never the exception's text, which may hold
            internals.

        methods: The HTTP methods (lower case) whose calls it answers; by
            default every method of the class.

        headers: Response headers sent with the answer, name to value
            (``{"Retry-After": "30"}``, ``{"WWW-Authenticate": 'Bearer
            realm="api"'}``); the API description documents them.
    """

    status: int
    description: str | None = None
    methods: Collection[str] | None = None
    headers: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if self.methods is not None:
            # Kept as a frozenset, whatever collection was given.
            object.__setattr__(self, "methods", frozenset(self.methods))
        if self.headers is not None:
            object.__setattr__(self, "headers", dict(self.headers))


@dataclass(frozen=True)
class DeclaredError:
    """
    One error response that a plan documents: from :attr:`RestMixin.ERRORS`
    (then *exception* is set, and the request path answers it) or from
    ``returns(errors=...)``.
    """

    status: int
    description: str
    exception: type[BaseException] | None = None
    #: The response headers it carries, name to OpenAPI header object.
    headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: The headers the request path sends with it, name to value.
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """
    Everything a view method declares, as compiled for one view class.

    The request path runs it, and the API description is built from it, so the
    two cannot disagree.
    """

    inputs: tuple[Input, ...]
    output: Output | None
    method: str
    #: The error responses declared for it, in declaration order.
    errors: tuple[DeclaredError, ...] = ()
    #: What :func:`doc` and :attr:`RestMixin.OPENAPI` add to the operation.
    doc: Mapping[str, Any] = field(default_factory=dict)
    #: Who may call the method, checked before its inputs are read; ``None``
    #: when nothing is declared.
    requirement: Requirement | None = None


@dataclass(frozen=True)
class Requirement:
    """
    Who may call a view method: anyone (:data:`public`), any caller the
    principal's service authenticates (:data:`authenticated`), or a caller
    that holds scopes and passes checks (:func:`requires`).

    Decorate a method with it (``@requires("bookmarks:write")``), or set it
    in :attr:`RestMixin.REQUIRES <flask_servicecbv.rest.RestMixin.REQUIRES>`.
    The class compiles it into the method's :class:`~flask_servicecbv.rest.Plan`;
    a request checks it before reading its inputs.

    Args:
        scopes: Every one of them must be among the principal's scopes
            (:func:`flask_servicecbv.auth.scopes_of`); else ``403``.

        checks: Each is called with the principal and must return true;
            else ``403``, with the check's docstring as the message.

        principal: The key of the principal's service; by default the view's
            :attr:`RestMixin.PRINCIPAL <flask_servicecbv.rest.RestMixin.PRINCIPAL>`.

        public: Anyone may call: no credentials are read, and the OpenAPI
            document says ``security: []``.
    """

    scopes: frozenset[str] = frozenset()
    checks: tuple[Check, ...] = ()
    principal: object = None
    public: bool = False

    def __call__(self, target: F) -> F:
        """Declare this requirement for the method *target*."""
        if isinstance(target, type):
            msg = (
                f"A Requirement decorates methods, not the class "
                f"{target.__qualname__}; set REQUIRES on the class."
            )
            raise RestDeclarationError(msg)
        declared = _declared(target)
        declared.requirement = self
        return declared  # type: ignore[return-value]


@dataclass
class _Declared:
    """
    A method with its declarations, until its class compiles it.
    """

    func: Callable[..., Any]
    inputs: list[Input] = field(default_factory=list)
    output: Output | None = None
    # What doc() adds to the operation.
    doc: dict[str, Any] = field(default_factory=dict)
    # For generic views: declarations that depend on the class (its schema).
    dynamic: Callable[[type], tuple[list[Input], Output | None]] | None = None
    # Who may call it: see requires().
    requirement: Requirement | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        # RestMixin marks its classes: this module sits below it.
        if not getattr(owner, _REST_VIEW, False):
            msg = (
                f"{owner.__qualname__}.{name} is declared with @reads or "
                f"@returns, but {owner.__qualname__} is not a RestMixin "
                "subclass; derive it from RestView."
            )
            raise RestDeclarationError(msg)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Only reached on a class that was not compiled (never on a view).
        return self.func(*args, **kwargs)


def _declared(target: Any) -> _Declared:
    if isinstance(target, _Declared):
        return target
    if not callable(target):
        msg = f"@reads and @returns decorate methods or view classes, not {target!r}."
        raise RestDeclarationError(msg)
    return _Declared(target)
