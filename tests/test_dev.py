"""dev.py's decisions: which Pythons, whether to start PostgreSQL, what to install."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402 -- dev.py is a script at the root, not a package

LISTING = """\
13  main    5433 down   postgres /var/lib/postgresql/13/main /var/log/13.log
15  main    5432 down   postgres /var/lib/postgresql/15/main /var/log/15.log
15  other   5434 online postgres /var/lib/postgresql/15/other /var/log/o.log
"""


class TestChoosePython:
    def test_first_of_the_version(self):
        """
        The first candidate that is the wanted version is chosen.
        """
        versions = {Path("a"): (3, 12), Path("b"): (3, 13), Path("c"): (3, 13)}

        python, why = dev.choose_python(
            (3, 13), list(versions), version_of=versions.get
        )

        assert (python, why) == (Path("b"), None)

    def test_stand_in(self):
        """
        Without the wanted version, the running Python stands in, and the
        reason says what to install.
        """
        python, why = dev.choose_python((3, 99), [Path("a")], version_of=lambda _: None)

        assert python == Path(sys.executable)
        assert why is not None
        assert why.startswith("Python 3.99 is not installed (pyenv install 3.99)")

    def test_version_of(self):
        """
        An interpreter's version is asked of it; one that does not run has none.
        """
        assert dev.version_of(Path(sys.executable)) == sys.version_info[:2]
        assert dev.version_of(Path("/no/such/python")) is None


class TestPythonCandidates:
    @staticmethod
    def pyenv(root, *names):
        for name in names:
            (root / "versions" / name / "bin").mkdir(parents=True)
            (root / "versions" / name / "bin" / "python").touch()

    def test_pyenv_releases_newest_patch_first(self, tmp_path):
        """
        pyenv's releases of the version come newest patch first; development
        and free-threaded builds, and other versions, are left out.
        """
        self.pyenv(tmp_path, "3.98.2", "3.98.13", "3.98-dev", "3.98.1t", "3.99.0")

        found = dev.python_candidates((3, 98), {"PYENV_ROOT": str(tmp_path)})

        assert found == [
            tmp_path / "versions" / "3.98.13" / "bin" / "python",
            tmp_path / "versions" / "3.98.2" / "bin" / "python",
        ]

    def test_running_then_path(self, tmp_path):
        """
        The running Python comes first when it is the version; pythonX.Y on
        PATH comes last.
        """
        major, minor = sys.version_info[:2]
        on_path = tmp_path / "bin" / f"python{major}.{minor}"
        on_path.parent.mkdir()
        on_path.touch(mode=0o755)

        found = dev.python_candidates(
            (major, minor), {"PYENV_ROOT": str(tmp_path), "PATH": str(on_path.parent)}
        )

        assert found == [Path(sys.executable), on_path]


class TestPostgresql:
    def test_parse_clusters(self):
        """
        pg_lsclusters' lines become clusters; other lines are ignored.
        """
        clusters = dev.parse_clusters(LISTING + "Ver Cluster Port Status\n")

        assert clusters == [
            dev.Cluster(13, "main", 5433, online=False),
            dev.Cluster(15, "main", 5432, online=False),
            dev.Cluster(15, "other", 5434, online=True),
        ]

    def test_pick_running(self):
        """
        A running cluster is used as it is.
        """
        picked = dev.pick_cluster(dev.parse_clusters(LISTING))

        assert picked == dev.Cluster(15, "other", 5434, online=True)

    def test_pick_newest_main(self):
        """
        With none running, the newest cluster named main is the one to start.
        """
        picked = dev.pick_cluster(dev.parse_clusters(LISTING.replace("online", "down")))

        assert picked == dev.Cluster(15, "main", 5432, online=False)

    def test_pick_none(self):
        """
        A machine without clusters has none to pick.
        """
        assert dev.pick_cluster([]) is None

    @pytest.mark.parametrize(
        ("how", "command"),
        [
            ("root", ["pg_ctlcluster", "15", "main", "start"]),
            ("sudo", ["sudo", "-n", "pg_ctlcluster", "15", "main", "start"]),
        ],
    )
    def test_start_if_stopped(self, how, command):
        """
        A stopped cluster is started with pg_ctlcluster, as root or through sudo.
        """
        ran = []

        started = dev.start_if_stopped(
            dev.Cluster(15, "main", 5432, online=False),
            how,
            succeeds=lambda *args: ran.append(list(args)) or True,
        )

        assert started
        assert ran == [command]

    def test_running_left_alone(self):
        """
        A running cluster is not started again.
        """
        cluster = dev.Cluster(15, "main", 5432, online=True)

        assert not dev.start_if_stopped(cluster, "root", succeeds=pytest.fail)

    def test_start_fails(self):
        """
        A cluster that does not start stops the set-up, saying which.
        """
        cluster = dev.Cluster(15, "main", 5432, online=False)

        with pytest.raises(dev.SetupError, match=r"^PostgreSQL 15 main did not start"):
            dev.start_if_stopped(cluster, "root", succeeds=lambda *_: False)

    def test_setup_sql(self):
        """
        The role may create databases, for the tests' per-worker databases.
        """
        assert f"ALTER ROLE {dev.ROLE} CREATEDB;" in dev.SETUP_SQL
        assert f"CREATE DATABASE {dev.DATABASE} OWNER {dev.ROLE}" in dev.SETUP_SQL


class TestPrivilege:
    @pytest.mark.parametrize(
        ("uid", "sudo", "how"),
        [(0, False, "root"), (1000, True, "sudo"), (1000, False, None)],
    )
    def test_privilege(self, uid, sudo, how):
        """
        Root needs nothing; others need sudo that asks no password.
        """
        assert dev.privilege(uid=uid, sudo=sudo) == how

    def test_asks_sudo(self):
        """
        Without a verdict given, sudo is asked (this suite runs as root or as
        a user that sudo may refuse: either is a verdict).
        """
        assert dev.privilege() in {"root", "sudo", None}

    @pytest.mark.parametrize(
        ("user", "how", "command"),
        [
            ("root", "root", ["id"]),
            ("postgres", "root", ["runuser", "-u", "postgres", "--", "id"]),
            ("root", "sudo", ["sudo", "-n", "id"]),
            ("postgres", "sudo", ["sudo", "-n", "-u", "postgres", "--", "id"]),
            ("postgres", None, []),
        ],
    )
    def test_as_user(self, user, how, command):
        """
        Root runs as postgres with runuser, others with sudo; without either,
        there is no command.
        """
        assert dev.as_user(user, "id", how=how) == command


class TestPrograms:
    def test_missing_packages(self):
        """
        A program is missing when none of its names is found, in PATH or sbin.
        """
        searched = []

        def which(name, path):
            searched.append(path)
            return "/usr/bin/chromium-browser" if name == "chromium-browser" else None

        assert dev.missing_packages("/bin", which=which) == ["nginx"]
        assert set(searched) == {"/bin:/usr/sbin:/sbin"}


class TestConsistency:
    def test_pythons_match_setup_py(self):
        """
        The lowest and newest Pythons are those setup.py declares.
        """
        source = (ROOT / "setup.py").read_text(encoding="utf-8")
        classifiers = [
            node.value
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant)
            and str(node.value).startswith("Programming Language :: Python :: 3.")
        ]
        versions = sorted(
            tuple(map(int, c.rpartition(" ")[2].split("."))) for c in classifiers
        )

        assert f'python_requires=">={dev.LOWEST_PYTHON[0]}.{dev.LOWEST_PYTHON[1]}"' in (
            source
        )
        assert (versions[0], versions[-1]) == (dev.LOWEST_PYTHON, dev.NEWEST_PYTHON)

    def test_one_pass_tests_are_left_out_of_coverage(self):
        """
        The tests that run in the lowest pass only, which measures no coverage,
        are the ones coverage leaves out.
        """
        # tomllib is not in Python 3.10; the line is plain enough to look for.
        config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")

        assert f"\nomit = {json.dumps(list(dev.ONE_PASS_ONLY))}\n" in config
        assert all((ROOT / path).exists() for path in dev.ONE_PASS_ONLY)

    def test_newest_pass_only_names_tests(self):
        """
        What the lowest pass leaves to the newest names test files and classes
        that exist, none of them left out of coverage.
        """
        for node in dev.NEWEST_PASS_ONLY:
            path, _, name = node.partition("::")
            source = (ROOT / path).read_text(encoding="utf-8")

            assert path not in dev.ONE_PASS_ONLY
            assert not name or re.search(
                rf"^(class {name}:|def {name}\()", source, re.MULTILINE
            )

    def test_split_requirements(self):
        """
        The project's editable line is set apart from the tools, comments and
        blank lines dropped, markers kept.
        """
        text = (
            '# tools\n-e .[openapi]\n\nruff==0.1  \ntool>=1; python_version >= "3.11"\n'
        )

        assert dev.split_requirements(text) == (
            ["-e", ".[openapi]"],
            ["ruff==0.1", 'tool>=1; python_version >= "3.11"'],
        )

    def test_requirements_install_the_project(self):
        """
        requirements-dev.txt installs the project editable, with the extra
        its tests need.
        """
        text = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")

        assert dev.split_requirements(text)[0] == ["-e", ".[openapi]"]

    def test_finish_type_check(self, capsys):
        """
        What the type check said is printed when it ends, and its exit code
        is returned, for the run to fail on.
        """
        check = subprocess.Popen(
            [sys.executable, "-c", "print('an error'); raise SystemExit(3)"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        assert dev.finish_type_check(check) == 3
        assert "an error" in capsys.readouterr().out

    def test_installed_from(self):
        """
        An environment's stamp depends on its constraints.
        """
        assert dev.installed_from() != dev.installed_from("constraints-lowest.txt")
