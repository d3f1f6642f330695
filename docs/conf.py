"""Sphinx configuration for flask_servicecbv."""

from __future__ import annotations

from importlib.metadata import version as _version

project = "flask_servicecbv"
author = "The flask_servicecbv developers"
copyright = f"2026, {author}"

# No __version__ in the package: the installed distribution knows it.
release = _version("flask-servicecbv")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_heading_anchors = 3

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
    # intersphinx needs the network, which the docs build must not use, so
    # the Flask and standard library types in signatures cannot be linked.
    # Flask and Blueprint also appear unqualified: the package imports some
    # annotations only under TYPE_CHECKING.
    ("py:class", r"(flask|werkzeug|collections\.abc)\..*"),
    ("py:class", r"Flask|Blueprint"),
    # Flask annotates View's class attributes with its `t` (typing) alias, and
    # Service.from_context returns typing_extensions.Self; older Sphinx
    # releases (the ones that still run on Python 3.10) try to link both.
    ("py:class", r"t\.\w+|Self"),
    # The type variables of the typed overloads (get(), aget(), ServiceAttr)
    # and of init_app() are not public objects with a page of their own.
    ("py:class", r"flask_servicecbv\.\w+\.(T\d?|FlaskAppT)"),
    # performance.md includes benchmarks/README.md, whose links to the benchmark
    # scripts and result files are relative to benchmarks/ and are not pages of
    # these docs; they render as text here and work on the repository's site.
    ("myst", r"[\w./-]+\.(py|txt|json|csv|toml)"),
]

# -- HTML --------------------------------------------------------------------

html_theme = "furo"
html_title = f"flask_servicecbv {release}"
