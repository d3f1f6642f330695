"""
example_api's OpenAPI document as clients that nobody here wrote see it: a
Python client generated with openapi-python-client and driven over HTTP,
openapi-core judging live requests and responses, the linters' rules, and
the same bytes whatever the dependencies or the Python version.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import typing
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from openapi_core import OpenAPI as OpenAPICore
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate
from sqlalchemy import Engine
from werkzeug.serving import WSGIRequestHandler, make_server

import flask_servicecbv as svc
from example_api import create_app
from example_api.auth import DEFAULT_SCOPES, issue_token
from flask_servicecbv.rest import body_limit
from flask_servicecbv.rest.openapi import spec_json

ROOT = Path(__file__).resolve().parent.parent
USAGE = Path(__file__).resolve().parent / "client_usage" / "crud.py"

#: The generated package's name.
PACKAGE = "bookmarks_client"

#: The environment variable naming the Python of the lowest dependency set.
LOWEST_PYTHON = "SERVICECBV_LOWEST_PYTHON"

#: What the server answers to a request it refuses as malformed.
REFUSALS = frozenset({400, 413, 415, 422})

BOOKMARKS = "/api/v1/bookmarks"
ITEM = BOOKMARKS + "/{bookmark_id}"
JSON = "application/json"

#: A bookmark id that never exists in these tests.
NO_SUCH_ID = 987654


def _need(missing: str | None, *, ci_fails: bool = True) -> None:
    """Skip, or fail in CI, when what a test needs is *missing* here."""
    if missing:  # pragma: no cover -- the suite's environments have everything
        if ci_fails and os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)


# -- the example, built and served ------------------------------------------


def _app(tmp_path: Path):
    return create_app(
        {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'api.sqlite3'}"}
    )


def _token(app) -> str:
    """A token of a user who reads and writes, issued on *app*'s database."""
    with app.app_context(), svc.get(Engine).begin() as conn:
        return issue_token(conn, "client", DEFAULT_SCOPES)


def _document_bytes(tmp_path: Path) -> bytes:
    """The example's document, from an app of its own."""
    app = _app(tmp_path)
    try:
        return spec_json(app)
    finally:
        svc.close_registry(app)


@pytest.fixture(scope="session", name="document_bytes")
def _document_bytes_fixture(tmp_path_factory) -> bytes:
    return _document_bytes(tmp_path_factory.mktemp("document"))


@pytest.fixture(scope="session", name="document")
def _document(document_bytes) -> dict:
    return json.loads(document_bytes)


class _QuietHandler(WSGIRequestHandler):
    """Keeps the server's request log out of the test output."""

    def log(self, kind, message, *args):
        pass


@contextlib.contextmanager
def _serving(tmp_path: Path):
    """Serve a new example app on 127.0.0.1; yield it and its base URL."""
    app = _app(tmp_path)
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.socket.getsockname()[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        svc.close_registry(app)
    assert not thread.is_alive()


def _resolve(document: dict, node: dict) -> dict:
    """Follow ``$ref`` (``#/components/...``) until *node* is not a reference."""
    while "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


# -- 1. a generated Python client -------------------------------------------


#: The parts the client code names, as (method, path) of the operation.
OPERATIONS = {
    "list_bookmarks": ("get", BOOKMARKS),
    "create_bookmark": ("post", BOOKMARKS),
    "get_bookmark": ("get", ITEM),
    "replace_bookmark": ("put", ITEM),
    "change_bookmark": ("patch", ITEM),
    "delete_bookmark": ("delete", ITEM),
}


@dataclass
class Generated:
    """Where the client was generated, and what the generator said."""

    directory: Path
    output: str


def _operation_modules(package: Path) -> dict[tuple[str, str], str]:
    """Each generated operation module, by the method and path it calls."""
    found = {}
    for file in sorted((package / "api").rglob("*.py")):
        call = re.search(r'"method": "(\w+)",\s*"url": "([^"]+)"', file.read_text())
        if call:
            module = ".".join(file.relative_to(package).with_suffix("").parts)
            found[call[1], call[2]] = module
    return found


def _members(hint) -> list[type]:
    """The classes of a type hint: ``X``, or each of ``X | Y``."""
    return [arg for arg in typing.get_args(hint) or (hint,) if isinstance(arg, type)]


def _model_with(field: str, *hints) -> type:
    """The one generated model among *hints* that has *field*."""
    models = {
        cls
        for hint in hints
        for cls in _members(hint)
        if any(attr.name == field for attr in getattr(cls, "__attrs_attrs__", ()))
    }
    assert len(models) == 1, (field, models)
    return models.pop()


def _roles_module(package: Path, output: str) -> str:
    """
    The source of ``roles``: which generated module or class plays which
    part, read from the generated operations' signatures.
    """
    modules = _operation_modules(package)
    imports = {}
    hints = {}
    for alias, operation in OPERATIONS.items():
        assert operation in modules, f"{operation} not generated:\n{output}"
        module = importlib.import_module(f"{PACKAGE}.{modules[operation]}")
        hints[alias] = typing.get_type_hints(module.sync_detailed)
        parent, _, name = modules[operation].rpartition(".")
        imports[alias] = f"from .{parent} import {name} as {alias}"

    def responses(alias):
        (parsed,) = typing.get_args(hints[alias]["return"])
        return parsed

    classes = {
        "BookmarkNew": hints["create_bookmark"]["body"],
        "BookmarkIn": hints["replace_bookmark"]["body"],
        "BookmarkPatch": hints["change_bookmark"]["body"],
        "BookmarkOut": _model_with("url", responses("get_bookmark")),
        "BookmarkPage": _model_with("items", responses("list_bookmarks")),
        "ErrorBody": _model_with("message", responses("get_bookmark")),
    }
    for alias, cls in classes.items():
        assert isinstance(cls, type), (alias, cls)
        module = cls.__module__.removeprefix(PACKAGE)
        imports[alias] = f"from {module} import {cls.__name__} as {alias}"
    lines = [
        '"""Which generated class or module plays which part."""',
        *sorted(imports.values()),
        f"__all__ = {sorted(imports)!r}",
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session", name="generated")
def _generated(tmp_path_factory, document_bytes):
    """
    Generate the client once, with openapi-python-client, into a temporary
    directory, and put it on ``sys.path``.
    """
    _need(
        "openapi-python-client needs Python 3.11 or later."
        if sys.version_info < (3, 11)
        else None,
        ci_fails=False,
    )
    _need(
        None
        if importlib.util.find_spec("openapi_python_client")
        else "openapi-python-client is not installed: pip install -r "
        "requirements-dev.txt."
    )
    directory = tmp_path_factory.mktemp("generated")
    source = directory / "openapi.json"
    source.write_bytes(document_bytes)
    config = directory / "config.yaml"
    # No formatting hooks: what is generated is checked as it is.
    config.write_text("post_hooks: []\n")
    result = subprocess.run(  # noqa: S603 -- our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(source),
            "--meta",
            "none",
            "--output-path",
            str(directory / PACKAGE),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(directory))
        (directory / PACKAGE / "roles.py").write_text(
            _roles_module(directory / PACKAGE, result.stdout + result.stderr)
        )
        yield Generated(directory, result.stdout + result.stderr)
        for name in [m for m in sys.modules if m.partition(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.fixture(scope="session", name="crud")
def _crud(generated):
    """The client code of tests/client_usage/crud.py, imported."""
    spec = importlib.util.spec_from_file_location("client_usage_crud", USAGE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(name="client")
def _client(generated, tmp_path):
    client_module = importlib.import_module(PACKAGE)
    with _serving(tmp_path) as (app, base_url):
        client = client_module.AuthenticatedClient(
            base_url=base_url, token=_token(app), raise_on_unexpected_status=True
        )
        with client:
            yield client


@pytest.mark.slow
class TestGeneratedClient:
    def test_generates_without_warnings(self, generated):
        """
        openapi-python-client reads the whole document: no warning, nothing
        left out.
        """
        assert "Warning" not in generated.output, generated.output

    def test_client_code_passes_mypy_strict(self, generated):
        """
        Ordinary client code type-checks with mypy --strict: fields the server
        always sends are not optional, conditional headers are arguments.
        """
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        result = subprocess.run(  # noqa: S603 -- our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "mypy",
                "--strict",
                "--python-version",
                version,
                "--cache-dir",
                str(generated.directory / ".mypy_cache"),
                str(USAGE),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "MYPYPATH": str(generated.directory)},
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_create_and_list_a_page(self, crud, client):
        """
        Created bookmarks come back with their Location; a page lists the
        ids of the tag's bookmarks, the total, and a link to the next page.
        """
        ids = []
        for number in range(3):
            created, location = crud.create(
                client,
                url=f"https://example.com/{number}",
                title=f"Bookmark {number}",
                tags=["python"],
                notes="",
            )
            assert location.endswith(f"{BOOKMARKS}/{created.id}")
            ids.append(created.id)
        crud.create(
            client, url="https://example.org/", title="Other", tags=[], notes=""
        )

        page = crud.list_page(client, tag="python", per_page=2)

        assert (page.ids, page.total) == (ids[:2], 3)
        assert 'rel="next"' in page.link

    def test_patch_one_field_keeps_the_others(self, crud, client):
        """
        A PATCH of the title alone leaves the URL, the tags and the notes as
        they were.
        """
        created, _ = crud.create(
            client,
            url="https://example.com/keep",
            title="Before",
            tags=["keep"],
            notes="Do not erase these notes.",
        )

        changed = crud.change_title(client, created.id, "After")
        read = crud.get(client, created.id).bookmark

        for bookmark in (changed, read):
            assert (bookmark.title, bookmark.url, bookmark.tags, bookmark.notes) == (
                "After",
                "https://example.com/keep",
                ["keep"],
                "Do not erase these notes.",
            )

    def test_put_back_what_get_returned(self, crud, client):
        """
        What GET returned, with one change, is a body PUT accepts as it is.
        """
        created, _ = crud.create(
            client,
            url="https://example.com/put",
            title="Before",
            tags=["a", "b"],
            notes="Notes.",
        )

        replaced = crud.put_back(client, created.id, "After")

        assert (replaced.id, replaced.title, replaced.tags, replaced.notes) == (
            created.id,
            "After",
            ["a", "b"],
            "Notes.",
        )

    def test_if_match_round_trip(self, crud, client):
        """
        The entity tag a GET gives is what If-Match takes: the first change
        with it passes, a second one with the same tag fails with 412, and
        If-None-Match with the current tag answers 304.
        """
        created, _ = crud.create(
            client, url="https://example.com/tag", title="T", tags=[], notes=""
        )

        outcome = crud.preconditions(client, created.id)

        assert outcome._replace(stale_error=None) == (
            HTTPStatus.OK,
            HTTPStatus.PRECONDITION_FAILED,
            None,
            HTTPStatus.OK,
            HTTPStatus.NOT_MODIFIED,
            HTTPStatus.PRECONDITION_FAILED,
            HTTPStatus.NO_CONTENT,
            HTTPStatus.NOT_FOUND,
        )
        assert outcome.stale_error.code == 412

    def test_missing_is_404(self, crud, client):
        """A bookmark that does not exist is a parsed 404 error body."""
        error = crud.missing(client, NO_SUCH_ID)

        assert (error.code, error.message) == (404, f"There is no item {NO_SUCH_ID}.")

    def test_invalid_is_422(self, crud, client):
        """A bad URL is a parsed 422 error body that names the field."""
        error = crud.invalid(client, "ftp://example.com/")

        assert error.code == 422
        assert "url" in json.dumps(error.to_dict()["errors"])


# -- 2. openapi-core judges live traffic ------------------------------------


@dataclass
class Exchange:
    """One request sent to the example over HTTP, and its response."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes | None
    content_type: str
    expected: int | None
    status: int
    response_headers: dict[str, str]
    data: bytes

    def json(self):
        return json.loads(self.data)


def _exchange(
    base_url: str,
    method: str,
    target: str,
    expected: int | None,
    token: str | None = None,
    *,
    body: bytes | None = None,
    content_type: str = JSON,
    headers: dict[str, str] | None = None,
) -> Exchange:
    sent = {} if token is None else {"Authorization": f"Bearer {token}"}
    sent.update(headers or {})
    if body is not None:
        sent["Content-Type"] = content_type
    conn = http.client.HTTPConnection(urlsplit(base_url).netloc, timeout=10)
    try:
        conn.request(method, target, body=body, headers=sent)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    path, _, query = target.partition("?")
    return Exchange(
        method=method,
        path=path,
        query=dict(parse_qsl(query)),
        headers=sent,
        body=body,
        content_type=content_type if body is not None else "",
        expected=expected,
        status=response.status,
        response_headers={name.lower(): value for name, value in response.getheaders()},
        data=data,
    )


def _body(**fields) -> bytes:
    return json.dumps(fields).encode()


#: Every step of the scripted traffic, in order.
STEPS = [
    "index",
    "health",
    "create",
    "create-minimal",
    "create-malformed-json",
    "create-text-plain",
    "create-vnd-api-json",
    "create-missing-title",
    "create-unknown-field",
    "create-too-large",
    "create-read-only-fields",
    "list",
    "list-filtered",
    "list-per-page-zero",
    "list-bad-tag",
    "list-not-modified",
    "get",
    "get-not-modified",
    "get-weak-not-modified",
    "get-malformed-if-none-match",
    "get-missing",
    "patch",
    "patch-if-match",
    "patch-stale",
    "patch-malformed-if-match",
    "patch-merge-patch-json",
    "patch-invalid",
    "patch-without-body",
    "put-what-get-returned",
    "put",
    "put-stale",
    "put-bare-if-match",
    "put-if-match-any",
    "put-missing",
    "delete-stale",
    "delete",
    "get-deleted",
    "tags",
    "tags-not-modified",
]

#: The steps whose request the server may accept or refuse, as long as the
#: document says the same.
EITHER = frozenset(
    {
        "create-vnd-api-json",
        "create-read-only-fields",
        "patch-merge-patch-json",
        "patch-without-body",
        "put-what-get-returned",
    }
)


def _traffic(base_url: str, limit: int, token: str) -> dict[str, Exchange]:
    """
    Send the scripted requests in order, with the bearer *token*; return
    each exchange by step.
    *limit* is the most bytes of a body the API reads.
    """
    log: dict[str, Exchange] = {}

    def send(step, method, target, expected, **options):
        log[step] = _exchange(base_url, method, target, expected, token, **options)
        return log[step]

    bookmark = {
        "url": "https://example.com/a",
        "title": "A",
        "tags": ["python"],
        "notes": "Notes.",
    }
    send("index", "GET", "/", 200)
    send("health", "GET", "/health", 200)
    created = send("create", "POST", BOOKMARKS, 201, body=_body(**bookmark))
    item = f"{BOOKMARKS}/{created.json()['id']}"
    send(
        "create-minimal",
        "POST",
        BOOKMARKS,
        201,
        body=_body(url=bookmark["url"], title="B"),
    )
    send("create-malformed-json", "POST", BOOKMARKS, 400, body=b'{"url": ')
    send(
        "create-text-plain",
        "POST",
        BOOKMARKS,
        415,
        body=b"A",
        content_type="text/plain",
    )
    # Accepted and documented, or refused with 415: either, as long as the
    # document says the same as the server.
    send(
        "create-vnd-api-json",
        "POST",
        BOOKMARKS,
        None,
        body=_body(**bookmark),
        content_type="application/vnd.api+json",
    )
    send(
        "create-missing-title", "POST", BOOKMARKS, 422, body=_body(url=bookmark["url"])
    )
    send(
        "create-unknown-field",
        "POST",
        BOOKMARKS,
        422,
        body=_body(**bookmark, colour="red"),
    )
    send(
        "create-too-large",
        "POST",
        BOOKMARKS,
        413,
        body=_body(**{**bookmark, "notes": "x" * limit}),
    )
    send(
        "create-read-only-fields",
        "POST",
        BOOKMARKS,
        None,
        body=json.dumps(created.json()).encode(),
    )
    listed = send("list", "GET", f"{BOOKMARKS}?{urlencode({'per_page': 1})}", 200)
    send(
        "list-filtered",
        "GET",
        f"{BOOKMARKS}?{urlencode({'tag': 'python', 'q': 'A'})}",
        200,
    )
    send("list-per-page-zero", "GET", f"{BOOKMARKS}?per_page=0", 422)
    send("list-bad-tag", "GET", f"{BOOKMARKS}?{urlencode({'tag': 'no spaces'})}", 422)
    send(
        "list-not-modified",
        "GET",
        f"{BOOKMARKS}?per_page=1",
        304,
        headers={"If-None-Match": listed.response_headers.get("etag", "")},
    )
    first = send("get", "GET", item, 200)
    first_tag = first.response_headers.get("etag", "")
    send("get-not-modified", "GET", item, 304, headers={"If-None-Match": first_tag})
    send(
        "get-weak-not-modified",
        "GET",
        item,
        304,
        headers={"If-None-Match": f"W/{first_tag}"},
    )
    send(
        "get-malformed-if-none-match",
        "GET",
        item,
        400,
        headers={"If-None-Match": "no-quotes"},
    )
    send("get-missing", "GET", f"{BOOKMARKS}/{NO_SUCH_ID}", 404)
    patched = send("patch", "PATCH", item, 200, body=_body(title="Renamed"))
    current = patched.response_headers.get("etag", "")
    patched = send(
        "patch-if-match",
        "PATCH",
        item,
        200,
        body=_body(notes="Checked."),
        headers={"If-Match": current},
    )
    send(
        "patch-stale",
        "PATCH",
        item,
        412,
        body=_body(notes="Lost."),
        headers={"If-Match": first_tag},
    )
    send(
        "patch-malformed-if-match",
        "PATCH",
        item,
        400,
        body=_body(notes="Lost."),
        headers={"If-Match": "no-quotes"},
    )
    send(
        "patch-merge-patch-json",
        "PATCH",
        item,
        None,
        body=_body(title="Merged"),
        content_type="application/merge-patch+json",
    )
    send("patch-invalid", "PATCH", item, 422, body=_body(url="ftp://example.com/"))
    send("patch-without-body", "PATCH", item, None)
    got = _exchange(base_url, "GET", item, 200)
    send("put-what-get-returned", "PUT", item, None, body=got.data)
    put = send("put", "PUT", item, 200, body=_body(**bookmark))
    current = put.response_headers.get("etag", "")
    send(
        "put-stale",
        "PUT",
        item,
        412,
        body=_body(**bookmark),
        headers={"If-Match": first_tag},
    )
    # A tag without its quotes, as some clients send it: valid, and stale.
    send(
        "put-bare-if-match",
        "PUT",
        item,
        412,
        body=_body(**bookmark),
        headers={"If-Match": "abc123"},
    )
    put = send(
        "put-if-match-any",
        "PUT",
        item,
        200,
        body=_body(**bookmark),
        headers={"If-Match": "*"},
    )
    current = put.response_headers.get("etag", "")
    send("put-missing", "PUT", f"{BOOKMARKS}/{NO_SUCH_ID}", 404, body=_body(**bookmark))
    send("delete-stale", "DELETE", item, 412, headers={"If-Match": first_tag})
    send("delete", "DELETE", item, 204, headers={"If-Match": current})
    send("get-deleted", "GET", item, 404)
    tags = send("tags", "GET", "/reports/v1/tags", 200)
    send(
        "tags-not-modified",
        "GET",
        "/reports/v1/tags",
        304,
        headers={"If-None-Match": tags.response_headers.get("etag", "")},
    )
    return log


@dataclass
class Traffic:
    """The scripted exchanges, the served document, and its validator."""

    base_url: str
    exchanges: dict[str, Exchange]
    document: dict
    openapi: OpenAPICore

    def operation(self, exchange: Exchange) -> dict:
        """The document's operation that *exchange* called."""
        for template, operations in self.document["paths"].items():
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, exchange.path):
                return operations[exchange.method.lower()]
        raise AssertionError(exchange.path)  # pragma: no cover -- only on a bug


@pytest.fixture(scope="class", name="traffic")
def _traffic_fixture(tmp_path_factory):
    with _serving(tmp_path_factory.mktemp("traffic")) as (app, base_url):
        served = _exchange(base_url, "GET", "/openapi.json", 200)
        exchanges = _traffic(base_url, body_limit(app), _token(app))
    document = served.json()
    return Traffic(base_url, exchanges, document, OpenAPICore.from_dict(document))


def _messages(errors) -> list[str]:
    """openapi-core's errors with the schema errors behind them."""
    messages = []
    for error in errors:
        causes = getattr(error.__cause__, "schema_errors", ()) or [error.__cause__]
        messages.append(f"{error}: {'; '.join(str(c) for c in causes if c)}")
    return messages


def _request_errors(traffic: Traffic, exchange: Exchange) -> list[str]:
    request = MockRequest(
        traffic.base_url,
        exchange.method,
        exchange.path,
        args=exchange.query,
        headers=exchange.headers,
        data=exchange.body,
        content_type=exchange.content_type,
    )
    return _messages(traffic.openapi.iter_request_errors(request))


def _response_errors(traffic: Traffic, exchange: Exchange) -> list[str]:
    request = MockRequest(
        traffic.base_url,
        exchange.method,
        exchange.path,
        args=exchange.query,
        headers=exchange.headers,
        data=exchange.body,
        content_type=exchange.content_type,
    )
    response = MockResponse(
        exchange.data,
        exchange.status,
        headers=exchange.response_headers,
        content_type=exchange.response_headers.get("content-type", ""),
    )
    return _messages(traffic.openapi.iter_response_errors(request, response))


def _not_required(document: dict, schema: dict, value, where: str) -> list[str]:
    """The keys of *value*, an object the server sent, its schema leaves optional."""
    schema = _resolve(document, schema)
    if isinstance(value, list) and "items" in schema:
        return [
            missing
            for number, item in enumerate(value)
            for missing in _not_required(
                document, schema["items"], item, f"{where}[{number}]"
            )
        ]
    if not isinstance(value, dict):
        return []
    required = set(schema.get("required", ()))
    properties = schema.get("properties", {})
    found = [
        f"{where}.{key}" for key in sorted(set(value) - required) if key in properties
    ]
    for key, item in value.items():
        if key in properties:
            found += _not_required(document, properties[key], item, f"{where}.{key}")
    return found


class TestOpenAPICore:
    def test_script_runs_every_step(self, traffic):
        """The script sends the steps the parametrized tests look at."""
        assert list(traffic.exchanges) == STEPS

    def test_every_status_is_exercised(self, traffic):
        """The traffic has successes and each error status the API gives."""
        statuses = {exchange.status for exchange in traffic.exchanges.values()}

        assert statuses >= {200, 201, 204, 304, 400, 404, 412, 413, 415, 422}

    def test_either_steps_are_the_unscripted_ones(self, traffic):
        """The steps with no scripted status are exactly those of EITHER."""
        unscripted = {
            step
            for step, exchange in traffic.exchanges.items()
            if exchange.expected is None
        }

        assert unscripted == EITHER

    @pytest.mark.parametrize("step", [s for s in STEPS if s not in EITHER])
    def test_server_answers_as_scripted(self, traffic, step):
        """Each scripted request gets the status the API promises."""
        exchange = traffic.exchanges[step]

        assert exchange.status == exchange.expected, exchange.data

    @pytest.mark.parametrize("step", STEPS)
    def test_document_and_server_agree_on_the_request(self, traffic, step):
        """
        A request the server refuses as malformed (400, 413, 415, 422) is
        invalid per the document, and one the document finds invalid is
        refused.
        """
        exchange = traffic.exchanges[step]

        errors = _request_errors(traffic, exchange)

        assert (exchange.status in REFUSALS) == bool(errors), (
            exchange.status,
            exchange.data,
            errors,
        )

    @pytest.mark.parametrize("step", STEPS)
    def test_response_matches_the_document(self, traffic, step):
        """Each response is documented: status, headers, media type, body."""
        exchange = traffic.exchanges[step]

        assert _response_errors(traffic, exchange) == []

    def test_created_location_is_the_item(self, traffic):
        """The 201's Location is the URL of the created bookmark."""
        created = traffic.exchanges["create"]

        location = created.response_headers.get("location", "")

        assert urlsplit(location).path == f"{BOOKMARKS}/{created.json()['id']}"

    def test_always_sent_fields_are_required(self, traffic):
        """
        Response schemas list as required every field the server sent in a
        success: generated types need no "unset" case for them.
        """
        optional = []
        for step, exchange in traffic.exchanges.items():
            if exchange.status < 300 and exchange.data:
                response = traffic.operation(exchange)["responses"][
                    str(exchange.status)
                ]
                schema = _resolve(traffic.document, response)["content"][JSON]["schema"]
                optional += _not_required(
                    traffic.document, schema, exchange.json(), step
                )

        assert optional == []

    def test_unsupported_media_type_names_the_headers_sent(self, traffic):
        """
        A 415 documents the Accept-Post or Accept-Patch header the operation
        really sends, and no other.
        """
        accept = {"accept-post", "accept-patch"}
        refused = [
            (step, exchange)
            for step, exchange in traffic.exchanges.items()
            if exchange.status == 415
        ]
        documented = {
            step: {
                name.lower()
                for name in _resolve(
                    traffic.document, traffic.operation(exchange)["responses"]["415"]
                ).get("headers", {})
            }
            & accept
            for step, exchange in refused
        }
        sent = {
            step: accept & set(exchange.response_headers) for step, exchange in refused
        }

        assert refused
        assert documented == sent

    def test_conditional_headers_are_parameters(self, traffic):
        """
        Operations that answer 412 declare If-Match, those that answer 304
        declare If-None-Match, as header parameters whose pattern takes the
        entity tags the server sends, strong and weak.
        """
        tags = {
            exchange.response_headers["etag"]
            for exchange in traffic.exchanges.values()
            if "etag" in exchange.response_headers
        }
        tags |= {f"W/{tag}" for tag in tags if not tag.startswith("W/")}
        conditional = {
            (name, header): {
                parameter["name"].lower(): parameter
                for parameter in (
                    _resolve(traffic.document, p)
                    for p in operation.get("parameters", [])
                )
                if parameter["in"] == "header"
            }.get(header)
            for name, _, operation in _operations(traffic.document)
            for status, header in (("412", "if-match"), ("304", "if-none-match"))
            if status in operation["responses"]
        }
        undeclared = sorted(
            key for key, parameter in conditional.items() if not parameter
        )
        refused = sorted(
            (key, tag)
            for key, parameter in conditional.items()
            if parameter
            for tag in tags
            if not re.search(parameter["schema"].get("pattern", ""), tag)
        )

        assert len(tags) > 1
        assert undeclared == []
        assert refused == []


# -- linters' rules, checked offline -----------------------------------------


def _operations(document: dict):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield f"{method} {path}", method, operation


def _refs(node) -> set[str]:
    """Every ``$ref`` in *node*, at any depth."""
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def _schemas_of(document: dict, schema: dict):
    """*schema* and every schema inside it (the example's are not recursive)."""
    schema = _resolve(document, schema)
    yield schema
    children = [
        *schema.get("properties", {}).values(),
        *[
            schema[key]
            for key in ("items", "additionalProperties")
            if isinstance(schema.get(key), dict)
        ],
        *[s for key in ("allOf", "anyOf", "oneOf") for s in schema.get(key, [])],
    ]
    for child in children:
        yield from _schemas_of(document, child)


def _request_schemas(document: dict, operation: dict):
    body = _resolve(document, operation.get("requestBody", {}))
    for media in body.get("content", {}).values():
        yield from _schemas_of(document, media["schema"])


class TestLint:
    def test_valid_openapi(self, document):
        """openapi-spec-validator finds the document valid."""
        validate(document)

    def test_servers_absent_or_not_empty(self, document):
        """Redocly's no-empty-servers: no ``servers: []``, no empty URL."""
        servers = document.get("servers")

        assert servers is None or (servers and all(s.get("url") for s in servers))

    def test_used_tags_are_declared(self, document):
        """
        Spectral's operation-tag-defined: every tag an operation uses is
        declared, with a description.
        """
        declared = {
            tag["name"]: tag.get("description") for tag in document.get("tags", [])
        }
        used = {
            tag
            for _, _, operation in _operations(document)
            for tag in operation.get("tags", [])
        }

        assert used - set(declared) == set()
        assert [name for name in used if not declared[name]] == []

    def test_operation_ids_unique_and_url_safe(self, document):
        """Spectral's operationId rules: present, unique, URL-safe."""
        ids = [
            operation.get("operationId") for _, _, operation in _operations(document)
        ]

        assert len(set(ids)) == len(ids)
        assert all(re.fullmatch(r"[A-Za-z0-9._~-]+", i or "") for i in ids), ids

    def test_every_component_is_used(self, document):
        """Spectral's oas3-unused-component: no component is left unreferenced."""
        used = _refs(
            {key: value for key, value in document.items() if key != "components"}
        )
        # A component referenced from a used component is used.
        while True:
            more = used | _refs([_resolve(document, {"$ref": ref}) for ref in used])
            if more == used:
                break
            used = more
        components = {
            f"#/components/{kind}/{name}"
            for kind, entries in document.get("components", {}).items()
            if kind != "securitySchemes"
            for name in entries
        }

        assert components - used == set()

    def test_operation_summaries_present_and_distinct(self, document):
        """
        Redocly's operation-summary, and one more: no two operations share a
        summary, so a generated client's functions say which does what.
        """
        summaries = [
            operation.get("summary", "") for _, _, operation in _operations(document)
        ]

        assert all(summaries), summaries
        assert len(set(summaries)) == len(summaries), summaries

    def test_every_operation_has_a_success(self, document):
        """Spectral's operation-success-response: a 2xx or 3xx response."""
        without = [
            name
            for name, _, operation in _operations(document)
            if not any(status[0] in "23" for status in operation["responses"])
        ]

        assert without == []

    def test_request_bodies_have_no_read_only_fields(self, document):
        """
        A request body lists no field the server refuses: no ``readOnly``
        property at any depth.
        """
        read_only = [
            (name, key)
            for name, _, operation in _operations(document)
            for schema in _request_schemas(document, operation)
            for key, prop in schema.get("properties", {}).items()
            if _resolve(document, prop).get("readOnly")
        ]

        assert read_only == []

    def test_body_variants_are_named_components(self, document):
        """
        The bookmark a client sends whole (POST, PUT), the one it sends in
        part (PATCH) and the one it gets back are three components, each
        named after the schema: client code names them.
        """
        paths = document["paths"]

        def ref(body):
            return body["content"][JSON]["schema"].get("$ref", "")

        bodies = {
            "post": ref(paths[BOOKMARKS]["post"]["requestBody"]),
            "put": ref(paths[ITEM]["put"]["requestBody"]),
            "patch": ref(paths[ITEM]["patch"]["requestBody"]),
            "response": ref(_resolve(document, paths[ITEM]["get"]["responses"]["200"])),
        }

        assert bodies["post"] == bodies["put"]
        assert len({bodies["put"], bodies["patch"], bodies["response"]}) == 3
        assert all(
            name.startswith("#/components/schemas/Bookmark") for name in bodies.values()
        ), bodies

    def test_partial_bodies_have_no_default_or_required(self, document):
        """
        A PATCH body has no ``default`` and no ``required`` at any depth: a
        generated client sends only what its user set.
        """
        found = [
            (name, key)
            for name, method, operation in _operations(document)
            if method == "patch"
            for schema in _request_schemas(document, operation)
            for key in ("default", "required")
            if key in schema
        ] + [
            (name, f"{key}.default")
            for name, method, operation in _operations(document)
            if method == "patch"
            for schema in _request_schemas(document, operation)
            for key, prop in schema.get("properties", {}).items()
            if "default" in prop
        ]

        assert found == []


# -- 3. the same bytes everywhere --------------------------------------------


def _printed_document(python: str, tmp_path: Path) -> bytes:
    """What ``flask --app example_api openapi print`` prints under *python*."""
    result = subprocess.run(  # noqa: S603 -- a Python of this project's
        [python, "-m", "flask", "--app", "example_api", "openapi", "print"],
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'print.sqlite3'}"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@pytest.fixture(name="other_python")
def _other_python() -> str:  # pragma: needs lowest_python
    """
    The Python of the other dependency set: the lowest one's when this is the
    newest, ``.venv``'s when this is the lowest.
    """
    here = Path(sys.prefix).resolve()
    candidates = [
        os.environ.get(LOWEST_PYTHON, ""),
        str(ROOT / ".venv-lowest" / "bin" / "python"),
        str(ROOT / ".venv" / "bin" / "python"),
    ]
    others = [
        python
        for python in candidates
        if python
        and Path(python).exists()
        and Path(python).parent.parent.resolve() != here
    ]
    _need(
        None
        if others
        else f"No other environment: set {LOWEST_PYTHON} to a Python, or make "
        ".venv-lowest with python3 dev.py test.",
        ci_fails=False,
    )
    return others[0]


def _as_python_313_compiles(doc: str) -> str:
    """A docstring as Python 3.13 stores it: indentation after line one removed."""
    first, newline, rest = doc.partition("\n")
    return first + newline + textwrap.dedent(rest)


@pytest.mark.slow
class TestStableDocument:
    def test_same_bytes_under_the_other_environment(  # pragma: needs lowest_python
        self, other_python, tmp_path
    ):
        """
        The lowest and the newest dependency sets, each on its Python, print
        the same document, byte for byte.
        """
        here = _printed_document(sys.executable, tmp_path)
        there = _printed_document(other_python, tmp_path)

        assert here == there

    def test_printed_is_served(self, tmp_path, document_bytes):
        """``flask openapi print`` prints the document the app serves."""
        assert _printed_document(sys.executable, tmp_path) == document_bytes

    def test_no_text_from_status_phrases(self, monkeypatch, tmp_path, document_bytes):
        """
        No name or text comes from ``HTTPStatus.phrase``, which Python
        versions change (422 is "Unprocessable Content" from 3.13).
        """
        for status in HTTPStatus:
            monkeypatch.setattr(status, "phrase", f"{status.phrase} (renamed)")

        assert _document_bytes(tmp_path) == document_bytes

    def test_docstring_indentation_is_not_in_the_document(
        self, monkeypatch, tmp_path, document_bytes
    ):
        """
        Docstrings read the same whether they keep their indentation (up to
        3.12) or not (3.13 removes it when it compiles them).
        """
        app = _app(tmp_path)
        documented = {
            target
            for view in app.view_functions.values()
            for cls in getattr(view, "view_class", object).__mro__
            if cls.__module__.partition(".")[0] in {"example_api", "flask_servicecbv"}
            for owner in (cls, *vars(cls).values())
            for target in (owner, inspect.unwrap(owner))
            if (isinstance(target, type) or inspect.isfunction(target))
            and isinstance(target.__doc__, str)
        }
        for target in documented:
            monkeypatch.setattr(
                target, "__doc__", _as_python_313_compiles(target.__doc__)
            )
        try:
            assert spec_json(app) == document_bytes
        finally:
            svc.close_registry(app)
