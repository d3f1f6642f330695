"""
example_api end to end: through the test client, under gunicorn over HTTP,
and under schemathesis; on SQLite always, on PostgreSQL when
SERVICECBV_TEST_POSTGRESQL_URL names a database.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import NamedTuple
from unittest.mock import Mock

import pytest
from flask import abort, request
from openapi_spec_validator import validate
from servers import schemathesis
from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import PreconditionFailed, SecurityError

import flask_servicecbv as svc
from example_api import check_host, create_app, db
from example_api.auth import ADMIN, READ, WRITE, User, issue_token
from example_api.db import UTCDateTime, bookmark, bookmark_tag, create_schema, metadata
from example_api.policy import TagPolicy
from example_api.repository import BookmarkRepository
from example_api.schemas import MAX_TAG_ENTRIES, MAX_TAGS, URL_PATTERN
from flask_servicecbv.auth import hash_token
from flask_servicecbv.exceptions import ConfigurationError
from flask_servicecbv.rest import InMemoryRepository
from flask_servicecbv.rest.openapi import build_spec
from flask_servicecbv.sqlalchemy import make_engine

ROOT = Path(__file__).resolve().parent.parent

#: The environment variable that names a PostgreSQL database the tests may
#: wipe: postgresql+psycopg://user:password@127.0.0.1:5432/dbname
POSTGRESQL_URL = "SERVICECBV_TEST_POSTGRESQL_URL"

BOOKMARK = {"url": "https://flask.palletsprojects.com/", "title": "Flask"}


# -- which databases -----------------------------------------------------------


def _can_connect(url: str) -> str | None:
    """Return why *url* cannot be reached, or None when it can."""
    # A remote host that drops packets would otherwise hang for minutes.
    timeout = {"connect_timeout": 5} if url.startswith("postgresql") else {}
    engine = create_engine(url, connect_args=timeout)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as e:
        return str(e.orig).strip() or type(e.orig).__name__
    finally:
        engine.dispose()
    return None


def postgresql_url(environ, can_connect=_can_connect) -> str:
    """
    Return the test database's URL.

    Without one, the test is skipped; in CI (``CI`` set), it fails, as it does
    when the database cannot be reached.
    """
    url = environ.get(POSTGRESQL_URL)
    in_ci = bool(environ.get("CI"))
    if not url:
        if in_ci:
            pytest.fail(f"CI must set {POSTGRESQL_URL} to a PostgreSQL database.")
        pytest.skip(f"PostgreSQL tests skipped: {POSTGRESQL_URL} is not set.")
    problem = can_connect(url)
    if problem is not None:
        message = f"PostgreSQL at {POSTGRESQL_URL} cannot be reached: {problem}"
        if in_ci:
            pytest.fail(message)
        pytest.skip(message)
    return url


def _reset(url: str) -> None:
    """Drop the example's tables: every test starts from an empty database."""
    engine = create_engine(url)
    try:
        metadata.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture(name="database_url", params=["sqlite", "postgresql"])
def _database_url(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bookmarks.sqlite3'}"
    else:
        url = postgresql_url(os.environ)
    _reset(url)
    return url


# What flask_servicecbv.health names the threads that run its pings.
_PING_THREAD = "flask_servicecbv ping "


@pytest.fixture(name="api")
def _api(database_url):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    yield app
    # /health answers once its ping has an outcome, before the ping's own
    # app context has given its connection back: let it, or the connection
    # would go back to a pool already disposed of, and never be closed.
    pings = [t for t in threading.enumerate() if t.name.startswith(_PING_THREAD)]
    [ping.join(timeout=10) for ping in pings]
    # Closes both engines' pools: no connection outlives the test.
    svc.close_registry(app)


def _token(app_or_url, user="alice", scopes=(READ, WRITE)) -> str:
    """Issue a token for *user* (created if new), as `flask tokens create` does."""
    if isinstance(app_or_url, str):
        engine = create_engine(app_or_url)
        create_schema(engine)
    else:
        with app_or_url.app_context():
            engine = svc.get(Engine)
    try:
        with engine.begin() as conn:
            return issue_token(conn, user, scopes)
    finally:
        if isinstance(app_or_url, str):
            engine.dispose()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _client(app, user="alice", scopes=(READ, WRITE)):
    """A test client that sends a bearer token of *user* with every request."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {_token(app, user, scopes)}"
    return client


def _user(app, name="alice") -> User:
    """The User that a token of *name* authenticates as."""
    with app.app_context():
        found = svc.get(Connection).execute(
            text("SELECT id FROM user_account WHERE name = :name"), {"name": name}
        )
        return User(found.scalar_one(), name, frozenset({READ, WRITE}))


@pytest.fixture(name="api_client")
def _api_client(api):
    return _client(api)


@pytest.fixture(name="alice")
def _alice(api, api_client):
    """Alice, the user of api_client, for code that runs outside a request."""
    del api_client  # Issued her token, and so made her.
    return _user(api)


def _rows(app) -> list[dict]:
    """Every bookmark in the database, read on a connection of its own."""
    with app.app_context():
        engine = svc.get(Engine)
        with engine.connect() as conn:
            rows = conn.execute(select(bookmark).order_by(bookmark.c.id))
            return [dict(row._mapping) for row in rows]


def _create(client, **fields):
    resp = client.post("/api/v1/bookmarks", json={**BOOKMARK, **fields})
    assert resp.status_code == 201, resp.json
    return resp.json


class TestPostgresqlUrl:
    def test_skipped_without_url(self):
        """
        Without the variable, the PostgreSQL tests are skipped, saying why.
        """
        with pytest.raises(pytest.skip.Exception, match=f"{POSTGRESQL_URL} is not"):
            postgresql_url({})

    def test_fails_in_ci_without_url(self):
        """
        In CI, a missing URL fails the test instead.
        """
        with pytest.raises(pytest.fail.Exception, match="CI must set"):
            postgresql_url({"CI": "true"})

    @pytest.mark.parametrize(
        ("ci", "outcome"),
        [("", pytest.skip.Exception), ("true", pytest.fail.Exception)],
        ids=["skip", "ci-fails"],
    )
    def test_unreachable(self, ci, outcome):
        """
        A database that cannot be reached is skipped, or fails in CI.
        """
        environ = {POSTGRESQL_URL: "postgresql+psycopg://x@127.0.0.1:1/x", "CI": ci}

        with pytest.raises(outcome, match="cannot be reached: refused"):
            postgresql_url(environ, can_connect=lambda _: "refused")

    def test_reachable(self):
        """
        A database that answers is used.
        """
        url = "postgresql+psycopg://x@127.0.0.1/x"

        assert postgresql_url({POSTGRESQL_URL: url}, can_connect=lambda _: None) == url

    def test_can_connect_reports_the_error(self):
        """
        The reachability check gives the driver's message.
        """
        # Port 1 on loopback: nothing listens, the connection is refused.
        problem = _can_connect("postgresql+psycopg://x:x@127.0.0.1:1/x")

        assert "refused" in (problem or "")

    def test_can_connect(self, tmp_path):
        """
        A database that answers is reachable.
        """
        assert _can_connect(f"sqlite:///{tmp_path / 'x.sqlite3'}") is None


# -- the API through the test client --------------------------------------------


class TestBookmarks:
    def test_create_then_read(self, api_client):
        """
        A created bookmark is answered with 201, its Location, timezone-aware
        UTC times and its tags folded and deduplicated, and is readable at once.
        """
        resp = api_client.post(
            "/api/v1/bookmarks",
            json={**BOOKMARK, "tags": ["Web", "python", "web"], "notes": "Docs"},
        )

        assert resp.status_code == 201
        item = resp.json
        assert resp.headers["Location"] == f"/api/v1/bookmarks/{item['id']}"
        assert item["tags"] == ["python", "web"]
        assert item["created_at"].endswith("+00:00")
        assert item["created_at"] == item["updated_at"]
        assert api_client.get(resp.headers["Location"]).json == item

    def test_list_pages(self, api_client):
        """
        The list is paged, with its metadata and Link header.
        """
        created = [_create(api_client, title=f"B{i}") for i in range(3)]

        resp = api_client.get("/api/v1/bookmarks?per_page=2&page=2")

        assert resp.json["items"] == created[2:]
        assert resp.json["meta"] == {"page": 2, "per_page": 2, "total": 3, "pages": 2}
        assert 'rel="prev"' in resp.headers["Link"]

    def test_sort(self, api_client):
        """
        ?sort= orders by the allowed names, - before a name descending, the
        id breaking ties; another name is a 422 naming the allowed ones.
        """
        b, a, c = (_create(api_client, title=t) for t in ("B", "A", "C"))
        again = _create(api_client, title="A")

        def titles(sort):
            resp = api_client.get("/api/v1/bookmarks", query_string={"sort": sort})
            return [item["id"] for item in resp.json["items"]]

        refused = api_client.get("/api/v1/bookmarks?sort=url")

        assert titles("title") == [a["id"], again["id"], b["id"], c["id"]]
        assert titles("-title,-created_at") == [c["id"], b["id"], again["id"], a["id"]]
        assert titles("-created_at") == [again["id"], c["id"], a["id"], b["id"]]
        assert refused.status_code == 422
        assert "title" in refused.json["errors"]["query"]["sort"][0]

    def test_pages_by_cursor(self, api_client):
        """
        /bookmarks/by-cursor pages by cursor, in the asked order, with the
        filters: a bookmark added behind the cursor meanwhile is not seen,
        one added ahead is, and none twice.
        """
        for title in ("d", "b", "a", "c"):
            _create(api_client, title=title, tags=["x"])
        _create(api_client, title="aa", tags=["other"])
        url = "/api/v1/bookmarks/by-cursor"
        query = {"per_page": 2, "sort": "title", "tag": "x"}

        first = api_client.get(url, query_string=query)
        _create(api_client, title="ab", tags=["x"])
        _create(api_client, title="e", tags=["x"])
        second = api_client.get(
            url, query_string={**query, "after": first.json["meta"]["next"]}
        )
        third = api_client.get(
            url, query_string={**query, "after": second.json["meta"]["next"]}
        )

        def titles(resp):
            return [item["title"] for item in resp.json["items"]]

        assert (titles(first), titles(second), titles(third)) == (
            ["a", "b"],
            ["c", "d"],
            ["e"],
        )
        assert 'rel="next"' in first.headers["Link"]
        assert third.json["meta"] == {"next": None, "per_page": 2}

    def test_foreign_cursor_refused(self, api_client):
        """
        A cursor made for another order is a 422.
        """
        _create(api_client)
        _create(api_client)
        first = api_client.get("/api/v1/bookmarks/by-cursor?per_page=1&sort=title")

        resp = api_client.get(
            "/api/v1/bookmarks/by-cursor",
            query_string={"after": first.json["meta"]["next"]},
        )

        assert resp.status_code == 422
        assert list(resp.json["errors"]["query"]) == ["after"]

    def test_filter_by_tag(self, api_client):
        """
        ?tag= selects the bookmarks that carry the tag, in any case.
        """
        flask = _create(api_client, tags=["flask"])
        _create(api_client, tags=["django"])

        resp = api_client.get("/api/v1/bookmarks?tag=FLASK")

        assert resp.json["items"] == [flask]

    @pytest.mark.parametrize("query", ["DOCS", "100%"])
    def test_search(self, api_client, query):
        """
        ?q= searches titles and notes, in any case; % is a character, not a
        wildcard.
        """
        found = _create(api_client, title="The docs", notes="100% done")
        _create(api_client, title="Other", notes="100 done")

        resp = api_client.get("/api/v1/bookmarks", query_string={"q": query})

        assert resp.json["items"] == [found]

    def test_put_replaces(self, api_client):
        """
        PUT replaces every writable field; those left out are emptied.
        """
        item = _create(api_client, tags=["a"], notes="old")

        resp = api_client.put(
            f"/api/v1/bookmarks/{item['id']}",
            json={"url": "http://example.org", "title": "New"},
        )

        assert resp.status_code == 200
        assert (resp.json["url"], resp.json["tags"], resp.json["notes"]) == (
            "http://example.org",
            [],
            "",
        )
        assert resp.json["updated_at"] > item["updated_at"]

    def test_patch_changes_what_it_sends(self, api_client):
        """
        PATCH changes only the fields it sends.
        """
        item = _create(api_client, tags=["a"], notes="old")

        resp = api_client.patch(f"/api/v1/bookmarks/{item['id']}", json={"tags": ["B"]})

        assert resp.json == {
            **item,
            "tags": ["b"],
            "updated_at": resp.json["updated_at"],
        }

    def test_patch_keeps_tags(self, api_client):
        """
        PATCH without tags keeps them, and answers what GET then answers,
        ETag included.
        """
        item = _create(api_client, tags=["a", "b"])
        url = f"/api/v1/bookmarks/{item['id']}"

        patched = api_client.patch(url, json={"title": "Changed"})
        read = api_client.get(url)

        assert patched.json["tags"] == ["a", "b"]
        assert patched.json == read.json
        assert patched.headers["ETag"] == read.headers["ETag"]

    def test_delete(self, api, api_client):
        """
        DELETE answers 204; the bookmark and its tags are gone, and its id is
        not given to the next one.
        """
        item = _create(api_client, tags=["a"])

        assert api_client.delete(f"/api/v1/bookmarks/{item['id']}").status_code == 204
        assert api_client.get(f"/api/v1/bookmarks/{item['id']}").status_code == 404
        assert _create(api_client)["id"] > item["id"]
        with api.app_context(), svc.get(Engine).connect() as conn:
            tags = conn.execute(select(func.count()).select_from(bookmark_tag))
            assert tags.scalar_one() == 0

    @pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
    @pytest.mark.parametrize("bookmark_id", ["42", "9223372036854775808", "0"])
    def test_missing(self, api_client, method, bookmark_id):
        """
        An unknown or out of range id is a JSON 404.
        """
        resp = api_client.open(
            f"/api/v1/bookmarks/{bookmark_id}", method=method, json=BOOKMARK
        )

        assert resp.status_code == 404
        assert resp.json["code"] == 404


class TestValidation:
    @pytest.mark.parametrize(
        "url",
        [
            "ftp://example.org/",
            "http://[0]",
            "http://user@example.org/",
            "https://example.org/\n",
            "https://exa mple.org/",
            "https://example.org:65536/",
            "https://-example.org/",
            "example.org",
        ],
    )
    def test_bad_url(self, api, api_client, url):
        """
        Only http and https URLs with a host name or IPv4 address are taken;
        nothing is stored.
        """
        resp = api_client.post("/api/v1/bookmarks", json={**BOOKMARK, "url": url})

        assert resp.status_code == 422
        assert list(resp.json["errors"]["json"]) == ["url"]
        assert _rows(api) == []

    @pytest.mark.parametrize(
        "url",
        ["http://localhost", "https://127.0.0.1:65535/a?b=c#d", "https://x.org/~a/[b]"],
    )
    def test_good_url(self, api_client, url):
        """
        Host names, addresses, ports, queries and fragments are taken.
        """
        assert _create(api_client, url=url)["url"] == url

    @pytest.mark.parametrize("field", ["title", "notes"])
    def test_nul_character(self, api, api_client, field):
        """
        A NUL character is answered with 422 (PostgreSQL cannot store it),
        and nothing is stored.
        """
        resp = api_client.post("/api/v1/bookmarks", json={**BOOKMARK, field: "a\x00"})

        assert resp.status_code == 422
        assert resp.json["errors"]["json"][field] == [
            "The NUL character is not allowed."
        ]
        assert _rows(api) == []

    @pytest.mark.parametrize(
        "body",
        [
            b'{"url": "https://a.org", "title": "a\\ud800b"}',
            b'{"url": "https://a.org", "title": "t", "tags": ["\\udfff"]}',
            b'{"url": "https://a.org", "title": "t", "\\ud800": 1}',
        ],
        ids=["value", "in-list", "key"],
    )
    def test_unpaired_surrogate(self, api, api_client, body):
        """
        An unpaired surrogate escape is not text: the body is answered with
        400 (PostgreSQL's driver would fail on it), and nothing is stored.
        """
        resp = api_client.post(
            "/api/v1/bookmarks", data=body, content_type="application/json"
        )

        assert resp.status_code == 400
        assert "unpaired surrogate" in resp.json["message"]
        assert _rows(api) == []

    @pytest.mark.parametrize(
        "title",
        ["\\ud800", "\U0001f600", "\ud83d\ude00"],
        ids=["escaped", "emoji", "pair"],
    )
    def test_text_beyond_the_basic_plane(self, api_client, title):
        """
        Paired surrogate escapes, characters beyond the basic plane and an
        escaped backslash are text like any other.
        """
        raw = json.dumps({**BOOKMARK, "title": title})

        resp = api_client.post(
            "/api/v1/bookmarks", data=raw, content_type="application/json"
        )

        assert resp.status_code == 201
        assert resp.json["title"] == json.loads(raw)["title"]

    def test_search_text_without_nul(self, api_client):
        """
        ?q= with a NUL character is answered with 422.
        """
        resp = api_client.get("/api/v1/bookmarks", query_string={"q": "a\x00"})

        assert resp.status_code == 422

    def test_unknown_field(self, api_client):
        """
        An unknown field is answered with 422, as the document says.
        """
        resp = api_client.post("/api/v1/bookmarks", json={**BOOKMARK, "rank": 1})

        assert resp.json["errors"] == {"json": {"rank": ["Unknown field."]}}

    def test_document_patterns_are_the_validators(self, api):
        """
        Each pattern in the document is the one the validator matches.
        """
        schema = build_spec(api)["components"]["schemas"]["Bookmark"]["properties"]

        assert schema["url"]["pattern"] == f"^(?:{URL_PATTERN})$"
        assert schema["url"]["pattern"].startswith("^(?:https?://")
        assert schema["title"]["pattern"] == r"^(?:[^\x00]*)$"
        assert schema["tags"]["items"]["pattern"] == (
            r"^(?:[A-Za-z0-9][A-Za-z0-9._+#-]*)$"
        )


class TestConditionalRequests:
    def test_item_not_modified(self, api_client):
        """
        GET with the item's ETag in If-None-Match is a 304.
        """
        item = _create(api_client)
        etag = api_client.get(f"/api/v1/bookmarks/{item['id']}").headers["ETag"]

        resp = api_client.get(
            f"/api/v1/bookmarks/{item['id']}", headers={"If-None-Match": etag}
        )

        assert resp.status_code == 304

    def test_list_etag_changes(self, api_client):
        """
        The list's ETag changes when a bookmark is added.
        """
        before = api_client.get("/api/v1/bookmarks").headers["ETag"]
        _create(api_client)

        resp = api_client.get("/api/v1/bookmarks", headers={"If-None-Match": before})

        assert resp.status_code == 200
        assert resp.headers["ETag"] != before

    def test_stale_if_match(self, api, api_client):
        """
        A PATCH with a stale If-Match is a 412 and changes nothing.
        """
        item = _create(api_client)
        url = f"/api/v1/bookmarks/{item['id']}"
        etag = api_client.get(url).headers["ETag"]
        api_client.patch(url, json={"title": "Changed"}, headers={"If-Match": etag})

        resp = api_client.patch(url, json={"title": "Lost"}, headers={"If-Match": etag})

        assert resp.status_code == 412
        assert _rows(api)[0]["title"] == "Changed"


# -- who calls: tokens, scopes, owners, the admin blueprint ----------------------


def _cli(app, *args):
    """Run `flask tokens ...` on *app*; return the result."""
    return app.test_cli_runner().invoke(args=["tokens", *args])


def _all_rows(app) -> list[tuple]:
    """Every row of every table in the database, as tuples of text."""
    with app.app_context():
        engine = svc.get(Engine)
    found = MetaData()
    found.reflect(engine)
    with engine.connect() as conn:
        return [
            tuple(str(value) for value in row)
            for table in found.sorted_tables
            for row in conn.execute(select(table))
        ]


API_ROUTES = [
    ("GET", "/api/v1/bookmarks"),
    ("POST", "/api/v1/bookmarks"),
    ("GET", "/api/v1/bookmarks/by-cursor"),
    ("GET", "/api/v1/bookmarks/1"),
    ("PUT", "/api/v1/bookmarks/1"),
    ("PATCH", "/api/v1/bookmarks/1"),
    ("DELETE", "/api/v1/bookmarks/1"),
    ("GET", "/reports/v1/tags"),
]


class TestTokensCommand:
    def test_create_prints_the_token_last(self, api):
        """
        `tokens create USER` makes the user and a token that reads and
        writes, printed alone on the last line of stdout; it authenticates.
        """
        result = _cli(api, "create", "carol")

        token = result.output.splitlines()[-1]
        assert result.exit_code == 0
        assert token.startswith("bm_")
        assert len(token) > 40
        resp = api.test_client().post(
            "/api/v1/bookmarks", json=BOOKMARK, headers=_bearer(token)
        )
        assert resp.status_code == 201

    def test_scopes(self, api):
        """
        --scope, repeated, gives the token those scopes and no others; an
        unknown scope is refused.
        """
        token = _cli(api, "create", "carol", "--scope", "bookmarks:read")
        token = token.output.splitlines()[-1]
        unknown = _cli(api, "create", "carol", "--scope", "everything")
        client = api.test_client()

        read = client.get("/api/v1/bookmarks", headers=_bearer(token))
        write = client.post("/api/v1/bookmarks", json=BOOKMARK, headers=_bearer(token))

        assert (read.status_code, write.status_code) == (200, 403)
        assert unknown.exit_code == 2
        assert "everything" in unknown.output

    def test_existing_user_gets_another_token(self, api):
        """
        A second token of a user is the same user's: both see its bookmarks.
        """
        first = _cli(api, "create", "carol").output.splitlines()[-1]
        second = _cli(api, "create", "carol").output.splitlines()[-1]
        client = api.test_client()
        created = client.post(
            "/api/v1/bookmarks", json=BOOKMARK, headers=_bearer(first)
        )

        resp = client.get(created.headers["Location"], headers=_bearer(second))

        assert first != second
        assert resp.json == created.json

    @pytest.mark.parametrize("name", ["", "x" * 101, "a\x00b"])
    def test_bad_user_name(self, api, name):
        """A user name that is empty, too long or holds NUL is refused."""
        result = _cli(api, "create", name)

        assert result.exit_code == 2
        assert "Give a user name of 1 to 100 characters" in result.output

    def test_revoke(self, api):
        """
        `tokens revoke TOKEN` makes it a 401 with error="invalid_token"; a
        token revoked twice, or never issued, is an error.
        """
        token = _cli(api, "create", "carol").output.splitlines()[-1]

        revoked = _cli(api, "revoke", token)
        again = _cli(api, "revoke", token)
        resp = api.test_client().get("/api/v1/bookmarks", headers=_bearer(token))

        assert (revoked.exit_code, revoked.output) == (0, "Revoked.\n")
        assert again.exit_code == 1
        assert "No such token" in again.output
        assert resp.status_code == 401
        assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]

    def test_list_never_shows_a_token(self, api):
        """
        `tokens list` shows each token's user, scopes and creation time,
        never the token.
        """
        carol = _cli(api, "create", "carol").output.splitlines()[-1]
        admin = _cli(api, "create", "root", "--scope", "admin")
        admin = admin.output.splitlines()[-1]

        result = _cli(api, "list")

        lines = [line.split("\t") for line in result.output.splitlines()]
        assert [line[:2] for line in lines] == [
            ["carol", "bookmarks:read bookmarks:write"],
            ["root", "admin"],
        ]
        assert all(datetime.fromisoformat(line[2]).tzinfo for line in lines)
        assert carol not in result.output
        assert admin not in result.output

    def test_database_holds_only_a_hash(self, api):
        """
        The token's text appears in no row of any table: only its SHA-256.
        """
        token = _cli(api, "create", "carol").output.splitlines()[-1]
        rows = _all_rows(api)

        assert not [row for row in rows if any(token in value for value in row)]
        assert [row for row in rows if hash_token(token) in row]

    def test_flask_command(self, database_url, tmp_path):
        """
        `flask --app example_api tokens create USER --scope ...` works from
        the shell, on the app's database.
        """
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "example_api",
                "tokens",
                "create",
                "dave",
                "--scope",
                "admin",
            ],
            cwd=tmp_path,
            env={**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        app = create_app({"TESTING": True, "DATABASE_URL": database_url})
        try:
            token = result.stdout.splitlines()[-1]
            resp = app.test_client().get("/admin/v1/bookmarks", headers=_bearer(token))
        finally:
            svc.close_registry(app)

        assert result.returncode == 0, result.stderr
        assert resp.status_code == 200


class TestAuthentication:
    @pytest.mark.parametrize(("method", "path"), API_ROUTES)
    def test_no_token(self, api, method, path):
        """
        Every API and report route without a token is a JSON 401 whose
        challenge is a Bearer one, without an error code.
        """
        resp = api.test_client().open(path, method=method, json=BOOKMARK)

        assert resp.status_code == 401
        assert resp.json["code"] == 401
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="bookmarks"'

    @pytest.mark.parametrize(("method", "path"), API_ROUTES)
    def test_unknown_token(self, api, method, path):
        """
        An unknown token is a JSON 401 with error="invalid_token", which
        does not echo the token.
        """
        token = "bm_" + "A" * 43
        resp = api.test_client().open(
            path, method=method, json=BOOKMARK, headers=_bearer(token)
        )

        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer ")
        assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
        assert token not in resp.get_data(as_text=True)

    @pytest.mark.parametrize(("method", "path"), API_ROUTES)
    def test_missing_scope(self, api, method, path):
        """
        Reads need bookmarks:read and writes bookmarks:write: a token without
        the scope is a JSON 403 with error="insufficient_scope" and the scope.
        """
        needed = READ if method == "GET" else WRITE
        other = WRITE if needed == READ else READ
        client = _client(api, "carol", (other, ADMIN))

        resp = client.open(path, method=method, json=BOOKMARK)

        assert resp.status_code == 403
        assert resp.json["code"] == 403
        assert resp.headers["WWW-Authenticate"] == (
            f'Bearer realm="bookmarks", error="insufficient_scope", scope="{needed}"'
        )

    def test_other_scheme_is_no_token(self, api):
        """Credentials of another scheme are no bearer token: a 401."""
        resp = api.test_client().get(
            "/api/v1/bookmarks", headers={"Authorization": "Basic YTpi"}
        )

        assert resp.status_code == 401

    @pytest.mark.parametrize("path", ["/", "/health", "/openapi.json", "/docs"])
    def test_public_routes(self, api, path):
        """/, /health, the document and its docs page need no token."""
        resp = api.test_client().get(path)

        assert resp.status_code == 200

    def test_document_security(self, api):
        """
        The document has the bearer scheme, each operation its scopes, the
        index security: [], and 401 and 403 where they can happen.
        """
        spec = build_spec(api)
        paths = spec["paths"]
        bookmarks = paths["/api/v1/bookmarks"]
        admin = paths["/admin/v1/bookmarks/{bookmark_id}"]

        scheme = spec["components"]["securitySchemes"]["bearerAuth"]
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
        assert bookmarks["get"]["security"] == [{"bearerAuth": [READ]}]
        assert bookmarks["post"]["security"] == [{"bearerAuth": [WRITE]}]
        assert admin["delete"]["security"] == [{"bearerAuth": [ADMIN]}]
        assert paths["/"]["get"]["security"] == []
        assert {"401", "403"} <= set(bookmarks["post"]["responses"])


class TestOwnership:
    @pytest.fixture(name="bob")
    def _bob(self, api):
        return _client(api, "bob")

    def test_others_bookmarks_are_missing(self, api_client, bob):
        """
        Another user's bookmark is a 404 to every method, as a missing one
        is, and stays as it was; the list and its filters show only the
        caller's.
        """
        item = _create(api_client, tags=["shared"], title="Mine")
        url = f"/api/v1/bookmarks/{item['id']}"

        answers = [
            bob.open(url, method=method, json=BOOKMARK).status_code
            for method in ("GET", "PUT", "PATCH", "DELETE")
        ]
        listed = [
            bob.get(path).json["items"]
            for path in (
                "/api/v1/bookmarks",
                "/api/v1/bookmarks?tag=shared",
                "/api/v1/bookmarks?q=mine",
                "/api/v1/bookmarks/by-cursor",
            )
        ]

        assert answers == [404, 404, 404, 404]
        assert listed == [[], [], [], []]
        assert api_client.get(url).json == item

    def test_conditional_writes_see_only_the_callers(self, api_client, bob):
        """
        A write with a matching If-Match on another user's bookmark is a 404,
        not a 412 nor a write.
        """
        item = _create(api_client)
        url = f"/api/v1/bookmarks/{item['id']}"
        etag = api_client.get(url).headers["ETag"]

        resp = bob.patch(url, json={"title": "x"}, headers={"If-Match": etag})

        assert resp.status_code == 404
        assert api_client.get(url).json == item

    def test_list_etag_is_the_callers(self, api_client, bob):
        """
        The list's ETag changes with the caller's bookmarks, not another's.
        """
        etag = api_client.get("/api/v1/bookmarks").headers["ETag"]
        _create(bob)

        resp = api_client.get("/api/v1/bookmarks", headers={"If-None-Match": etag})

        assert resp.status_code == 304

    def test_each_creates_their_own(self, api_client, bob):
        """
        Each user's bookmarks are theirs: two users' lists, counts and pages
        hold only their own.
        """
        mine = [_create(api_client, title=f"a{i}") for i in range(3)]
        theirs = [_create(bob, title=f"b{i}") for i in range(2)]

        assert api_client.get("/api/v1/bookmarks").json["items"] == mine
        assert bob.get("/api/v1/bookmarks").json["meta"]["total"] == len(theirs)

    def test_report_counts_the_callers_tags(self, api_client, bob):
        """/reports/v1/tags counts the caller's tags only."""
        _create(api_client, tags=["flask", "python"])
        _create(bob, tags=["python", "go"])
        _create(bob, tags=["go"])

        assert api_client.get("/reports/v1/tags").json == {
            "tags": {"flask": 1, "python": 1}
        }
        assert bob.get("/reports/v1/tags").json == {"tags": {"go": 2, "python": 1}}


class TestAdmin:
    @pytest.fixture(name="root")
    def _root(self, api):
        return _client(api, "root", (ADMIN,))

    def test_lists_every_users_with_owner(self, api, api_client, root):
        """
        /admin/v1/bookmarks lists every user's bookmarks, each with its
        owner's name; an item is read the same way.
        """
        mine = _create(api_client, tags=["a"])
        theirs = _create(_client(api, "bob"))

        listed = root.get("/admin/v1/bookmarks").json
        one = root.get(f"/admin/v1/bookmarks/{theirs['id']}")

        assert listed["items"] == [
            {**mine, "owner": "alice"},
            {**theirs, "owner": "bob"},
        ]
        assert listed["meta"]["total"] == 2
        assert one.json == {**theirs, "owner": "bob"}
        assert "ETag" in one.headers

    def test_delete_any(self, api_client, root):
        """An admin deletes any user's bookmark; it is gone for its owner."""
        item = _create(api_client)

        deleted = root.delete(f"/admin/v1/bookmarks/{item['id']}")

        assert deleted.status_code == 204
        assert api_client.get(f"/api/v1/bookmarks/{item['id']}").status_code == 404
        assert root.get(f"/admin/v1/bookmarks/{item['id']}").status_code == 404

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/admin/v1/bookmarks"),
            ("GET", "/admin/v1/bookmarks/1"),
            ("DELETE", "/admin/v1/bookmarks/1"),
        ],
    )
    def test_user_token_forbidden(self, api, api_client, method, path):
        """
        A user's token without the admin scope is a 403; no token a 401.
        """
        _create(api_client)

        resp = api_client.open(path, method=method)
        anonymous = api.test_client().open(path, method=method)

        assert resp.status_code == 403
        assert 'scope="admin"' in resp.headers["WWW-Authenticate"]
        assert anonymous.status_code == 401

    def test_admin_cannot_use_the_api_without_its_scopes(self, root):
        """The admin scope alone does not read the API."""
        assert root.get("/api/v1/bookmarks").status_code == 403

    def test_layers(self, api):
        """
        The admin blueprint registers its own, unscoped repository in front
        of the app's, which is scoped to the caller.
        """
        with api.app_context():
            app_layer = svc.registry.lookup(None, BookmarkRepository)
            admin_layer = svc.registry.lookup("admin", BookmarkRepository)
            api_layer = svc.registry.lookup("api", BookmarkRepository)

        assert app_layer.factory.__name__ == "callers_bookmarks"
        assert admin_layer.factory.__name__ == "every_bookmark"
        # The api blueprint has none of its own: the app's serves it.
        assert api_layer is None


# -- atomic conditional writes ---------------------------------------------------


def _refuse(item):
    raise PreconditionFailed


class TestConditionalWrites:
    @pytest.mark.parametrize("method", ["update", "delete"])
    def test_precondition_gets_the_item(self, api, api_client, alice, method):
        """
        The precondition is given the current bookmark as get() returns it,
        and the write happens when it returns.
        """
        item = _create(api_client, tags=["a"])
        seen = []
        with api.app_context(), svc.override(User, value=alice):
            repo = svc.get(BookmarkRepository)
            current = repo.get(item["id"])
            args = ({"title": "New"},) if method == "update" else ()
            kwargs = {"partial": True} if method == "update" else {}
            result = getattr(repo, method)(
                item["id"], *args, **kwargs, precondition=seen.append
            )
            svc.get(Connection).commit()

        assert seen == [current]
        if method == "update":
            assert (result["title"], result["tags"]) == ("New", ["a"])
            assert _rows(api)[0]["title"] == "New"
        else:
            assert result is True
            assert _rows(api) == []

    @pytest.mark.parametrize("method", ["update", "delete"])
    def test_failed_precondition_writes_nothing(self, api, api_client, alice, method):
        """
        What the precondition raises propagates, and nothing is written.
        """
        item = _create(api_client, tags=["a"])
        with api.app_context(), svc.override(User, value=alice):
            repo = svc.get(BookmarkRepository)
            current = repo.get(item["id"])
            args = ({"title": "New", "tags": []},) if method == "update" else ()
            kwargs = {"partial": True} if method == "update" else {}
            with pytest.raises(PreconditionFailed, match="412"):
                getattr(repo, method)(item["id"], *args, **kwargs, precondition=_refuse)
            assert repo.get(item["id"]) == current
            svc.get(Connection).commit()

        assert api_client.get(f"/api/v1/bookmarks/{item['id']}").json == item

    @pytest.mark.parametrize(
        ("method", "missing"), [("update", None), ("delete", False)]
    )
    def test_missing_item(self, api, alice, method, missing):
        """
        Without the bookmark, update answers None and delete False, and the
        precondition is not called.
        """
        precondition = Mock()
        with api.app_context(), svc.override(User, value=alice):
            repo = svc.get(BookmarkRepository)
            args = ({"title": "New"},) if method == "update" else ()
            kwargs = {"partial": True} if method == "update" else {}
            result = getattr(repo, method)(
                42, *args, **kwargs, precondition=precondition
            )

        assert result is missing
        precondition.assert_not_called()

    def test_write_lock_held_across_the_check(self, api, api_client):
        """
        Once the precondition has seen the bookmark, another writer of it
        waits until the first transaction ends, then sees what it wrote.
        """
        item = _create(api_client)
        with api.app_context():
            engine = svc.get(Engine)
        policy = TagPolicy(max_tags=20)
        first = engine.connect()
        try:
            BookmarkRepository(first, policy).update(
                item["id"],
                {"title": "First"},
                partial=True,
                precondition=lambda _: None,
            )
            seen = []
            second = threading.Thread(
                target=_conditional_update, args=(engine, item["id"], seen)
            )
            second.start()
            second.join(timeout=0.5)
            waited = second.is_alive()
            first.commit()
        finally:
            first.close()
        second.join(timeout=10)

        assert waited
        assert seen == ["First"]

    def test_concurrent_conditional_updates(self, api, api_client):
        """
        Of 4 concurrent updates conditional on the same state, exactly one
        writes, round after round.
        """
        item = _create(api_client)
        with api.app_context():
            engine = svc.get(Engine)
        winners = []
        for round_number in range(15):
            expected = _rows(api)[0]["updated_at"]
            outcomes = _race(engine, item["id"], expected, round_number)
            winners.append(outcomes.count("written"))
            assert sorted(outcomes) == ["412", "412", "412", "written"], outcomes

        assert winners == [1] * 15


def _conditional_update(engine, item_id, seen):
    """Update a bookmark on a connection of its own, noting the title it saw."""
    with engine.connect() as conn:
        BookmarkRepository(conn, TagPolicy(max_tags=20)).update(
            item_id,
            {"title": "Second"},
            partial=True,
            precondition=lambda item: seen.append(item["title"]),
        )
        conn.commit()


def _race(engine, item_id, expected, round_number):
    """
    Start 4 updates of *item_id*, each conditional on its updated_at being
    *expected*, at once; return what each did.
    """
    start = threading.Barrier(4)
    outcomes = []

    def check(item):
        if item["updated_at"] != expected:
            raise PreconditionFailed

    def writer(number):
        with engine.connect() as conn:
            repo = BookmarkRepository(conn, TagPolicy(max_tags=20))
            start.wait(timeout=10)
            try:
                repo.update(
                    item_id,
                    {"title": f"{round_number}-{number}"},
                    partial=True,
                    precondition=check,
                )
            except PreconditionFailed:
                conn.rollback()
                outcomes.append("412")
            else:
                conn.commit()
                outcomes.append("written")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


# -- a database that is slow, busy or gone -----------------------------------------


def _hold_write_lock(engine, item_id):
    """
    Open a connection that holds a write lock: SQLite's database lock, or
    PostgreSQL's lock on the bookmark's row.
    """
    conn = engine.connect()
    if engine.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.execute(
            select(bookmark.c.id).where(bookmark.c.id == item_id).with_for_update()
        )
    return conn


class TestUnavailableDatabase:
    def test_lock_wait_is_bounded(self, database_url):
        """
        A write that waits for another transaction's lock gives up after
        the statement timeout (PostgreSQL) or the busy timeout (SQLite), and
        is answered 503 with Retry-After instead of hanging.
        """
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": database_url,
                "DATABASE_STATEMENT_TIMEOUT": 0.3,
                "DATABASE_BUSY_TIMEOUT": 0.3,
                "DATABASE_RETRY_AFTER": 2,
            }
        )
        client = _client(app)
        item = _create(client)
        with app.app_context():
            engine = svc.get(Engine)
        answers = []

        def patch():
            begin = time.monotonic()
            resp = client.patch(f"/api/v1/bookmarks/{item['id']}", json={"title": "x"})
            answers.append((resp, time.monotonic() - begin))

        holder = _hold_write_lock(engine, item["id"])
        try:
            thread = threading.Thread(target=patch)
            thread.start()
            thread.join(timeout=5)
        finally:
            holder.rollback()
            holder.close()
            thread.join(timeout=10)
            svc.close_registry(app)

        ((resp, seconds),) = answers
        assert seconds < 3
        assert resp.status_code == 503
        assert resp.headers["Retry-After"] == "2"
        assert resp.json == {
            "code": 503,
            "status": "Service Unavailable",
            "message": "The database is busy or unreachable; try again later.",
        }

    def test_pool_exhausted(self, database_url):
        """
        When no connection is free in the pool within its pool_timeout, the
        request is answered 503 with Retry-After in the JSON error shape.
        """
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": database_url,
                "DATABASE_ENGINE_OPTIONS": {
                    "pool_size": 1,
                    "max_overflow": 0,
                    "pool_timeout": 0.1,
                },
            }
        )
        with app.app_context():
            engine = svc.get(Engine)
        client = _client(app)
        held = engine.connect()
        try:
            resp = client.get("/api/v1/bookmarks")
        finally:
            held.close()
        after = client.get("/api/v1/bookmarks")
        svc.close_registry(app)

        assert resp.status_code == 503
        assert resp.headers["Retry-After"] == "1"
        assert resp.json["code"] == 503
        assert "QueuePool" not in resp.get_data(as_text=True)
        assert after.status_code == 200

    def test_connect_timeout(self):
        """
        Connecting to a PostgreSQL server that accepts the connection but
        never answers fails within the connect timeout, instead of hanging.
        """
        outcome = []
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            port = silent.getsockname()[1]
            engine = make_engine(
                f"postgresql+psycopg://x:x@127.0.0.1:{port}/x", connect_timeout=1
            )

            def connect():
                begin = time.monotonic()
                with pytest.raises(DBAPIError, match="timeout expired") as caught:
                    engine.connect()
                outcome.append((caught.value, time.monotonic() - begin))

            thread = threading.Thread(target=connect, daemon=True)
            thread.start()
            thread.join(timeout=10)
        engine.dispose()

        ((_, seconds),) = outcome
        assert seconds < 4

    @pytest.mark.parametrize(
        ("backend", "expected"),
        [
            ("sqlite", {"timeout": 0.5}),
            (
                "postgresql",
                {"connect_timeout": 2, "options": "-c statement_timeout=250"},
            ),
        ],
    )
    def test_timeouts_reach_the_driver(self, tmp_path, backend, expected):
        """
        The timeouts become the driver's connect arguments (libpq's
        connect_timeout is whole seconds, at least 2), beside the
        connect_args of the engine options.
        """
        url = (
            f"sqlite:///{tmp_path / 'x.sqlite3'}"
            if backend == "sqlite"
            else "postgresql+psycopg://x@127.0.0.1/x"
        )
        options = {"connect_args": {"application_name": "bookmarks"}}
        if backend == "sqlite":
            options = {"connect_args": {"check_same_thread": True}}
        captured = []

        def record(_dialect, _record, _cargs, cparams):
            captured.append(dict(cparams))
            raise _CapturedError

        engine = make_engine(
            url, options, connect_timeout=0.4, statement_timeout=0.25, busy_timeout=0.5
        )
        event.listen(engine, "do_connect", record)
        try:
            with pytest.raises(_CapturedError):
                engine.connect()
        finally:
            engine.dispose()

        ((params,),) = [captured]
        assert {key: params[key] for key in expected} == expected
        assert set(options["connect_args"]) <= set(params)

    def test_configured_timeouts(self, database_url):
        """
        Every connection of the app runs with the configured timeouts.
        """
        app = create_app(
            {
                "DATABASE_URL": database_url,
                "DATABASE_CONNECT_TIMEOUT": 3,
                "DATABASE_STATEMENT_TIMEOUT": 1.5,
                "DATABASE_BUSY_TIMEOUT": 1.5,
            }
        )
        try:
            with app.app_context():
                conn = svc.get(Connection)
                if conn.dialect.name == "sqlite":
                    setting = conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
                    expected = 1500
                else:
                    setting = (
                        conn.exec_driver_sql("SHOW statement_timeout").scalar_one(),
                        conn.connection.driver_connection.info.get_parameters()[
                            "connect_timeout"
                        ],
                    )
                    expected = ("1500ms", "3")
        finally:
            svc.close_registry(app)

        assert setting == expected

    def test_frozen_database(self, tmp_path):
        """
        When the database stops answering on an open connection (a frozen
        proxy in between, which still takes the bytes), a request is
        answered 503 soon after the statement timeout instead of hanging,
        and the app serves again once the database answers.
        """
        url = postgresql_url(os.environ)
        _reset(url)
        with _FreezingProxy(make_url(url)) as proxy:
            app = create_app(
                {
                    "TESTING": True,
                    "DATABASE_URL": proxy.url,
                    "DATABASE_STATEMENT_TIMEOUT": 0.5,
                }
            )
            client = _client(app)
            item = _create(client)
            answers = []

            def get():
                begin = time.monotonic()
                resp = client.get(f"/api/v1/bookmarks/{item['id']}")
                answers.append((resp.status_code, time.monotonic() - begin))

            proxy.frozen.set()
            thread = threading.Thread(target=get, daemon=True)
            thread.start()
            thread.join(timeout=10)
            proxy.frozen.clear()
            after = client.get(f"/api/v1/bookmarks/{item['id']}")
            svc.close_registry(app)

        ((status, seconds),) = answers
        assert status == 503
        assert seconds < 0.5 + db.CLIENT_GRACE + 1
        assert after.json == item


class _FreezingProxy:
    """
    A loopback TCP proxy to a PostgreSQL server that, while *frozen* is set,
    reads what either side sends and forwards nothing.
    """

    def __init__(self, target):
        self.target = (target.host or "127.0.0.1", target.port or 5432)
        self.frozen = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        port = self.server.getsockname()[1]
        self.url = target.set(host="127.0.0.1", port=port).render_as_string(
            hide_password=False
        )
        self.sockets = []
        self.accepting = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self):
        self.accepting.start()
        return self

    def __exit__(self, *_):
        self.frozen.clear()
        # Wakes the accepting thread, which close() alone would not.
        self.server.shutdown(socket.SHUT_RDWR)
        self.accepting.join(timeout=10)
        self.server.close()
        for sock in self.sockets:
            sock.close()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), daemon=True
                ).start()

    def _pump(self, source, sink):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                while self.frozen.is_set():
                    time.sleep(0.01)
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


class _CapturedError(Exception):
    """Stops a connection attempt once its arguments are seen."""


# -- the health check's own app context ---------------------------------------------


class TestPingContext:
    def test_only_the_request_connection_ends_with_the_response(self, api, alice):
        """
        A connection opened in an app context of its own while a request is
        active (a health check's ping) is not ended by the request's
        response, which the ping may still be using: it is committed and
        closed with its own app context. The request's own connection is
        committed by the response.
        """
        committed = []
        record = committed.append
        with api.app_context():
            engine = svc.get(Engine)
        event.listen(engine, "commit", record)
        try:
            with (
                api.test_request_context("/api/v1/bookmarks", method="POST"),
                svc.override(User, value=alice),
            ):
                api.preprocess_request()
                svc.get(BookmarkRepository).create(BOOKMARK)
                with api.app_context():
                    pinged = svc.get(Connection)
                    pinged.execute(text("SELECT 1"))
                api.process_response(api.response_class("ok", status=201))
                own = svc.get(Connection)
        finally:
            event.remove(engine, "commit", record)

        assert committed == [pinged, own]
        assert pinged.closed
        assert [row["title"] for row in _rows(api)] == ["Flask"]


# -- one transaction per request ------------------------------------------------


class TestTransactions:
    def test_failed_commit_is_an_error(self, api, api_client):
        """
        A write whose commit fails is answered with a JSON 500 that says
        nothing of the database, never with 201, and nothing is stored.
        """
        api.testing = False

        def refuse(conn):
            msg = "disk full"
            raise RuntimeError(msg)

        with api.app_context():
            engine = svc.get(Engine)
        event.listen(engine, "commit", refuse)
        try:
            resp = api_client.post("/api/v1/bookmarks", json=BOOKMARK)
        finally:
            event.remove(engine, "commit", refuse)

        assert resp.status_code == 500
        assert "disk" not in resp.get_data(as_text=True)
        assert _rows(api) == []

    def test_error_after_a_write_rolls_back(self, api):
        """
        An unhandled error after a write rolls the request's transaction back.
        """
        api.testing = False

        @api.post("/boom")
        def boom():
            svc.get(BookmarkRepository).create(BOOKMARK)
            msg = "boom"
            raise RuntimeError(msg)

        assert _client(api).post("/boom").status_code == 500
        assert _rows(api) == []

    def test_http_error_after_a_write_rolls_back(self, api):
        """
        A view that writes and then answers with an error status writes
        nothing.
        """

        @api.post("/refuse")
        def refuse():
            svc.get(BookmarkRepository).create(BOOKMARK)
            abort(409)

        assert _client(api).post("/refuse").status_code == 409
        assert _rows(api) == []

    def test_outside_a_request_committed_with_the_app_context(self, api, alice):
        """
        Outside a request (a command, a shell) the app context's transaction
        is committed when the app context ends, and rolled back when an
        error ends it.
        """

        def create_then_fail():
            with api.app_context():
                svc.overwrite_value(User, alice)
                svc.get(BookmarkRepository).create(BOOKMARK)
                msg = "stop"
                raise RuntimeError(msg)

        with api.app_context(), svc.override(User, value=alice):
            svc.get(BookmarkRepository).create({**BOOKMARK, "title": "Kept"})
        with pytest.raises(RuntimeError, match="stop"):
            create_then_fail()

        assert [row["title"] for row in _rows(api)] == ["Kept"]


# -- the read-only blueprint and the configured service ---------------------------


class TestReports:
    def test_tag_counts(self, api_client):
        """
        The report counts the bookmarks that carry each tag.
        """
        _create(api_client, tags=["flask", "python"])
        _create(api_client, tags=["python"])

        resp = api_client.get("/reports/v1/tags")

        assert resp.json == {"tags": {"flask": 1, "python": 2}}
        assert "ETag" in resp.headers

    def test_write_through_the_read_only_service_fails(self, api, api_client):
        """
        The reports blueprint's connection is read-only: a write fails with
        the database's error and stores nothing.
        """
        item = _create(api_client, tags=["kept"])

        headers = {"Authorization": api_client.environ_base["HTTP_AUTHORIZATION"]}
        with (
            api.test_request_context("/reports/v1/tags", headers=headers),
            pytest.raises(DBAPIError, match=r"readonly database|read-only transaction"),
        ):
            svc.get(BookmarkRepository).update(item["id"], {"tags": []}, partial=True)

        assert api_client.get(f"/api/v1/bookmarks/{item['id']}").json == item

    def test_blueprint_layer_overrides_the_connection(self, api):
        """
        The reports blueprint gets its connection from its own layer; the
        rest of the app from the app's.
        """
        with api.app_context():
            app_layer = svc.registry.lookup(None, Connection)
            reports_layer = svc.registry.lookup("reports", Connection)

        assert reports_layer is not None
        assert reports_layer is not app_layer


class TestTagPolicy:
    def test_configured_per_blueprint(self, api):
        """
        The tag policy is configured for each blueprint in SERVICES.
        """
        with api.app_context():
            for_api = TagPolicy.from_context(blueprint_name="api")
            for_reports = TagPolicy.from_context(blueprint_name="reports")

        assert (for_api.max_tags, for_reports.max_tags) == (20, 100)

    def test_too_many_tags(self, database_url):
        """
        More tags than the API's policy allows are answered with 422.
        """
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": database_url,
                "SERVICES": {"api": {"TagPolicy": {"max_tags": 2}}},
            }
        )
        try:
            resp = _client(app).post(
                "/api/v1/bookmarks", json={**BOOKMARK, "tags": ["a", "b", "c"]}
            )
        finally:
            svc.close_registry(app)

        assert resp.status_code == 422
        assert resp.json["errors"] == {
            "json": {"tags": ["Give at most 2 different tags."]}
        }

    def test_report_limit(self, api, api_client):
        """
        The report lists as many tags as the reports' policy allows.
        """
        _create(api_client, tags=["a", "b"])
        _create(api_client, tags=["b"])

        with api.app_context():
            svc.overwrite_value(TagPolicy, TagPolicy(max_tags=1), blueprint="reports")
            resp = _client(api).get("/reports/v1/tags")

        assert resp.json == {"tags": {"b": 2}}

    def test_case_kept(self, api, api_client):
        """
        With lowercase=False, tags keep their case.
        """
        with (
            api.app_context(),
            svc.override(
                TagPolicy, value=TagPolicy(max_tags=5, lowercase=False), blueprint="api"
            ),
        ):
            item = (
                _client(api)
                .post("/api/v1/bookmarks", json={**BOOKMARK, "tags": ["Flask"]})
                .json
            )

        assert item["tags"] == ["Flask"]

    @pytest.mark.parametrize("max_tags", [0, "3", True])
    def test_bad_configuration(self, database_url, max_tags):
        """
        A maximum that is not a positive integer fails at startup.
        """
        with pytest.raises(ConfigurationError, match="max_tags must be a positive"):
            create_app(
                {
                    "DATABASE_URL": database_url,
                    "SERVICES": {"api": {"TagPolicy": {"max_tags": max_tags}}},
                }
            )


class TestTags:
    def test_repeats_count_once(self, api_client):
        """
        21 entries that fold to one tag are one tag, not more than 20.
        """
        item = _create(api_client, tags=["a"] * 21)

        assert item["tags"] == ["a"]

    def test_case_variants_count_once(self, api_client):
        """
        Entries that differ only in case are one tag.
        """
        variants = [
            "".join(bits) for bits in itertools.product(*("aA", "bB", "cC", "dD"))
        ]
        item = _create(api_client, tags=[*variants, *variants, "ABCD", "e"])

        assert len(variants) * 2 > MAX_TAGS
        assert item["tags"] == ["abcd", "e"]

    def test_too_many_different_tags(self, api, api_client):
        """
        21 different tags are refused with 422, and nothing is stored.
        """
        tags = [f"t{i}" for i in range(21)]

        resp = api_client.post("/api/v1/bookmarks", json={**BOOKMARK, "tags": tags})

        assert resp.status_code == 422
        assert resp.json["errors"] == {
            "json": {"tags": ["Give at most 20 different tags."]}
        }
        assert _rows(api) == []

    def test_long_list_refused_before_its_entries(self, api_client):
        """
        More entries than MAX_TAG_ENTRIES are refused with one message,
        before any entry is checked: the error does not grow with the list.
        """
        tags = ["not a tag!"] * 10_000

        resp = api_client.post("/api/v1/bookmarks", json={**BOOKMARK, "tags": tags})

        assert resp.status_code == 422
        assert resp.json["errors"] == {
            "json": {"tags": [f"Longer than maximum length {MAX_TAG_ENTRIES}."]}
        }

    def test_document_gives_the_entries_bound(self, api):
        """
        The document's maxItems is the bound on entries that the validator
        checks, and the description says how repeats count.
        """
        schema = build_spec(api)["components"]["schemas"]["Bookmark"]["properties"]

        assert schema["tags"]["maxItems"] == MAX_TAG_ENTRIES
        assert "a repeat, in any case, counts once" in schema["tags"]["description"]

    def test_patch_folds_before_counting(self, api_client):
        """
        PATCH folds and de-duplicates tags before counting them too.
        """
        item = _create(api_client)

        resp = api_client.patch(
            f"/api/v1/bookmarks/{item['id']}", json={"tags": ["X", "x"] * 15}
        )

        assert (resp.status_code, resp.json["tags"]) == (200, ["x"])


class TestSearch:
    @pytest.mark.parametrize(
        ("stored", "query"),
        [
            ("école", "ÉCOLE"),
            ("ÉCOLE", "école"),
            ("Straße", "STRASSE"),
            ("Ωμέγα", "ΩΜΈΓΑ"),
            # Decomposed: e and a combining acute accent.
            ("e\u0301cole", "ÉCOLE"),
        ],
        ids=["lower-stored", "upper-stored", "sharp-s", "greek", "decomposed"],
    )
    def test_unicode_case_insensitive(self, api_client, stored, query):
        """
        ?q= ignores case beyond ASCII, the same on SQLite and PostgreSQL:
        Unicode case folding of canonically equivalent text.
        """
        found = _create(api_client, title=f"L'{stored} de Paris")
        noted = _create(api_client, title="Notes", notes=f"Voir {stored}.")
        _create(api_client, title="Ecole without an accent")

        resp = api_client.get("/api/v1/bookmarks", query_string={"q": query})

        assert resp.json["items"] == [found, noted]

    def test_search_follows_changes(self, api_client):
        """
        A replaced or changed title or notes is searched as it now is.
        """
        item = _create(api_client, title="Avant", notes="Rien")
        url = f"/api/v1/bookmarks/{item['id']}"

        def found(query):
            resp = api_client.get("/api/v1/bookmarks", query_string={"q": query})
            return [each["id"] for each in resp.json["items"]]

        api_client.put(url, json={**BOOKMARK, "title": "Après", "notes": "ÉTÉ"})
        replaced = (found("AVANT"), found("APRÈS"), found("été"))
        api_client.patch(url, json={"notes": "Hiver"})
        changed = (found("été"), found("HIVER"), found("après"))

        assert replaced == ([], [item["id"]], [item["id"]])
        assert changed == ([], [item["id"]], [item["id"]])


class TestTrustedHosts:
    @pytest.mark.parametrize("host", ["evil.example", "localhost.evil.example"])
    def test_untrusted_host(self, api_client, host):
        """
        A Host header that TRUSTED_HOSTS does not name is a JSON 400, before
        it can reach the Link header's absolute URLs.
        """
        resp = api_client.get("/api/v1/bookmarks", headers={"Host": host})

        assert resp.status_code == 400
        assert resp.json["code"] == 400
        assert "Link" not in resp.headers

    @pytest.mark.parametrize("host", ["localhost", "127.0.0.1:8000", "api.localhost"])
    def test_local_hosts_trusted_by_default(self, api_client, host):
        """
        By default the local names are trusted, with any port.
        """
        resp = api_client.get("/api/v1/bookmarks", headers={"Host": host})

        assert resp.status_code == 200
        assert f"<http://{host}/api/v1/bookmarks?" in resp.headers["Link"]

    def test_configured_hosts(self, database_url):
        """
        TRUSTED_HOSTS names the hosts of a deployment; others, the local
        names included, are refused.
        """
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": database_url,
                "TRUSTED_HOSTS": ["api.example.org"],
            }
        )
        try:
            client = _client(app)
            ok = client.get("/api/v1/bookmarks", headers={"Host": "api.example.org"})
            local = client.get("/api/v1/bookmarks", headers={"Host": "localhost"})
        finally:
            svc.close_registry(app)

        assert (ok.status_code, local.status_code) == (200, 400)
        assert "<http://api.example.org/api/v1/bookmarks?" in ok.headers["Link"]

    def test_from_environment(self, database_url, monkeypatch):
        """
        FLASK_TRUSTED_HOSTS sets it from the environment, as JSON; null
        trusts every host (behind a proxy that checks it).
        """
        monkeypatch.setenv("FLASK_TRUSTED_HOSTS", "null")
        app = create_app({"TESTING": True, "DATABASE_URL": database_url})
        try:
            resp = _client(app).get(
                "/api/v1/bookmarks", headers={"Host": "anything.example"}
            )
        finally:
            svc.close_registry(app)

        assert app.config["TRUSTED_HOSTS"] is None
        assert resp.status_code == 200

    @pytest.mark.parametrize(
        ("trusted", "host"),
        [(None, "evil.example"), (["api.example.org"], "api.example.org:443")],
        ids=["all", "named"],
    )
    def test_check_host_passes(self, api, trusted, host):
        """
        check_host, which Flask 3.0 apps run before each request, lets a
        trusted host through and leaves request.host checked.
        """
        api.config["TRUSTED_HOSTS"] = trusted
        with api.test_request_context("/", headers={"Host": host}):
            check_host()

            assert request.host == host

    def test_check_host_refuses(self, api):
        """
        check_host refuses an untrusted host with a 400.
        """
        with (
            api.test_request_context("/", headers={"Host": "evil.example"}),
            pytest.raises(SecurityError, match=r"Host 'evil\.example' is not trusted"),
        ):
            check_host()


# -- swapping services in tests ------------------------------------------------------


class TestSwappedServices:
    def test_repository_in_memory(self, api):
        """
        With the repository overwritten, the generic views serve a fake and
        the database is not touched.
        """
        fake = InMemoryRepository([{**BOOKMARK, "tags": []}])
        with api.app_context():
            svc.overwrite_value(BookmarkRepository, fake)
            resp = _client(api).get("/api/v1/bookmarks/1")

        assert resp.json["title"] == "Flask"
        assert _rows(api) == []

    def test_failing_database_fails_health(self, api):
        """
        A connection whose ping fails makes /health answer 503.
        """
        broken = Mock(spec_set=Connection)
        broken.execute.side_effect = DBAPIError("SELECT 1", {}, Exception("gone"))
        with api.app_context(), svc.override(Connection, value=broken):
            resp = api.test_client().get("/health")

        assert resp.status_code == 503
        assert resp.json["failing"] == ["database"]


# -- the app as a whole ------------------------------------------------------------


class TestWiring:
    def test_index(self, api_client):
        """
        / answers with what the service offers.
        """
        links = api_client.get("/").json["links"]

        assert links["bookmarks"]["href"] == "/api/v1/bookmarks"
        assert links["tags"]["href"] == "/reports/v1/tags"
        assert {"health", "openapi", "docs"} <= set(links)

    def test_health(self, api_client):
        """
        /health pings the database, under a stable name rather than the
        connection's class.
        """
        resp = api_client.get("/health")

        assert resp.json == {"status": "ok", "services": {"database": "ok"}}

    def test_reports_health_name(self, api):
        """
        The reports' read-only connection has a stable name of its own.
        """
        with api.test_request_context("/reports/v1/tags"):
            names = sorted(ping.name for ping in svc.get_pings())

        assert names == ["database-read-only"]

    def test_all_services_resolve(self, api):
        """
        Every service the views declare is registered.
        """
        assert svc.check_services(api) == []

    def test_openapi_document_is_valid(self, api):
        """
        The document validates as OpenAPI 3.1 and describes every endpoint.
        """
        document = build_spec(api)

        validate(document)
        assert set(document["paths"]) == {
            "/",
            "/api/v1/bookmarks",
            "/api/v1/bookmarks/by-cursor",
            "/api/v1/bookmarks/{bookmark_id}",
            "/admin/v1/bookmarks",
            "/admin/v1/bookmarks/{bookmark_id}",
            "/health",
            "/reports/v1/tags",
        }

    def test_docs_page_served_locally(self, api_client):
        """
        The docs page loads Swagger UI from the app, not from a CDN.
        """
        page = api_client.get("/docs").get_data(as_text=True)

        assets = api_client.get("/docs/assets/swagger-ui-bundle.js")
        assets.close()

        assert 'src="/docs/assets/swagger-ui-bundle.js"' in page
        assert assets.status_code == 200

    def test_unknown_path_is_json(self, api_client):
        """
        Routing errors are JSON too.
        """
        resp = api_client.get("/nowhere")

        assert (resp.status_code, resp.json["code"]) == (404, 404)

    def test_default_database_in_instance_folder(self, monkeypatch, tmp_path):
        """
        Without DATABASE_URL, the database is an SQLite file in the instance
        folder, with its tables.
        """
        monkeypatch.delenv("DATABASE_URL", raising=False)
        monkeypatch.setattr(
            "flask.Flask.auto_find_instance_path", lambda _: str(tmp_path / "inst")
        )

        app = create_app({"TESTING": True})
        try:
            assert _create(_client(app))["id"] == 1
        finally:
            svc.close_registry(app)

        assert (tmp_path / "inst" / "bookmarks.sqlite3").exists()

    def test_database_url_from_environment(self, monkeypatch, tmp_path):
        """
        DATABASE_URL is also read from the environment.
        """
        url = f"sqlite:///{tmp_path / 'env.sqlite3'}"
        monkeypatch.setenv("DATABASE_URL", url)

        app = create_app()
        svc.close_registry(app)

        assert app.config["DATABASE_URL"] == url
        assert (tmp_path / "env.sqlite3").exists()


# -- forking ---------------------------------------------------------------------

# Builds the app (its pool then holds the connection that created the schema),
# forks, and prints what the pool holds before, in the child, and after; the
# child and then the parent each run a query on a connection of their own.
_FORK = """
import os, sys
from sqlalchemy import Engine, text
import flask_servicecbv as svc
from example_api import check_host, create_app, db

app = create_app({"DATABASE_URL": sys.argv[1]})
with app.app_context():
    engine = svc.get(Engine)
before = engine.pool.checkedin()
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    in_child = engine.pool.checkedin()
    with engine.connect() as conn:
        answer = conn.execute(text("SELECT 1")).scalar_one()
    os.write(write, f"{in_child} {answer}".encode())
    os._exit(0)
os.waitpid(pid, 0)
in_child = os.read(read, 100).decode()
with engine.connect() as conn:
    answer = conn.execute(text("SELECT 2")).scalar_one()
svc.close_registry(app)
print(before, in_child, engine.pool.checkedin(), answer)
"""


class TestForking:
    def test_child_does_not_use_parent_connections(self, database_url, tmp_path):
        """
        A forked process (a gunicorn worker, with --preload too) starts with
        an empty pool, and both processes keep working on their own
        connections.
        """
        result = subprocess.run(  # noqa: S603 -- our own interpreter and script
            [sys.executable, "-W", "error", "-c", _FORK, database_url],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["1", "0", "1", "0", "2"]


# -- under gunicorn, over HTTP ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Endpoint(NamedTuple):
    """A server on loopback, and the bearer token its requests send."""

    port: int
    token: str


def _http(port, method, path, body=None, headers=None):
    """
    Send one request on loopback, to a port or an Endpoint (with its token);
    return the status, headers and JSON body.
    """
    sent = {"Content-Type": "application/json"} if body is not None else {}
    if isinstance(port, Endpoint):
        sent.update(_bearer(port.token))
        port = port.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = None if body is None else json.dumps(body)
        conn.request(method, path, payload, {**sent, **(headers or {})})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, json.loads(data) if data else None
    finally:
        conn.close()


@contextlib.contextmanager
def gunicorn(database_url, tmp_path, *options):
    """
    Run example_api under gunicorn (2 workers, 4 threads each) on a free
    loopback port until the block ends; yield its Endpoint, with a token of
    alice's that reads and writes.
    """
    token = _token(database_url)
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers=2",
        "--threads=4",
        "--worker-class=gthread",
        f"--bind=127.0.0.1:{port}",
        "--graceful-timeout=5",
        *options,
        "example_api:create_app()",
    ]
    with _serving(command, port, database_url, tmp_path):
        yield Endpoint(port, token)


@contextlib.contextmanager
def _serving(command, port, database_url, tmp_path):
    """
    Run a server *command* that listens on *port* until the block ends.

    Bounded: it must answer /health within 30 s, and is stopped with SIGTERM
    (then SIGKILL) whatever happens.
    """
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        # gunicorn's control socket goes here, one per server.
        "XDG_RUNTIME_DIR": str(tmp_path),
    }
    with log.open("wb") as out:
        server = subprocess.Popen(  # noqa: S603 -- our own interpreter
            command,
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                status = _http(port, "GET", "/health")[0]
            except OSError:
                time.sleep(0.1)
            else:
                break
        assert status == 200, log.read_text()
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        finally:
            if server.poll() is None:  # pragma: no cover -- only if it hangs
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=5)


@pytest.mark.slow
class TestFlaskRun:
    def test_flask_run(self, database_url, tmp_path):
        """
        `flask --app example_api run`, what `python3 dev.py serve` starts,
        serves the API.
        """
        port = _free_port()
        command = [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "example_api",
            "run",
            f"--port={port}",
        ]
        endpoint = Endpoint(port, _token(database_url))
        with _serving(command, port, database_url, tmp_path):
            status, _, created = _http(endpoint, "POST", "/api/v1/bookmarks", BOOKMARK)
            index = _http(port, "GET", "/")[2]

        assert status == 201
        assert created["title"] == BOOKMARK["title"]
        assert index["links"]["bookmarks"]["href"] == "/api/v1/bookmarks"


@pytest.mark.slow
class TestGunicorn:
    def test_crud_over_http(self, database_url, tmp_path):
        """
        Under gunicorn, a bookmark is created, read, read again with its ETag,
        changed and deleted over HTTP.
        """
        with gunicorn(database_url, tmp_path) as port:
            status, headers, item = _http(port, "POST", "/api/v1/bookmarks", BOOKMARK)
            assert status == 201
            location = headers["Location"]
            status, headers, again = _http(port, "GET", location)
            assert (status, again) == (200, item)
            etag = headers["ETag"]
            assert (
                _http(port, "GET", location, headers={"If-None-Match": etag})[0] == 304
            )
            status, _, changed = _http(
                port, "PATCH", location, {"title": "F"}, {"If-Match": etag}
            )
            assert (status, changed["title"]) == (200, "F")
            assert _http(port, "DELETE", location)[0] == 204
            assert _http(port, "GET", location)[0] == 404
            assert _http(port, "GET", "/")[0] == 200

    @pytest.mark.parametrize("preload", [False, True], ids=["fork", "preload"])
    def test_concurrent_writes(self, database_url, tmp_path, preload):
        """
        Concurrent clients across both workers create bookmarks: every 201 is
        in the list, once; with --preload too, where the workers are forked
        from a process that already opened the database.
        """
        options = ["--preload"] if preload else []
        created: list[int] = []
        failures: list[object] = []

        def client(number):
            for i in range(10):
                body = {**BOOKMARK, "title": f"{number}-{i}", "tags": [f"t{number}"]}
                try:
                    status, _, item = _http(port, "POST", "/api/v1/bookmarks", body)
                except OSError as e:  # pragma: no cover -- only on a failure
                    failures.append(e)
                    continue
                if status == 201:
                    created.append(item["id"])
                else:  # pragma: no cover -- only on a failure
                    failures.append((status, item))

        with gunicorn(database_url, tmp_path, *options) as port:
            threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            _, _, listed = _http(port, "GET", "/api/v1/bookmarks?per_page=100")
            _, _, report = _http(port, "GET", "/reports/v1/tags")

        assert failures == []
        assert len(created) == len(set(created)) == 80
        assert sorted(item["id"] for item in listed["items"]) == sorted(created)
        assert report["tags"] == {f"t{n}": 10 for n in range(8)}

    def test_if_match_race(self, database_url, tmp_path):
        """
        4 concurrent PATCHes with the same If-Match, across both workers:
        exactly one 200 and three 412s, round after round (100 rounds on
        PostgreSQL, 25 on SQLite, where writers queue for one lock).
        """
        rounds = 100 if database_url.startswith("postgresql") else 25
        tally = []
        with gunicorn(database_url, tmp_path) as port:
            location = _http(port, "POST", "/api/v1/bookmarks", BOOKMARK)[1]["Location"]
            for number in range(rounds):
                etag = _http(port, "GET", location)[1]["ETag"]
                start = threading.Barrier(4)
                statuses = []

                def patch(client, etag=etag, number=number, start=start, out=statuses):
                    start.wait(timeout=10)
                    body = {"title": f"{number}-{client}"}
                    headers = {"If-Match": etag}
                    out.append(_http(port, "PATCH", location, body, headers)[0])

                threads = [threading.Thread(target=patch, args=(n,)) for n in range(4)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=30)
                tally.append(sorted(statuses))

        assert tally == [[200, 412, 412, 412]] * rounds


@pytest.fixture(name="fuzzed", scope="class", params=["sqlite", "postgresql"])
def _fuzzed(request, tmp_path_factory):
    """
    example_api under gunicorn on an empty database, shared by the
    schemathesis runs of every set of scopes: one worker, since schemathesis
    sends one request at a time. Yields the database's URL and the port.
    """
    tmp_path = tmp_path_factory.mktemp("fuzzed")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bookmarks.sqlite3'}"
    else:
        url = postgresql_url(os.environ)
    _reset(url)
    with gunicorn(url, tmp_path, "--workers=1") as endpoint:
        yield url, endpoint.port
    _reset(url)


@pytest.mark.slow
class TestSchemathesis:
    @pytest.mark.parametrize(
        "scopes",
        [(READ,), (READ, WRITE), (ADMIN,)],
        ids=["read", "read-write", "admin"],
    )
    def test_schemathesis(self, fuzzed, tmp_path, scopes):
        """
        schemathesis with every check finds nothing, with a token of each
        set of scopes: no 5xx, and every status (the 403s of a scope the
        token lacks included), content type, header and body is what the
        document says.

        A failed precondition (412) or a missing If-Match where one is
        required (428) is a valid answer to valid data: the fuzzer sends
        valid but stale entity tags, and If-None-Match: * on writes.
        """
        database_url, port = fuzzed
        token = _token(database_url, "fuzzer", scopes)
        writer = _bearer(_token(database_url, "fuzzer", (READ, WRITE)))
        # A bookmark of the fuzzer's own, so that a token that cannot create
        # one still reaches an item, not only 404s.
        seed = {"url": "https://example.com/seed", "title": "Seed"}
        status, _, _ = _http(port, "POST", "/api/v1/bookmarks", seed, writer)
        assert status == 201
        result = schemathesis(
            f"http://127.0.0.1:{port}/openapi.json",
            tmp_path,
            f"--header=Authorization: Bearer {token}",
            "--max-examples=10",
            timeout=100,
        )

        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "No issues found" in result.stdout, result.stdout[-6000:]


class TestDatabase:
    def test_schema_race_retried(self, database_url, monkeypatch):
        """
        When another process created the tables first (the CREATE fails), the
        schema creation tries again and finds them.
        """
        engine = make_engine(database_url)
        real = db.metadata.create_all
        calls = []

        def lose_once(conn):
            calls.append(conn)
            if len(calls) == 1:
                real(conn)
                conn.exec_driver_sql("CREATE TABLE bookmark (id INTEGER)")
            real(conn)

        monkeypatch.setattr(db.metadata, "create_all", lose_once)
        try:
            db.create_schema(engine)
        finally:
            engine.dispose()

        assert len(calls) == 2

    def test_schema_gives_up(self, database_url, monkeypatch):
        """
        A schema that cannot be created fails after the last attempt.
        """

        def fail(conn):
            conn.exec_driver_sql("CREATE TABLE no_such_syntax (")

        engine = make_engine(database_url)
        monkeypatch.setattr(db.metadata, "create_all", fail)
        try:
            with pytest.raises(DBAPIError, match="no_such_syntax"):
                db.create_schema(engine, attempts=2)
        finally:
            engine.dispose()

    def test_older_schema_refused(self, database_url):
        """
        A table made by an older version of the example fails the start,
        naming the missing columns, instead of failing every request.
        """
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE bookmark (id INTEGER PRIMARY KEY, url TEXT, title TEXT)"
            )
        engine.dispose()

        with pytest.raises(
            db.SchemaMismatchError,
            match=(
                r"'bookmark' .* has no column owner_id, notes, title_folded, "
                r"notes_folded, created_at, updated_at: "
            ),
        ):
            create_app({"DATABASE_URL": database_url})

    @pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
    def test_in_memory_sqlite_refused(self, url):
        """
        An in-memory SQLite database cannot be shared with a read-only
        engine: create_app says to use a file.
        """
        with pytest.raises(ValueError, match="is not an SQLite file; use"):
            create_app({"DATABASE_URL": url})

    def test_naive_datetime_refused(self):
        """
        A naive datetime never reaches the database.
        """
        with pytest.raises(ValueError, match="naive datetime; give it a time zone"):
            UTCDateTime().process_bind_param(
                datetime(2026, 1, 1),  # noqa: DTZ001 -- naive on purpose
                create_engine("sqlite://").dialect,
            )
