"""
Bookmarks through the client that openapi-python-client generates from
example_api's OpenAPI document, written as a consumer would write it.

The suite type-checks this module with ``mypy --strict`` against the
generated package and runs it against the example served over HTTP.
``bookmarks_client.roles`` is written next to the generated package: it names
which generated class or module plays which part, read from the document's
operations, so that this code reads the same whatever the components are
called.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, NamedTuple

from bookmarks_client.roles import (
    BookmarkIn,
    BookmarkNew,
    BookmarkOut,
    BookmarkPage,
    BookmarkPatch,
    ErrorBody,
    change_bookmark,
    create_bookmark,
    delete_bookmark,
    get_bookmark,
    list_bookmarks,
    replace_bookmark,
)

if TYPE_CHECKING:
    from bookmarks_client import AuthenticatedClient as Client


class Tagged(NamedTuple):
    """A bookmark as the server sent it, with its entity tag."""

    bookmark: BookmarkOut
    etag: str


class Page(NamedTuple):
    """The ids on one page of the list, and how many bookmarks there are."""

    ids: list[int]
    total: int
    link: str | None


class Preconditions(NamedTuple):
    """The statuses of a round of conditional requests."""

    changed: HTTPStatus
    stale_change: HTTPStatus
    stale_error: ErrorBody
    replaced: HTTPStatus
    not_modified: HTTPStatus
    stale_delete: HTTPStatus
    deleted: HTTPStatus
    gone: HTTPStatus


def create(
    client: Client, *, url: str, title: str, tags: list[str], notes: str
) -> tuple[BookmarkOut, str]:
    """Create a bookmark; return it and the URL in ``Location``."""
    body = BookmarkNew(url=url, title=title, tags=tags, notes=notes)
    response = create_bookmark.sync_detailed(client=client, body=body)
    assert response.status_code == HTTPStatus.CREATED, response.content
    assert isinstance(response.parsed, BookmarkOut)
    return response.parsed, response.headers["Location"]


def list_page(client: Client, *, tag: str, per_page: int) -> Page:
    """The first page of the bookmarks with *tag*."""
    response = list_bookmarks.sync_detailed(
        client=client, tag=tag, page=1, per_page=per_page
    )
    assert isinstance(response.parsed, BookmarkPage), response.content
    page = response.parsed
    return Page(
        [bookmark.id for bookmark in page.items],
        page.meta.total,
        response.headers.get("Link"),
    )


def get(client: Client, bookmark_id: int) -> Tagged:
    """Read a bookmark and its entity tag."""
    response = get_bookmark.sync_detailed(bookmark_id, client=client)
    assert isinstance(response.parsed, BookmarkOut), response.content
    return Tagged(response.parsed, response.headers["ETag"])


def change_title(client: Client, bookmark_id: int, title: str) -> BookmarkOut:
    """PATCH the title alone."""
    response = change_bookmark.sync_detailed(
        bookmark_id, client=client, body=BookmarkPatch(title=title)
    )
    assert isinstance(response.parsed, BookmarkOut), response.content
    return response.parsed


def put_back(client: Client, bookmark_id: int, title: str) -> BookmarkOut:
    """
    GET a bookmark, change its title, and PUT back what GET returned: the
    request model takes the response's fields as they are.
    """
    got = get(client, bookmark_id).bookmark
    body = BookmarkIn.from_dict(got.to_dict())
    body.title = title
    response = replace_bookmark.sync_detailed(bookmark_id, client=client, body=body)
    assert isinstance(response.parsed, BookmarkOut), response.content
    return response.parsed


def preconditions(client: Client, bookmark_id: int) -> Preconditions:
    """
    Change a bookmark with the entity tag GET gave, then again with the same,
    now stale, tag; replace it with the new tag; GET it with the new tag in
    If-None-Match; delete it with the stale tag, then with the current one.
    """
    first = get(client, bookmark_id)
    changed = change_bookmark.sync_detailed(
        bookmark_id,
        client=client,
        body=BookmarkPatch(notes="Checked."),
        if_match=first.etag,
    )
    stale_change = change_bookmark.sync_detailed(
        bookmark_id,
        client=client,
        body=BookmarkPatch(notes="Lost update."),
        if_match=first.etag,
    )
    assert isinstance(stale_change.parsed, ErrorBody), stale_change.content
    current = changed.headers["ETag"]
    body = BookmarkIn.from_dict(first.bookmark.to_dict())
    replaced = replace_bookmark.sync_detailed(
        bookmark_id, client=client, body=body, if_match=current
    )
    current = replaced.headers["ETag"]
    not_modified = get_bookmark.sync_detailed(
        bookmark_id, client=client, if_none_match=current
    )
    stale_delete = delete_bookmark.sync_detailed(
        bookmark_id, client=client, if_match=first.etag
    )
    deleted = delete_bookmark.sync_detailed(
        bookmark_id, client=client, if_match=current
    )
    gone = get_bookmark.sync_detailed(bookmark_id, client=client)
    return Preconditions(
        changed.status_code,
        stale_change.status_code,
        stale_change.parsed,
        replaced.status_code,
        not_modified.status_code,
        stale_delete.status_code,
        deleted.status_code,
        gone.status_code,
    )


def missing(client: Client, bookmark_id: int) -> ErrorBody:
    """The error body of a GET of a bookmark that does not exist."""
    error = get_bookmark.sync(bookmark_id, client=client)
    assert isinstance(error, ErrorBody)
    return error


def invalid(client: Client, url: str) -> ErrorBody:
    """The error body of creating a bookmark with a bad URL."""
    body = BookmarkNew(url=url, title="Refused")
    error = create_bookmark.sync(client=client, body=body)
    assert isinstance(error, ErrorBody)
    return error
