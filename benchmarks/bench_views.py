"""
Benchmark ServiceView: a view that declares 5 services and reads each once.

The services, the timing loop, the checks and the table are those of
bench_core.py (imported from it), so the two benchmarks measure alike: every
variant builds its own Flask app with the same five service classes and the
same route, requests go straight to the WSGI app, variants are interleaved in
a shuffled order on every round, and every response and every cleanup is
checked.
Only the way the view gets its services differs, and where they are
registered: on the app, on the view's blueprint, across three nested
blueprints, or among 1,000 registered keys.

    .venv/bin/python benchmarks/bench_views.py
    .venv/bin/python benchmarks/bench_views.py --json
    .venv/bin/python benchmarks/bench_views.py --only cbv-dict cbv-1000
    .venv/bin/python benchmarks/bench_views.py --profile cbv-nested --requests 5000

See benchmarks/README.md, section "ServiceView", for what each variant is.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import sys
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, NewType

from bench_core import (
    BASELINE,
    FACTORIES,
    PATH,
    REFERENCE,
    BenchmarkError,
    Cache,
    Clock,
    Database,
    Mailer,
    Search,
    Variant,
    _render,
    build_baseline,
    build_g,
    build_svcs,
    environment,
    get_cache,
    get_clock,
    get_database,
    get_mailer,
    get_search,
    make_cache,
    make_clock,
    make_database,
    make_mailer,
    make_runner,
    make_search,
    markdown,
    paired,
    parse_args,
    run_from_args,
    summarize,
)
from dependency_injector import containers, providers
from dependency_injector.wiring import Closing, Provide, inject
from flask import Blueprint, Flask, g
from flask.views import MethodView

import flask_servicecbv as servicecbv
from flask_servicecbv import ServiceAttr, ServiceView

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# All variants answer PATH, which bench_core's runner requests.
assert PATH == "/api/items"

# -- the views -----------------------------------------------------------------


class DictItems(ServiceView):
    """The documented form: attribute name to service key."""

    services = {  # noqa: RUF012 -- as users write it; ServiceMixin types it
        "database": Database,
        "cache": Cache,
        "search": Search,
        "mailer": Mailer,
        "clock": Clock,
    }

    def get(self) -> str:
        return _render(self.database, self.cache, self.search, self.mailer, self.clock)  # type: ignore[attr-defined]


class AttrItems(ServiceView):
    """The typed form: one ServiceAttr descriptor per service."""

    database = ServiceAttr(Database)
    cache = ServiceAttr(Cache)
    search = ServiceAttr(Search)
    mailer = ServiceAttr(Mailer)
    clock = ServiceAttr(Clock)

    def get(self) -> str:
        return _render(self.database, self.cache, self.search, self.mailer, self.clock)


class GItems(MethodView):
    """The hand-written g pattern of bench_core's (a)."""

    def get(self) -> str:
        return _render(
            get_database(), get_cache(), get_search(), get_mailer(), get_clock()
        )


# -- the apps ------------------------------------------------------------------


def _app(name: str, *, services: bool = True) -> Flask:
    app = Flask(name)
    # A failing request raises here instead of turning into a 500 page.
    app.config["PROPAGATE_EXCEPTIONS"] = True
    if services:
        servicecbv.init_app(app)
    return app


def _register_all(target: Flask | Blueprint) -> None:
    for key, factory in FACTORIES:
        servicecbv.register_factory(target, key, factory)


def _single(
    name: str,
    view: type[MethodView],
    setup: Callable[[Flask, Blueprint], None],
    *,
    services: bool = True,
) -> Flask:
    # One blueprint, /api, holding the view, as in bench_core.
    app = _app(name, services=services)
    bp = Blueprint("api", name, url_prefix="/api")
    setup(app, bp)
    bp.add_url_rule("/items", view_func=view.as_view("items"))
    app.register_blueprint(bp)
    return app


def _nested(
    name: str,
    view: type[MethodView],
    setup: Callable[[Flask, Blueprint, Blueprint, Blueprint], None],
    *,
    services: bool = True,
) -> Flask:
    # outer ("api", /api) > middle > inner, the view on inner: the same URL,
    # and request.blueprints is ("api.middle.inner", "api.middle", "api").
    app = _app(name, services=services)
    outer = Blueprint("api", name, url_prefix="/api")
    middle = Blueprint("middle", name)
    inner = Blueprint("inner", name)
    setup(app, outer, middle, inner)
    inner.add_url_rule("/items", view_func=view.as_view("items"))
    middle.register_blueprint(inner)
    outer.register_blueprint(middle)
    app.register_blueprint(outer)
    return app


# (a3) the hand-written g pattern inside three nested blueprints: what Flask
# itself charges for the nesting, so that (d) can be compared like for like.


def build_g_nested() -> Flask:
    def setup(app: Flask, *_bps: Blueprint) -> None:
        app.teardown_appcontext(_close_g)

    return _nested("g_nested", GItems, setup, services=False)


def _close_g(_exc: BaseException | None) -> None:
    for name in ("database", "cache", "search", "mailer", "clock"):
        svc = g.pop(name, None)
        if svc is not None:
            svc.close()


# (b) ServiceView, `services = {...}`, generator factories on the app layer.


def build_cbv_dict() -> Flask:
    return _single("cbv_dict", DictItems, lambda app, _bp: _register_all(app))


# (b2) the same with ServiceAttr descriptors.


def build_cbv_attr() -> Flask:
    return _single("cbv_attr", AttrItems, lambda app, _bp: _register_all(app))


# (c) the services on the view's blueprint.


def build_cbv_bp() -> Flask:
    return _single("cbv_bp", DictItems, lambda _app, bp: _register_all(bp))


# (d) three nested blueprints, the services spread over all four layers.


def build_cbv_nested() -> Flask:
    def setup(
        app: Flask, outer: Blueprint, middle: Blueprint, inner: Blueprint
    ) -> None:
        targets = (app, app, outer, middle, inner)
        for target, (key, factory) in zip(targets, FACTORIES, strict=True):
            servicecbv.register_factory(target, key, factory)

    return _nested("cbv_nested", DictItems, setup)


# (d2) three nested blueprints, every service on the app: each lookup falls
# through the three blueprint layers.


def build_cbv_nested_app() -> Flask:
    def setup(app: Flask, *_bps: Blueprint) -> None:
        _register_all(app)

    return _nested("cbv_nested_app", DictItems, setup)


# (e) as (b), among 1,000 registered keys.

EXTRA_KEYS = 995
#: How many of the extra keys go on the view's blueprint; the rest on the app.
EXTRA_ON_BLUEPRINT = 100


def _unused() -> Iterator[object]:
    yield object()


def build_cbv_1000() -> Flask:
    def setup(app: Flask, bp: Blueprint) -> None:
        _register_all(app)
        for i in range(EXTRA_KEYS):
            key = NewType(f"Extra{i}", object)
            target = bp if i < EXTRA_ON_BLUEPRINT else app
            servicecbv.register_factory(target, key, _unused)

    app = _single("cbv_1000", DictItems, setup)
    with app.test_request_context(PATH):
        found = len(servicecbv.registry.resolved(servicecbv.container.chain))
    if found != len(FACTORIES) + EXTRA_KEYS:
        msg = f"cbv-1000: {found} keys visible from the view, expected 1,000."
        raise BenchmarkError(msg)
    return app


# (f) svcs.flask: bench_core's build_svcs.

# (g) dependency-injector: context-local resources, closed after the view
# method by the Closing[...] markers of @inject. See the README for why.


class DIContainer(containers.DeclarativeContainer):
    database = providers.ContextLocalResource(make_database)
    cache = providers.ContextLocalResource(make_cache)
    search = providers.ContextLocalResource(make_search)
    mailer = providers.ContextLocalResource(make_mailer)
    clock = providers.ContextLocalResource(make_clock)


class DIItems(MethodView):
    """The view of dependency-injector's Flask example, as a MethodView."""

    @inject
    def get(
        self,
        database: Database = Closing[Provide[DIContainer.database]],
        cache: Cache = Closing[Provide[DIContainer.cache]],
        search: Search = Closing[Provide[DIContainer.search]],
        mailer: Mailer = Closing[Provide[DIContainer.mailer]],
        clock: Clock = Closing[Provide[DIContainer.clock]],
    ) -> str:
        return _render(database, cache, search, mailer, clock)


def build_di() -> Flask:
    def setup(app: Flask, _bp: Blueprint) -> None:
        di = DIContainer()
        # Wires DIItems.get, whichever name this module runs under.
        di.wire(modules=[sys.modules[__name__]])
        app.extensions["di_container"] = di

    return _single("di", DIItems, setup, services=False)


# (h) bench_core's baseline.


VARIANTS = (
    Variant(REFERENCE, "(a) hand-written g, plain constructors", build_g, 5),
    Variant("g-nested", "(a3) hand-written g, 3 nested blueprints", build_g_nested, 5),
    Variant(
        "cbv-dict", "(b) ServiceView, services = {...}, app layer", build_cbv_dict, 5
    ),
    Variant("cbv-attr", "(b2) ServiceView, ServiceAttr, app layer", build_cbv_attr, 5),
    Variant("cbv-bp", "(c) ServiceView, blueprint layer", build_cbv_bp, 5),
    Variant(
        "cbv-nested",
        "(d) ServiceView, 3 nested blueprints, spread over 4 layers",
        build_cbv_nested,
        5,
    ),
    Variant(
        "cbv-nested-app",
        "(d2) ServiceView, 3 nested blueprints, all on the app",
        build_cbv_nested_app,
        5,
    ),
    Variant("cbv-1000", "(e) ServiceView, as (b) among 1,000 keys", build_cbv_1000, 5),
    Variant("svcs", "(f) svcs.flask, 5 get() calls", build_svcs, 5),
    Variant("di", "(g) dependency-injector, Closing[Provide[...]]", build_di, 5),
    Variant(BASELINE, "(h) baseline, no services", build_baseline, 0),
)

#: The targets: (variant, compared to, at most), as paired ratios' medians.
#: "No measurable growth" with 1,000 keys is taken as: the same number of
#: function calls per request (exact), and a median paired ratio within 3%
#: (that median moves by about ±2% from run to run on a shared 2-core box).
TARGETS = (
    ("cbv-dict", REFERENCE, 1.05),
    ("cbv-attr", REFERENCE, 1.05),
    ("cbv-nested", REFERENCE, 1.10),
    ("cbv-nested-app", REFERENCE, 1.10),
    ("cbv-1000", "cbv-dict", 1.03),
)

#: Variants whose function calls per request must equal those of another.
SAME_CALLS = {"cbv-1000": "cbv-dict"}

#: Further paired comparisons, for information.
COMPARISONS = (
    ("cbv-nested", "g-nested"),
    ("cbv-nested-app", "g-nested"),
    ("g-nested", REFERENCE),
    ("cbv-bp", "cbv-dict"),
    ("cbv-attr", "cbv-dict"),
    ("svcs", "cbv-dict"),
    ("di", "cbv-dict"),
)


# -- reporting -----------------------------------------------------------------


def paired_named(
    samples: dict[str, list[float]], name: str, other: str
) -> dict[str, Any]:
    """bench_core's paired ratio, with the names of the two variants."""
    return {"variant": name, "versus": other, **paired(samples, name, other)}


def verdicts(
    samples: dict[str, list[float]], calls: dict[str, float]
) -> list[dict[str, Any]]:
    results = []
    for name, other, limit in TARGETS:
        if name in samples and other in samples:
            result = paired_named(samples, name, other)
            result["limit"] = limit
            result["met"] = result["ratio"] <= limit
            if SAME_CALLS.get(name) == other:
                result["calls"] = calls[name]
                result["calls_versus"] = calls[other]
                result["met"] = result["met"] and calls[name] == calls[other]
            results.append(result)
    return results


def comparisons(samples: dict[str, list[float]]) -> list[dict[str, Any]]:
    return [
        paired_named(samples, name, other)
        for name, other in COMPARISONS
        if name in samples and other in samples
    ]


def calls_per_request(variant: Variant, requests: int = 200) -> float:
    """
    Count the Python function calls a request to *variant* makes, with cProfile.

    Unlike a time, the count is exact: equal counts for (b) and (e) show that
    no per-request step depends on how many keys are registered.
    """
    run = make_runner(variant.build())
    run(10)
    profiler = cProfile.Profile()
    profiler.runcall(run, requests)
    return pstats.Stats(profiler).total_calls / requests  # type: ignore[attr-defined]


def _line(result: dict[str, Any], labels: dict[str, str]) -> str:
    text = (
        f"{labels[result['variant']]} vs {labels[result['versus']]}: "
        f"**{result['ratio']:.3f}** (q1..q3 {result['q1']:.3f}..{result['q3']:.3f}"
        f"; best / best {result['ratio_best']:.3f})"
    )
    if "calls" in result:
        text += (
            f", Python function calls per request {result['calls']:.0f} vs "
            f"{result['calls_versus']:.0f}"
        )
    if "limit" in result:
        verdict = "met" if result["met"] else "MISSED"
        text += f", target ≤ {result['limit']:.2f}: {verdict}"
    return f"- {text}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, VARIANTS, __doc__.split("\n\n")[0].strip())
    outcome = run_from_args(args, VARIANTS)
    if isinstance(outcome, int):
        return outcome
    variants, samples = outcome
    by_name = {v.name: v for v in VARIANTS}
    wanted = {v.name for v in variants}
    rows = summarize(variants, samples)
    calls = {
        name: calls_per_request(by_name[name])
        for pair in SAME_CALLS.items()
        for name in pair
        if name in wanted
    }
    targets = verdicts(samples, calls)
    others = comparisons(samples)
    env = environment(args)
    env["dependency_injector"] = version("dependency-injector")
    env["flask_servicecbv"] = version("flask-servicecbv")
    if args.json:
        print(
            json.dumps(
                {
                    "environment": env,
                    "results": rows,
                    "targets": targets,
                    "comparisons": others,
                },
                indent=2,
            )
        )
        return 0
    print(
        f"Python {env['python']} on {env['platform']}, {env['cpus']} CPUs; "
        f"Flask {env['flask']}, svcs {env['svcs']}, dependency-injector "
        f"{env['dependency_injector']}; {args.repeat} x {args.requests} requests "
        f"per variant, gc {'on' if args.with_gc else 'off'} during batches, "
        f"{args.clock} clock."
    )
    print()
    print(markdown(rows))
    labels = {v.name: v.label.split(" ", 1)[0] for v in VARIANTS}
    print()
    print("Targets (paired ratios, median over rounds):")
    print()
    for result in targets:
        print(_line(result, labels))
    print()
    print("Other paired ratios:")
    print()
    for result in others:
        print(_line(result, labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
