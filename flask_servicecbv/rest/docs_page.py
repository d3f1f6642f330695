"""The interactive page of the OpenAPI document (Swagger UI)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from flask import current_app, send_from_directory

if TYPE_CHECKING:
    from flask import Blueprint, Flask, Response

__all__ = ["DEFAULT_ASSETS", "SWAGGER_UI_VERSION", "add_docs_page"]

#: The version of swagger-ui-dist that the page loads from the CDN by default:
#: pinned, so that the files, and so their integrity hashes, never change.
SWAGGER_UI_VERSION: Final = "5.31.0"

#: The default ``OPENAPI_DOCS_ASSETS``: swagger-ui-dist on the jsDelivr CDN,
#: at :data:`SWAGGER_UI_VERSION`.
DEFAULT_ASSETS: Final = (
    f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}"
)

#: The Subresource Integrity hashes of the default assets, by file: the
#: browser refuses a file from the CDN whose bytes are not these.
#: They are those of the files of swagger-ui-dist at SWAGGER_UI_VERSION, as
#: the swagger-ui-bundle-v2 package ships them (the tests check it).
INTEGRITY: Final = {
    "swagger-ui.css": (
        "sha384-KX9Rx9vM1AmUNAn07bPAiZhFD4C8jdNgG6f5MRNvR+EfAxs2PmMFtUUazui7ryZQ"
    ),
    "swagger-ui-bundle.js": (
        "sha384-cxafBeQ+zYROeFafGFxtFbnp1ICqeS9mG7+f0WWSHzhnrUvwg9Za5CCw6wgrHA7K"
    ),
}

# The page's own script: Swagger UI when its bundle has loaded, else the
# message that says why the page is empty. It is static for an app, so the
# Content-Security-Policy allows it by its hash, worked out once.
_SCRIPT: Final = """
if (window.SwaggerUIBundle) {{
  window.ui = SwaggerUIBundle({{url: {spec_url}, dom_id: "#swagger-ui", \
validatorUrl: null}});
}} else {{
  document.getElementById("assets-failed").hidden = false;
}}
"""

_PAGE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css"{css_integrity}>
</head>
<body>
<div id="assets-failed" role="alert" hidden>
<h1>{title}: the API documentation could not be shown</h1>
<p>Swagger UI, which shows it, did not load from <code>{assets}</code>.
Its files may be out of reach from this network (an offline machine, a
firewall, a proxy), or a browser extension may have blocked them.</p>
<p>The raw OpenAPI document is at <a href="{spec_href}">{spec_href}</a>.</p>
<p>To serve Swagger UI from this app instead, set the
<code>OPENAPI_DOCS_ASSETS</code> setting to a directory of swagger-ui-dist
files, such as <code>swagger_ui_bundle.swagger_ui_path</code> of the
<code>swagger-ui-bundle-v2</code> package.</p>
</div>
<noscript><p>The API documentation needs JavaScript; the raw OpenAPI document is
at <a href="{spec_href}">{spec_href}</a>.</p></noscript>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"{js_integrity}></script>
<script>{script}</script>
</body>
</html>
"""


def _integrity(file: str) -> str:
    return f' integrity="{INTEGRITY[file]}" crossorigin="anonymous"'


def _source(assets: str) -> str:
    """
    Return the Content-Security-Policy source of the assets at URL *assets*:
    their origin, or ``'self'`` for a path on the app's own.
    """
    parts = urlsplit(assets)
    if parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return "'self'"


def _script_json(value: str) -> str:
    # JSON that cannot end the <script> element it is written into.
    return (
        json.dumps(value)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def add_docs_page(
    app: Flask, blueprint: Blueprint, *, spec_url: str, docs_url: str
) -> None:
    """
    Add the Swagger UI page of the document at *spec_url* to *blueprint*, at
    *docs_url*, with its assets from ``OPENAPI_DOCS_ASSETS``.

    The default assets, swagger-ui-dist :data:`SWAGGER_UI_VERSION` on a CDN,
    are loaded with Subresource Integrity; a directory is served by the app
    itself; another URL prefix is loaded as it is.
    The page is sent with a Content-Security-Policy that allows scripts and
    styles from the assets' origin and the page's own script alone.
    """
    configured = str(app.config["OPENAPI_DOCS_ASSETS"])
    assets = configured.rstrip("/")
    css_integrity = js_integrity = ""
    if assets == DEFAULT_ASSETS:
        css_integrity = _integrity("swagger-ui.css")
        js_integrity = _integrity("swagger-ui-bundle.js")
    elif Path(configured).is_dir():
        folder = configured
        assets = docs_url.rstrip("/") + "/assets"
        blueprint.add_url_rule(
            assets + "/<path:filename>",
            "assets",
            lambda filename: send_from_directory(folder, filename),
        )
    script = _SCRIPT.format(spec_url=_script_json(spec_url))
    digest = hashlib.sha256(script.encode()).digest()
    script_hash = "'sha256-" + base64.b64encode(digest).decode() + "'"
    source = _source(assets)
    policy = "; ".join(
        (
            "default-src 'none'",
            f"script-src {source} {script_hash}",
            f"style-src {source}",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'self'",
        )
    )
    page = _PAGE.format(
        title=html.escape(app.config.get("OPENAPI_TITLE") or app.name),
        assets=html.escape(assets),
        css_integrity=css_integrity,
        js_integrity=js_integrity,
        spec_href=html.escape(spec_url),
        script=script,
    )
    headers = {"Content-Security-Policy": policy}

    def docs() -> Response:
        return current_app.response_class(page, mimetype="text/html", headers=headers)

    blueprint.add_url_rule(docs_url, "docs", docs)
