"""The documentation builds cleanly and covers the public API."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import flask_servicecbv

DOCS = Path(__file__).resolve().parent.parent / "docs"

# The names that api.md documents: `.. autofunction:: get`,
# `.. py:data:: container`, `.. automodule:: flask_servicecbv.exceptions`, ...
_DIRECTIVE = re.compile(
    r"^\.\. (?:auto\w+|py:\w+):: (?:flask_servicecbv\.)?([\w.]+)", re.MULTILINE
)


def _documented_names() -> set[str]:
    return set(_DIRECTIVE.findall((DOCS / "api.md").read_text(encoding="utf-8")))


class TestReadme:
    def test_example_runs(self):
        """
        The Python examples of README.md run, in order, in one namespace.
        """
        text = (DOCS.parent / "README.md").read_text(encoding="utf-8")
        blocks = re.findall(r"^```python\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
        namespace: dict[str, object] = {"__name__": "readme"}

        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102

        assert blocks
        assert "BookmarkList" in namespace


class TestDocs:
    @pytest.mark.slow
    def test_build(self, tmp_path):
        """
        The docs build with Sphinx in nitpicky mode without a single warning.
        """
        result = subprocess.run(  # noqa: S603 -- our own interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "sphinx",
                "-n",
                "-W",
                "--keep-going",
                "-b",
                "html",
                "-q",
                "-d",
                str(tmp_path / "doctrees"),
                str(DOCS),
                str(tmp_path / "html"),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=110,
        )

        assert result.returncode == 0, result.stderr
        assert (tmp_path / "html" / "api.html").is_file()

    @pytest.mark.parametrize("name", flask_servicecbv.__all__)
    def test_public_name_in_api_reference(self, name):
        """
        Every name in flask_servicecbv.__all__ has an entry in docs/api.md.
        """
        assert name in _documented_names()

    def test_exceptions_module_documented_with_members(self):
        """
        docs/api.md documents every exception in flask_servicecbv.exceptions.
        """
        text = (DOCS / "api.md").read_text(encoding="utf-8")

        assert ".. automodule:: flask_servicecbv.exceptions\n   :members:" in text
