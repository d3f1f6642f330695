"""The interactive page of the OpenAPI document (Swagger UI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Final

from flask import current_app, send_from_directory

if TYPE_CHECKING:
    from flask import Blueprint, Flask

__all__ = ["add_docs_page"]

_PAGE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: {spec_url}, dom_id: "#swagger-ui"}});
</script>
</body>
</html>
"""


def add_docs_page(
    app: Flask, blueprint: Blueprint, *, spec_url: str, docs_url: str
) -> None:
    """
    Add the Swagger UI page of the document at *spec_url* to *blueprint*, at
    *docs_url*, with its assets from ``OPENAPI_DOCS_ASSETS``.
    """
    assets = str(app.config["OPENAPI_DOCS_ASSETS"])
    if Path(assets).is_dir():
        folder = assets
        assets_url = docs_url.rstrip("/") + "/assets"
        blueprint.add_url_rule(
            assets_url + "/<path:filename>",
            "assets",
            lambda filename: send_from_directory(folder, filename),
        )
        assets = assets_url
    page = _PAGE.format(
        title=app.config.get("OPENAPI_TITLE") or app.name,
        assets=assets.rstrip("/"),
        spec_url=json.dumps(spec_url),
    )
    blueprint.add_url_rule(
        docs_url,
        "docs",
        lambda: current_app.response_class(page, mimetype="text/html"),
    )
