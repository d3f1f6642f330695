"""What a view method reads and returns, declared once and compiled into a plan."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, TypeVar

from flask.views import MethodView, http_method_funcs
from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, ValidationError
from werkzeug.exceptions import NotFound

from flask_servicecbv.exceptions import RequestValidationError, RestDeclarationError
from flask_servicecbv.views import ServiceMixin, _closing_async

from ._parsing import ABSENT, LOCATIONS, loader_for
from .response import Responder

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "ARGUMENT_NAMES",
    "Input",
    "Output",
    "Plan",
    "RestMixin",
    "RestView",
    "reads",
    "returns",
]

F = TypeVar("F", bound=Callable[..., Any])

#: marshmallow's ways with unknown fields.
Unknown = Literal["exclude", "include", "raise"]
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
    """

    schema: Schema | None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    description: str | None = None
    etag: bool = False


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


@dataclass
class _Declared:
    """
    A method with its declarations, until its class compiles it.
    """

    func: Callable[..., Any]
    inputs: list[Input] = field(default_factory=list)
    output: Output | None = None
    # For generic views: declarations that depend on the class (its schema).
    dynamic: Callable[[type], tuple[list[Input], Output | None]] | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        if not issubclass(owner, RestMixin):
            msg = (
                f"{owner.__qualname__}.{name} is declared with @reads or "
                f"@returns, but {owner.__qualname__} is not a RestMixin "
                "subclass; derive it from RestView."
            )
            raise RestDeclarationError(msg)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Only reached on a class that was not compiled (never on a view).
        return self.func(*args, **kwargs)


def _class_level() -> None:
    """Stands for the methods of a class-level declaration."""


def _declared(target: Any) -> _Declared:
    if isinstance(target, _Declared):
        return target
    if not callable(target):
        msg = f"@reads and @returns decorate methods or view classes, not {target!r}."
        raise RestDeclarationError(msg)
    return _Declared(target)


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

    Raises:
        RestDeclarationError: The schema is not a marshmallow schema, or the
            status is not a success or redirection code.
    """
    if not 200 <= status < 400:  # noqa: PLR2004
        msg = (
            f"returns(status={status!r}) is not a success status; declare "
            "errors by raising them."
        )
        raise RestDeclarationError(msg)
    dumped = (
        None if schema is None else _schema(schema, f"returns({schema!r})", many=many)
    )
    out = Output(dumped, status, dict(headers or {}), description, etag)

    def decorate(target: F) -> F:
        if isinstance(target, type):
            return declare_class(target, _Declared(_class_level, output=out))
        declared = _declared(target)
        declared.output = out
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

    #: The plans, by lower-case HTTP method name, computed at class creation.
    rest_plans: ClassVar[Mapping[str, Plan]] = {}

    # Class-level declarations, applied to methods that declare nothing.
    _servicecbv_class_decl: ClassVar[_Declared | None] = None

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
        if not inputs and output is None:
            if declared is not None:
                setattr(
                    cls, name, func if declared.dynamic is None else _unset(cls, name)
                )
            continue
        _check_inputs(cls, name, inputs)
        if declared is None:
            # A plain method that a class-level declaration compiles: keep it,
            # since its handler replaces it, for the class's next compile (a
            # second class decorator) and for its subclasses.
            cls.__dict__[_OWN][name] = _Declared(func)
        plan = Plan(tuple(inputs), output, name)
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

    def prepare(kwargs: dict[str, Any]) -> dict[str, Any]:
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

    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        return func(self, *args, **prepare(kwargs))

    if inspect.iscoroutinefunction(func):

        async def handler_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = await func(self, *args, **prepare(kwargs))
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
