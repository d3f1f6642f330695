"""Tests for flask_servicecbv.rest.docs_page: the Swagger UI page."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import swagger_ui_bundle
from flask import Flask, request
from marshmallow import Schema, fields
from werkzeug.serving import generate_adhoc_ssl_context, make_server

import flask_servicecbv as svc
from flask_servicecbv.rest import RestView, returns
from flask_servicecbv.rest.docs_page import (
    DEFAULT_ASSETS,
    INTEGRITY,
    SWAGGER_UI_VERSION,
    _script_json,
)
from flask_servicecbv.rest.openapi import DEFAULTS, OpenAPI

#: swagger-ui-dist's files as the swagger-ui-bundle-v2 package ships them.
PACKAGED = Path(swagger_ui_bundle.swagger_ui_path)

CDN_HOST = "cdn.jsdelivr.net"


class Greeting(Schema):
    text = fields.String()


class Hello(RestView):
    @returns(Greeting)
    def get(self) -> dict[str, str]:
        """
        Say hello.
        """
        return {"text": "hello"}


def make_app(assets: str | None = None, **config: object) -> Flask:
    """
    An app with one documented operation and the docs page at /docs,
    its assets from *assets* unless left to the default.
    """
    app = svc.init_app(Flask("docs_page"))
    app.add_url_rule("/hello", view_func=Hello.as_view("hello"))
    app.config.update(OPENAPI_DOCS_URL="/docs", **config)
    if assets is not None:
        app.config["OPENAPI_DOCS_ASSETS"] = assets
    OpenAPI(app)
    return app


def page_of(app: Flask) -> tuple[str, str]:
    """
    The docs page's HTML and its Content-Security-Policy.
    """
    response = app.test_client().get("/docs")
    assert (response.status_code, response.mimetype) == (200, "text/html")
    return response.get_data(as_text=True), response.headers["Content-Security-Policy"]


def inline_script(html: str) -> str:
    """
    The text of the page's own script element.
    """
    (script,) = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    return script


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


class TestDefaultAssets:
    def test_pinned_version(self):
        """
        The default assets are one exact version of swagger-ui-dist, not a
        floating major version, and OpenAPI uses them by default.
        """
        assert re.fullmatch(r"\d+\.\d+\.\d+", SWAGGER_UI_VERSION)
        assert (
            f"https://{CDN_HOST}/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}"
        ) == DEFAULT_ASSETS
        assert DEFAULTS["OPENAPI_DOCS_ASSETS"] == DEFAULT_ASSETS

    def test_integrity_is_that_of_the_packaged_files(self):
        """
        The integrity hashes are those of the files of swagger-ui-dist at the
        pinned version, as swagger-ui-bundle-v2 ships them.
        """
        if PACKAGED.name != f"swagger-ui-{SWAGGER_UI_VERSION}":  # pragma: no cover
            pytest.skip(
                f"swagger-ui-bundle-v2 ships {PACKAGED.name}, the page pins "
                f"{SWAGGER_UI_VERSION}: compare with that version's files"
            )
        assert {
            name: sri((PACKAGED / name).read_bytes()) for name in INTEGRITY
        } == INTEGRITY

    @pytest.mark.parametrize("assets", [None, DEFAULT_ASSETS + "/"])
    def test_loaded_with_integrity(self, assets):
        """
        The default assets are loaded with their integrity hash and
        crossorigin="anonymous", also when written with a trailing slash.
        """
        html, _ = page_of(make_app(assets))

        assert (
            f'<link rel="stylesheet" href="{DEFAULT_ASSETS}/swagger-ui.css" '
            f'integrity="{INTEGRITY["swagger-ui.css"]}" crossorigin="anonymous">'
        ) in html
        assert (
            f'<script src="{DEFAULT_ASSETS}/swagger-ui-bundle.js" '
            f'integrity="{INTEGRITY["swagger-ui-bundle.js"]}" '
            'crossorigin="anonymous"></script>'
        ) in html

    def test_policy(self):
        """
        The page's Content-Security-Policy allows scripts and styles from
        the CDN's origin alone, plus the page's own script by its hash;
        connections to the app; images from the app and data: URLs; nothing
        else.
        """
        html, policy = page_of(make_app())
        digest = hashlib.sha256(inline_script(html).encode()).digest()

        assert policy == (
            "default-src 'none'; "
            f"script-src https://{CDN_HOST} "
            f"'sha256-{base64.b64encode(digest).decode()}'; "
            f"style-src https://{CDN_HOST}; "
            "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'self'"
        )


class TestOtherAssets:
    def test_url_prefix(self):
        """
        Assets from another URL prefix are loaded as they are, without an
        integrity hash (their bytes are unknown), from that origin.
        """
        html, policy = page_of(make_app("https://mirror.example:8443/sui/"))

        assert (
            '<link rel="stylesheet" href="https://mirror.example:8443/sui/'
            'swagger-ui.css">'
        ) in html
        assert (
            '<script src="https://mirror.example:8443/sui/swagger-ui-bundle.js">'
            "</script>"
        ) in html
        assert "integrity" not in html
        assert "script-src https://mirror.example:8443 'sha256-" in policy
        assert "style-src https://mirror.example:8443;" in policy

    def test_path_on_the_app(self):
        """
        Assets under a path of the app's own origin are allowed as 'self'.
        """
        html, policy = page_of(make_app("/static/sui"))

        assert '<script src="/static/sui/swagger-ui-bundle.js"></script>' in html
        assert "script-src 'self' 'sha256-" in policy
        assert "style-src 'self';" in policy

    def test_local_directory(self):
        """
        A directory of swagger-ui-dist files is served by the app, without
        integrity hashes, as 'self'.
        """
        app = make_app(str(PACKAGED))
        html, policy = page_of(app)

        assert '<script src="/docs/assets/swagger-ui-bundle.js"></script>' in html
        assert "integrity" not in html
        assert "style-src 'self';" in policy
        with app.test_client().get("/docs/assets/swagger-ui.css") as css:
            assert css.get_data() == (PACKAGED / "swagger-ui.css").read_bytes()

    def test_app_routes_untouched(self):
        """
        The page and the assets it serves leave the app's own routes alone.
        """
        client = make_app(str(PACKAGED)).test_client()

        assert client.get("/hello").json == {"text": "hello"}


class TestPageScript:
    def test_swagger_ui_options(self):
        """
        Swagger UI loads the document from OPENAPI_URL and never asks the
        public validator (which would be sent the document's URL).
        """
        html, _ = page_of(make_app(OPENAPI_URL="/api/spec.json"))

        assert (
            'SwaggerUIBundle({url: "/api/spec.json", dom_id: "#swagger-ui", '
            "validatorUrl: null})"
        ) in inline_script(html)

    def test_script_json_cannot_end_the_script(self):
        """
        A value written into the page's script cannot close the element or
        start markup.
        """
        written = _script_json("</script><b>&")

        assert not re.search(r"[<>&]", written)
        assert json.loads(written) == "</script><b>&"


class TestFailureMessage:
    def test_message_in_page(self):
        """
        The page holds a hidden message, shown by its script when Swagger UI
        did not load, that names the assets' URL, the OPENAPI_DOCS_ASSETS
        setting and links the raw document; so does a noscript element.
        """
        html, _ = page_of(make_app("https://mirror.example/sui", OPENAPI_TITLE="Pets"))

        assert '<div id="assets-failed" role="alert" hidden>' in html
        assert "<code>https://mirror.example/sui</code>" in html
        assert "<code>OPENAPI_DOCS_ASSETS</code>" in html
        assert html.count('<a href="/openapi.json">/openapi.json</a>') == 2
        assert "<title>Pets</title>" in html
        assert 'getElementById("assets-failed").hidden = false' in inline_script(html)

    def test_escaped(self):
        """
        The title and the assets' URL are HTML-escaped.
        """
        html, _ = page_of(
            make_app("https://mirror.example/a&b", OPENAPI_TITLE="<Pets & Co>")
        )

        assert "<title>&lt;Pets &amp; Co&gt;</title>" in html
        assert "<code>https://mirror.example/a&amp;b</code>" in html


# -- in a browser ----------------------------------------------------------


def _chromium() -> str:
    """
    The path of chromium, else skip (or fail on CI, which installs it).
    """
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:  # pragma: no cover -- CI installs chromium
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI must install it.")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


class Served:
    """
    An app served on 127.0.0.1 by a threaded Werkzeug server, optionally
    with TLS; stopped by :meth:`stop`.
    """

    def __init__(self, app: Flask, *, tls: bool = False) -> None:
        self.server = make_server(
            "127.0.0.1",
            0,
            app,
            threaded=True,
            ssl_context=generate_adhoc_ssl_context() if tls else None,
        )
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()
        assert not self.thread.is_alive()


@pytest.fixture(name="serve")
def _serve():
    """
    serve(app, tls=False) -> Served; every server is stopped at teardown.
    """
    servers: list[Served] = []

    def serve(app: Flask, *, tls: bool = False) -> Served:
        served = Served(app, tls=tls)
        servers.append(served)
        return served

    yield serve
    for served in servers:
        served.stop()


def reporting(app: Flask) -> list[dict[str, object]]:
    """
    Make the page report every Content-Security-Policy violation to the app;
    return the list the reports go into.
    """
    reports: list[dict[str, object]] = []

    @app.post("/csp-report")
    def report() -> tuple[str, int]:
        reports.append(json.loads(request.get_data())["csp-report"])
        return "", 204

    @app.after_request
    def add_report_uri(response):
        if "Content-Security-Policy" in response.headers:
            response.headers["Content-Security-Policy"] += "; report-uri /csp-report"
        return response

    return reports


def browse(url: str, profile: Path, *extra: str) -> tuple[str, str]:
    """
    Load *url* in headless chromium; return the DOM it ends with and the
    browser's log (console messages included).
    """
    result = subprocess.run(  # noqa: S603 -- a browser we found
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--virtual-time-budget=15000",
            *extra,
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.stdout, result.stderr


def rendered(dom: str) -> bool:
    """
    Whether Swagger UI rendered the document's operation.
    """
    return 'class="swagger-ui' in dom and 'data-path="/hello"' in dom


def message_shown(dom: str) -> bool:
    """
    Whether the message that the assets did not load is shown.
    """
    if '<div id="assets-failed" role="alert" hidden="">' in dom:
        return False
    assert '<div id="assets-failed" role="alert">' in dom
    return True


def closed_port() -> int:
    """
    A loopback port that nothing listens on.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
class TestInBrowser:
    def test_local_assets_render_under_the_policy(self, serve, tmp_path):
        """
        With the assets served by the app, the page renders the document's
        operations under its Content-Security-Policy, with no violation, and
        keeps the failure message hidden.
        """
        app = make_app(str(PACKAGED))
        reports = reporting(app)
        served = serve(app)

        dom, log = browse(f"http://127.0.0.1:{served.port}/docs", tmp_path)

        assert rendered(dom), log[-3000:]
        assert not message_shown(dom)
        assert reports == []
        assert "Content Security Policy" not in log

    def test_violations_are_seen(self, serve, tmp_path):
        """
        The harness sees a violation: with styles forbidden, the stylesheet
        is reported, both to the app and in the browser's log.
        """
        app = make_app(str(PACKAGED))
        reports = reporting(app)

        @app.after_request
        def forbid_styles(response):
            policy = response.headers.get("Content-Security-Policy", "")
            response.headers["Content-Security-Policy"] = policy.replace(
                "style-src 'self'", "style-src 'none'"
            )
            return response

        served = serve(app)

        _, log = browse(f"http://127.0.0.1:{served.port}/docs", tmp_path)

        assert [r["blocked-uri"] for r in reports] == [
            f"http://127.0.0.1:{served.port}/docs/assets/swagger-ui.css"
        ]
        assert "Content Security Policy" in log

    def test_message_when_assets_unreachable(self, serve, tmp_path):
        """
        When the assets' URL cannot be reached, the page shows the message
        that says so, instead of a blank page.
        """
        app = make_app(f"http://127.0.0.1:{closed_port()}/sui")
        served = serve(app)

        dom, log = browse(f"http://127.0.0.1:{served.port}/docs", tmp_path)

        assert message_shown(dom), log[-3000:]
        assert not rendered(dom)

    @staticmethod
    def fake_cdn(*, tampered: bool) -> Flask:
        """
        The CDN, on loopback: swagger-ui-dist's packaged files under the
        default assets' path, as jsDelivr sends them (CORS allowed), the
        bundle with one byte more when *tampered*.
        """
        cdn = Flask("cdn")

        @cdn.get(f"/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}/<name>")
        def asset(name: str):
            data = (PACKAGED / name).read_bytes()
            if tampered and name.endswith(".js"):
                data += b"\n"
            mimetype = "text/css" if name.endswith(".css") else "text/javascript"
            response = cdn.response_class(data, mimetype=mimetype)
            response.headers["Access-Control-Allow-Origin"] = "*"
            return response

        return cdn

    @pytest.mark.parametrize("tampered", [False, True])
    def test_default_cdn_with_integrity(self, serve, tmp_path, tampered):
        """
        With the default assets, fetched from a stand-in for the CDN on
        loopback, the packaged files pass the integrity check and the page
        renders under its policy; a bundle that differs by one byte is
        refused, and the page shows the message.
        """
        app = make_app()
        reports = reporting(app)
        served = serve(app)
        cdn = serve(self.fake_cdn(tampered=tampered), tls=True)

        dom, log = browse(
            f"http://127.0.0.1:{served.port}/docs",
            tmp_path,
            f"--host-resolver-rules=MAP {CDN_HOST}:443 127.0.0.1:{cdn.port}",
            # The stand-in's certificate is its own; integrity still holds.
            "--ignore-certificate-errors",
        )

        assert reports == []
        if tampered:
            assert message_shown(dom), log[-3000:]
            assert "integrity" in log
        else:
            assert rendered(dom), log[-3000:]
            assert not message_shown(dom)
