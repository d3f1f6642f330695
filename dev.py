#!/usr/bin/env python3
"""
Set up the project's virtual environment and run it.

    python3 dev.py test     lint, type-check, run the whole test suite with coverage
    python3 dev.py serve    start example_api on http://127.0.0.1:5000

Extra arguments go to pytest (test) or to ``flask run`` (serve).
Only Python 3.10+ is needed: everything else is installed into ``.venv``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def run(*args: str | Path) -> None:
    """Run a command in the project root; stop with its exit code if it fails."""
    print("$", " ".join(str(a) for a in args), flush=True)
    code = subprocess.call([str(a) for a in args], cwd=ROOT)
    if code:
        sys.exit(code)


def setup() -> Path:
    """Create .venv if needed and install the project and its tools into it."""
    python = BIN / ("python.exe" if os.name == "nt" else "python")
    if not python.exists():
        print(f"Creating {VENV.name} with {sys.executable}", flush=True)
        venv.create(VENV, with_pip=True)
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
        "requirements-dev.txt",
    )
    return python


def test(args: list[str]) -> None:
    """Lint, type-check, then run pytest with branch coverage."""
    python = setup()
    run(python, "-m", "ruff", "check", ".")
    run(python, "-m", "ruff", "format", "--check", ".")
    run(python, "-m", "mypy", "flask_servicecbv", "tests/type_check")
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
