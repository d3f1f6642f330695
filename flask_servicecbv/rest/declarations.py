"""What a view method reads and returns, declared once and compiled into a plan."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

from flask.views import MethodView, http_method_funcs
from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, ValidationError
from werkzeug.exceptions import HTTPException, NotFound, default_exceptions

from flask_servicecbv.exceptions import RequestValidationError, RestDeclarationError
from flask_servicecbv.views import ServiceMixin, _closing_async

from ._declared import (
    DeclaredError,
    ErrorResponse,
    Input,
    Output,
    Plan,
    Requirement,
    Unknown,
    _Declared,
    _declared,
)
from ._parsing import ABSENT, LOCATIONS, loader_for
from .auth import (
    authorizer,
    check_requires,
    documented_errors,
    requirement_for,
)
from .response import Responder

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "ARGUMENT_NAMES",
    "STATUS_NAMES",
    "DeclaredError",
    "ErrorResponse",
    "Input",
    "Output",
    "Plan",
    "RestMixin",
    "RestView",
    "doc",
    "reads",
    "returns",
    "status_name",
]

F = TypeVar("F", bound=Callable[..., Any])

C = TypeVar("C", bound=type)

#: The keyword argument each location's data is passed as, unless ``arg=``
#: names another. ``"path"`` is not listed: loaded URL variables replace the
#: raw ones under their own names.
ARGUMENT_NAMES: Final[Mapping[str, str]] = {
    "json": "body",
    "form": "form",
    "files": "files",
    "query": "query",
    "headers": "headers",
}

#: What happens to fields that a schema does not declare, by location, unless
#: the view's :attr:`RestMixin.UNKNOWN` or ``reads(unknown=...)`` say otherwise.
DEFAULT_UNKNOWN: Final[Mapping[str, Unknown]] = {
    "json": RAISE,
    "form": RAISE,
    "files": RAISE,
    "query": EXCLUDE,
    "headers": EXCLUDE,
    # A URL variable that the schema does not declare passes unchecked.
    "path": INCLUDE,
}

_UNKNOWNS: Final = frozenset({RAISE, EXCLUDE, INCLUDE})

#: The names of the HTTP statuses, as RFC 9110 and its companions give them:
#: fixed here, so that what the API description derives from them does not
#: change with the Python version (``http.HTTPStatus`` renamed 422 in 3.13).
STATUS_NAMES: Final[Mapping[int, str]] = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    417: "Expectation Failed",
    421: "Misdirected Request",
    422: "Unprocessable Content",
    423: "Locked",
    424: "Failed Dependency",
    425: "Too Early",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    451: "Unavailable For Legal Reasons",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    507: "Insufficient Storage",
    508: "Loop Detected",
    511: "Network Authentication Required",
}


def status_name(status: int) -> str:
    """Return the name of *status* from :data:`STATUS_NAMES`, or ``"Status N"``."""
    return STATUS_NAMES.get(status, f"Status {status}")


_SchemaArg = type[Schema] | Schema


def _schema(value: object, where: str, *, many: bool | None = None) -> Schema:
    if isinstance(value, type) and issubclass(value, Schema):
        return value(many=bool(many))
    if isinstance(value, Schema):
        if many is not None and many != value.many:
            msg = (
                f"{where}: many={many} contradicts the schema instance's "
                f"many={value.many}; pass the schema class instead."
            )
            raise RestDeclarationError(msg)
        return value
    msg = f"{where}: {value!r} is not a marshmallow Schema class or instance; pass one."
    raise RestDeclarationError(msg)


def _class_level() -> None:
    """Stands for the methods of a class-level declaration."""


def reads(
    schema: _SchemaArg,
    *,
    location: str = "json",
    arg: str | None = None,
    unknown: Unknown | None = None,
    required: bool = True,
    partial: bool | Iterable[str] = False,
    description: str | None = None,
) -> Callable[[F], F]:
    """
    Declare that a method reads *location* of the request with *schema*.

    The loaded data reaches the method as the keyword argument named in
    :data:`ARGUMENT_NAMES` (``body`` for JSON, ``query``, ``headers``, ...),
    or *arg*; for ``location="path"`` the loaded URL variables replace the raw
    ones under their own names.
    Decorating a view class declares it for every method of the class that
    declares no input of its own.

    Args:
        schema: A marshmallow schema class (instantiated once, here) or
            instance.

        location: ``"json"`` (the default), ``"form"``, ``"files"``,
            ``"query"``, ``"headers"`` or ``"path"``.

        arg: The keyword argument name, instead of the location's default.

        unknown: What to do with fields the schema does not declare: ``RAISE``,
            ``EXCLUDE`` or ``INCLUDE`` from marshmallow; by default the view's
            :attr:`RestMixin.UNKNOWN` for the location.

        required: For body locations: a request without a body is answered
            with ``400``; with ``False`` the method gets ``None`` for it.

        partial: Passed to :meth:`marshmallow.Schema.load`, for ``PATCH``.

        description: Describes the input in the API description.

    Raises:
        RestDeclarationError: An unknown location, a schema that is not a
            marshmallow schema, or an argument name that is not an identifier.
    """
    if location not in LOCATIONS:
        msg = (
            f"reads(location={location!r}) is not a known location; use one "
            f"of {', '.join(sorted(LOCATIONS))}."
        )
        raise RestDeclarationError(msg)
    if unknown is not None and unknown not in _UNKNOWNS:
        msg = (
            f"reads(unknown={unknown!r}) is not a way with unknown fields; use "
            "marshmallow's RAISE, EXCLUDE or INCLUDE."
        )
        raise RestDeclarationError(msg)
    if location == "path" and arg is not None:
        msg = (
            f"reads(location='path', arg={arg!r}): loaded URL variables keep "
            "their own names; leave out arg=."
        )
        raise RestDeclarationError(msg)
    name = arg if arg is not None else ARGUMENT_NAMES.get(location, "")
    if location != "path" and not name.isidentifier():
        msg = f"reads(arg={arg!r}) is not a valid argument name; use an identifier."
        raise RestDeclarationError(msg)
    loaded = _schema(schema, f"reads({schema!r})", many=None)
    if partial is False and loaded.partial:
        # A schema instance's own partial, which load(partial=False) ignores.
        partial = loaded.partial
    inp = Input(
        loaded,
        location,
        name,
        unknown,
        required,
        partial if isinstance(partial, bool) else tuple(partial),
        description,
    )

    def decorate(target: F) -> F:
        if isinstance(target, type):
            return declare_class(target, _Declared(_class_level, inputs=[inp]))
        declared = _declared(target)
        declared.inputs.append(inp)
        return declared  # type: ignore[return-value]

    return decorate


def returns(
    schema: _SchemaArg | None,
    *,
    status: int = 200,
    many: bool | None = None,
    headers: Mapping[str, str] | None = None,
    description: str | None = None,
    etag: bool = False,
    errors: Mapping[int, str] | None = None,
) -> Callable[[F], F]:
    """
    Declare what a method returns: its data is dumped with *schema*.

    The method may return the data, ``(data, status)``, ``(data, headers)`` or
    ``(data, status, headers)``; a :class:`flask.Response` passes untouched.
    Decorating a view class declares it for every method of the class that
    declares no output of its own.

    Args:
        schema: A marshmallow schema class or instance, or ``None`` to send
            the data as it is (``None`` data makes an empty body).

        status: The status code of a successful response.

        many: Dump a list; with a schema class, builds it with ``many``.

        headers: Response headers the method sets, name to description,
            for the API description.

        description: Describes the response in the API description.

        etag: Send an ``ETag`` computed from the body, and answer a matching
            ``If-None-Match`` with ``304 Not Modified``.

        errors: The error statuses the method itself answers with (with
            :func:`flask.abort`, say), status to description, for the API
            description: ``{409: "No copies are left."}``.
            To answer a domain exception, map it in :attr:`RestMixin.ERRORS`.

    Raises:
        RestDeclarationError: The schema is not a marshmallow schema, the
            status is not a success or redirection code, or an error status
            is not from 400 to 599.
    """
    if not 200 <= status < 400:  # noqa: PLR2004
        msg = (
            f"returns(status={status!r}) is not a success status; declare "
            "error statuses with errors={...}, or map exceptions in ERRORS."
        )
        raise RestDeclarationError(msg)
    declared_errors = dict(errors or {})
    for code in declared_errors:
        _check_error_status(code, f"returns(errors={{{code!r}: ...}})")
    dumped = (
        None if schema is None else _schema(schema, f"returns({schema!r})", many=many)
    )
    out = Output(
        dumped, status, dict(headers or {}), description, etag, declared_errors
    )

    def decorate(target: F) -> F:
        if isinstance(target, type):
            return declare_class(target, _Declared(_class_level, output=out))
        declared = _declared(target)
        declared.output = out
        return declared  # type: ignore[return-value]

    return decorate


def _check_error_status(status: object, where: str) -> int:
    if type(status) is not int or not 400 <= status < 600:  # noqa: PLR2004
        msg = f"{where}: {status!r} is not an error status; use one from 400 to 599."
        raise RestDeclarationError(msg)
    return status


#: The keys that :func:`doc` and :attr:`RestMixin.OPENAPI` may set on an
#: operation, besides ``x-`` extensions.
OPERATION_KEYS: Final = frozenset(
    {
        "summary",
        "description",
        "tags",
        "deprecated",
        "operationId",
        "responses",
        "externalDocs",
        "security",
    }
)


def _check_doc(value: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check the keys of an operation hook, and normalise its responses."""
    checked: dict[str, Any] = {}
    for key, item in value.items():
        if key not in OPERATION_KEYS and not str(key).startswith("x-"):
            msg = (
                f"{where}: {key!r} is not an operation field that can be set; "
                f"use one of {', '.join(sorted(OPERATION_KEYS))}, or an x- "
                "extension."
            )
            raise RestDeclarationError(msg)
        checked[key] = (
            {
                str(code): _check_response(code, response, where)
                for code, response in item.items()
            }
            if key == "responses"
            else item
        )
    return checked


def _check_response(code: object, response: object, where: str) -> Any:
    if isinstance(response, str):
        # A description alone stands for an error with the JSON error body.
        number = int(code) if isinstance(code, str) and code.isdigit() else code
        _check_error_status(number, f"{where}, responses")
        return response
    if isinstance(response, Mapping):
        return dict(response)
    msg = (
        f"{where}: the response for {code!r} is {response!r}; give a "
        "description or an OpenAPI response object (a dict)."
    )
    raise RestDeclarationError(msg)


def doc(
    *,
    summary: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    deprecated: bool | None = None,
    operation_id: str | None = None,
    responses: Mapping[int | str, str | Mapping[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Callable[[F], F]:
    """
    Add to, or change, the API description of a method's operation.

    What is given replaces what the plan would say; *responses* are added to
    the plan's (or replace the one of the same status).
    For the methods of a generic view, set :attr:`RestMixin.OPENAPI` on the
    class instead.

    Args:
        summary: The operation's summary, instead of the docstring's.

        description: Its description, instead of the docstring's.

        tags: Its tags, instead of the blueprint's name.

        deprecated: Mark it deprecated.

        operation_id: Its ``operationId``, instead of ``endpoint.method``.

        responses: More responses, status to a description (an error with
            the JSON error body) or to an OpenAPI response object.

        extra: Other operation fields: ``externalDocs``, ``security``, or
            ``x-`` extensions.

    Raises:
        RestDeclarationError: It decorates a class, a key of *extra* is not
            an operation field that can be set, or a response's status is
            not a number from 400 to 599 (or a success or redirection).
    """
    given: dict[str, Any] = {
        "summary": summary,
        "description": description,
        "tags": None if tags is None else list(tags),
        "deprecated": deprecated,
        "operationId": operation_id,
        "responses": None if responses is None else dict(responses),
    }
    hook = _check_doc(
        {**{k: v for k, v in given.items() if v is not None}, **(extra or {})},
        "doc()",
    )

    def decorate(target: F) -> F:
        if isinstance(target, type):
            msg = (
                f"@doc decorates methods, not the class {target.__qualname__}; "
                "set OPENAPI on the class."
            )
            raise RestDeclarationError(msg)
        declared = _declared(target)
        declared.doc.update(hook)
        return declared  # type: ignore[return-value]

    return decorate


# -- compiling -------------------------------------------------------------

# The plans of a class, by method name, kept on each class.
_PLANS = "_servicecbv_plans"
# The declared methods (before compiling) of a class itself.
_OWN = "_servicecbv_declared"


def _method_of(
    cls: type, name: str
) -> tuple[Callable[..., Any] | None, _Declared | None]:
    """The function that *cls* has for *name*, and its declarations, if any."""
    for klass in cls.__mro__:
        own = klass.__dict__.get(_OWN, {})
        if name in own:
            return own[name].func, own[name]
        found = klass.__dict__.get(name)
        if found is not None and not hasattr(found, "__servicecbv_generated__"):
            return found, None
    return None, None


class RestMixin(ServiceMixin):
    """
    Give a service view declared inputs and outputs: see :func:`reads` and
    :func:`returns`.

    When the class is created, each HTTP method's declarations (its own, or
    the class's) become a :class:`Plan`; a request only runs the plan: read
    and load the inputs, call the method with them as keyword arguments, dump
    what it returns, respond.
    """

    #: What to do with fields a schema does not declare, by location; a
    #: subclass may set some locations and keep the others' defaults.
    UNKNOWN: ClassVar[Mapping[str, Unknown]] = DEFAULT_UNKNOWN

    #: Domain exceptions the methods may raise, and the error each is
    #: answered with, in the JSON error shape: a status, or an
    #: :class:`ErrorResponse`. The API description documents them.
    #: Merges along the MRO; the most specific class of a raised exception
    #: decides. ``{NoCopiesLeft: 409}``.
    ERRORS: ClassVar[Mapping[type[BaseException], int | ErrorResponse]] = {}

    #: What to add to, or change in, the API description of the class's
    #: operations: the keys of :func:`doc` in OpenAPI's spelling
    #: (``summary``, ``description``, ``tags``, ``deprecated``,
    #: ``operationId``, ``responses``, ``externalDocs``, ``security``,
    #: ``x-`` extensions) for every method, and under a method's name
    #: (``"post": {...}``) for that method. Merges along the MRO.
    OPENAPI: ClassVar[Mapping[str, Any]] = {}

    #: Who may call the class's methods: a :class:`~flask_servicecbv.rest.Requirement`
    #: for every method, or one per method name (or per group, ``"read"``
    #: and ``"write"``): ``{"read": requires("loans:read"), "write":
    #: requires("loans:write")}``. A method's own ``@requires`` wins. ``None``
    #: (the default) declares nothing: the method checks nothing itself.
    REQUIRES: ClassVar[Requirement | Mapping[str, Requirement] | None] = None

    #: The key of the principal's service, which requirements resolve (the
    #: caller, ``User``); a ``ServiceAttr`` of the same key hands the view
    #: the same object.
    PRINCIPAL: ClassVar[object] = None

    #: The plans, by lower-case HTTP method name, computed at class creation.
    rest_plans: ClassVar[Mapping[str, Plan]] = {}

    # Class-level declarations, applied to methods that declare nothing.
    _servicecbv_class_decl: ClassVar[_Declared | None] = None

    # What a method's declarations look for on their class (_declared.py).
    _servicecbv_rest_view: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        own: dict[str, _Declared] = {
            name: value
            for name, value in list(cls.__dict__.items())
            if isinstance(value, _Declared)
        }
        for name, value in own.items():
            if name not in http_method_funcs:
                msg = (
                    f"{cls.__qualname__}.{name} is declared with @reads or "
                    "@returns but is not an HTTP method handler; declare "
                    "get, post, put, patch or delete."
                )
                raise RestDeclarationError(msg)
            # Until compiled below: the plain function, so MethodView sees it.
            setattr(cls, name, value.func)
        setattr(cls, _OWN, own)
        _check_unknown(cls)
        _check_errors(cls)
        _check_openapi(cls)
        check_requires(cls)
        _compile(cls)
        super().__init_subclass__(**kwargs)


def _check_unknown(cls: type[RestMixin]) -> None:
    for location, unknown in cls.UNKNOWN.items():
        if location not in LOCATIONS:
            msg = (
                f"{cls.__qualname__}.UNKNOWN[{location!r}]: {location!r} is not "
                f"a location; use one of {', '.join(sorted(LOCATIONS))}."
            )
            raise RestDeclarationError(msg)
        if unknown not in _UNKNOWNS:
            msg = (
                f"{cls.__qualname__}.UNKNOWN[{location!r}] is {unknown!r}; use "
                "marshmallow's RAISE, EXCLUDE or INCLUDE."
            )
            raise RestDeclarationError(msg)


def _check_errors(cls: type[RestMixin]) -> None:
    where = f"{cls.__qualname__}.ERRORS"
    for exception, answer in cls.__dict__.get("ERRORS", {}).items():
        if not (isinstance(exception, type) and issubclass(exception, BaseException)):
            msg = f"{where}: {exception!r} is not an exception class; map classes."
            raise RestDeclarationError(msg)
        status = answer.status if isinstance(answer, ErrorResponse) else answer
        _check_error_status(status, f"{where}[{exception.__qualname__}]")
        methods = answer.methods if isinstance(answer, ErrorResponse) else None
        headers: list[tuple[object, object]] = (
            list((answer.headers or {}).items())
            if isinstance(answer, ErrorResponse)
            else []
        )
        for name, value in headers:
            if not isinstance(name, str) or not isinstance(value, str):
                msg = (
                    f"{where}[{exception.__qualname__}]: the header {name!r}: "
                    f"{value!r} is not a name and a value; give both as strings."
                )
                raise RestDeclarationError(msg)
        if methods is not None and not set(methods) <= http_method_funcs:
            msg = (
                f"{where}[{exception.__qualname__}]: methods "
                f"{sorted(methods)!r} are not all HTTP methods; name them in "
                "lower case: get, post, put, patch, delete."
            )
            raise RestDeclarationError(msg)


def _check_openapi(cls: type[RestMixin]) -> None:
    own = cls.__dict__.get("OPENAPI")
    if own is None:
        return
    where = f"{cls.__qualname__}.OPENAPI"
    checked = _check_doc(
        {k: v for k, v in own.items() if k not in http_method_funcs}, where
    )
    for method in http_method_funcs & own.keys():
        checked[method] = _check_doc(own[method], f"{where}[{method!r}]")
    # Kept checked and normalised, for the plans of this class and subclasses.
    setattr(cls, "_servicecbv_openapi", checked)  # noqa: B010


def _summary(doc: str | None) -> str | None:
    """The first paragraph of a docstring, on one line."""
    text = inspect.cleandoc(doc or "")
    first = " ".join(text.split("\n\n", 1)[0].split())
    return first or None


def _errors_for(
    cls: type[RestMixin], method: str, output: Output | None
) -> tuple[DeclaredError, ...]:
    merged: dict[type[BaseException], int | ErrorResponse] = {}
    for klass in reversed(cls.__mro__):
        merged.update(klass.__dict__.get("ERRORS", {}))
    errors = []
    for exception, answer in merged.items():
        spec = answer if isinstance(answer, ErrorResponse) else ErrorResponse(answer)
        if spec.methods is not None and method not in spec.methods:
            continue
        description = (
            spec.description
            or _summary(exception.__dict__.get("__doc__"))
            or status_name(spec.status)
        )
        values = dict(spec.headers or {})
        headers = {
            name: {
                "description": "Sent with this error.",
                "schema": {"type": "string", "examples": [value]},
                "required": True,
            }
            for name, value in values.items()
        }
        errors.append(
            DeclaredError(spec.status, description, exception, headers, values)
        )
    if output is not None:
        errors += [DeclaredError(s, text) for s, text in output.errors.items()]
    return tuple(errors)


def _doc_for(
    cls: type[RestMixin], method: str, declared: _Declared | None
) -> dict[str, Any]:
    merged: dict[str, Any] = {}

    def merge(hook: Mapping[str, Any]) -> None:
        for key, value in hook.items():
            if key == "responses":
                merged["responses"] = {**merged.get("responses", {}), **value}
            elif key not in http_method_funcs:
                merged[key] = value

    for klass in reversed(cls.__mro__):
        hook = klass.__dict__.get("_servicecbv_openapi", {})
        merge(hook)
        merge(hook.get(method, {}))
    if declared is not None:
        merge(declared.doc)
    return merged


def _unknown_for(cls: type[RestMixin], inp: Input) -> Unknown:
    if inp.unknown is not None:
        return inp.unknown
    # UNKNOWN merges along the MRO: a subclass sets only what it changes.
    merged: dict[str, Unknown] = dict(DEFAULT_UNKNOWN)
    for klass in reversed(cls.__mro__):
        merged.update(klass.__dict__.get("UNKNOWN", {}))
    return merged[inp.location]


def _check_inputs(cls: type, name: str, inputs: list[Input]) -> None:
    where = f"{cls.__qualname__}.{name}"
    seen: set[str] = set()
    for inp in inputs:
        if inp.location in seen:
            msg = f"{where} reads {inp.location!r} twice; merge the two schemas."
            raise RestDeclarationError(msg)
        seen.add(inp.location)
    if "json" in seen and seen & {"form", "files"}:
        msg = f"{where} reads both a JSON and a form body; a request has one body."
        raise RestDeclarationError(msg)
    args = [inp.arg for inp in inputs if inp.location != "path"]
    if len(set(args)) != len(args):
        msg = f"{where} passes two inputs as the same argument; give one arg=."
        raise RestDeclarationError(msg)


def _compile(cls: type[RestMixin]) -> None:  # noqa: C901, PLR0912 -- one pass, in order
    cls_decl = None
    for klass in cls.__mro__:
        cls_decl = klass.__dict__.get("_servicecbv_class_decl")
        if cls_decl is not None:
            break
    plans: dict[str, Plan] = {}
    for name in sorted(http_method_funcs):
        func, declared = _method_of(cls, name)
        if func is None:
            continue
        inputs: list[Input] = []
        output: Output | None = None
        if declared is not None:
            if declared.dynamic is not None:
                inputs, output = declared.dynamic(cls)
            inputs = [*inputs, *declared.inputs]
            output = declared.output or output
        if cls_decl is not None:
            if not inputs:
                inputs = list(cls_decl.inputs)
            if output is None:
                output = cls_decl.output
        errors = _errors_for(cls, name, output)
        hook = _doc_for(cls, name, declared)
        unset = (
            declared is not None
            and declared.dynamic is not None
            and not inputs
            and output is None
        )
        requirement = (
            None
            if unset
            else requirement_for(
                cls, name, None if declared is None else declared.requirement
            )
        )
        if unset or (
            not inputs
            and output is None
            and not errors
            and not hook
            and requirement is None
        ):
            if declared is not None:
                setattr(cls, name, _unset(cls, name) if unset else func)
            continue
        errors = (
            *(
                DeclaredError(status, text, headers=headers)
                for status, text, headers in documented_errors(requirement)
            ),
            *errors,
        )
        _check_inputs(cls, name, inputs)
        if declared is None:
            # A plain method that a class-level declaration compiles: keep it,
            # since its handler replaces it, for the class's next compile (a
            # second class decorator) and for its subclasses.
            cls.__dict__[_OWN][name] = _Declared(func)
        plan = Plan(tuple(inputs), output, name, errors, hook, requirement)
        plans[name] = plan
        handler = _handler(cls, func, plan)
        if inspect.iscoroutinefunction(handler):
            # As ServiceMixin does for every async handler.
            handler = _closing_async(handler)
        setattr(cls, name, handler)
    cls.rest_plans = plans


def _loading(inp: Input, unknown: Unknown) -> Callable[[Any], Any]:
    schema = inp.schema
    partial = inp.partial
    location = inp.location

    if location == "path":
        # A URL whose variables do not load names no resource.
        def load_path(data: Any) -> Any:
            try:
                return schema.load(data, unknown=unknown, partial=partial)
            except ValidationError:
                raise NotFound from None

        return load_path

    def load(data: Any) -> Any:
        if data is ABSENT:
            return None
        try:
            return schema.load(data, unknown=unknown, partial=partial)
        except ValidationError as e:
            raise RequestValidationError({location: e.messages}) from None

    return load


def _handler(  # noqa: C901 -- specialised per shape
    cls: type[RestMixin], func: Callable[..., Any], plan: Plan
) -> Callable[..., Any]:
    # (argument name, read, load) per input; "path" reads the URL variables.
    steps = []
    load_path = None
    for inp in plan.inputs:
        unknown = _unknown_for(cls, inp)
        if inp.location == "path":
            load_path = _loading(inp, unknown)
        else:
            read = loader_for(inp.location, inp.schema, unknown, required=inp.required)
            steps.append((inp.arg, read, _loading(inp, unknown)))
    respond = Responder(plan.output) if plan.output is not None else None
    where = f"{cls.__qualname__}.{plan.method}"
    authorize = authorizer(plan.requirement)

    def prepare(kwargs: dict[str, Any]) -> dict[str, Any]:
        # Who is calling first: a caller who may not call learns nothing
        # from the validation of its input, nor whether a URL names an item.
        if authorize is not None:
            authorize()
        if load_path is not None:
            kwargs = load_path(kwargs)
        failed: dict[str, Any] | None = None
        for arg, read, load in steps:
            if arg in kwargs:
                raise _collision(where, arg)
            try:
                kwargs[arg] = load(read())
            except RequestValidationError as e:
                # Report every location that fails, not only the first.
                failed = e.messages if failed is None else {**failed, **e.messages}
        if failed is not None:
            raise RequestValidationError(failed)
        return kwargs

    run = _caller(func, prepare, plan.errors)

    if inspect.iscoroutinefunction(func):

        async def handler_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = await run(self, *args, **kwargs)
            return result if respond is None else respond(result)

        handler: Callable[..., Any] = handler_async
    elif respond is None:
        handler = run
    else:

        def handler_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
            return respond(run(self, *args, **kwargs))

        handler = handler_sync
    handler.__name__ = func.__name__
    handler.__qualname__ = func.__qualname__
    handler.__doc__ = func.__doc__
    handler.__module__ = func.__module__
    handler.__wrapped__ = func  # type: ignore[attr-defined]
    handler.__servicecbv_plan__ = plan  # type: ignore[attr-defined]
    handler.__servicecbv_generated__ = True  # type: ignore[attr-defined]
    return handler


_Answer = Callable[[BaseException], HTTPException]


def _caller(
    func: Callable[..., Any],
    prepare: Callable[[dict[str, Any]], dict[str, Any]],
    errors: tuple[DeclaredError, ...],
) -> Callable[..., Any]:
    """Call *func* with the prepared inputs, answering its declared exceptions."""
    answered = _answering(errors)
    is_async = inspect.iscoroutinefunction(func)
    if answered is None:
        if is_async:

            async def call_async(self: Any, *args: Any, **kwargs: Any) -> Any:
                return await func(self, *args, **prepare(kwargs))

            return call_async

        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            return func(self, *args, **prepare(kwargs))

        return call
    caught, answer = answered
    # A try costs nothing until something is raised.
    if is_async:

        async def answer_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs = prepare(kwargs)
            try:
                return await func(self, *args, **kwargs)
            except caught as e:
                raise answer(e) from e

        return answer_async

    def answer_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs = prepare(kwargs)
        try:
            return func(self, *args, **kwargs)
        except caught as e:
            raise answer(e) from e

    return answer_sync


def _answering(
    errors: tuple[DeclaredError, ...],
) -> tuple[tuple[type[BaseException], ...], _Answer] | None:
    """The exceptions a plan answers, and what turns one into its HTTP error."""
    table: dict[type[BaseException], DeclaredError] = {}
    for error in errors:
        if error.exception is not None:
            table[error.exception] = error
    if not table:
        return None

    def answer(e: BaseException) -> HTTPException:
        # The most specific class that is mapped decides.
        error = next(table[k] for k in type(e).__mro__ if k in table)
        http_error = default_exceptions.get(error.status, HTTPException)
        # The declared text, never str(e): it may hold internals.
        http = http_error(error.description)
        http.code = error.status
        if error.values:
            http = _with_headers(http, error.values)
        # Named in the error body in debug mode only (errors.error_body).
        http.original_exception = e  # type: ignore[attr-defined]
        return http

    return tuple(table), answer


def _with_headers(http: HTTPException, values: Mapping[str, str]) -> HTTPException:
    """*http*, sending *values* as headers too."""
    get_headers = http.get_headers

    def with_values(*args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [*get_headers(*args, **kwargs), *values.items()]

    http.get_headers = with_values  # type: ignore[method-assign]
    return http


def _unset(cls: type, name: str) -> Callable[..., Any]:
    # A generic method on a class that has not said what it serves.
    def unset(*_: Any, **__: Any) -> Any:
        msg = (
            f"{cls.__qualname__}.{name} serves nothing: {cls.__qualname__} has "
            "no schema; set `schema = YourSchema` on the class."
        )
        raise RestDeclarationError(msg)

    unset.__name__ = name
    unset.__servicecbv_generated__ = True  # type: ignore[attr-defined]
    return unset


def _collision(where: str, arg: str) -> RestDeclarationError:
    msg = (
        f"{where}: the URL variable {arg!r} collides with the parsed input "
        f"passed as {arg!r}; rename the URL variable or give reads() an arg=."
    )
    return RestDeclarationError(msg)


def declare_class(cls: C, declared: _Declared) -> C:
    """Apply class-level declarations to *cls* and compile it again."""
    if not issubclass(cls, RestMixin):
        msg = (
            f"@reads and @returns on a class need a RestMixin subclass; "
            f"derive {getattr(cls, '__qualname__', cls)!r} from RestView."
        )
        raise RestDeclarationError(msg)
    previous = cls.__dict__.get("_servicecbv_class_decl")
    if previous is not None:
        declared.inputs = [*previous.inputs, *declared.inputs]
        if declared.output is None:
            declared.output = previous.output
    cls._servicecbv_class_decl = declared
    _compile(cls)
    return cls


class RestView(RestMixin, MethodView):
    """
    A :class:`~flask_servicecbv.ServiceView` whose methods declare what they
    read and return.

    .. code-block:: python

        class Search(RestView):
            search = ServiceAttr(SearchClient)

            @reads(SearchArgs, location="query")
            @returns(ResultSchema, many=True)
            def get(self, *, query):
                return self.search.find(query["q"])
    """
