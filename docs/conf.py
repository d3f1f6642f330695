"""Sphinx configuration for flask_servicecbv."""

from __future__ import annotations

import re
from importlib.metadata import version as _version
from pathlib import Path
from typing import TYPE_CHECKING

from sphinx.pycode import ModuleAnalyzer

if TYPE_CHECKING:
    from sphinx.application import Sphinx

project = "flask_servicecbv"
author = "The flask_servicecbv developers"
copyright = f"2026, {author}"

# No __version__ in the package: the installed distribution knows it.
release = _version("flask-servicecbv")
version = ".".join(release.split(".")[:2])

# -- project links -----------------------------------------------------------
# The one place that knows where the project lives; pages link to them with
# substitutions such as {{ repository }}, {{ pypi }} and {{ issues }}.

REPOSITORY_URL = "https://github.com/flask-servicecbv/flask-servicecbv"
PYPI_URL = "https://pypi.org/project/flask-servicecbv/"
ISSUES_URL = f"{REPOSITORY_URL}/issues"
BENCHMARKS_URL = f"{REPOSITORY_URL}/blob/main/benchmarks/README.md"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.napoleon",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "_generated",
    "_inventories",
    "examples",
    "Thumbs.db",
    ".DS_Store",
]

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist", "substitution"]
myst_substitutions = {
    "repository": f"[the repository]({REPOSITORY_URL})",
    "pypi": f"[the package index]({PYPI_URL})",
    "issues": f"[the issue tracker]({ISSUES_URL})",
    "benchmarks": f"[benchmarks/README.md]({BENCHMARKS_URL})",
}

# -- intersphinx -------------------------------------------------------------
# The inventories are kept in docs/_inventories/ so that the build never uses
# the network; its README.md says where each one comes from and how to
# refresh it.

_INVENTORIES = Path(__file__).resolve().parent / "_inventories"
intersphinx_mapping = {
    "python": (
        "https://docs.python.org/3/",
        str(_INVENTORIES / "python.inv"),
    ),
    "flask": (
        "https://flask.palletsprojects.com/en/stable/",
        str(_INVENTORIES / "flask.inv"),
    ),
    "werkzeug": (
        "https://werkzeug.palletsprojects.com/en/stable/",
        str(_INVENTORIES / "werkzeug.inv"),
    ),
    "marshmallow": (
        "https://marshmallow.readthedocs.io/en/stable/",
        str(_INVENTORIES / "marshmallow.inv"),
    ),
}

# -- autodoc / napoleon ------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# -- nitpicky mode -----------------------------------------------------------

nitpicky = True
nitpick_ignore_regex = [
    # The package imports Flask and Blueprint only under TYPE_CHECKING in
    # some modules, so a few signatures name them unqualified.
    ("py:class", r"Flask|Blueprint"),
    # Flask annotates View's class attributes with its `t` (typing) alias, and
    # Service.from_context returns typing_extensions.Self; older Sphinx
    # releases (the ones that still run on Python 3.10) try to link both.
    ("py:class", r"t\.\w+|Self|typing_extensions\.Self"),
    # The type variables of the typed overloads (get(), aget(), ServiceAttr),
    # of init_app() and of the REST layer's decorators and generic views are
    # not public objects with a page of their own.
    (
        "py:class",
        r"flask_servicecbv\.[\w.]+\.(T\d?|F|FlaskT|FlaskAppT|ItemT_co)",
    ),
    ("py:class", r"F"),
    # Type aliases private to Flask, Werkzeug, marshmallow and the REST
    # layer, which their signatures name unqualified.
    (
        "py:class",
        r"Request|Scaffold|Map|Unknown|Field|_SchemaArg|types\.\w+",
    ),
    (
        "py:class",
        r"marshmallow\.\w+\._\w+|collections\.abc\.Mapping\[str",
    ),
    # ItemView's docstring names the URL variable attribute relative to the
    # class; rest-api.md documents it once, under RetrieveMixin.
    ("py:attr", r"LOOKUP"),
    # The HTTP errors inherit Werkzeug's HTTPException signature, which names
    # type aliases that Werkzeug's docs do not document (and, in Werkzeug
    # 3.0, an unqualified Response).
    ("py:class", r"SansIOResponse|WSGIEnvironment|Response"),
    # Private classes that public signatures name (the base of the generic
    # mixins, a method's declarations until its class compiles them) have no
    # entry: the public classes built on them do.
    (
        "py:class",
        r"flask_servicecbv\.[\w.]+\._[A-Za-z]\w*|_[A-Za-z]\w*",
    ),
    # Older Sphinx releases (on Python 3.10) name marshmallow's Schema
    # unqualified in class attributes' types.
    ("py:class", r"Schema"),
    # SQLAlchemy's inventory is not among the offline ones in _inventories:
    # its names in flask_servicecbv.sqlalchemy's signatures stay unlinked.
    (
        "py:class",
        r"sqlalchemy\.[\w.]+|URL|Engine|Connection|Session|Table|ColumnElement",
    ),
    ("py:func", r"sqlalchemy\.[\w.]+"),
    # Flask's return-value alias and the extra's own type variable.
    ("py:class", r"ResponseReturnValue|T"),
]

# -- HTML --------------------------------------------------------------------

html_theme = "furo"
html_title = f"flask_servicecbv {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "source_repository": REPOSITORY_URL,
    "source_branch": "main",
    "source_directory": "docs/",
}

# -- page rewriting ----------------------------------------------------------

_ISSUE_NUMBER = re.compile(r" #(\d+)$", re.MULTILINE)


def _link_issue_numbers(text: str) -> str:
    """
    Turn the issue number that ends a changelog entry into a link.

    The changelog stays plain Keep a Changelog text that reads well on the
    repository's site too: ``- Something changed. #10``.
    """
    return _ISSUE_NUMBER.sub(rf" [#\1]({ISSUES_URL}/\1)", text)


# A fully qualified name in backticks, such as `flask_servicecbv.get()`.
_QUALIFIED_NAME = re.compile(r"`(flask_servicecbv(?:\.\w+)*)(\(\))?`")


def _link_names(text: str) -> str:
    """
    Turn the fully qualified names of a changelog entry into links to their
    reference entries: ``- `flask_servicecbv.get()` returns...``.

    The names stay plain backticked text in the file, and the nitpicky build
    fails on a name that the reference does not document.
    """
    return _QUALIFIED_NAME.sub(r"{py:obj}`\1\2 <\1>`", text)


_BENCHMARKS = (
    Path(__file__).resolve().parent.parent / "benchmarks" / "README.md"
)
_RESULTS_HEADING = re.compile(r"^#+ Results\b.*$", re.MULTILINE)

#: The columns of the benchmark tables that the performance page shows: the
#: rest are for whoever works on the hot path, and make the table too wide
#: to read.
_BENCHMARK_COLUMNS = ("variant", "best µs", "median µs", "vs g")


def _benchmark_tables() -> tuple[str, str]:
    """
    Return the result tables of benchmarks/README.md, with fewer columns.

    The page includes the figures rather than copying them, so that a
    refreshed run changes the docs too.
    """
    text = _BENCHMARKS.read_text(encoding="utf-8")
    tables = []
    for heading in _RESULTS_HEADING.finditer(text):
        rows = []
        for line in text[heading.end() :].lstrip("\n").splitlines():
            if line.startswith("|"):
                rows.append(
                    [
                        cell.strip()
                        for cell in line.strip("|").split("|")
                    ]
                )
            elif rows:
                break
        if not rows:
            continue
        keep = [
            i
            for i, name in enumerate(rows[0])
            if name in _BENCHMARK_COLUMNS
        ]
        tables.append(
            "\n".join(
                "| " + " | ".join(row[i] for i in keep) + " |"
                for row in rows
            )
        )
    core, views = tables  # the core benchmark's, then the views'
    return core, views


def _rewrite_source(
    app: Sphinx, docname: str, source: list[str]
) -> None:
    if docname == "changelog":
        source[0] = _link_names(_link_issue_numbers(source[0]))
    elif docname == "performance":
        app.env.note_dependency(str(_BENCHMARKS))
        core, views = _benchmark_tables()
        source[0] = (
            source[0]
            .replace("%% core results %%", core)
            .replace("%% view results %%", views)
        )


# The sentinels that stand for "not given" in signatures, such as the default
# `ping=KEEP` of the overwrite functions: they are not public names, so the
# signatures show `...` and the docstrings say what leaving it out means.
_SENTINEL_DEFAULT = re.compile(r"=\s*_?(KEEP|UNSET|NO_FACTORY)\b")


def _hide_sentinels(  # noqa: PLR0917 -- the signature of the Sphinx event
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: object,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None] | None:
    del app, what, name, obj, options
    if signature is None:
        return None
    return _SENTINEL_DEFAULT.sub("=...", signature), return_annotation


# get() and aget() have one typing overload per number of keys, and
# ServiceAttr() one for a class key and one for any other: they are for type
# checkers, and autodoc would show them all, before any description.
# Dropping them from autodoc's cached analysis of the module leaves the one
# signature of the implementation, such as `get(*keys, blueprint=None)`.
_ONE_SIGNATURE = {
    "flask_servicecbv.extension": ("get", "aget"),
    "flask_servicecbv.views": ("ServiceAttr.__init__",),
}


def _drop_overloads() -> None:
    for module, names in _ONE_SIGNATURE.items():
        analyzer = ModuleAnalyzer.for_module(module)
        analyzer.analyze()
        for name in names:
            del analyzer.overloads[name]


def setup(app: Sphinx) -> None:
    _drop_overloads()
    app.connect("source-read", _rewrite_source)
    app.connect("autodoc-process-signature", _hide_sentinels)
