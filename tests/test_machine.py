"""What the suite takes from the machine: worker databases and programs."""

from __future__ import annotations

import pytest
from machine import (
    POSTGRESQL_URL,
    drop_worker_database,
    find_program,
    give_worker_a_database,
    worker_url,
)
from sqlalchemy.exc import OperationalError

URL = "postgresql+psycopg://servicecbv:secret@127.0.0.1:5432/servicecbv_test"


class TestWorkerDatabase:
    WORKER = {
        "PYTEST_XDIST_WORKER": "gw0",
        "PYTEST_XDIST_TESTRUNUID": "0123456789abcdef",
        POSTGRESQL_URL: URL,
    }
    OWN = "postgresql+psycopg://servicecbv:secret@127.0.0.1:5432/servicecbv_test_01234567_gw0"

    def test_worker_url(self):
        """
        A worker's database sits beside the given one, named after the test
        run and the worker, with the same role and password.
        """
        assert worker_url(URL, "0123456789abcdef", "gw0") == self.OWN

    def test_worker_gets_its_own_database(self):
        """
        Under xdist, the variable is rewritten to the worker's database once
        it is created, and both URLs are returned for the drop.
        """
        created = []
        environ = dict(self.WORKER)

        urls = give_worker_a_database(
            environ, create=lambda *urls: created.append(urls)
        )

        assert environ[POSTGRESQL_URL] == self.OWN
        assert created == [(URL, self.OWN)] == [urls]

    @pytest.mark.parametrize(
        "environ",
        [{POSTGRESQL_URL: URL}, {"PYTEST_XDIST_WORKER": "gw0"}],
        ids=["not-a-worker", "no-url"],
    )
    def test_left_alone(self, environ):
        """
        Outside xdist, or without a URL, nothing is created or changed.
        """
        before = dict(environ)

        assert give_worker_a_database(environ, create=pytest.fail) is None
        assert environ == before

    def test_unreachable_server(self):
        """
        A server that cannot be reached leaves the URL as it is, so that the
        PostgreSQL tests report it themselves.
        """

        def refused(*_):
            raise OperationalError("connect", {}, ConnectionRefusedError())

        environ = dict(self.WORKER)

        assert give_worker_a_database(environ, create=refused) is None
        assert environ[POSTGRESQL_URL] == URL

    def test_drop(self):
        """
        The database created for the worker is dropped at the end; none is
        dropped where none was created.
        """
        dropped = []

        drop_worker_database((URL, self.OWN), drop=lambda *urls: dropped.append(urls))
        drop_worker_database(None, drop=pytest.fail)

        assert dropped == [(URL, self.OWN)]


class TestFindProgram:
    @staticmethod
    def which(installed):
        """A shutil.which over the paths in *installed*, recording the search."""
        searched = []

        def which(name, path):
            searched.append(path)
            return installed.get(name)

        which.searched = searched
        return which

    def test_first_found(self):
        """
        The first of the names that is installed is returned.
        """
        which = self.which({"chromium-browser": "/usr/bin/chromium-browser"})

        found = find_program(
            "chromium", "chromium-browser", install="x", environ={}, which=which
        )

        assert found == "/usr/bin/chromium-browser"

    def test_searches_sbin(self):
        """
        Debian's sbin directories are searched after PATH, where nginx lives.
        """
        which = self.which({"nginx": "/usr/sbin/nginx"})

        find_program("nginx", install="x", environ={"PATH": "/bin"}, which=which)

        assert which.searched == ["/bin:/usr/sbin:/sbin"]

    def test_missing_skips(self):
        """
        A missing program skips the test, saying how to install it.
        """
        with pytest.raises(pytest.skip.Exception, match=r"^nginx is not.*\(apt x\)$"):
            find_program("nginx", install="apt x", environ={}, which=self.which({}))

    def test_missing_fails_in_ci(self):
        """
        In CI, a missing program fails the test instead.
        """
        with pytest.raises(pytest.fail.Exception, match="CI must install it"):
            find_program(
                "nginx", install="x", environ={"CI": "true"}, which=self.which({})
            )

    def test_fixture(self, program):
        """
        The program fixture is the lookup.
        """
        assert program is find_program
