"""The sdist and the wheel build offline, pass twine check, and are complete."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

# setuptools writes *.egg-info and build/ next to setup.py, so the build runs on
# a copy of the tree: the repository must stay as it was.
_NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "instance",
    "*.egg-info",
    "build",
    "dist",
    "_build",
    "__pycache__",
    "*.py[cod]",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".coverage*",
    "htmlcov",
)


def _run(*args: str | Path, cwd: Path) -> None:
    result = subprocess.run(  # noqa: S603 -- our own interpreter, fixed arguments
        [sys.executable, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(name="dists", scope="module")
def _dists(tmp_path_factory):
    """
    Build the sdist, then the wheel from it, without network access.
    """
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "src"
    out = tmp / "dist"
    shutil.copytree(ROOT, src, ignore=_NOT_COPIED)
    _run("-m", "build", "--no-isolation", "--outdir", out, src, cwd=tmp)
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    return sdist, wheel


def _sdist_names(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as tar:
        # Drop the leading "flask_servicecbv-<version>/".
        return {name.partition("/")[2] for name in tar.getnames()}


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as whl:
        return set(whl.namelist())


class TestPackaging:
    def test_twine_check(self, dists):
        """
        twine accepts both distributions, README.md included as the long
        description.
        """
        _run("-m", "twine", "check", "--strict", *dists, cwd=ROOT)

    def test_wheel_has_package(self, dists):
        """
        The wheel has every module of the package and its py.typed marker.
        """
        _, wheel = dists
        modules = {
            f"flask_servicecbv/{path.name}"
            for path in (ROOT / "flask_servicecbv").glob("*.py")
        }

        names = _wheel_names(wheel)

        assert "flask_servicecbv/py.typed" in names
        assert "flask_servicecbv/__init__.py" in modules
        assert modules <= names

    def test_sdist_has_tests_and_metadata(self, dists):
        """
        The sdist has the tests, setup.py, the licence and the README, so that
        it can be tested and rebuilt.
        """
        sdist, _ = dists
        expected = {
            f"tests/{path.name}" for path in (ROOT / "tests").glob("test_*.py")
        } | {"tests/conftest.py", "setup.py", "LICENSE", "README.md"}

        names = _sdist_names(sdist)

        assert "tests/test_packaging.py" in expected
        assert expected <= names
