"""
The OpenAPI 3.1 document of an app's REST views, built from their plans.

It needs apispec: ``pip install flask-servicecbv[openapi]``.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click
from flask import Blueprint, Flask, Response, current_app, request
from flask.cli import AppGroup
from marshmallow import RAISE, Schema, missing
from werkzeug.exceptions import HTTPException
from werkzeug.routing import (
    AnyConverter,
    FloatConverter,
    IntegerConverter,
    PathConverter,
    UnicodeConverter,
    UUIDConverter,
)

from flask_servicecbv._context import EXTENSION_KEY
from flask_servicecbv._registry import chain_for
from flask_servicecbv.auth import Authenticator, Bearer
from flask_servicecbv.exceptions import OpenAPIError
from flask_servicecbv.health import HealthView
from flask_servicecbv.views import ServiceMixin

from . import generics
from .declarations import RestMixin, _unknown_for, status_name
from .docs_page import DEFAULT_ASSETS, add_docs_page
from .errors import PROBLEM_JSON, ErrorSchema, ProblemSchema
from .etag import ENTITY_TAGS, etag_of
from .generics import MAX_ID, DeleteMixin, IdConverter, RetrieveMixin, UpdateMixin

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from apispec import APISpec
    from marshmallow.fields import Field
    from werkzeug.routing import Rule

    from flask_servicecbv.auth import Scheme

    from .auth import Requirement
    from .declarations import DeclaredError, Input, Plan

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

# The schema of If-Match and If-None-Match, which the views refuse with 400
# when a value does not match.
_ENTITY_TAGS_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "string",
    "pattern": f"^(?:{ENTITY_TAGS})$",
    "examples": ['"9a0364b9e99bb480dd25e1f0284c8555"'],
}

# The header that a 415 answer names the accepted media types in, by method.
_ACCEPT_HEADERS: Final[Mapping[str, str]] = {
    "post": "Accept-Post",
    "patch": "Accept-Patch",
}

# The order of the document's sections.
_ORDER: Final[tuple[str, ...]] = (
    "openapi",
    "info",
    "servers",
    "tags",
    "security",
    "paths",
    "components",
)

# Schema variants: how a schema is shown where it is read, or sent.
_OUTPUT: Final = "output"
_INPUT: Final = "input"
_PATCH: Final = "patch"

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
    "OPENAPI_DOCS_ASSETS": DEFAULT_ASSETS,
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


# -- request and response variants -----------------------------------------

_REF: Final = "#/components/schemas/"

# The keywords of a JSON schema whose values are schemas, or maps or lists of
# schemas: where a variant looks for defaults, requirements and references.
_SUBSCHEMA: Final = frozenset(
    {"items", "additionalProperties", "not", "contains", "propertyNames"}
)
_SUBSCHEMA_MAPS: Final = frozenset({"properties", "patternProperties", "$defs"})
_SUBSCHEMA_LISTS: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


def _subschemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key, value in schema.items():
        if key in _SUBSCHEMA and isinstance(value, dict):
            yield value
        elif key in _SUBSCHEMA_MAPS:
            yield from (v for v in value.values() if isinstance(v, dict))
        elif key in _SUBSCHEMA_LISTS:
            yield from (v for v in value if isinstance(v, dict))


def _always_sent(field: Field[Any]) -> bool:
    """
    Whether a response always holds *field* (not ``load_only``), so that its
    schema lists it as ``required``.

    The field's ``metadata["always_sent"]`` decides if it is set; otherwise a
    field is always sent when it is ``required`` or has a ``load_default``
    (every stored item was loaded with it), is ``dump_only`` (the server sets
    it), or has a ``dump_default``.
    """
    flag = field.metadata.get("always_sent")
    if flag is not None:
        return bool(flag)
    return (
        field.required
        or field.dump_only
        or field.load_default is not missing
        or field.dump_default is not missing
    )


def _body_mode(inp: Input) -> str:
    """The variant of the body that *inp* loads."""
    if inp.partial is True:
        return _PATCH
    if inp.partial:
        return "patch-on:" + ",".join(sorted(inp.partial))
    return _INPUT


def _optional_fields(mode: str) -> frozenset[str]:
    return (
        frozenset(mode.removeprefix("patch-on:").split(","))
        if ":" in mode
        else frozenset()
    )


class _Variants:
    """
    The components of a document, each schema in the variants its uses need.

    apispec describes a schema once; a response shows what is sent
    (``Bookmark``: no ``load_only`` field, and every field always sent is
    ``required``), a request body what is read (``BookmarkInput``: no
    ``dump_only`` field), and a partial body what may be left out
    (``BookmarkPatch``: nothing ``required`` and no ``default``, nested
    schemas included, since ``partial`` reaches them).
    """

    def __init__(self, base: dict[str, Any], schemas: Mapping[str, Schema]) -> None:
        self.base = base
        self.schemas = schemas
        self.made: dict[tuple[str, str], str] = {}
        self.components: dict[str, Any] = {}

    def ref(self, ref: str, mode: str) -> str:
        """The reference to the variant *mode* of the component *ref*."""
        return _REF + self.variant(ref.removeprefix(_REF), mode)

    def variant(self, name: str, mode: str) -> str:
        """Make the variant *mode* of the base component *name*; its name."""
        key = (name, mode)
        made = self.made.get(key)
        if made is not None:
            return made
        optional = _optional_fields(mode)
        new = self.variant_name(name, mode, optional)
        self.made[key] = new
        component = copy.deepcopy(self.base[name])
        instance = self.schemas[name]
        if mode == _OUTPUT:
            kept = {f.data_key or n: f for n, f in instance.dump_fields.items()}
            required = [k for k, f in kept.items() if _always_sent(f)]
        else:
            kept = {f.data_key or n: f for n, f in instance.load_fields.items()}
            required = [
                key_
                for key_, f in kept.items()
                if f.required and f.name not in optional and mode != _PATCH
            ]
        properties = component.get("properties", {})
        for key_, property_ in list(properties.items()):
            if key_ not in kept:
                del properties[key_]
            elif kept[key_].name in optional:
                property_.pop("default", None)
        component.pop("required", None)
        if required:
            component["required"] = required
        # partial=True reaches nested schemas; partial on some fields does not.
        inner = _INPUT if optional and mode != _PATCH else mode
        self.rewrite(component, inner, top=True, strip=inner != _INPUT)
        self.components[new] = component
        return new

    def variant_name(self, name: str, mode: str, optional: frozenset[str]) -> str:
        if mode == _OUTPUT:
            return name
        if mode == _INPUT:
            new = f"{name}Input"
        elif mode == _PATCH:
            new = f"{name}Patch"
        else:
            new = f"{name}PatchOn" + "".join(_title(f) for f in sorted(optional))
        number, unique = 1, new
        taken = set(self.made.values())
        while unique in taken:
            # A schema class sent under a variant's name: number the variant.
            number += 1
            unique = f"{new}{number}"
        return unique

    def rewrite(
        self, schema: dict[str, Any], mode: str, *, top: bool, strip: bool
    ) -> None:
        """
        Point *schema*'s references at their variants, and take ``default``
        (and, for a patch, ``required``) out where *strip*.
        """
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            schema["$ref"] = self.ref(ref, mode)
        if strip:
            schema.pop("default", None)
            if mode == _PATCH and not top:
                schema.pop("required", None)
        for sub in _subschemas(schema):
            self.rewrite(sub, mode, top=False, strip=strip)

    def finish(
        self, document: dict[str, Any], bodies: list[tuple[str, str, str]]
    ) -> None:
        """Point the document's bodies and responses at their variants."""
        # Bodies wait, so that every response variant, named after its
        # schema, is named before a request variant could take its name.
        waiting = []
        for path, method, mode in bodies:
            content = document["paths"][path][method]["requestBody"]["content"]
            waiting += [
                (media, media.pop("schema"), mode) for media in content.values()
            ]
        # Everything else that names a schema shows what is sent.
        for section in (document["paths"], document["components"]):
            for key, value in section.items():
                if key != "schemas":
                    self.rewrite_all(value)
        for media, schema, mode in waiting:
            self.rewrite(schema, mode, top=False, strip=False)
            media["schema"] = schema
        if self.components:
            document["components"]["schemas"] = dict(sorted(self.components.items()))
        else:
            document["components"].pop("schemas", None)

    def rewrite_all(self, value: Any) -> None:
        if isinstance(value, dict):
            ref = value.get("$ref")
            # Only the schemas made from marshmallow: a hook may name others.
            if isinstance(ref, str) and ref.removeprefix(_REF) in self.base:
                value["$ref"] = self.ref(ref, _OUTPUT)
            for item in value.values():
                self.rewrite_all(item)
        elif isinstance(value, list):
            for item in value:
                self.rewrite_all(item)


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


# The summaries of the generic views' methods, by qualified name: {name} is
# the component name of the view's schema, the type a client works with.
_GENERIC_SUMMARIES: Final[Mapping[str, str]] = {
    "ListMixin.get": "List {name} items, a page at a time.",
    "CreateMixin.post": "Create {a} {name}.",
    "RetrieveMixin.get": "Retrieve {a} {name}.",
    "UpdateMixin.put": "Replace {a} {name}.",
    "UpdateMixin.patch": "Change some fields of {a} {name}.",
    "DeleteMixin.delete": "Delete {a} {name}.",
}


def _split_docstring(text: str | None) -> tuple[str | None, str | None]:
    cleaned = inspect.cleandoc(text or "")
    if not cleaned:
        return None, None
    summary, _, rest = cleaned.partition("\n")
    return summary.strip(), rest.strip() or None


def _docstring(
    func: Callable[..., Any], cls: type, names: _Names
) -> tuple[str | None, str | None]:
    """
    The summary and description of an operation: from the method's docstring,
    else the view class's.
    A generic view's method is summarised after the view's schema
    (``Retrieve a Bookmark.``) and described by the view class's docstring,
    whole, never by the library's.
    """
    own = cls.__dict__.get("__doc__")
    template = _GENERIC_SUMMARIES.get(func.__qualname__)
    if getattr(func, "__module__", None) != generics.__name__ or template is None:
        return _split_docstring(func.__doc__ or own)
    name = names(generics._item_schema(cls))  # noqa: SLF001 -- the view's schema
    summary = template.format(name=name, a="an" if name[:1] in "AEIOU" else "a")
    return summary, inspect.cleandoc(own or "") or None


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


def _writes_conditionally(cls: type, method: str) -> bool:
    """Whether *method* of *cls* is a generic write that honours If-Match."""
    action = getattr(cls, "ACTION", None)  # an item view's action, not a GET
    return (
        (issubclass(cls, UpdateMixin) and method in ("put", "patch"))
        or (issubclass(cls, DeleteMixin) and method == "delete")
        or (action is not None and method == action.method != "get")
    )


def _serialisation(_converter: Any, field: Field[Any], **_: Any) -> dict[str, Any]:
    """A parameter's ``style`` and ``explode``, from its field's metadata."""
    return {
        key: field.metadata[key]
        for key in ("style", "explode")
        if key in field.metadata
    }


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
            security=list(config.get("OPENAPI_SECURITY") or []),
        )
        # A query field's metadata may say how its parameter is serialised:
        # {"explode": False} for a comma-separated list (?sort=a,-b).
        self.plugin.converter.add_parameter_attribute_function(_serialisation)
        self.servers = list(config.get("OPENAPI_SERVERS") or [])
        self.tags = list(config.get("OPENAPI_TAGS") or [])
        # The configured schemes win over those of the principal factories.
        self.configured_schemes = dict(config.get("OPENAPI_SECURITY_SCHEMES") or {})
        for name, scheme in self.configured_schemes.items():
            self.spec.components.security_scheme(name, scheme)
        self.global_security = bool(config.get("OPENAPI_SECURITY"))
        # The schemes met in the principal factories, by component name.
        self.schemes: dict[str, dict[str, Any]] = {}
        self.operation_ids: set[str] = set()
        self.lenient: dict[tuple[type, str], type[Schema]] = {}
        self.error_schemas: set[str] = set()
        self.parameters: set[str] = set()
        # The request bodies, by path and method, and the variant each reads.
        self.bodies: list[tuple[str, str, str]] = []
        self.used_tags: set[str] = set()
        # The operation being described: its error media type, and the
        # variant of its body.
        self.media: str | None = None
        self.body_mode = _INPUT

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
                operations[method] = self.operation(
                    rule, cls, method, func, parameters, path=path
                )
        # The operations hold plain JSON already (schemas are resolved as they
        # are met): they go in as they are, without apispec copying them.
        document = self.spec.to_dict()
        document["paths"] = {path: ops for path, ops in paths.items() if ops}
        self.fix_schemas(document)
        components = document.setdefault("components", {})
        variants = _Variants(components.get("schemas", {}), self.names.schemas)
        variants.finish(document, self.bodies)
        if not components:
            del document["components"]
        declared = {tag["name"] for tag in self.tags}
        tags = self.tags + [{"name": tag} for tag in sorted(self.used_tags - declared)]
        if tags:
            document["tags"] = tags
        if self.servers:
            document["servers"] = self.servers
        return {key: document.pop(key) for key in _ORDER if key in document} | document

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
        if schema.partial:
            # The body's variant says what partial leaves out (Input.partial
            # has it): describe the whole schema.
            schema = copy.copy(schema)
            schema.partial = None
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
        return variant(many=schema.many)

    def operation(
        self,
        rule: Rule,
        cls: type,
        method: str,
        func: Callable[..., Any],
        path_parameters: list[dict[str, Any]],
        *,
        path: str,
    ) -> dict[str, Any]:
        summary, description = _docstring(
            getattr(func, "__wrapped__", func), cls, self.names
        )
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
        media = self.media = _error_media(self.app, rule.endpoint)
        if plan is not None:
            assert issubclass(cls, RestMixin)  # noqa: S101 -- for mypy
            self.planned(
                cls,
                plan,
                operation,
                parameters,
                responses,
                path=path,
                endpoint=rule.endpoint,
            )
        elif issubclass(cls, HealthView):
            self.health(operation, responses)
        else:
            responses["default"] = {"description": "What the view returns."}
        if rule.arguments:
            # A URL whose variables match no resource, or do not convert.
            responses.setdefault("404", self.error(404, media))
        if parameters:
            operation["parameters"] = parameters
        operation["responses"] = responses
        if plan is not None:
            self.hook(operation, plan.doc, media)
        operation["responses"] = dict(sorted(operation["responses"].items()))
        self.used_tags.update(operation.get("tags", ()))
        return operation

    def planned(
        self,
        cls: type[RestMixin],
        plan: Plan,
        operation: dict[str, Any],
        parameters: list[dict[str, Any]],
        responses: dict[str, Any],
        *,
        path: str,
        endpoint: str,
    ) -> None:
        """Describe what a plan reads, sends and answers."""
        media = self.media
        self.inputs(
            cls,
            plan,
            operation,
            parameters=parameters,
            responses=responses,
            media=media,
        )
        if operation.get("requestBody"):
            self.bodies.append((path, plan.method, self.body_mode))
        self.outputs(cls, plan, plan.method, responses, media)
        self.conditional(
            cls, plan, parameters=parameters, responses=responses, media=media
        )
        self.declared_errors(plan.errors, responses, media)
        if plan.requirement is not None:
            self.security(endpoint, plan.requirement, operation, responses, media)

    def security(
        self,
        endpoint: str,
        requirement: Requirement,
        operation: dict[str, Any],
        responses: dict[str, Any],
        media: str | None,
    ) -> None:
        """The operation's ``security``, from the schemes of its principal."""
        if requirement.public:
            operation["security"] = []
            return
        schemes = self.schemes_for(endpoint, requirement.principal)
        if not schemes:
            # A principal made by the app's own factory (or a test's value):
            # the document cannot know how; OPENAPI_SECURITY says.
            return
        scopes = sorted(requirement.scopes)
        operation["security"] = [{scheme.name: scopes} for scheme in schemes]
        for scheme in schemes:
            self.security_scheme(scheme)
        if any(isinstance(scheme, Bearer) for scheme in schemes):
            # A token in the query string, or in two places, is refused.
            responses.setdefault("400", self.error(400, media))

    def schemes_for(self, endpoint: str, principal: object) -> tuple[Scheme, ...]:
        """The schemes of the factory that makes *principal* for *endpoint*."""
        registry = self.app.extensions.get(EXTENSION_KEY)
        if registry is None:
            return ()
        blueprint = endpoint.rpartition(".")[0] or None
        found = registry.resolved(chain_for(blueprint)).get(principal)
        factory = None if found is None else found[1].factory
        return factory.schemes if isinstance(factory, Authenticator) else ()

    def security_scheme(self, scheme: Scheme) -> None:
        name = scheme.name
        if name in self.configured_schemes:
            return
        described = scheme.openapi()
        known = self.schemes.get(name)
        if known is None:
            self.schemes[name] = described
            self.spec.components.security_scheme(name, described)
        elif known != described:
            msg = (
                f"Two authentication schemes are named {name!r} but differ "
                f"({known} and {described}); give one another name=."
            )
            raise OpenAPIError(msg)

    def hook(
        self, operation: dict[str, Any], doc: Mapping[str, Any], media: str | None
    ) -> None:
        """Apply what doc() and OPENAPI add to, or change in, the operation."""
        for key, value in doc.items():
            if key != "responses":
                operation[key] = copy.deepcopy(value)
        for code, response in doc.get("responses", {}).items():
            operation["responses"][code] = (
                {"description": response, "content": self.error_content(media)}
                if isinstance(response, str)
                else copy.deepcopy(response)
            )

    def declared_errors(
        self,
        errors: tuple[DeclaredError, ...],
        responses: dict[str, Any],
        media: str | None,
    ) -> None:
        texts: dict[int, list[str]] = {}
        headers: dict[int, dict[str, Any]] = {}
        for error in errors:
            found = texts.setdefault(error.status, [])
            if error.description not in found:
                found.append(error.description)
            headers.setdefault(error.status, {}).update(
                (name, dict(header)) for name, header in error.headers.items()
            )
        for status, descriptions in texts.items():
            response: dict[str, Any] = {
                "description": " ".join(descriptions),
                "content": self.error_content(media),
            }
            if headers[status]:
                response["headers"] = headers[status]
            responses[str(status)] = response

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
        self.body_mode = _INPUT
        for inp in plan.inputs:
            schema = self.schema_for_input(cls, inp)
            if inp.location in ("query", "headers"):
                where = "query" if inp.location == "query" else "header"
                parameters += self.plugin.converter.schema2parameters(
                    schema, location=where
                )
            elif inp.location == "path":
                self.path_schema(schema, parameters)
                responses.setdefault("404", self.error(404, media))
            else:
                required = required or inp.required
                self.body_mode = _body_mode(inp)
                for media_type in _BODY_TYPES[inp.location]:
                    bodies[media_type] = {"schema": self.schema_ref(schema)}
                if inp.description:
                    operation["requestBody"] = {"description": inp.description}
                if inp.location == "json":
                    responses["400"] = self.error(400, media)
                responses["413"] = self.error(413, media)
                responses["415"] = self.error(
                    415, media, header=_ACCEPT_HEADERS.get(plan.method)
                )
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
                "description": output.description or status_name(output.status)
            }
            if output.schema is not None:
                response["content"] = {
                    "application/json": {"schema": self.schema_ref(output.schema)}
                }
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

    def conditional(
        self,
        cls: type[RestMixin],
        plan: Plan,
        *,
        parameters: list[dict[str, Any]],
        responses: dict[str, Any],
        media: str | None,
    ) -> None:
        """Declare the preconditions an operation honours, and their answers."""
        method = plan.method
        if method == "get" and plan.output is not None and plan.output.etag:
            parameters.append(
                self.conditional_ref(
                    "IfNoneMatch",
                    "Answer 304 Not Modified if the representation's ETag is "
                    "one of these (weak comparison), or any with *.",
                )
            )
            parameters.append(
                self.conditional_ref(
                    "IfMatch",
                    "Answer 412 Precondition Failed unless the "
                    "representation's ETag is one of these (strong comparison).",
                )
            )
            responses["400"] = self.error(400, media)
            responses["412"] = self.error(412, media)
        elif _writes_conditionally(cls, method):
            required = bool(getattr(cls, "REQUIRE_IF_MATCH", False))
            parameters.append(
                self.conditional_ref(
                    "IfMatchChange",
                    "Change the item only if its current ETag is one of these "
                    "(strong comparison), or if it exists with *; else 412.",
                    required=required,
                )
            )
            parameters.append(
                self.conditional_ref(
                    "IfNoneMatchChange",
                    "Change the item only if its current ETag is none of these; "
                    "with *, only if it does not exist; else 412.",
                )
            )
            # A header that is no list of entity tags is refused.
            responses["400"] = self.error(400, media)
            responses["412"] = self.error(412, media)
            if required:
                responses["428"] = self.error(428, media)

    def error(self, code: int, media: str | None, *, header: str | None = None) -> Any:
        name = re.sub(r"[^A-Za-z0-9]", "", status_name(code).title())
        if media is None:
            name += "Html"
        elif media == PROBLEM_JSON:
            name += "Problem"
        if header is not None:
            name += header.replace("-", "")
        if name not in self.error_schemas:
            self.error_schemas.add(name)
            response: dict[str, Any] = {
                "description": status_name(code),
                "content": self.error_content(media),
            }
            if header is not None:
                response["headers"] = {
                    header: {
                        "description": "The media types the operation reads.",
                        "schema": {"type": "string"},
                        "required": True,
                    }
                }
            self.spec.components.response(name, response)
        return {"$ref": f"#/components/responses/{name}"}

    def conditional_ref(
        self, component: str, description: str, *, required: bool = False
    ) -> dict[str, Any]:
        """
        The reference to a shared conditional header parameter: *component*
        names the header (``IfMatch`` is ``If-Match``), and a suffix its use.
        """
        if required:
            component += "Required"
        if component not in self.parameters:
            self.parameters.add(component)
            header = "If-None-Match" if component.startswith("IfNone") else "If-Match"
            self.spec.components.parameter(
                component,
                "header",
                {
                    "name": header,
                    "required": required,
                    "description": description,
                    "schema": dict(_ENTITY_TAGS_SCHEMA),
                },
            )
        return {"$ref": f"#/components/parameters/{component}"}

    def schema_ref(self, schema: Schema) -> dict[str, Any]:
        """The reference to *schema*'s component (an array of them for many)."""
        return self.plugin.converter.resolve_nested_schema(schema)  # type: ignore[no-any-return]

    def error_content(self, media: str | None) -> dict[str, Any]:
        """The content of an error response: the app's error body."""
        if media is None:
            return {"text/html": {"schema": {"type": "string"}}}
        schema = ProblemSchema() if media == PROBLEM_JSON else ErrorSchema()
        return {media: {"schema": self.schema_ref(schema)}}

    def health(self, operation: dict[str, Any], responses: dict[str, Any]) -> None:
        responses["200"] = self.health_response("All services answer.")
        responses["503"] = self.health_response("A service fails or times out.")
        if self.global_security:
            # A health check authenticates no one.
            operation["security"] = []

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
