"""
Benchmark the hot path: a MethodView on a blueprint that gets 5 services.

Every variant builds its own Flask app with the same five service classes and
the same view body; only the way the view gets its services differs.
Requests are timed by calling the WSGI app directly, variants are interleaved
in a shuffled order on every repeat to cancel drift, and every response and
every cleanup is checked.

    .venv/bin/python benchmarks/bench_core.py
    .venv/bin/python benchmarks/bench_core.py --requests 200 --repeat 50 --json
    .venv/bin/python benchmarks/bench_core.py --profile cbv-bp

See benchmarks/README.md for what each variant is.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import itertools
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import svcs
from flask import Blueprint, Flask, g
from flask.views import MethodView
from werkzeug.test import EnvironBuilder

import flask_servicecbv as servicecbv

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PATH = "/api/items"

#: What a batch is timed with.
#: The CPU time of this thread leaves out the time the machine spends on other
#: processes, which on a shared 2-core box is most of the noise.
CLOCKS: dict[str, Callable[[], int]] = {
    "cpu": time.thread_time_ns,
    "wall": time.perf_counter_ns,
}

# -- the services ------------------------------------------------------------


class _Closes:
    """How many services have been closed, over all variants."""

    count = 0


_serials = itertools.count(1)


class _Service:
    __slots__ = ("serial",)

    def __init__(self) -> None:
        self.serial = next(_serials)

    def close(self) -> None:
        _Closes.count += 1


class Database(_Service):
    __slots__ = ()


class Cache(_Service):
    __slots__ = ()


class Search(_Service):
    __slots__ = ()


class Mailer(_Service):
    __slots__ = ()


class Clock(_Service):
    __slots__ = ()


SERVICES = (Database, Cache, Search, Mailer, Clock)
EXPECTED = ",".join(cls.__name__ for cls in SERVICES).encode()


def _render(a: _Service, b: _Service, c: _Service, d: _Service, e: _Service) -> str:
    # The body is derived from the services, so a wrong lookup fails the check.
    return (
        f"{type(a).__name__},{type(b).__name__},{type(c).__name__},"
        f"{type(d).__name__},{type(e).__name__}"
    )


# Generator factories with cleanup, shared by flask_servicecbv, svcs and g-gen.


def make_database() -> Iterator[Database]:
    svc = Database()
    yield svc
    svc.close()


def make_cache() -> Iterator[Cache]:
    svc = Cache()
    yield svc
    svc.close()


def make_search() -> Iterator[Search]:
    svc = Search()
    yield svc
    svc.close()


def make_mailer() -> Iterator[Mailer]:
    svc = Mailer()
    yield svc
    svc.close()


def make_clock() -> Iterator[Clock]:
    svc = Clock()
    yield svc
    svc.close()


FACTORIES = (
    (Database, make_database),
    (Cache, make_cache),
    (Search, make_search),
    (Mailer, make_mailer),
    (Clock, make_clock),
)


def _new_app(name: str) -> tuple[Flask, Blueprint]:
    app = Flask(name)
    # A failing request raises here instead of turning into a 500 page.
    app.config["PROPAGATE_EXCEPTIONS"] = True
    return app, Blueprint("api", name, url_prefix="/api")


def _finish(app: Flask, bp: Blueprint, view: type[MethodView]) -> Flask:
    bp.add_url_rule("/items", view_func=view.as_view("items"))
    app.register_blueprint(bp)
    return app


# -- (a) the hand-written g pattern, plain constructors ----------------------


def get_database() -> Database:
    if "database" not in g:
        g.database = Database()
    return g.database  # type: ignore[no-any-return]


def get_cache() -> Cache:
    if "cache" not in g:
        g.cache = Cache()
    return g.cache  # type: ignore[no-any-return]


def get_search() -> Search:
    if "search" not in g:
        g.search = Search()
    return g.search  # type: ignore[no-any-return]


def get_mailer() -> Mailer:
    if "mailer" not in g:
        g.mailer = Mailer()
    return g.mailer  # type: ignore[no-any-return]


def get_clock() -> Clock:
    if "clock" not in g:
        g.clock = Clock()
    return g.clock  # type: ignore[no-any-return]


_G_NAMES = ("database", "cache", "search", "mailer", "clock")


def build_g() -> Flask:
    app, bp = _new_app("g")

    @app.teardown_appcontext
    def close_services(_exc: BaseException | None) -> None:
        for name in _G_NAMES:
            svc = g.pop(name, None)
            if svc is not None:
                svc.close()

    class Items(MethodView):
        def get(self) -> str:
            return _render(
                get_database(), get_cache(), get_search(), get_mailer(), get_clock()
            )

    return _finish(app, bp, Items)


# -- (a2) the hand-written g pattern, driving the generator factories --------


def _g_from_generator(name: str, factory: Callable[[], Iterator[Any]]) -> Any:
    if name not in g:
        gen = factory()
        setattr(g, name, next(gen))
        setattr(g, "_gen_" + name, gen)
    return getattr(g, name)


def build_g_gen() -> Flask:
    app, bp = _new_app("g_gen")

    @app.teardown_appcontext
    def close_services(_exc: BaseException | None) -> None:
        for name in reversed(_G_NAMES):
            gen = g.pop("_gen_" + name, None)
            if gen is not None:
                g.pop(name)
                next(gen, None)

    class Items(MethodView):
        def get(self) -> str:
            return _render(
                _g_from_generator("database", make_database),
                _g_from_generator("cache", make_cache),
                _g_from_generator("search", make_search),
                _g_from_generator("mailer", make_mailer),
                _g_from_generator("clock", make_clock),
            )

    return _finish(app, bp, Items)


# -- (b, c) flask_servicecbv, generator factories ----------------------------


class _CbvEach(MethodView):
    def get(self) -> str:
        return _render(
            servicecbv.get(Database),
            servicecbv.get(Cache),
            servicecbv.get(Search),
            servicecbv.get(Mailer),
            servicecbv.get(Clock),
        )


class _CbvMulti(MethodView):
    def get(self) -> str:
        return _render(*servicecbv.get(Database, Cache, Search, Mailer, Clock))


def _build_cbv(name: str, view: type[MethodView], *, on_blueprint: bool) -> Flask:
    app, bp = _new_app(name)
    servicecbv.init_app(app)
    target: Flask | Blueprint = bp if on_blueprint else app
    for key, factory in FACTORIES:
        servicecbv.register_factory(target, key, factory)
    return _finish(app, bp, view)


def build_cbv_bp() -> Flask:
    return _build_cbv("cbv_bp", _CbvEach, on_blueprint=True)


def build_cbv_bp_multi() -> Flask:
    return _build_cbv("cbv_bp_multi", _CbvMulti, on_blueprint=True)


def build_cbv_app() -> Flask:
    return _build_cbv("cbv_app", _CbvEach, on_blueprint=False)


def build_cbv_app_multi() -> Flask:
    return _build_cbv("cbv_app_multi", _CbvMulti, on_blueprint=False)


# -- (d) svcs.flask, the same generator factories ----------------------------


def build_svcs() -> Flask:
    app, bp = _new_app("svcs")
    svcs.flask.init_app(app)
    for key, factory in FACTORIES:
        svcs.flask.register_factory(app, key, factory)

    class Items(MethodView):
        def get(self) -> str:
            return _render(
                svcs.flask.get(Database),
                svcs.flask.get(Cache),
                svcs.flask.get(Search),
                svcs.flask.get(Mailer),
                svcs.flask.get(Clock),
            )

    return _finish(app, bp, Items)


# -- (e) baseline: the same view, no services ---------------------------------

# Built once, so the baseline renders the same body without getting anything.
_STATIC = tuple(cls() for cls in SERVICES)


def build_baseline() -> Flask:
    app, bp = _new_app("baseline")

    class Items(MethodView):
        def get(self) -> str:
            return _render(*_STATIC)

    return _finish(app, bp, Items)


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    build: Callable[[], Flask]
    #: Services closed per request.
    closes: int


REFERENCE = "g"
BASELINE = "baseline"

VARIANTS = (
    Variant("g", "(a) hand-written g, plain constructors", build_g, 5),
    Variant("g-gen", "(a2) hand-written g, generator factories", build_g_gen, 5),
    Variant(
        "cbv-bp", "(b) servicecbv, blueprint layer, 5 get() calls", build_cbv_bp, 5
    ),
    Variant(
        "cbv-bp-multi",
        "(b2) servicecbv, blueprint layer, get(A..E)",
        build_cbv_bp_multi,
        5,
    ),
    Variant("cbv-app", "(c) servicecbv, app layer, 5 get() calls", build_cbv_app, 5),
    Variant(
        "cbv-app-multi",
        "(c2) servicecbv, app layer, get(A..E)",
        build_cbv_app_multi,
        5,
    ),
    Variant("svcs", "(d) svcs.flask, 5 get() calls", build_svcs, 5),
    Variant(BASELINE, "(e) baseline, no services", build_baseline, 0),
)


# -- running -------------------------------------------------------------------


class BenchmarkError(Exception):
    """A response or the cleanup count was not what the variant must produce."""


def make_runner(app: Flask) -> Callable[[int], None]:
    """
    Return a function that sends *n* requests to *app* and checks each response.
    """
    environ = EnvironBuilder(path=PATH, method="GET").get_environ()
    statuses: list[str] = []

    def start_response(status: str, _headers: Any, _exc_info: Any = None) -> None:
        statuses.append(status)

    def run(n: int) -> None:
        for _ in range(n):
            # Werkzeug stores the request on the environ: give each call its own.
            app_iter = app(dict(environ), start_response)
            try:
                body = b"".join(app_iter)
            finally:
                close = getattr(app_iter, "close", None)
                if close is not None:
                    close()
            status = statuses.pop()
            if status != "200 OK" or body != EXPECTED:
                msg = f"{app.name}: got {status} {body!r}, expected 200 {EXPECTED!r}."
                raise BenchmarkError(msg)

    return run


def time_batch(
    variant: Variant,
    run: Callable[[int], None],
    n: int,
    *,
    disable_gc: bool,
    clock: Callable[[], int],
) -> float:
    """
    Return the µs per request of *n* requests, after checking the cleanups.
    """
    closes_before = _Closes.count
    if disable_gc:
        gc.collect()
        gc.disable()
    try:
        start = clock()
        run(n)
        elapsed = clock() - start
    finally:
        if disable_gc:
            gc.enable()
    closes = _Closes.count - closes_before
    if closes != variant.closes * n:
        msg = (
            f"{variant.name}: {closes} services closed in {n} requests, "
            f"expected {variant.closes * n}."
        )
        raise BenchmarkError(msg)
    return elapsed / n / 1000


def measure(
    variants: list[Variant],
    *,
    requests: int,
    repeat: int,
    warmup: int,
    disable_gc: bool,
    clock: Callable[[], int],
    seed: int,
) -> dict[str, list[float]]:
    """
    Time every variant *repeat* times, in a shuffled order on each round.
    """
    runners = {v.name: make_runner(v.build()) for v in variants}
    # Move the apps and everything imported out of the collector's sight, so
    # that the gc.collect() before each batch costs microseconds, not ~20 ms.
    gc.collect()
    gc.freeze()
    for v in variants:
        time_batch(v, runners[v.name], warmup, disable_gc=disable_gc, clock=clock)
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {v.name: [] for v in variants}
    order = list(variants)
    for _ in range(repeat):
        rng.shuffle(order)
        for v in order:
            samples[v.name].append(
                time_batch(
                    v, runners[v.name], requests, disable_gc=disable_gc, clock=clock
                )
            )
    return samples


def paired(samples: dict[str, list[float]], name: str, other: str) -> dict[str, float]:
    """
    The ratio of *name* to *other* within each round: median and quartiles;
    and the ratio of their best times.
    """
    q1, median, q3 = statistics.quantiles(
        [a / b for a, b in zip(samples[name], samples[other], strict=True)],
        n=4,
        method="inclusive",
    )
    return {
        "ratio": median,
        "q1": q1,
        "q3": q3,
        "ratio_best": min(samples[name]) / min(samples[other]),
    }


def summarize(
    variants: list[Variant], samples: dict[str, list[float]]
) -> list[dict[str, Any]]:
    """
    Work out best and median times, the ratio to the g pattern and the overhead.

    The machine's speed drifts between rounds (other work on a shared 2-core
    box), so the ratio is paired: worked out within each round, then the median
    and quartiles over rounds are reported.
    The overhead is the variant minus the baseline, from the best times (the
    least disturbed) and as the median of the per-round differences.
    """
    ref, base = samples[REFERENCE], samples[BASELINE]
    ref_overhead = min(ref) - min(base)
    rows = []
    for v in variants:
        times = samples[v.name]
        versus = paired(samples, v.name, REFERENCE)
        overhead = min(times) - min(base)
        rows.append(
            {
                "variant": v.name,
                "label": v.label,
                "best_us": min(times),
                "median_us": statistics.median(times),
                "ratio": versus["ratio"],
                "ratio_q1": versus["q1"],
                "ratio_q3": versus["q3"],
                "ratio_best": versus["ratio_best"],
                "overhead_best_us": overhead,
                "overhead_median_us": statistics.median(
                    t - b for t, b in zip(times, base, strict=True)
                ),
                "overhead_ratio": overhead / ref_overhead,
                "samples_us": times,
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        (
            "| variant | best µs | median µs | vs g | vs g, q1..q3 | vs g, best "
            "| overhead µs, best | overhead µs, median | overhead vs g's |"
        ),
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        oratio = "—" if row["variant"] == BASELINE else f"{row['overhead_ratio']:.2f}"
        lines.append(
            f"| {row['label']} | {row['best_us']:.1f} | {row['median_us']:.1f} "
            f"| **{row['ratio']:.3f}** | {row['ratio_q1']:.3f}..{row['ratio_q3']:.3f} "
            f"| {row['ratio_best']:.3f} | {row['overhead_best_us']:.1f} "
            f"| {row['overhead_median_us']:.1f} | {oratio} |"
        )
    return "\n".join(lines)


def environment(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "flask": version("flask"),
        "werkzeug": version("werkzeug"),
        "svcs": version("svcs"),
        "requests": args.requests,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "gc_disabled": not args.with_gc,
        "clock": args.clock,
        "seed": args.seed,
    }


def profile(variant: Variant, requests: int, top: int) -> None:
    """
    Print where the time of *requests* requests to *variant* goes.
    """
    run = make_runner(variant.build())
    run(200)
    profiler = cProfile.Profile()
    profiler.runcall(run, requests)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(top)


def parse_args(
    argv: list[str] | None,
    variants: list[Variant] | None = None,
    description: str | None = None,
) -> argparse.Namespace:
    """Parse the options every benchmark script shares."""
    names = [v.name for v in variants or VARIANTS]
    parser = argparse.ArgumentParser(
        description=description or __doc__.split("\n\n")[0].strip()
    )
    parser.add_argument(
        "--requests", type=int, default=100, help="requests per timed batch"
    )
    parser.add_argument(
        "--repeat", type=int, default=200, help="timed batches per variant"
    )
    parser.add_argument(
        "--warmup", type=int, default=500, help="untimed requests per variant"
    )
    parser.add_argument(
        "--with-gc",
        action="store_true",
        help="leave the garbage collector on during batches",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="time batches by this thread's CPU time (default) or wall time",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffle")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=names,
        metavar="VARIANT",
        help=f"run only these (g and baseline are always run): {', '.join(names)}",
    )
    parser.add_argument("--json", action="store_true", help="print JSON results")
    parser.add_argument(
        "--profile",
        choices=names,
        metavar="VARIANT",
        help="print a cProfile of one variant instead of timing",
    )
    parser.add_argument("--top", type=int, default=30, help="rows of --profile")
    return parser.parse_args(argv)


def run_from_args(
    args: argparse.Namespace, all_variants: list[Variant]
) -> tuple[list[Variant], dict[str, list[float]]] | int:
    """
    Profile or measure what *args* ask for.

    Returns the variants and their samples, or an exit status: 0 after
    --profile, 1 (with a FAILED line on stderr) when a check failed.
    """
    by_name = {v.name: v for v in all_variants}
    if args.profile:
        profile(by_name[args.profile], args.requests, args.top)
        return 0
    wanted = {REFERENCE, BASELINE, *(args.only or by_name)}
    variants = [v for v in all_variants if v.name in wanted]
    try:
        samples = measure(
            variants,
            requests=args.requests,
            repeat=args.repeat,
            warmup=args.warmup,
            disable_gc=not args.with_gc,
            clock=CLOCKS[args.clock],
            seed=args.seed,
        )
    except BenchmarkError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 -- a request that raised is a failure too
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return variants, samples


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outcome = run_from_args(args, VARIANTS)
    if isinstance(outcome, int):
        return outcome
    variants, samples = outcome
    rows = summarize(variants, samples)
    env = environment(args)
    if args.json:
        print(json.dumps({"environment": env, "results": rows}, indent=2))
        return 0
    print(
        f"Python {env['python']} on {env['platform']}, {env['cpus']} CPUs; "
        f"Flask {env['flask']}, svcs {env['svcs']}; {args.repeat} x "
        f"{args.requests} requests per variant, gc "
        f"{'on' if args.with_gc else 'off'} during batches, {args.clock} clock."
    )
    print()
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
