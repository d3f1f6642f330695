"""
The OpenAPI 3.1 document of an app's REST views, built from their plans.

It needs apispec: ``pip install flask-servicecbv[openapi]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click
from flask import Blueprint, Flask, Response, current_app, request
from flask.cli import AppGroup
from marshmallow import RAISE, Schema
from werkzeug.exceptions import HTTPException
from werkzeug.routing import (
    AnyConverter,
    FloatConverter,
    IntegerConverter,
    PathConverter,
    UnicodeConverter,
    UUIDConverter,
)

from flask_servicecbv.exceptions import OpenAPIError
from flask_servicecbv.health import HealthView
from flask_servicecbv.views import ServiceMixin

from .declarations import RestMixin, _unknown_for
from .docs_page import add_docs_page
from .errors import PROBLEM_JSON, ErrorSchema, ProblemSchema
from .etag import etag_of
from .generics import MAX_ID, DeleteMixin, IdConverter, RetrieveMixin, UpdateMixin

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from apispec import APISpec
    from werkzeug.routing import Rule

    from .declarations import Input, Plan

__all__ = ["OpenAPI", "build_spec", "spec_json"]

FlaskT = TypeVar("FlaskT", bound=Flask)

_EXT: Final = "servicecbv.openapi"

# The media types each body location reads.
_BODY_TYPES: Final[Mapping[str, tuple[str, ...]]] = {
    "json": ("application/json",),
    "form": ("application/x-www-form-urlencoded", "multipart/form-data"),
    "files": ("multipart/form-data",),
}
_METHODS: Final = ("get", "put", "post", "delete", "patch")

#: The configuration keys and their defaults.
DEFAULTS: Final[Mapping[str, Any]] = {
    # Info: the title defaults to the app's name.
    "OPENAPI_TITLE": None,
    "OPENAPI_VERSION": "1.0.0",
    "OPENAPI_DESCRIPTION": None,
    # [{"url": "https://api.example.com"}], say.
    "OPENAPI_SERVERS": [],
    # [{"name": "api", "description": "..."}]: described tags.
    "OPENAPI_TAGS": [],
    # {"bearer": {"type": "http", "scheme": "bearer"}}, say.
    "OPENAPI_SECURITY_SCHEMES": {},
    # [{"bearer": []}]: applies to every operation.
    "OPENAPI_SECURITY": [],
    # Where the document is served; None: not served.
    "OPENAPI_URL": "/openapi.json",
    # Where the Swagger UI page is served; None (the default): not served.
    "OPENAPI_DOCS_URL": None,
    # Where the page loads Swagger UI from: a URL prefix, or a directory of
    # swagger-ui-dist files that the app then serves itself (no CDN needed).
    "OPENAPI_DOCS_ASSETS": "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5",
}


def _apispec() -> tuple[type[APISpec], Any]:
    try:
        from apispec import APISpec  # noqa: PLC0415 -- an optional dependency
        from apispec.ext.marshmallow import MarshmallowPlugin  # noqa: PLC0415
    except ImportError:
        msg = (
            "The OpenAPI document needs apispec; install it with "
            "`pip install flask-servicecbv[openapi]`."
        )
        raise OpenAPIError(msg) from None
    return APISpec, MarshmallowPlugin


# -- schema names ----------------------------------------------------------


class _Names:
    """
    Component names: the class name without ``Schema``; a schema used with
    ``partial``, ``only`` or ``exclude`` gets a suffix saying so, and two
    classes of the same name get their module in theirs.
    """

    def __init__(self) -> None:
        self.taken: dict[str, object] = {}
        self.schemas: dict[str, Schema] = {}

    def __call__(self, schema: type[Schema] | Schema) -> str:
        instance = schema if isinstance(schema, Schema) else schema()
        cls = type(instance)
        base = cls.__name__.removesuffix("Schema") or cls.__name__
        if instance.partial is True:
            base += "Partial"
        elif instance.partial:
            base += "PartialOn" + "".join(_title(f) for f in sorted(instance.partial))
        if instance.only is not None:
            base += "Only" + "".join(_title(f) for f in sorted(instance.only))
        if instance.exclude:
            base += "Without" + "".join(_title(f) for f in sorted(instance.exclude))
        key = (cls, instance.partial, instance.only, frozenset(instance.exclude))
        name = base
        if self.taken.get(name, key) != key:
            # Another class of that name: qualify with where the class is
            # defined, in the characters a component name may hold.
            qualified = re.sub(
                r"[^A-Za-z0-9]+", "_", f"{cls.__module__}.{cls.__qualname__}"
            ).strip("_")
            name = qualified + base.removeprefix(cls.__name__.removesuffix("Schema"))
            number, unique = 1, name
            while self.taken.get(unique, key) != key:
                number += 1
                unique = f"{name}{number}"
            name = unique
        self.taken[name] = key
        self.schemas[name] = instance
        return name


def _title(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


# -- path parameters -------------------------------------------------------


def _converter_schema(converter: object) -> dict[str, Any]:  # noqa: PLR0911 -- one per kind
    """The JSON schema of what a Werkzeug converter matches."""
    if isinstance(converter, IdConverter):
        return {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    if isinstance(converter, IntegerConverter | FloatConverter):
        schema: dict[str, Any] = {
            "type": "integer" if isinstance(converter, IntegerConverter) else "number"
        }
        minimum = converter.min
        if minimum is None and not converter.signed:
            minimum = 0
        if minimum is not None:
            schema["minimum"] = minimum
        if converter.max is not None:
            schema["maximum"] = converter.max
        return schema
    if isinstance(converter, UUIDConverter):
        return {"type": "string", "format": "uuid"}
    if isinstance(converter, AnyConverter):
        # Its regex lists the escaped choices: (?:a|b|c)
        choices = converter.regex.removeprefix("(?:").removesuffix(")").split("|")
        return {"type": "string", "enum": [re.sub(r"\\(.)", r"\1", c) for c in choices]}
    if isinstance(converter, PathConverter):
        return {"type": "string"}
    if isinstance(converter, UnicodeConverter):
        # The default converter: one path segment, no slash.
        return {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
    return {"type": "string"}


def _path_and_parameters(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    converters: Mapping[str, object] = rule._converters  # noqa: SLF001 -- no public API
    path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
    parameters = [
        {
            "in": "path",
            "name": name,
            "required": True,
            "schema": _converter_schema(conv),
        }
        for name, conv in converters.items()
    ]
    return path, parameters


# -- operations ------------------------------------------------------------


def _docstring(func: Callable[..., Any], cls: type) -> tuple[str | None, str | None]:
    text = (func.__doc__ or cls.__doc__ or "").strip()
    if not text:
        return None, None
    summary, _, rest = text.partition("\n")
    rest = re.sub(r"^ {4}", "", rest, flags=re.MULTILINE).strip()
    return summary.strip(), rest or None


def _error_media(app: Flask, endpoint: str) -> str | None:
    """The media type of the endpoint's error bodies; None: Flask's HTML."""
    names = endpoint.split(".")[:-1]
    scopes = [".".join(names[:i]) for i in range(len(names), 0, -1)]
    for scope in [*scopes, None]:
        handlers = app.error_handler_spec.get(scope, {}).get(None, {})
        handler = handlers.get(HTTPException)
        if handler is not None:
            problem = getattr(handler, "__servicecbv_problem__", None)
            if problem is not None:
                return PROBLEM_JSON if problem else "application/json"
            return None
    return None


class _Builder:
    def __init__(self, app: Flask) -> None:
        api_spec, plugin_cls = _apispec()
        self.app = app
        self.names = _Names()
        self.plugin = plugin_cls(schema_name_resolver=self.names)
        config = app.config
        self.spec: APISpec = api_spec(
            title=config.get("OPENAPI_TITLE") or app.name,
            version=str(config.get("OPENAPI_VERSION", DEFAULTS["OPENAPI_VERSION"])),
            openapi_version="3.1.0",
            plugins=[self.plugin],
            info={"description": config["OPENAPI_DESCRIPTION"]}
            if config.get("OPENAPI_DESCRIPTION")
            else {},
            servers=list(config.get("OPENAPI_SERVERS") or []),
            tags=list(config.get("OPENAPI_TAGS") or []),
            security=list(config.get("OPENAPI_SECURITY") or []),
        )
        for name, scheme in (config.get("OPENAPI_SECURITY_SCHEMES") or {}).items():
            self.spec.components.security_scheme(name, scheme)
        self.operation_ids: set[str] = set()
        self.lenient: dict[tuple[type, str], type[Schema]] = {}
        self.error_schemas: set[str] = set()

    def build(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for rule in sorted(self.app.url_map.iter_rules(), key=lambda r: r.rule):
            view = self.app.view_functions.get(rule.endpoint)
            cls = getattr(view, "view_class", None)
            if not (isinstance(cls, type) and issubclass(cls, ServiceMixin)):
                continue
            path, parameters = _path_and_parameters(rule)
            methods = sorted(
                m.lower() for m in (rule.methods or ()) if m.lower() in _METHODS
            )
            operations = paths.setdefault(path, {})
            for method in methods:
                func = getattr(cls, method, None)
                if func is None or method in operations:
                    continue
                operations[method] = self.operation(rule, cls, method, func, parameters)
        for path, operations in paths.items():
            if operations:
                self.spec.path(path=path, operations=operations)
        document = self.spec.to_dict()
        self.fix_schemas(document)
        return document

    def fix_schemas(self, document: dict[str, Any]) -> None:
        # apispec leaves out additionalProperties when a schema's Meta has a
        # description; what the loader forbids, the document must forbid.
        schemas = document.get("components", {}).get("schemas", {})
        for name, instance in self.names.schemas.items():
            component = schemas.get(name)
            if component is not None and "additionalProperties" not in component:
                component["additionalProperties"] = instance.unknown != RAISE

    def operation_id(self, rule: Rule, method: str) -> str:
        base = f"{rule.endpoint}.{method}"
        candidate, number = base, 1
        while candidate in self.operation_ids:
            number += 1
            candidate = f"{base}.{number}"
        self.operation_ids.add(candidate)
        return candidate

    def schema_for_input(self, cls: type[RestMixin], inp: Input) -> Schema:
        schema = inp.schema
        if inp.partial:
            schema = type(schema)(partial=inp.partial, many=schema.many)
        unknown = _unknown_for(cls, inp)
        if unknown == schema.unknown:
            return schema
        # The view loads with another `unknown` than the schema's own: document
        # a variant that says so.
        key = (type(schema), unknown)
        variant = self.lenient.get(key)
        if variant is None:
            meta = type(
                "Meta", (getattr(type(schema), "Meta", object),), {"unknown": unknown}
            )
            suffix = {"include": "Open", "exclude": "Lenient"}.get(unknown, "Strict")
            name = type(schema).__name__.removesuffix("Schema") + suffix
            variant = type(name, (type(schema),), {"Meta": meta})
            self.lenient[key] = variant
        return variant(partial=schema.partial, many=schema.many)

    def operation(
        self,
        rule: Rule,
        cls: type,
        method: str,
        func: Callable[..., Any],
        path_parameters: list[dict[str, Any]],
    ) -> dict[str, Any]:
        summary, description = _docstring(getattr(func, "__wrapped__", func), cls)
        operation: dict[str, Any] = {"operationId": self.operation_id(rule, method)}
        if summary:
            operation["summary"] = summary
        if description:
            operation["description"] = description
        tag = rule.endpoint.rpartition(".")[0]
        if tag:
            operation["tags"] = [tag]
        plan: Plan | None = None
        if issubclass(cls, RestMixin):
            plan = cls.rest_plans.get(method)
        parameters = list(path_parameters)
        responses: dict[str, Any] = {}
        media = _error_media(self.app, rule.endpoint)
        if plan is not None:
            assert issubclass(cls, RestMixin)  # noqa: S101 -- for mypy
            self.inputs(
                cls,
                plan,
                operation,
                parameters=parameters,
                responses=responses,
                media=media,
            )
            self.outputs(cls, plan, method, responses, media)
        elif issubclass(cls, HealthView):
            responses["200"] = self.health_response("All services answer.")
            responses["503"] = self.health_response("A service fails or times out.")
        else:
            responses["default"] = {"description": "What the view returns."}
        if rule.arguments:
            # A URL whose variables match no resource, or do not convert.
            responses.setdefault("404", self.error(404, media))
        if parameters:
            operation["parameters"] = parameters
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def inputs(
        self,
        cls: type[RestMixin],
        plan: Plan,
        operation: dict[str, Any],
        *,
        parameters: list[dict[str, Any]],
        responses: dict[str, Any],
        media: str | None,
    ) -> None:
        bodies: dict[str, Any] = {}
        required = False
        for inp in plan.inputs:
            schema = self.schema_for_input(cls, inp)
            if inp.location in ("query", "headers"):
                where = "query" if inp.location == "query" else "header"
                parameters.append({"in": where, "schema": schema})
            elif inp.location == "path":
                self.path_schema(schema, parameters)
                responses.setdefault("404", self.error(404, media))
            else:
                required = required or inp.required
                for media_type in _BODY_TYPES[inp.location]:
                    bodies[media_type] = {"schema": schema}
                if inp.description:
                    operation["requestBody"] = {"description": inp.description}
                if inp.location == "json":
                    responses["400"] = self.error(400, media)
                responses["415"] = self.error(415, media)
        if bodies:
            operation.setdefault("requestBody", {}).update(
                {"required": required, "content": bodies}
            )
            if required:
                responses["400"] = self.error(400, media)
        if any(inp.location != "path" for inp in plan.inputs):
            responses["422"] = self.error(422, media)

    def path_schema(self, schema: Schema, parameters: list[dict[str, Any]]) -> None:
        """Describe the URL variables with the fields of their schema."""
        by_name = {
            field.data_key or name: field for name, field in schema.load_fields.items()
        }
        for param in parameters:
            field = by_name.get(param["name"])
            if param["in"] == "path" and field is not None:
                param["schema"] = self.plugin.converter.field2property(field)

    def outputs(
        self,
        cls: type[RestMixin],
        plan: Plan,
        method: str,
        responses: dict[str, Any],
        media: str | None,
    ) -> None:
        output = plan.output
        if output is None:
            responses["default"] = {"description": "What the method returns."}
        else:
            response: dict[str, Any] = {
                "description": output.description or HTTPStatus(output.status).phrase
            }
            if output.schema is not None:
                response["content"] = {"application/json": {"schema": output.schema}}
            headers = {
                name: {
                    "description": text,
                    "schema": {"type": "string"},
                    # A created item's URL is always sent.
                    "required": name == "Location" and output.status == 201,  # noqa: PLR2004
                }
                for name, text in output.headers.items()
            }
            if output.etag:
                headers["ETag"] = _etag_header()
                if method == "get":
                    responses["304"] = {
                        "description": "Not Modified: If-None-Match matches the ETag.",
                        "headers": {"ETag": _etag_header()},
                    }
            if headers:
                response["headers"] = headers
            responses[str(output.status)] = response
        if issubclass(cls, RetrieveMixin | UpdateMixin | DeleteMixin):
            responses["404"] = self.error(404, media)
            if method in ("put", "patch", "delete"):
                responses["412"] = self.error(412, media)
                if cls.REQUIRE_IF_MATCH:
                    responses["428"] = self.error(428, media)

    def error(self, code: int, media: str | None) -> Any:
        status = HTTPStatus(code)
        name = "".join(word.capitalize() for word in status.phrase.split())
        name = re.sub(r"[^A-Za-z0-9]", "", name)
        content: dict[str, Any]
        if media is None:
            content = {"text/html": {"schema": {"type": "string"}}}
            name += "Html"
        else:
            schema = ProblemSchema if media == PROBLEM_JSON else ErrorSchema
            content = {media: {"schema": schema}}
            if media == PROBLEM_JSON:
                name += "Problem"
        if name not in self.error_schemas:
            self.error_schemas.add(name)
            response: dict[str, Any] = {
                "description": status.phrase,
                "content": content,
            }
            if code == 415:  # noqa: PLR2004
                response["headers"] = {
                    header: {
                        "description": "The media types the operation reads.",
                        "schema": {"type": "string"},
                    }
                    for header in ("Accept-Post", "Accept-Patch")
                }
            self.spec.components.response(name, response)
        # apispec turns a component's name into its $ref.
        return name

    def health_response(self, text: str) -> dict[str, Any]:
        return {
            "description": text,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status", "services"],
                        "properties": {
                            "status": {"type": "string", "enum": ["ok", "failing"]},
                            "services": {
                                "type": "object",
                                "additionalProperties": {
                                    "type": "string",
                                    "enum": ["ok", "failing", "timeout"],
                                },
                            },
                            "failing": {"type": "array", "items": {"type": "string"}},
                            "errors": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                    }
                }
            },
        }


def _etag_header() -> dict[str, Any]:
    return {
        "description": "The entity tag of the representation.",
        "schema": {"type": "string"},
        "required": True,
    }


# -- the document, cached --------------------------------------------------


def build_spec(app: Flask) -> dict[str, Any]:
    """
    Return the OpenAPI 3.1 document of *app*, as a dict.

    It is built from the plans of the app's REST views, once: routes added
    later rebuild it.

    Raises:
        OpenAPIError: apispec is not installed.
    """
    state = app.extensions.setdefault(_EXT, {})
    rules = len(app.url_map._rules)  # noqa: SLF001 -- a cheap change detector
    cached = state.get("document")
    if cached is None or state.get("rules") != rules:
        cached = _Builder(app).build()
        body = json.dumps(cached, separators=(",", ":")).encode() + b"\n"
        state.update(document=cached, body=body, etag=etag_of(body), rules=rules)
    return cached  # type: ignore[no-any-return]


def spec_json(app: Flask) -> bytes:
    """Return the document of *app* as JSON bytes, built once."""
    build_spec(app)
    return app.extensions[_EXT]["body"]  # type: ignore[no-any-return]


def _serve_spec() -> Response:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001
    body = spec_json(app)
    tag = app.extensions[_EXT]["etag"]
    if request.if_none_match.contains_weak(tag):
        response = app.response_class(status=304)
    else:
        response = app.response_class(body, mimetype="application/json")
    response.headers["ETag"] = f'"{tag}"'
    return response


class OpenAPI:
    """
    Serve the app's OpenAPI document, and optionally a Swagger UI page, and
    add the ``flask openapi`` commands.

    Configuration (``app.config``), all optional: ``OPENAPI_TITLE`` (the app's
    name), ``OPENAPI_VERSION`` (``"1.0.0"``), ``OPENAPI_DESCRIPTION``,
    ``OPENAPI_SERVERS``, ``OPENAPI_TAGS``, ``OPENAPI_SECURITY_SCHEMES``,
    ``OPENAPI_SECURITY``, ``OPENAPI_URL`` (``"/openapi.json"``; ``None`` turns
    it off), ``OPENAPI_DOCS_URL`` (``None``: no page) and
    ``OPENAPI_DOCS_ASSETS`` (a URL prefix of swagger-ui-dist, by default a CDN,
    or a local directory of its files, which the app then serves).

    Args:
        app: Initialise it now, as ``OpenAPI(app)``; or later with
            :meth:`init_app`.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: FlaskT) -> FlaskT:
        """
        Add the routes and commands to *app*, and return it.

        Raises:
            OpenAPIError: apispec is not installed.
        """
        _apispec()
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        blueprint = Blueprint("openapi", __name__)
        url = app.config["OPENAPI_URL"]
        if url:
            blueprint.add_url_rule(url, "spec", _serve_spec)
        docs_url = app.config["OPENAPI_DOCS_URL"]
        if docs_url:
            if not url:
                msg = "OPENAPI_DOCS_URL needs OPENAPI_URL: the page loads the document."
                raise OpenAPIError(msg)
            add_docs_page(app, blueprint, spec_url=url, docs_url=docs_url)
        app.register_blueprint(blueprint)
        app.cli.add_command(openapi_cli)
        return app


openapi_cli = AppGroup("openapi", help="Write or print the app's OpenAPI document.")


@openapi_cli.command("print")
def print_command() -> None:
    """Print the OpenAPI document."""
    click.echo(spec_json(current_app).decode(), nl=False)


@openapi_cli.command("write")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def write_command(file: str) -> None:
    """Write the OpenAPI document to FILE."""
    with open(file, "wb") as f:  # noqa: PTH123 -- click gives a str
        f.write(spec_json(current_app))
    click.echo(f"Wrote the OpenAPI document to {file}.")
