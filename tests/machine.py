"""
What the suite needs from the machine: PostgreSQL databases and programs.

Environment variables the suite reads:

- ``SERVICECBV_TEST_POSTGRESQL_URL``: a PostgreSQL database the tests may wipe,
  ``postgresql+psycopg://user:password@127.0.0.1:5432/dbname``; without it the
  PostgreSQL tests skip. Under pytest-xdist each worker gets a database of its
  own beside it (``dbname_<run>_gw0``, dropped at the end), so the role needs
  ``CREATEDB``; test files just read the variable, which names the worker's
  database.
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
from xdist.scheduler import LoadScopeScheduling

if TYPE_CHECKING:
    from collections.abc import Callable, MutableMapping

#: The environment variable that names a PostgreSQL database the tests may wipe.
POSTGRESQL_URL = "SERVICECBV_TEST_POSTGRESQL_URL"

#: Where Debian puts daemons such as nginx, which a user's PATH may lack.
SBIN = ("/usr/sbin", "/sbin")


def worker_url(url: str, run: str, worker: str) -> str:
    """
    Return the URL of the own database of *worker* of test run *run* beside
    the one at *url*: ``dbname_<run>_gw0``.
    """
    parsed = make_url(url)
    own = parsed.set(database=f"{parsed.database}_{run[:8]}_{worker}")
    return own.render_as_string(hide_password=False)


def _create_database(url: str, own_url: str) -> None:  # pragma: needs postgresql
    """
    Create the database of *own_url* through *url*'s server.

    Raises:
        OperationalError: The server cannot be reached.
        pytest.UsageError: The role may not create databases.
    """
    name = make_url(own_url).database
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
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


def _drop_database(url: str, own_url: str) -> None:  # pragma: needs postgresql
    """Drop the database of *own_url* through *url*'s server."""
    name = make_url(own_url).database
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            # FORCE: a test's server stopped with SIGKILL may leave a session.
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def give_worker_a_database(
    environ: MutableMapping[str, str],
    create: Callable[[str, str], None] = _create_database,
) -> tuple[str, str] | None:
    """
    Point ``SERVICECBV_TEST_POSTGRESQL_URL`` of an xdist worker at a database
    of its own, named after the test run and the worker, so that workers, and
    test runs at the same time, never drop each other's tables; return the
    given URL and the worker's, for drop_worker_database().

    Outside xdist, without the variable, or when the server cannot be reached,
    *environ* is left as it is: the PostgreSQL tests then run, skip or fail
    (in CI) as they would anyway.
    """
    worker = environ.get("PYTEST_XDIST_WORKER")
    url = environ.get(POSTGRESQL_URL)
    if not worker or not url:
        return None
    own = worker_url(url, environ.get("PYTEST_XDIST_TESTRUNUID", "run"), worker)
    try:
        create(url, own)
    except OperationalError:
        return None
    environ[POSTGRESQL_URL] = own
    return url, own


def drop_worker_database(
    created: tuple[str, str] | None,
    drop: Callable[[str, str], None] = _drop_database,
) -> None:
    """Drop the database that give_worker_a_database() created, if it did."""
    if created is not None:
        drop(*created)


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


# -- spreading the tests over pytest-xdist's workers -------------------------

#: Test files whose classes share a module-scoped server: each goes to one
#: worker as a whole, which starts the server once per database, instead of
#: each class's worker starting it again (and again at each switch between
#: the databases' parameters).
WHOLE_FILES = ("tests/test_hostile.py", "tests/test_proxy.py")


class WholeFilesScheduling(LoadScopeScheduling):
    """
    pytest-xdist's ``--dist loadscope``, a class per worker at a time, except
    that the files of :data:`WHOLE_FILES` are not split.
    """

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        if path in WHOLE_FILES:
            return path
        return super()._split_scope(nodeid)
