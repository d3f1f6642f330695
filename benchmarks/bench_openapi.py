"""
Benchmark building and serving the OpenAPI document of 100 endpoints.

An app with 50 collection views and 50 item views (one schema each, in its
response, request and PATCH variants, and 100 paths, 300 operations, with
their conditional headers) is described; the build is timed from a cold cache
(the cache is cleared before each build), and serving ``/openapi.json`` is
timed through the WSGI app, from the cache.
Every build is checked to be a valid document of 100 paths, and every served
response to be that document.
The run fails (status 1, a FAILED line on stderr) when a check fails or when
serving takes more than the budget (``--max-serve-ms``, 1 ms by default).

    .venv/bin/python benchmarks/bench_openapi.py
    .venv/bin/python benchmarks/bench_openapi.py --builds 5 --serves 200

See benchmarks/README.md for how to read the results.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from flask import Flask, Response
from marshmallow import Schema, fields, validate
from openapi_spec_validator import validate as validate_spec

import flask_servicecbv as svc
from flask_servicecbv.rest import (
    CollectionView,
    IdConverter,
    InMemoryRepository,
    ItemView,
    json_errors,
)
from flask_servicecbv.rest.openapi import OpenAPI, build_spec, spec_json

#: Collection and item view pairs: 2 endpoints each.
PAIRS = 50


def build_app() -> Flask:
    """An app with PAIRS collection views and PAIRS item views."""
    app = svc.init_app(Flask("bench_openapi"))
    app.url_map.converters["id"] = IdConverter
    json_errors(app)
    for number in range(PAIRS):
        schema = type(
            f"Thing{number}Schema",
            (Schema,),
            {
                "id": fields.Integer(dump_only=True),
                "name": fields.String(
                    required=True, validate=validate.Length(min=1, max=40)
                ),
                "size": fields.Integer(validate=validate.Range(min=0)),
                "tags": fields.List(fields.String()),
            },
        )
        key = type(f"Things{number}", (InMemoryRepository,), {})
        svc.register_value(app, key, key())
        attrs = {"repository": svc.ServiceAttr(key), "schema": schema}
        listing = type(f"ThingList{number}", (CollectionView,), dict(attrs))
        item = type(f"ThingItem{number}", (ItemView,), dict(attrs))
        app.add_url_rule(f"/things{number}", view_func=listing.as_view(f"l{number}"))
        app.add_url_rule(
            f"/things{number}/<id:item_id>", view_func=item.as_view(f"i{number}")
        )
    OpenAPI(app)

    # The baseline: a plain Flask view that sends ready bytes of the same size.
    @app.get("/baseline.json")
    def baseline() -> Response:
        return Response(spec_json(app), mimetype="application/json")

    return app


class BenchmarkError(Exception):
    """A check of the benchmark failed."""


def time_builds(app: Flask, builds: int) -> tuple[list[float], dict[str, Any]]:
    """Build the document *builds* times from a cold cache; seconds each."""
    times = []
    document: dict[str, Any] = {}
    for _ in range(builds):
        app.extensions.pop("servicecbv.openapi", None)
        start = time.perf_counter()
        document = build_spec(app)
        times.append(time.perf_counter() - start)
        if len(document["paths"]) != 2 * PAIRS:
            msg = f"the document has {len(document['paths'])} paths"
            raise BenchmarkError(msg)
        if f"Thing{PAIRS - 1}Patch" not in document["components"]["schemas"]:
            msg = "the document has no PATCH variant of the last schema"
            raise BenchmarkError(msg)
    validate_spec(document)
    return times, document


def time_serves(
    app: Flask, serves: int, document: dict[str, Any], path: str
) -> list[float]:
    """Serve *path* *serves* times through WSGI; seconds each."""
    client = app.test_client()
    # The first request builds and caches; it is not timed.
    if client.get("/openapi.json").json != document:
        msg = "the served document differs from the built one"
        raise BenchmarkError(msg)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/openapi.json",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": None,
        "wsgi.errors": sys.stderr,
    }
    expected = json.dumps(document).encode()
    statuses: list[str] = []

    def start_response(status: str, _: object) -> None:
        statuses.append(status)

    times = []
    for _ in range(serves):
        start = time.perf_counter()
        body = b"".join(app.wsgi_app(dict(environ, PATH_INFO=path), start_response))
        times.append(time.perf_counter() - start)
        if json.dumps(json.loads(body)).encode() != expected:
            msg = f"a body served at {path} differs from the document"
            raise BenchmarkError(msg)
    if statuses != ["200 OK"] * serves:
        msg = f"statuses served at {path}: {sorted(set(statuses))}"
        raise BenchmarkError(msg)
    return times


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--builds", type=int, default=10, help="cold builds")
    parser.add_argument("--serves", type=int, default=500, help="served requests")
    parser.add_argument("--max-serve-ms", type=float, default=1.0, help="budget")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    app = build_app()
    try:
        builds, document = time_builds(app, args.builds)
        serves: list[float] = []
        plain: list[float] = []
        # Alternate small batches so that both see the same machine.
        for _ in range(10):
            serves += time_serves(app, args.serves // 10, document, "/openapi.json")
            plain += time_serves(app, args.serves // 10, document, "/baseline.json")
    except BenchmarkError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    operations = sum(len(ops) for ops in document["paths"].values())
    result = {
        "paths": len(document["paths"]),
        "operations": operations,
        "components": len(document["components"]["schemas"]),
        "bytes": len(spec_json(app)),
        "build_ms_median": statistics.median(builds) * 1000,
        "build_ms_min": min(builds) * 1000,
        "serve_ms_median": statistics.median(serves) * 1000,
        "serve_ms_p99": sorted(serves)[int(len(serves) * 0.99) - 1] * 1000,
        "baseline_ms_median": statistics.median(plain) * 1000,
        "serve_ratio": statistics.median(serves) / statistics.median(plain),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{result['paths']} paths, {operations} operations, "
            f"{result['components']} schemas, {result['bytes']} bytes\n"
            f"build (cold): median {result['build_ms_median']:.1f} ms, "
            f"min {result['build_ms_min']:.1f} ms over {args.builds}\n"
            f"serve (cached): median {result['serve_ms_median']:.3f} ms, "
            f"p99 {result['serve_ms_p99']:.3f} ms over {len(serves)}\n"
            f"plain Flask view sending the same bytes: median "
            f"{result['baseline_ms_median']:.3f} ms "
            f"(ratio {result['serve_ratio']:.2f}x)"
        )
    if result["serve_ms_median"] > args.max_serve_ms:
        print(
            f"FAILED: serving took {result['serve_ms_median']:.3f} ms, "
            f"over the {args.max_serve_ms} ms budget",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
