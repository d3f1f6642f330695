"""
Benchmark authentication: the generic views of bench_rest.py with and without
a bearer token, the token store's lookup included.

Both apps are bench_rest.py's (b), "ours": the same schema, the same
in-memory repository holding one seeded item, the same two endpoints.
The authenticated app declares ``REQUIRES`` (books:read to retrieve,
books:write to create) with ``PRINCIPAL = User``, registers
``authenticate(Bearer(Tokens))`` for ``User`` and a ``HashedTokenStore`` for
``Tokens``; every request sends ``Authorization: Bearer <token>``, so each one
hashes the token with SHA-256, looks it up, and checks the scope.
Both apps get the very same requests, header included (the open app ignores
it), through the same WSGI wrapper that adds the header: what differs is the
app alone.
Requests go straight to the WSGI app, as in bench_rest.py, whose request
sender and response checks this script reuses, as it reuses bench_core.py's
clocks and paired ratios: each round times one batch of each (app, operation)
pair in a shuffled order, and the ratio is the median over rounds of the
within-round ratio.

    .venv/bin/python benchmarks/bench_auth.py
    .venv/bin/python benchmarks/bench_auth.py --repeat 400 --json

Before timing, it checks that the authenticated app refuses a request without
a token (401 and a bearer challenge): what is timed is an app that really
authenticates.

It exits with status 1 when a response is wrong (FAILED: ... on stderr) or
when the target is missed: an authenticated retrieve costs at most 1.10 times
an unauthenticated one.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from bench_core import CLOCKS, BenchmarkError, paired
from bench_rest import (
    ITEM,
    OPERATIONS,
    SEED,
    BookSchema,
    Framework,
    _new_app,
    blake2b_tag,
    build_ours,
    make_runner,
)
from flask import Blueprint

import flask_servicecbv as servicecbv
from flask_servicecbv import ServiceAttr
from flask_servicecbv.auth import Bearer, HashedTokenStore, authenticate
from flask_servicecbv.rest import (
    CollectionView,
    InMemoryRepository,
    ItemView,
    Requirement,
    json_errors,
    requires,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Flask


@dataclass(frozen=True)
class User:
    """The caller: a name and the scopes of its token."""

    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)


class Tokens(HashedTokenStore[User]):
    """The token store's service key."""


#: The token every authenticated request sends.
TOKEN = "bench-" + "x" * 40

_REQUIRES: dict[str, Requirement] = {
    "read": requires("books:read"),
    "write": requires("books:write"),
}


class SecuredBooks(CollectionView):
    repository = ServiceAttr(InMemoryRepository)
    schema = BookSchema
    PRINCIPAL = User
    REQUIRES: ClassVar[dict[str, Requirement]] = _REQUIRES


class SecuredBook(ItemView):
    repository = ServiceAttr(InMemoryRepository)
    schema = BookSchema
    PRINCIPAL = User
    REQUIRES: ClassVar[dict[str, Requirement]] = _REQUIRES


def build_bearer(repository: InMemoryRepository) -> Flask:
    """bench_rest.py's (b), "ours", behind bearer tokens."""
    app = _new_app("bearer")
    servicecbv.init_app(app)
    json_errors(app)
    servicecbv.register_value(app, InMemoryRepository, repository)
    tokens = Tokens()
    tokens.add(TOKEN, User("reader", frozenset({"books:read", "books:write"})))
    servicecbv.register_value(app, Tokens, tokens)
    servicecbv.register_factory(app, User, authenticate(Bearer(Tokens)))
    bp = Blueprint("api", "bearer", url_prefix="/api")
    bp.add_url_rule("/books", view_func=SecuredBooks.as_view("books"))
    bp.add_url_rule("/books/<int:item_id>", view_func=SecuredBook.as_view("book"))
    app.register_blueprint(bp)
    return app


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    build: Callable[[InMemoryRepository], Flask]


OPEN = "open"
BEARER = "bearer"
VARIANTS = (
    Variant(OPEN, "(b) ours, no authentication", build_ours),
    Variant(BEARER, "(b+) ours, bearer token and scope", build_bearer),
)

#: What every request to either app carries besides bench_rest.py's.
HEADERS = {"Authorization": f"Bearer {TOKEN}"}

#: The target: (operation, limit) for bearer versus open, median paired ratio.
TARGET = ("retrieve", 1.10)


def _with_headers(app: Flask, headers: dict[str, str]) -> Flask:
    """Send *headers* with every request to *app*: a WSGI wrapper."""
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    wsgi = app.wsgi_app

    def with_headers(environ: dict[str, Any], start_response: Any) -> Any:
        environ.update(extra)
        return wsgi(environ, start_response)

    app.wsgi_app = with_headers  # type: ignore[method-assign]
    return app


def _check_refused(app: Flask) -> None:
    """
    Check that *app* really authenticates: without a token, a retrieve is
    answered 401 with a bearer challenge.
    """
    response = app.test_client().get(ITEM)
    challenge = response.headers.get("WWW-Authenticate", "")
    if response.status_code != 401 or not challenge.startswith("Bearer "):
        msg = (
            f"bearer: GET {ITEM} without a token got {response.status}, "
            f"WWW-Authenticate {challenge!r}; expected 401 with a bearer challenge."
        )
        raise BenchmarkError(msg)


def measure(
    *, requests: int, repeat: int, warmup: int, clock: Callable[[], int], seed: int
) -> dict[str, list[float]]:
    """Time every (variant, operation) pair *repeat* times, in shuffled rounds."""
    runners: dict[str, Callable[[int], None]] = {}
    framework = Framework("ours", "ours", build_ours, etag=blake2b_tag)
    for variant in VARIANTS:
        repository = InMemoryRepository([SEED])
        app = variant.build(repository)
        if variant.name == BEARER:
            _check_refused(app)
        app = _with_headers(app, HEADERS)
        for op in OPERATIONS:
            run = make_runner(framework, app, repository, op)
            run(warmup)
            runners[f"{variant.name}/{op.name}"] = run
    order = list(runners)
    samples: dict[str, list[float]] = {name: [] for name in order}
    shuffle = random.Random(seed).shuffle
    gc.freeze()
    for _ in range(repeat):
        shuffle(order)
        for name in order:
            gc.collect()
            gc.disable()
            try:
                start = clock()
                runners[name](requests)
                elapsed = clock() - start
            finally:
                gc.enable()
            samples[name].append(elapsed / requests / 1000)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        samples = measure(
            requests=args.requests,
            repeat=args.repeat,
            warmup=args.warmup,
            clock=CLOCKS[args.clock],
            seed=args.seed,
        )
    except BenchmarkError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    results: list[dict[str, Any]] = []
    for op in OPERATIONS:
        ratio = paired(samples, f"{BEARER}/{op.name}", f"{OPEN}/{op.name}")
        results.append(
            {
                "operation": op.name,
                "open_best_us": min(samples[f"{OPEN}/{op.name}"]),
                "open_median_us": statistics.median(samples[f"{OPEN}/{op.name}"]),
                "bearer_best_us": min(samples[f"{BEARER}/{op.name}"]),
                "bearer_median_us": statistics.median(samples[f"{BEARER}/{op.name}"]),
                **ratio,
            }
        )
    operation, limit = TARGET
    target = next(r for r in results if r["operation"] == operation)
    met = target["ratio"] <= limit
    if args.json:
        print(json.dumps({"results": results, "target": limit, "met": met}, indent=2))
    else:
        print(
            f"{args.repeat} x {args.requests} requests per app and operation, "
            f"{args.clock} clock."
        )
        print()
        print(
            "| operation | open best µs | open median µs | bearer best µs "
            "| bearer median µs | bearer / open | q1..q3 | best / best |"
        )
        print("|---|--:|--:|--:|--:|--:|--:|--:|")
        for r in results:
            print(
                f"| {r['operation']} | {r['open_best_us']:.1f} "
                f"| {r['open_median_us']:.1f} | {r['bearer_best_us']:.1f} "
                f"| {r['bearer_median_us']:.1f} | **{r['ratio']:.3f}** "
                f"| {r['q1']:.3f}..{r['q3']:.3f} | {r['ratio_best']:.3f} |"
            )
        verdict = "met" if met else "MISSED"
        print()
        print(
            f"Target: {operation} with a bearer token ≤ {limit:.2f} times without: "
            f"{target['ratio']:.3f}, {verdict}."
        )
    if not met:
        print(
            f"FAILED: target missed: {operation} {target['ratio']:.3f}.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
