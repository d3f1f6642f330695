"""What the suite takes from the machine: worker databases and programs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from machine import (
    POSTGRESQL_URL,
    WHOLE_FILES,
    WholeFilesScheduling,
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


# A conftest that schedules with the suite's scheduler, and test classes that
# write down which worker ran them.
_CONFTEST = """
import sys
sys.path.insert(0, {tests!r})
from machine import WholeFilesScheduling

def pytest_xdist_make_scheduler(config, log):
    return WholeFilesScheduling(config, log)
"""

_CLASSES = """
import os
import time
from pathlib import Path

{classes}
"""

_CLASS = """
class Test{n}:
    def test_{n}(self):
        # Long enough that the other worker, idle, would be given a class.
        time.sleep(0.3)
        with Path({out!r}).open("a") as out:
            out.write(f"{{__name__}} {n} {{os.environ['PYTEST_XDIST_WORKER']}}\\n")
"""


class TestScheduling:
    def test_split_scope(self):
        """
        A test of a whole file is scoped to its file; any other method to
        its class, a function to its module.
        """
        scheduling = WholeFilesScheduling.__new__(WholeFilesScheduling)

        assert (
            scheduling._split_scope(f"{WHOLE_FILES[0]}::TestA::test_x[sqlite]")
            == WHOLE_FILES[0]
        )
        assert (
            scheduling._split_scope("tests/test_views.py::TestA::test_x[a]")
            == "tests/test_views.py::TestA"
        )
        assert (
            scheduling._split_scope("tests/test_views.py::test_x")
            == "tests/test_views.py"
        )

    @pytest.mark.slow
    def test_whole_file_on_one_worker(self, tmp_path):
        """
        Under pytest-xdist, the classes of a whole file all run on one
        worker, although they take long enough for the other one to be given
        some; another file's classes run too.
        """
        out = tmp_path / "ran.txt"
        (tmp_path / "conftest.py").write_text(
            _CONFTEST.format(tests=str(Path(__file__).parent))
        )
        tests = tmp_path / "tests"
        tests.mkdir()
        classes = "".join(_CLASS.format(n=n, out=str(out)) for n in range(6))
        for path in (WHOLE_FILES[0], "tests/test_spread.py"):
            (tmp_path / path).write_text(_CLASSES.format(classes=classes))

        result = subprocess.run(  # noqa: S603 -- our own interpreter
            [
                sys.executable,
                *("-m", "pytest", "-p", "no:cacheprovider", "-q"),
                *("-n", "2", "--dist", "loadscope", "--rootdir", str(tmp_path)),
                *("-c", "/dev/null", str(tests)),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert result.returncode == 0, result.stdout + result.stderr
        workers: dict[str, set[str]] = {}
        for line in out.read_text().splitlines():
            module, _, worker = line.split()
            workers.setdefault(module, set()).add(worker)
        whole = Path(WHOLE_FILES[0]).stem
        assert len(workers[whole]) == 1
        assert len(out.read_text().splitlines()) == 12
