"""The documentation builds cleanly, its links resolve and it covers the API."""

from __future__ import annotations

import contextlib
import html
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import flask_servicecbv
import flask_servicecbv.rest
import flask_servicecbv.rest.openapi

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
GENERATED = DOCS / "_generated"
TUTORIAL = EXAMPLES / "tutorial"

#: Where the pages say that `flask run` listens; the tests replace it with
#: the address of the server they start.
SHOWN_URL = "http://127.0.0.1:5000"

# The names that api.md documents: `.. autofunction:: get`,
# `.. py:data:: container`, `.. automodule:: flask_servicecbv.exceptions`, ...
_DIRECTIVE = re.compile(
    r"^\.\. (?:auto\w+|py:\w+):: (?:flask_servicecbv\.)?([\w.]+)", re.MULTILINE
)

#: The longest line of a code block in the docs: wider lines are cut off on a
#: phone, and even on a laptop in the narrow column next to the sidebars.
#: docs/ruff.toml formats the code blocks to the same width.
MAX_CODE_LINE = 72

# A path to a file, such as `benchmarks/bench_core.py` or `ROADMAP.md`.
_FILE_PATH = re.compile(
    r"(?<![\w/.:-])((?:[\w-]+/)*[\w.-]+\.(?:py|md|txt|toml|json|cfg|ini|rst))\b"
)
_FENCE = re.compile(r"^(```+|~~~+)(.*)$")


def _documented_names() -> set[str]:
    """
    The names that api.md documents, with those of the exceptions module,
    whose members it documents (test_exceptions_module_documented_with_members
    checks that).
    """
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    return set(_DIRECTIVE.findall(text)) | set(flask_servicecbv.exceptions.__all__)


def _documented_rest_names() -> set[str]:
    """
    The names that rest-api.md documents, such as `RestView` and `MAX_ID`.
    """
    text = (DOCS / "rest-api.md").read_text(encoding="utf-8")
    return set(_DIRECTIVE.findall(text))


def _pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def build_html(out: Path) -> subprocess.CompletedProcess[str]:
    """
    Build the docs with Sphinx in nitpicky mode, warnings as errors.
    """
    return subprocess.run(  # noqa: S603 -- our own interpreter, fixed arguments
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
            str(out / "doctrees"),
            str(DOCS),
            str(out / "html"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=110,
    )


class _Page(HTMLParser):
    """
    The ids, the links and the text of one built page.
    """

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.signatures: list[str] = []
        self.signature_ids: list[str | None] = []
        self._skip = 0
        self._signature: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "a" and attributes.get("href"):
            self.hrefs.append(str(attributes["href"]))
        if tag in {"script", "style"}:
            self._skip += 1
        if tag == "dt" and "sig" in str(attributes.get("class")).split():
            self._signature = []
            self.signature_ids.append(attributes.get("id"))

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip -= 1
        if tag == "dt" and self._signature is not None:
            text = "".join(self._signature).replace("\N{PILCROW SIGN}", "")
            self.signatures.append(" ".join(text.split()))
            self._signature = None

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)
        if self._signature is not None:
            self._signature.append(data)


def parse_page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def broken_links(html_dir: Path) -> list[str]:
    """
    Return every link of the built pages to an id, on the same page or on
    another, that no element has.
    """
    pages = {
        path.relative_to(html_dir).as_posix(): parse_page(path)
        for path in html_dir.rglob("*.html")
        if "_static" not in path.parts
    }
    broken = []
    for name, page in sorted(pages.items()):
        for href in page.hrefs:
            if re.match(r"^[a-z][a-z0-9+.-]*:", href):  # https:, mailto:
                continue
            target, _, fragment = href.partition("#")
            target_name = (
                (Path(name).parent / target).as_posix().removeprefix("./")
                if target
                else name
            )
            if target and not target_name.endswith(".html"):
                if not (html_dir / target_name).exists():
                    broken.append(f"{name}: {href}")
                continue
            other = pages.get(target_name)
            if other is None or (fragment and fragment not in other.ids):
                broken.append(f"{name}: {href}")
    return broken


def missing_repository_files(html_dir: Path) -> list[str]:
    """
    Return the paths to repository files that the built pages name but the
    repository does not have, such as `benchmarks/bench_x.py` or `ROADMAP.md`.

    A path counts as the repository's if it starts with one of the
    repository's top-level folders, or if it is an upper-case Markdown file
    such as README.md; the names of a user's own files (`myapp.py`,
    `conftest.py`) are left alone.
    """
    top = {path.name for path in ROOT.iterdir() if path.is_dir()}
    missing = []
    for path in sorted(html_dir.glob("*.html")):
        text = html.unescape(" ".join(parse_page(path).text))
        for found in _FILE_PATH.findall(text):
            first = found.split("/", 1)[0]
            ours = ("/" in found and first in top) or re.fullmatch(
                r"[A-Z_]+\.md", found
            )
            if ours and not (ROOT / found).exists():
                missing.append(f"{path.name}: {found}")
    return missing


# Every type of value that a module-level name may have; autodoc shows the
# type's own docstring for a name without one.
_BUILTINS = (str, int, float, bool, bytes, tuple, list, dict, set, frozenset)


def builtin_docstrings(html_dir: Path) -> list[str]:
    """
    Return the builtin types whose docstring the API page shows.
    """
    page = parse_page(html_dir / "api.html")
    text = " ".join(html.unescape(" ".join(page.text)).split())
    found = []
    for builtin in _BUILTINS:
        lines = [line.strip() for line in (builtin.__doc__ or "").splitlines()]
        sentences = [line for line in lines if len(line) > 30 and "'" not in line]
        if any(sentence in text for sentence in sentences):
            found.append(builtin.__name__)
    return found


# A default value in a signature that is a name: `= KEEP`, `= _UNSET`.
_NAMED_DEFAULT = re.compile(r"=\s*([A-Za-z_][\w.]*)(?=[,)])")


def signature_problems(html_dir: Path) -> list[str]:
    """
    Return the API page's signatures that repeat an object, such as the
    typing overloads of a function, which Sphinx gives no id, and those whose
    default values are names other than None, True and False, such as a
    private sentinel.
    """
    page = parse_page(html_dir / "api.html")
    seen: set[str | None] = set()
    problems = []
    for anchor, signature in zip(page.signature_ids, page.signatures, strict=True):
        if anchor is None or anchor in seen:
            problems.append(f"again: {signature}")
        seen.add(anchor)
        problems.extend(
            f"default {name}: {signature}"
            for name in _NAMED_DEFAULT.findall(signature)
            if name not in {"None", "True", "False"}
        )
    return problems


def code_lines(path: Path) -> list[tuple[int, str]]:
    """
    Return the lines, numbered, of the code blocks of a Markdown file.

    Directives such as {eval-rst} and {literalinclude} are not code blocks
    that a reader sees; {code-block} is.
    """
    lines = []
    fence = None
    shown = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = _FENCE.match(line.strip())
        if fence is None:
            if match:
                fence = match.group(1)
                info = match.group(2).strip()
                shown = not info.startswith("{") or info.startswith("{code-block}")
        elif match and match.group(1) == fence and not match.group(2):
            fence = None
        elif shown and not line.startswith(":"):
            lines.append((number, line))
    return lines


@pytest.fixture(name="html_dir", scope="module")
def _html_dir(tmp_path_factory):
    """
    The docs, built once for every test of this module that reads them.
    """
    out = tmp_path_factory.mktemp("docs")
    result = build_html(out)
    assert result.returncode == 0, result.stderr
    return out / "html"


class TestReadme:
    def test_example_runs(self):
        """
        The Python examples of README.md run, in order, in one namespace.
        """
        text = (ROOT / "README.md").read_text(encoding="utf-8")
        blocks = re.findall(r"^```python\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
        namespace: dict[str, object] = {"__name__": "readme"}

        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102

        assert blocks
        assert "BookmarkList" in namespace


@pytest.mark.slow
class TestBuild:
    def test_build(self, html_dir):
        """
        The docs build with Sphinx in nitpicky mode without a single warning.
        """
        assert (html_dir / "api.html").is_file()

    def test_links_resolve(self, html_dir):
        """
        Every link to a page or to an anchor, such as `#x` or `page.html#x`,
        has a target with that id.
        """
        assert broken_links(html_dir) == []

    def test_repository_files_exist(self, html_dir):
        """
        Every repository file the pages name, such as
        `benchmarks/bench_core.py`, is in the repository.
        """
        assert missing_repository_files(html_dir) == []

    def test_no_builtin_docstrings(self, html_dir):
        """
        No entry of the API page shows the docstring of str, int or another
        builtin type instead of its own.
        """
        assert builtin_docstrings(html_dir) == []

    def test_signatures(self, html_dir):
        """
        Every object of the API page has one signature, and its defaults are
        literals: no typing overloads, no private sentinels.
        """
        assert signature_problems(html_dir) == []

    def test_issue_numbers_link_to_the_tracker(self, html_dir):
        """
        The changelog's issue numbers are links to the issue tracker.
        """
        page = parse_page(html_dir / "changelog.html")

        assert any(re.search(r"/issues/2$", href) for href in page.hrefs)

    def test_changelog_names_link_to_the_reference(self, html_dir):
        """
        The changelog's fully qualified names are links to their entries in
        the API and REST references.
        """
        page = parse_page(html_dir / "changelog.html")

        assert "api.html#flask_servicecbv.init_app" in page.hrefs
        assert "rest-api.html#flask_servicecbv.rest.reads" in page.hrefs


class TestChecks:
    """
    The checks above fail on what they are meant to catch.
    """

    def test_broken_links(self, tmp_path):
        """
        A link to a missing id or page is reported; a good one is not.
        """
        (tmp_path / "a.html").write_text(
            '<p id="here"><a href="#here">ok</a><a href="#gone">x</a>'
            '<a href="b.html#there">ok</a><a href="b.html#nowhere">x</a>'
            '<a href="c.html">x</a><a href="https://example.com/#y">ok</a>'
            '<a href="b.txt">ok</a><a href="c.txt">x</a></p>'
            "<script>let here = '<a href=\"#nothing\">';</script>",
            encoding="utf-8",
        )
        (tmp_path / "b.html").write_text('<h1 id="there"></h1>', encoding="utf-8")
        (tmp_path / "b.txt").write_text("", encoding="utf-8")

        assert broken_links(tmp_path) == [
            "a.html: #gone",
            "a.html: b.html#nowhere",
            "a.html: c.html",
            "a.html: c.txt",
        ]

    def test_missing_files(self, tmp_path):
        """
        A path into the repository that does not exist is reported; a user's
        own file name and an existing path are not.
        """
        (tmp_path / "a.html").write_text(
            "<p>See <code>benchmarks/bench_nothing.py</code>, ROADMAP.md, "
            "benchmarks/README.md, myapp.py and tests/conftest.py.</p>",
            encoding="utf-8",
        )

        assert missing_repository_files(tmp_path) == [
            "a.html: benchmarks/bench_nothing.py",
            "a.html: ROADMAP.md",
        ]

    def test_builtin_docstring(self, tmp_path):
        """
        An API page that shows str's docstring is reported.
        """
        (tmp_path / "api.html").write_text(
            f"<dd><p>{html.escape(str.__doc__ or '')}</p></dd>", encoding="utf-8"
        )

        assert builtin_docstrings(tmp_path) == ["str"]

    def test_signature_problems(self, tmp_path):
        """
        A repeated signature and a default that is a name are reported.
        """
        (tmp_path / "api.html").write_text(
            '<dl><dt class="sig sig-object py" id="get">get(k, *, x=None)</dt>'
            '<dt class="sig sig-object py">get(*keys, y=UNSET)</dt>'
            '<dt class="sig sig-object py" id="put">put(z=1, w={})</dt></dl>',
            encoding="utf-8",
        )

        assert signature_problems(tmp_path) == [
            "again: get(*keys, y=UNSET)",
            "default UNSET: get(*keys, y=UNSET)",
        ]

    def test_code_lines(self, tmp_path):
        """
        Only the lines inside fenced code blocks count, not directive options.
        """
        page = tmp_path / "page.md"
        page.write_text(
            "text\n```python\nx = 1\n```\n````{literalinclude} a.py\n"
            ":language: python\n````\n```{eval-rst}\n.. autofunction:: get\n```\n",
            encoding="utf-8",
        )

        assert code_lines(page) == [(3, "x = 1")]

    def test_curl_sessions(self, tmp_path):
        """
        A console block's curl commands are read with their continuation
        lines and their output; other commands and blocks are not.
        """
        page = tmp_path / "page.md"
        page.write_text(
            "```console\n$ flask run\n```\n```python\n$ curl no\n```\n"
            "```console\n$ curl -s a \\\n    b\n{}\n$ curl c\nx\ny\n```\n",
            encoding="utf-8",
        )

        assert curl_sessions(page) == [
            ("curl -s a \\\n    b", "{}\n"),
            ("curl c", "x\ny\n"),
        ]


class TestPages:
    @pytest.mark.parametrize("page", _pages(), ids=lambda path: path.name)
    def test_code_lines_fit(self, page):
        """
        No line of a code block is longer than MAX_CODE_LINE characters.
        """
        wide = [
            f"{page.name}:{number}: {len(line)}"
            for number, line in code_lines(page)
            if len(line) > MAX_CODE_LINE
        ]

        assert wide == []

    @pytest.mark.parametrize(
        "example",
        sorted(EXAMPLES.rglob("*.py")),
        ids=lambda path: path.relative_to(EXAMPLES).as_posix(),
    )
    def test_example_lines_fit(self, example):
        """
        The example files that pages include fit as well.
        """
        lines = example.read_text(encoding="utf-8").splitlines()

        assert max(map(len, lines)) <= MAX_CODE_LINE

    @pytest.mark.parametrize("name", flask_servicecbv.__all__)
    def test_public_name_in_api_reference(self, name):
        """
        Every name in flask_servicecbv.__all__ has an entry in docs/api.md.
        """
        assert name in _documented_names()

    @pytest.mark.parametrize(
        "name",
        [
            *flask_servicecbv.rest.__all__,
            *flask_servicecbv.rest.openapi.__all__,
        ],
    )
    def test_rest_name_in_rest_reference(self, name):
        """
        Every name in flask_servicecbv.rest.__all__ and in
        flask_servicecbv.rest.openapi.__all__ has an entry in
        docs/rest-api.md.
        """
        assert name in _documented_rest_names()

    def test_exceptions_module_documented_with_members(self):
        """
        docs/api.md documents every exception in flask_servicecbv.exceptions.
        """
        text = (DOCS / "api.md").read_text(encoding="utf-8")

        assert ".. automodule:: flask_servicecbv.exceptions\n   :members:" in text


def _env() -> dict[str, str]:
    """
    The environment of a subprocess that runs an example as a user would.
    """
    env = dict(os.environ)
    env.pop("FLASK_APP", None)
    env.pop("FLASK_DEBUG", None)
    return env


# The terminal sessions that docs/checks.md shows: file name -> the --app
# argument and the command.
TRANSCRIPTS = {
    "services-check.txt": ("myproject", "services check"),
    "services-list.txt": ("myproject", "services list"),
    "services-check-broken.txt": (
        "myproject:create_broken_app()",
        "services check",
    ),
}


def transcript(app: str, command: str) -> str:
    """
    Run `flask --app APP COMMAND` on docs/examples/checks/myproject.py and
    return what a terminal shows, the exit status too if it is not 0.
    """
    result = subprocess.run(  # noqa: S603 -- our own interpreter, fixed arguments
        [sys.executable, "-W", "error", "-m", "flask", "--app", app, *command.split()],
        cwd=EXAMPLES / "checks",
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        timeout=60,
    )
    status = f"$ echo $?\n{result.returncode}\n" * bool(result.returncode)
    return f"$ flask --app {shlex.quote(app)} {command}\n{result.stdout}{status}"


class TestExamples:
    @pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
    def test_cli_output_is_current(self, name):
        """
        The `flask services` output that the docs show is what the commands
        print today.

        The file is rewritten either way, so that a change shows up in
        `git diff`, ready to be reviewed and committed.
        """
        path = GENERATED / name
        shown = path.read_text(encoding="utf-8") if path.exists() else ""

        printed = transcript(*TRANSCRIPTS[name])
        path.write_text(printed, encoding="utf-8")

        assert shown == printed, f"{path} was out of date and is rewritten."

    @pytest.mark.slow
    def test_testing_guide_tests_pass(self):
        """
        The conftest.py and tests of the testing guide pass under pytest.
        """
        result = subprocess.run(  # noqa: S603 -- our own interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                str(EXAMPLES / "testing"),
            ],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=110,
        )

        assert result.returncode == 0, result.stdout + result.stderr
        assert "\n6 passed" in result.stdout


def curl_sessions(path: Path) -> list[tuple[str, str]]:
    """
    Return the `curl` commands of a page's console blocks, each with the
    output the page shows for it.

    A command starts with `$ ` and goes on over the lines that a backslash
    ends; its output is every line up to the next command or the end of the
    block.
    """
    sessions: list[tuple[str, str]] = []
    block: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _FENCE.match(line.strip())
        if block is None:
            if match and match.group(2).strip() == "console":
                block = []
        elif match and not match.group(2):
            sessions.extend(_commands(block))
            block = None
        else:
            block.append(line)
    return [
        (command, output) for command, output in sessions if command.startswith("curl ")
    ]


def _commands(lines: list[str]) -> list[tuple[str, str]]:
    commands: list[tuple[list[str], list[str]]] = []
    continued = False
    for line in lines:
        if continued:
            commands[-1][0].append(line)
        elif line.startswith("$ "):
            commands.append(([line.removeprefix("$ ")], []))
        else:
            commands[-1][1].append(line)
        continued = line.endswith("\\")
    return [
        ("\n".join(command), "".join(f"{line}\n" for line in output))
        for command, output in commands
    ]


def _normalise(output: str) -> str:
    """
    The output of a command without what changes from run to run: the
    date, the server's version, and the line ends of HTTP headers.
    """
    output = output.replace("\r\n", "\n")
    return re.sub(r"^(Date|Server): .*$", r"\1: ...", output, flags=re.MULTILINE)


@contextlib.contextmanager
def flask_run(directory: Path, log: Path) -> Iterator[str]:
    """
    Run `flask --app app run --port 0` in *directory* until the block ends;
    yield the URL it listens on.

    Bounded: it must say where it listens within 30 s, and it is stopped
    whatever happens.
    """
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "run", "--port", "0"],
            cwd=directory,
            env={**_env(), "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"Running on (http://\S+)", log.read_text())):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield found.group(1)
    finally:
        server.terminate()
        server.wait(timeout=15)


@pytest.mark.slow
class TestTutorial:
    def test_tests_pass(self):
        """
        The tutorial's test_app.py passes under pytest, as `pytest -q` in the
        tutorial's directory.
        """
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=TUTORIAL,
            env=_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=110,
        )

        assert result.returncode == 0, result.stdout + result.stderr
        assert "\n5 passed" in result.stdout

    def test_curl_session(self, tmp_path):
        """
        `flask --app app run` serves the tutorial's app, and each `curl`
        command of the tutorial prints what the page shows.
        """
        if shutil.which("curl") is None:  # pragma: no cover -- a machine without curl
            pytest.skip("curl is not installed")
        sessions = curl_sessions(DOCS / "tutorial.md")

        printed = []
        with flask_run(TUTORIAL, tmp_path / "server.log") as url:
            for command, _ in sessions:
                result = subprocess.run(  # noqa: S602 -- the page's own commands
                    command.replace(SHOWN_URL, url),
                    shell=True,
                    cwd=tmp_path,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=30,
                )
                printed.append(_normalise(result.stdout.replace(url, SHOWN_URL)))

        assert len(sessions) == 7
        assert printed == [_normalise(output) for _, output in sessions]
