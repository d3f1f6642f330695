"""Run the Python code blocks of the documentation as tests, with Sybil."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sybil import Sybil
from sybil.parsers.myst import PythonCodeBlockParser, SkipParser


def _setup(namespace: dict[str, Any]) -> None:
    # Examples are written as if they were the module `myapp`, so that
    # `Flask(__name__)` and `Blueprint("api", __name__)` work as in a real app;
    # without this, `__name__` would be "builtins".
    namespace["__name__"] = "myapp"


# checks.md imports the app it checks, `myproject`, from docs/examples/checks, as
# a project's tests import the project's app.
sys.path.insert(0, str(Path(__file__).parent / "examples" / "checks"))

# Each page's blocks run in order, in one namespace per page.
pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["*.md"],
    setup=_setup,
).pytest()

# The example files under docs/examples/ run as their own pytest session,
# from tests/test_docs.py, as they would in a user's project.
collect_ignore = ["examples"]
