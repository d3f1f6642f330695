"""
What the suite needs from the machine: PostgreSQL databases and programs.

Environment variables the suite reads:

- ``SERVICECBV_TEST_POSTGRESQL_URL``: a PostgreSQL database the tests may wipe,
  ``postgresql+psycopg://user:password@127.0.0.1:5432/dbname``; without it the
  PostgreSQL tests skip. Under pytest-xdist each worker gets a database of its
  own beside it (``dbname_gw0``, ...), so the role needs ``CREATEDB``; test
  files just read the variable, which names the worker's database.
- ``CI``: when set, a missing PostgreSQL or program fails the tests that need
  it instead of skipping them.
- ``SERVICECBV_LOWEST_PYTHON``: the interpreter of the lowest-dependencies
  environment (``.venv-lowest``), which ``python3 dev.py test`` sets for the
  newest pass, so that a test can compare what both produce.

A test that needs a program of the machine (a browser, nginx) asks the
``program`` fixture for it and carries ``# pragma: needs <program>`` on its
``def`` line: coverage does not count what only some machines run, and the
``-ra`` summary says when such a test skipped.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError, ProgrammingError

if TYPE_CHECKING:
    from collections.abc import Callable, MutableMapping

#: The environment variable that names a PostgreSQL database the tests may wipe.
POSTGRESQL_URL = "SERVICECBV_TEST_POSTGRESQL_URL"

#: Where Debian puts daemons such as nginx, which a user's PATH may lack.
SBIN = ("/usr/sbin", "/sbin")


def worker_url(url: str, worker: str) -> str:
    """
    Return the URL of *worker*'s own database beside the one at *url*.
    """
    parsed = make_url(url)
    own = parsed.set(database=f"{parsed.database}_{worker}")
    return own.render_as_string(hide_password=False)


def _create_database(url: str, own_url: str) -> None:  # pragma: needs postgresql
    """
    Create the database of *own_url* through *url*'s server unless it exists.

    Raises:
        OperationalError: The server cannot be reached.
        pytest.UsageError: The role may not create databases.
    """
    name = make_url(own_url).database
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": name},
            ).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    except ProgrammingError as e:
        role = make_url(url).username
        msg = (
            f"Role {role} may not create the test database {name}: "
            f"grant it with ALTER ROLE {role} CREATEDB."
        )
        raise pytest.UsageError(msg) from e
    finally:
        engine.dispose()


def give_worker_a_database(
    environ: MutableMapping[str, str],
    create: Callable[[str, str], None] = _create_database,
) -> None:
    """
    Point ``SERVICECBV_TEST_POSTGRESQL_URL`` of an xdist worker at a database
    of its own, so that workers never drop each other's tables.

    Outside xdist, without the variable, or when the server cannot be reached,
    *environ* is left as it is: the PostgreSQL tests then run, skip or fail
    (in CI) as they would anyway.
    """
    worker = environ.get("PYTEST_XDIST_WORKER")
    url = environ.get(POSTGRESQL_URL)
    if not worker or not url:
        return
    own = worker_url(url, worker)
    try:
        create(url, own)
    except OperationalError:
        return
    environ[POSTGRESQL_URL] = own


def find_program(
    *names: str,
    install: str,
    environ: MutableMapping[str, str] = os.environ,
    which: Callable[..., str | None] = shutil.which,
) -> str:
    """
    Return the path of the first of *names* that the machine has; skip the
    test otherwise, saying to run *install*, or fail it in CI.

    Looks in ``PATH`` and then in Debian's sbin directories.
    """
    search = os.pathsep.join([environ.get("PATH", os.defpath), *SBIN])
    for name in names:
        path = which(name, path=search)
        if path is not None:
            return path
    msg = f"{names[0]} is not installed ({install})"
    if environ.get("CI"):
        pytest.fail(f"{msg}; CI must install it.")
    pytest.skip(msg)
