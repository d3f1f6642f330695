"""Users and their bearer tokens, stored as hashes; the ``flask tokens`` commands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import Connection, Engine, delete, insert, select

from flask_servicecbv.auth import generate_token, hash_token
from flask_servicecbv.sqlalchemy import EXTENSION_KEY

from .db import access_token, user_account

if TYPE_CHECKING:
    from collections.abc import Iterable

    from flask_servicecbv import Container

#: Read the caller's bookmarks.
READ: Final = "bookmarks:read"
#: Create, change and delete the caller's bookmarks.
WRITE: Final = "bookmarks:write"
#: Read and delete every user's bookmarks on ``/admin/v1``.
ADMIN: Final = "admin"

#: The scopes a token may be given.
SCOPES: Final = (READ, WRITE, ADMIN)

#: What ``flask tokens create`` gives when no ``--scope`` is given.
DEFAULT_SCOPES: Final = (READ, WRITE)

# What every token starts with: people and secret scanners recognise it.
TOKEN_PREFIX: Final = "bm_"  # noqa: S105 -- a prefix, not a secret


@dataclass(frozen=True)
class User:
    """
    The caller: a request-scoped service, made from the request's bearer
    token by the principal factory that ``create_app()`` registers.

    Args:
        id: The user's id, which bookmarks' ``owner_id`` holds.

        name: The user's name.

        scopes: What the token allows.
    """

    id: int
    name: str
    scopes: frozenset[str]


class TokenStore:
    """
    The :class:`~flask_servicecbv.auth.TokenVerifier` of the bearer scheme:
    finds a token's user by the token's SHA-256, on the request's connection.

    Looking the hash up by an index is safe although not constant-time:
    timing can only tell how much of the hash of the caller's own guess
    matches, which says nothing of a stored token.

    Args:
        conn: The connection of the current app context.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __repr__(self) -> str:
        return "<TokenStore>"

    def verify_token(self, token: str) -> User | None:
        """Return the user that *token* stands for, or ``None``."""
        row = self.conn.execute(
            select(user_account.c.id, user_account.c.name, access_token.c.scopes)
            .join(access_token, access_token.c.user_id == user_account.c.id)
            .where(access_token.c.digest == hash_token(token))
        ).one_or_none()
        if row is None:
            return None
        return User(row.id, row.name, frozenset(row.scopes.split()))


def make_token_store(container: Container) -> TokenStore:
    """Build the token store on the connection of the same app context."""
    return TokenStore(container.get(Connection))


# -- the commands ----------------------------------------------------------------


def issue_token(conn: Connection, user: str, scopes: Iterable[str]) -> str:
    """
    Create *user* if new, and a token for it with *scopes*; store the
    token's hash and return the token: the one time it is seen.
    """
    found = conn.execute(
        select(user_account.c.id).where(user_account.c.name == user)
    ).scalar_one_or_none()
    if found is None:
        found = conn.execute(
            insert(user_account).values(name=user).returning(user_account.c.id)
        ).scalar_one()
    token = generate_token(prefix=TOKEN_PREFIX)
    conn.execute(
        insert(access_token).values(
            user_id=found,
            digest=hash_token(token),
            scopes=" ".join(dict.fromkeys(scopes)),
        )
    )
    return token


def revoke_token(conn: Connection, token: str) -> bool:
    """Delete *token*; return whether it existed."""
    deleted = conn.execute(
        delete(access_token).where(access_token.c.digest == hash_token(token))
    )
    return deleted.rowcount > 0


tokens = AppGroup("tokens", help="Create, revoke and list the API's bearer tokens.")


def _engine() -> Engine:
    return current_app.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]


@tokens.command("create")
@click.argument("user")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help=f"A scope of the token; repeat it. Default: {' '.join(DEFAULT_SCOPES)}.",
)
def create_command(user: str, scopes: tuple[str, ...]) -> None:
    """Create USER if new and a token for it; print the token, last."""
    if not 1 <= len(user) <= 100 or "\x00" in user:  # noqa: PLR2004 -- the column
        msg = "Give a user name of 1 to 100 characters, without NUL."
        raise click.BadParameter(msg, param_hint="USER")
    with _engine().begin() as conn:
        token = issue_token(conn, user, scopes or DEFAULT_SCOPES)
    click.echo(f"Token for {user} (shown once; only its hash is stored):")
    click.echo(token)


@tokens.command("revoke")
@click.argument("token")
def revoke_command(token: str) -> None:
    """Revoke TOKEN: it is refused from now on."""
    with _engine().begin() as conn:
        revoked = revoke_token(conn, token)
    if not revoked:
        msg = "No such token: it was revoked already, or never issued."
        raise click.ClickException(msg)
    click.echo("Revoked.")


@tokens.command("list")
def list_command() -> None:
    """List the tokens: user, scopes, creation time; never a token."""
    with _engine().connect() as conn:
        rows = conn.execute(
            select(
                user_account.c.name, access_token.c.scopes, access_token.c.created_at
            )
            .join(access_token, access_token.c.user_id == user_account.c.id)
            .order_by(user_account.c.name, access_token.c.id)
        ).all()
    for name, scopes, created in rows:
        click.echo(f"{name}\t{scopes}\t{created.isoformat()}")
