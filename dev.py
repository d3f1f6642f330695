#!/usr/bin/env python3
"""
Set up the project's virtual environments and the services its tests need, and run.

    python3 dev.py test           set up and lint, then type-check while running the
                                  whole suite twice at the same time: against the lowest
                                  supported Flask, Werkzeug and marshmallow on the
                                  lowest supported Python, and against the newest
                                  on the newest Python, with branch coverage
                                  required at 100%
    python3 dev.py test --quick   the fast loop: the newest environment only,
                                  without the tests marked slow, no coverage gate
    python3 dev.py serve          start example_api on http://127.0.0.1:5000

Extra arguments go to pytest (test) or to ``flask run`` (serve).
Only Python 3.10+ is needed: everything else is installed into ``.venv`` and
``.venv-lowest``. ``test`` also starts the machine's PostgreSQL (Debian's
cluster) with a role and a database for the tests, and installs Debian's
chromium and nginx when they are missing and it may (as root, or with sudo
that asks no password); where it cannot, the tests that need them skip.
With ``CI`` set, as in ``.ci/run``, a set-up that fails stops the run.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
# A second environment with the lowest versions of Flask, Werkzeug and
# marshmallow that setup.py allows.
VENV_LOWEST = ROOT / ".venv-lowest"

# The Pythons setup.py supports, lowest and newest (its classifiers).
LOWEST_PYTHON = (3, 10)
NEWEST_PYTHON = (3, 13)

# The PostgreSQL role and database the tests get; the role creates a database
# per pytest-xdist worker, hence CREATEDB.
ROLE = "servicecbv"
PASSWORD = "servicecbv"  # noqa: S105 -- a local test database's, on loopback
DATABASE = "servicecbv_test"
POSTGRESQL_URL = "SERVICECBV_TEST_POSTGRESQL_URL"

# Long tests that run in one pass only, so that the two passes share the work
# instead of doing it twice. The lowest pass, which has no coverage tracer to
# slow it down, runs the soak, the model-based tests, and the files that drive
# the package only through subprocesses (servers under load, benchmarks), so
# that coverage leaves them out. The newest pass runs example_api end to end
# under gunicorn, alone and behind nginx; the tests of the OpenAPI document
# with outside tools (schemathesis, generated clients, validators), since the
# document is byte for byte the same under both environments, which
# tests/test_openapi_clients.py checks from the newest; the package build; the
# docs' build, which is published from one environment; and the docs' tutorial
# and command outputs, which run in subprocesses (the docs' examples
# themselves run in both passes); and the check that pytest-xdist keeps the
# files whose classes share servers whole, a pytest session of its own.
ONE_PASS_ONLY = (
    "tests/test_soak.py",
    "tests/test_model.py",
    "tests/test_benchmarks.py",
    "tests/test_hostile.py",
)
NEWEST_PASS_ONLY = (
    "tests/test_example_api.py::TestGunicorn",
    "tests/test_example_api.py::TestSchemathesis",
    "tests/test_proxy.py",
    "tests/test_rest_openapi.py::test_schemathesis",
    "tests/test_openapi_clients.py",
    "tests/test_packaging.py",
    "tests/test_docs.py::TestBuild",
    "tests/test_docs.py::TestExamples",
    "tests/test_docs.py::TestTutorial",
    "tests/test_machine.py::TestScheduling",
)

# Debian's packages for the programs some tests drive.
PROGRAMS = {"chromium": ("chromium", "chromium-browser"), "nginx": ("nginx",)}
SBIN = ("/usr/sbin", "/sbin")


# -- running commands -----------------------------------------------------------


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    """Run a command in the project root; stop with its exit code if it fails."""
    print("$", " ".join(str(a) for a in args), flush=True)
    code = subprocess.call([str(a) for a in args], cwd=ROOT, env=env)
    if code:
        sys.exit(code)


def succeeds(*args: str | Path, stdin: str | None = None) -> bool:
    """Run a command quietly; tell whether it exited 0."""
    try:
        result = subprocess.run(
            [str(a) for a in args],
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return False
    if result.returncode:
        print(result.stdout + result.stderr, end="", flush=True)
    return result.returncode == 0


def privilege(*, uid: int | None = None, sudo: bool | None = None) -> str | None:
    """
    Tell how this user may run commands as another: ``"root"``, ``"sudo"``
    (sudo that asks no password) or None.
    """
    if (os.getuid() if uid is None else uid) == 0:
        return "root"
    if sudo is None:
        sudo = shutil.which("sudo") is not None and not subprocess.call(
            ["sudo", "-n", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    return "sudo" if sudo else None


def as_user(user: str, *args: str, how: str | None) -> list[str]:
    """
    Return *args* as a command that runs as *user* (``root`` or ``postgres``),
    given how this user may (see privilege()); an empty list if it may not.
    """
    if how == "root":
        return list(args) if user == "root" else ["runuser", "-u", user, "--", *args]
    if how == "sudo":
        return (
            ["sudo", "-n", *args]
            if user == "root"
            else ["sudo", "-n", "-u", user, "--", *args]
        )
    return []


# -- interpreters -----------------------------------------------------------------


def python_candidates(
    version: tuple[int, int], environ: Mapping[str, str] = os.environ
) -> list[Path]:
    """
    Return the interpreters that may be Python *version*, best first: the
    running one, pyenv's installs of it (newest patch release first), then
    ``pythonX.Y`` on PATH.
    """
    found = []
    if sys.version_info[:2] == version:
        found.append(Path(sys.executable))
    pyenv = Path(environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    releases = []
    for path in pyenv.glob(f"{version[0]}.{version[1]}.*"):
        # Plain releases only: not 3.13.0t (free-threaded) nor 3.13-dev.
        match = re.fullmatch(r"\d+\.\d+\.(\d+)", path.name)
        if match and (path / "bin" / "python").exists():
            releases.append((int(match[1]), path / "bin" / "python"))
    found += [python for _, python in sorted(releases, reverse=True)]
    on_path = shutil.which(f"python{version[0]}.{version[1]}", path=environ.get("PATH"))
    if on_path is not None:
        found.append(Path(on_path))
    return found


def version_of(python: Path) -> tuple[int, int] | None:
    """Return the version of the interpreter at *python*, or None if it does not run."""
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    major, minor = out.split()
    return int(major), int(minor)


def choose_python(
    version: tuple[int, int],
    candidates: list[Path],
    version_of: Callable[[Path], tuple[int, int] | None] = version_of,
) -> tuple[Path, str | None]:
    """
    Return the first of *candidates* that is Python *version*; failing that,
    the running interpreter and why it stands in.
    """
    for python in candidates:
        if version_of(python) == version:
            return python, None
    wanted = "{}.{}".format(*version)
    running = "{}.{}".format(*sys.version_info[:2])
    return Path(sys.executable), (
        f"Python {wanted} is not installed (pyenv install {wanted}): "
        f"this Python, {running}, stands in for it."
    )


# -- virtual environments ---------------------------------------------------------


# The editable install of the project writes its egg-info into the source
# tree: two environments take turns at it, while their tools install at once.
EDITABLE_INSTALL = threading.Lock()


def setup(venv_dir: Path, python: Path, *constraints: str) -> Path:
    """
    Create *venv_dir* with *python* if needed and install the project and its
    tools into it, unless the files it was installed from are unchanged.

    The tools come first, then the project (editable), with EDITABLE_INSTALL
    held: another environment may be set up at the same time.
    """
    bin_dir = venv_dir / ("Scripts" if os.name == "nt" else "bin")
    venv_python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    if not venv_python.exists():
        print(f"Creating {venv_dir.name} with {python}", flush=True)
        run(python, "-m", "venv", venv_dir)
    elif version_of(venv_python) != version_of(python):
        print(
            f"{venv_dir.name} has another Python than {python}: "
            f"remove {venv_dir.name} to have it made again.",
            flush=True,
        )
    stamp = venv_dir / "installed-from.sha256"
    digest = installed_from(*constraints)
    if stamp.exists() and stamp.read_text(encoding="utf-8") == digest:
        return venv_python
    project, tools = split_requirements(
        (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    )
    tools_file = venv_dir / "tools.txt"
    tools_file.write_text("".join(f"{line}\n" for line in tools), encoding="utf-8")
    # --no-compile: most installed modules are never imported, and those that
    # are get compiled on first import.
    pip: list[str | Path] = [
        venv_python,
        *("-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
        "--no-compile",
        *[arg for name in constraints for arg in ("-c", name)],
    ]
    run(*pip, "-r", tools_file)
    # The tools include setuptools and wheel: no isolated build environment.
    with EDITABLE_INSTALL:
        run(*pip, "--no-build-isolation", *project)
    stamp.write_text(digest, encoding="utf-8")
    return venv_python


def split_requirements(text: str) -> tuple[list[str], list[str]]:
    """
    Split a requirements file into the arguments that install the project
    (its ``-e`` lines) and the lines of everything else.
    """
    project: list[str] = []
    tools: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("-e "):
            project += ["-e", stripped.removeprefix("-e ").strip()]
        elif stripped and not stripped.startswith("#"):
            tools.append(stripped)
    return project, tools


def installed_from(*constraints: str) -> str:
    """Return a digest of the files an environment is installed from."""
    digest = hashlib.sha256()
    for name in ("requirements-dev.txt", "setup.py", *constraints):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


# -- PostgreSQL -------------------------------------------------------------------


class SetupError(Exception):
    """Something the tests need could not be set up; the message says what."""


@dataclass(frozen=True)
class Cluster:
    """A Debian PostgreSQL cluster, as ``pg_lsclusters`` lists it."""

    version: int
    name: str
    port: int
    online: bool

    def start_command(self) -> list[str]:
        """Return the command that starts this cluster, as root."""
        return ["pg_ctlcluster", str(self.version), self.name, "start"]


def parse_clusters(listing: str) -> list[Cluster]:
    """Read the clusters from the output of ``pg_lsclusters --no-header``."""
    clusters = []
    for line in listing.splitlines():
        # Version, cluster, port, status, owner, data directory, log file.
        fields = line.split()
        if len(fields) >= 4 and fields[0].isdigit() and fields[2].isdigit():  # noqa: PLR2004
            version, name, port, status = fields[:4]
            online = status.startswith("online")
            clusters.append(Cluster(int(version), name, int(port), online))
    return clusters


def pick_cluster(clusters: list[Cluster]) -> Cluster | None:
    """Return the cluster to test on: the newest running one, else the newest main."""
    running = [c for c in clusters if c.online]
    candidates = running or [c for c in clusters if c.name == "main"] or clusters
    return max(candidates, key=lambda c: c.version, default=None)


def start_if_stopped(
    cluster: Cluster,
    how: str | None,
    succeeds: Callable[..., bool] = succeeds,
) -> bool:
    """
    Start *cluster* unless it runs; tell whether it was started.

    Raises:
        SetupError: It did not start.
    """
    if cluster.online:
        return False
    print(f"Starting PostgreSQL {cluster.version} {cluster.name}", flush=True)
    if not succeeds(*as_user("root", *cluster.start_command(), how=how)):
        msg = f"PostgreSQL {cluster.version} {cluster.name} did not start."
        raise SetupError(msg)
    return True


# Run by psql as postgres: the role and the database, each made once.
SETUP_SQL = rf"""
SELECT 'CREATE ROLE {ROLE} LOGIN PASSWORD ''{PASSWORD}'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}')\gexec
ALTER ROLE {ROLE} CREATEDB;
SELECT 'CREATE DATABASE {DATABASE} OWNER {ROLE}'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DATABASE}')\gexec
"""  # noqa: S608 -- the project's own constants, not input


def postgresql() -> str:
    """
    Start the machine's PostgreSQL cluster if it is stopped, give the tests a
    role and a database, and return the database's URL.

    Raises:
        SetupError: The machine has no cluster, or this user may not set it up.
    """
    if shutil.which("pg_lsclusters") is None:
        msg = "PostgreSQL is not installed (apt-get install postgresql)."
        raise SetupError(msg)
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False
    ).stdout
    cluster = pick_cluster(parse_clusters(listing))
    if cluster is None:
        msg = "PostgreSQL has no cluster (pg_createcluster --start 15 main)."
        raise SetupError(msg)
    port = str(cluster.port)
    how = privilege()
    psql = as_user(
        "postgres", "psql", "-p", port, "-v", "ON_ERROR_STOP=1", "-q", how=how
    )
    if not psql:
        msg = "Setting up PostgreSQL needs root, or sudo that asks no password."
        raise SetupError(msg)
    start_if_stopped(cluster, how)
    for _ in range(30):
        if succeeds("pg_isready", "-q", "-h", "127.0.0.1", "-p", port):
            break
        time.sleep(1)
    if not succeeds(*psql, stdin=SETUP_SQL):
        msg = f"Could not create the role {ROLE} and the database {DATABASE}."
        raise SetupError(msg)
    return f"postgresql+psycopg://{ROLE}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"


# -- programs the tests drive -------------------------------------------------------


def missing_packages(
    path: str = os.environ.get("PATH", os.defpath),
    which: Callable[..., str | None] = shutil.which,
) -> list[str]:
    """Return the Debian packages of the programs that the machine lacks."""
    search = os.pathsep.join([path, *SBIN])
    return [
        package
        for package, names in PROGRAMS.items()
        if not any(which(name, path=search) for name in names)
    ]


def install_packages(packages: list[str]) -> None:
    """
    Install the Debian *packages* with apt-get.

    Raises:
        SetupError: This user may not, or apt-get failed.
    """
    names = ", ".join(packages)
    apt = as_user(
        "root", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", how=privilege()
    )
    if not apt or shutil.which("apt-get") is None:
        msg = f"Installing {names} needs apt-get and root, or sudo without a password."
        raise SetupError(msg)
    print(f"Installing {names} with apt-get", flush=True)
    if not (
        succeeds(*apt, "update", "-qq")
        and succeeds(*apt, "install", "-y", "-qq", *packages)
    ):
        msg = f"apt-get could not install {names}."
        raise SetupError(msg)


def services(env: dict[str, str], problems: list[str]) -> None:
    """
    Set up PostgreSQL, unless *env* names a database already, and the programs
    the tests need; put the database's URL into *env*, and what could not be
    set up into *problems*.
    """
    if not env.get(POSTGRESQL_URL):
        try:
            env[POSTGRESQL_URL] = postgresql()
        except SetupError as e:
            problems.append(f"{e} The PostgreSQL tests will skip.")
    if missing := missing_packages():
        try:
            install_packages(missing)
        except SetupError as e:
            problems.append(f"{e} The tests that need them will skip.")


# -- commands -----------------------------------------------------------------------


def test(args: list[str]) -> None:
    """
    Set up, lint, type-check, and run pytest against the lowest supported
    versions and, at the same time, against the newest with branch coverage;
    with ``--quick``, only the newest environment's tests that are not marked
    slow, without coverage.
    """
    started = time.monotonic()
    quick = "--quick" in args
    args = [arg for arg in args if arg != "--quick"]
    env = dict(os.environ)
    # PostgreSQL and apt-get do their work while pip does its own.
    problems: list[str] = []
    services_done = threading.Thread(target=services, args=(env, problems), daemon=True)
    services_done.start()
    # The environments install at the same time; the newest is needed first,
    # for the linters.
    lowest: list[Path] = []
    # Daemon threads: a failing check ends the run without waiting for them.
    lowest_done = threading.Thread(
        target=lambda: lowest.append(
            setup(
                VENV_LOWEST,
                pick_python("Lowest", LOWEST_PYTHON),
                "constraints-lowest.txt",
            )
        ),
        daemon=True,
    )
    if not quick:
        lowest_done.start()
    python = setup(VENV, pick_python("Newest", NEWEST_PYTHON))
    # One worker per core; a test class (or module) stays on one worker, so
    # that a class's expensive fixtures (a docs build, a package build) are
    # made once.
    parallel = ["-n", "auto", "--dist", "loadscope"]
    if quick:
        wait_for_services(services_done, problems, env)
        run(python, "-m", "pytest", *parallel, "-m", "not slow", *args, env=env)
        return
    run(python, "-m", "ruff", "check", ".")
    run(python, "-m", "ruff", "format", "--check", ".")
    # mypy runs beside the tests; what it says is printed when they end.
    mypy = start_type_check(python)
    lowest_done.join()
    wait_for_services(services_done, problems, env)
    if not lowest:
        mypy.kill()
        sys.exit("Setting up .venv-lowest failed.")
    print(f"Set-up and linting took {time.monotonic() - started:.0f} s.", flush=True)
    # The two passes run at the same time: much of the suite waits on servers
    # and subprocesses, and the other pass's workers use those idle cores. The
    # lowest pass writes to a log, printed when it ends.
    log_path = VENV_LOWEST / "last-pass.log"
    lowest_args: list[str | Path] = [
        lowest[0],
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        *parallel,
        *[
            f"--deselect={node}" if "::" in node else f"--ignore={node}"
            for node in NEWEST_PASS_ONLY
        ],
        *args,
    ]
    print("$", *lowest_args, ">", log_path.relative_to(ROOT), flush=True)
    lowest_started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log:
        lowest_pass = subprocess.Popen(
            lowest_args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    lowest_ended: list[float] = []

    def wait_for_lowest() -> None:
        lowest_pass.wait()
        lowest_ended.append(time.monotonic())

    lowest_waiter = threading.Thread(target=wait_for_lowest, daemon=True)
    lowest_waiter.start()
    # A test may compare what the newest pass produces with the lowest's.
    newest_env = {**env, "SERVICECBV_LOWEST_PYTHON": str(lowest[0])}
    newest_code = timed(
        "The newest pass",
        python,
        "-m",
        "pytest",
        *parallel,
        *[f"--ignore={path}" for path in ONE_PASS_ONLY],
        # Only the model-based tests, left to the lowest pass, use hypothesis.
        "-p",
        "no:hypothesispytest",
        "--cov",
        "--cov-report=term-missing:skip-covered",
        "--cov-fail-under=100",
        *args,
        env=newest_env,
    )
    lowest_waiter.join()
    lowest_code = lowest_pass.returncode
    mypy_code = finish_type_check(mypy)
    print(f"\nThe lowest pass ({log_path.relative_to(ROOT)}):", flush=True)
    print(log_path.read_text(encoding="utf-8"), flush=True)
    print(
        f"The lowest pass took {lowest_ended[0] - lowest_started:.0f} s; "
        f"python3 dev.py test took {time.monotonic() - started:.0f} s.",
        flush=True,
    )
    if newest_code or lowest_code or mypy_code:
        sys.exit(newest_code or lowest_code or mypy_code)


def start_type_check(python: Path) -> subprocess.Popen[str]:
    """Start mypy on the package in the background."""
    args = [str(python), "-m", "mypy", "flask_servicecbv", "tests/type_check"]
    print("$", *args, flush=True)
    return subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish_type_check(mypy: subprocess.Popen[str]) -> int:
    """Wait for mypy, print what it said, and return its exit code."""
    output, _ = mypy.communicate()
    print(f"\n$ mypy:\n{output}", end="", flush=True)
    return mypy.returncode


def wait_for_services(
    thread: threading.Thread, problems: list[str], env: dict[str, str]
) -> None:
    """Wait for the set-up of the services; say what failed, and stop in CI."""
    thread.join()
    for problem in problems:
        print(problem, flush=True)
    if problems and env.get("CI"):
        sys.exit("CI must have everything the tests need.")


def pick_python(which: str, version: tuple[int, int]) -> Path:
    """Return the interpreter for a pass, saying so when another stands in."""
    python, why = choose_python(version, python_candidates(version))
    if why:
        print(f"{which} pass: {why}", flush=True)
    return python


def timed(what: str, *args: str | Path, env: dict[str, str]) -> int:
    """Run a command in the project root, say how long it took, return its code."""
    print("$", " ".join(str(a) for a in args), flush=True)
    started = time.monotonic()
    code = subprocess.call([str(a) for a in args], cwd=ROOT, env=env)
    print(f"{what} took {time.monotonic() - started:.0f} s.", flush=True)
    return code


def serve(args: list[str]) -> None:
    """Start example_api with Flask's development server."""
    python = setup(VENV, pick_python("Newest", NEWEST_PYTHON))
    run(python, "-m", "flask", "--app", "example_api", "run", *args)


def main() -> None:
    """Dispatch to the command named on the command line."""
    commands = {"test": test, "serve": serve}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:  # noqa: PLR2004
        print(__doc__)
        sys.exit(2)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
