#!/usr/bin/env python3
"""
Set up the project's virtual environment and run it.

    python3 dev.py test     lint, type-check, run the whole test suite against the
                            lowest supported Flask, Werkzeug and marshmallow, then
                            against the newest with branch coverage
    python3 dev.py serve    start example_api on http://127.0.0.1:5000

Extra arguments go to pytest (test) or to ``flask run`` (serve).
Only Python 3.10+ is needed: everything else is installed into ``.venv``
(and ``.venv-lowest``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
# A second environment with the lowest versions of Flask, Werkzeug and
# marshmallow that setup.py allows.
VENV_LOWEST = ROOT / ".venv-lowest"


def run(*args: str | Path) -> None:
    """Run a command in the project root; stop with its exit code if it fails."""
    print("$", " ".join(str(a) for a in args), flush=True)
    code = subprocess.call([str(a) for a in args], cwd=ROOT)
    if code:
        sys.exit(code)


def setup(venv_dir: Path = VENV, *constraints: str) -> Path:
    """Create *venv_dir* if needed and install the project and its tools into it."""
    bin_dir = venv_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    if not python.exists():
        print(f"Creating {venv_dir.name} with {sys.executable}", flush=True)
        venv.create(venv_dir, with_pip=True)
    extra = [arg for name in constraints for arg in ("-c", name)]
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
        "requirements-dev.txt",
        *extra,
    )
    return python


def test(args: list[str]) -> None:
    """
    Lint, type-check, run pytest against the lowest supported versions, then
    run it again against the newest with branch coverage.
    """
    lowest = setup(VENV_LOWEST, "constraints-lowest.txt")
    python = setup()
    run(python, "-m", "ruff", "check", ".")
    run(python, "-m", "ruff", "format", "--check", ".")
    run(python, "-m", "mypy", "flask_servicecbv", "tests/type_check")
    run(lowest, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args)
    run(
        python,
        "-m",
        "pytest",
        "--cov",
        "--cov-report=term-missing:skip-covered",
        "--cov-fail-under=100",
        *args,
    )


def serve(args: list[str]) -> None:
    """Start example_api with Flask's development server."""
    python = setup()
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
