"""
Checked by ``mypy --strict``: the overwrite functions take a ping, ``None``,
or nothing (keep the replaced registration's ping).

``tests/test_extension.py`` imports this module and runs :func:`swap`.
"""

from __future__ import annotations

from unittest.mock import Mock

# typing.assert_type needs Python 3.11 and mypy checks for 3.10.
from typing_extensions import assert_type

from flask_servicecbv import (
    get,
    override,
    overwrite_factory,
    overwrite_value,
)


class Database:
    """A service key with a health check."""

    def ping(self) -> None:
        """
        Check the connection.
        """


def swap() -> Database:
    """
    Swap Database for fakes every way; run in an app context.
    """
    fake = Mock(spec_set=Database)
    overwrite_value(Database, fake)
    overwrite_value(Database, fake, ping=lambda db: db.ping())
    overwrite_factory(Database, lambda: fake, ping=None)
    with override(Database, value=fake, ping=Database.ping):
        db = get(Database)
    assert_type(db, Database)
    return db
