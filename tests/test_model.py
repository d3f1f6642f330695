"""
A reference model of the layered registry, checked with hypothesis.

Random blueprint trees (nested, renamed with ``name=``, registered under two
names, on two apps), random registrations on the app and blueprint layers,
and random ``overwrite_value`` / ``overwrite_factory`` / ``override``
sequences: whatever each endpoint resolves must equal what a small
pure-Python model says (innermost blueprint first, then the app), and every
instance with a cleanup must be closed exactly once. Only public API is used.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from flask import Blueprint, Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from flask_servicecbv import (
    ServiceNotFoundError,
    ServiceView,
    get,
    init_app,
    override,
    overwrite_factory,
    overwrite_value,
    register_factory,
    register_value,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

# Keep Hypothesis's files out of the working tree: even without a database it
# caches the constants it finds in the code under test, when pytest has
# collected the tests, so this must happen at import.
set_hypothesis_home_dir(f"{tempfile.gettempdir()}/flask_servicecbv-hypothesis")


class K0:
    """A service key; its "dep" factories need K1."""


class K1:
    """A service key; its "dep" factories need K2."""


class K2:
    """A service key without dependencies."""


KEYS = (K0, K1, K2)
DEPENDS_ON: dict[type, type] = {K0: K1, K1: K2}

# How a service is provided: a ready value, a plain factory, a generator
# factory, a factory returning a context manager, or a generator factory that
# takes the container and gets the next key from it.
KINDS = ("value", "factory", "gen", "cm", "dep")

# The layer a registration is in: None is the app, else a blueprint's name.
Layer = str | None
# A registration: its kind, one of KINDS, and the tag its instances carry.
Spec = tuple[str, str]

APPS = 2

# Each example's settings: bounded, repeatable, and nothing written to disk.
MODEL_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


class Made:
    """
    A service instance; counts how often its cleanup ran.
    """

    def __init__(self, tag: str, created: list[Made], *, closable: bool) -> None:
        self.tag = tag
        self.closable = closable
        self.closed = 0
        created.append(self)


class Session:
    """
    A context manager whose ``__enter__`` gives a Made and whose ``__exit__``
    closes it.
    """

    def __init__(self, made: Made) -> None:
        self.made = made

    def __enter__(self) -> Made:
        return self.made

    def __exit__(self, *exc_info: object) -> None:
        self.made.closed += 1


# -- the scenario ----------------------------------------------------------


@dataclass
class Node:
    """A blueprint of the tree: its parent, and the names it is attached under."""

    parent: int | None
    # Attached to its parent (or, for a root, to each app) under these names;
    # its own name, ``b<i>``, means no ``name=``.
    names: list[str]
    app_names: list[list[str]]
    registrations: dict[type, Spec]


@dataclass
class Scenario:
    """Blueprints, the apps' own registrations, and the operations to run."""

    nodes: list[Node]
    app_registrations: list[dict[type, Spec]]
    # ("check", app) or (op, app, layer index, key, kind) with op one of
    # "overwrite" and "override".
    ops: list[tuple[Any, ...]] = field(default_factory=list)


def _names(index: int) -> st.SearchStrategy[list[str]]:
    own, other = f"b{index}", f"r{index}"
    return st.sampled_from([[own], [other], [own, other], [other, own]])


def _registrations(where: str) -> st.SearchStrategy[dict[type, Spec]]:
    def spec(key: type) -> st.SearchStrategy[Spec]:
        kinds = KINDS if key in DEPENDS_ON else KINDS[:-1]
        return st.sampled_from(kinds).map(
            lambda kind: (kind, f"{where}:{key.__name__}:{kind}")
        )

    return st.fixed_dictionaries({}, optional={key: spec(key) for key in KEYS})


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """
    Draw a blueprint forest of up to four nodes, registrations, and up to
    six operations.
    """
    count = draw(st.integers(0, 4))
    nodes = []
    for i in range(count):
        parent = draw(st.sampled_from([None, *range(i)]))
        app_names = (
            [draw(st.one_of(st.just([]), _names(i))) for _ in range(APPS)]
            if parent is None
            else [[], []]
        )
        nodes.append(
            Node(parent, draw(_names(i)), app_names, draw(_registrations(f"b{i}")))
        )
    app_registrations = [draw(_registrations(f"app{a}")) for a in range(APPS)]
    op = st.one_of(
        st.tuples(st.just("check"), st.integers(0, APPS - 1)),
        st.tuples(
            st.sampled_from(["overwrite", "override"]),
            st.integers(0, APPS - 1),
            st.integers(0, 20),
            st.sampled_from(KEYS),
            st.sampled_from(KINDS),
        ),
    )
    ops = draw(st.lists(op, max_size=6))
    return Scenario(nodes, app_registrations, [*ops, ("check", 0), ("check", 1)])


# -- the model -------------------------------------------------------------


def layers_of(scenario: Scenario, app: int) -> dict[str, int]:
    """
    The blueprint layers of one app: full dotted name -> node index.
    """
    layers: dict[str, int] = {}

    def attach(index: int, prefix: str) -> None:
        layers[prefix] = index
        for child, node in enumerate(scenario.nodes):
            if node.parent == index:
                for name in node.names:
                    attach(child, f"{prefix}.{name}")

    for index, node in enumerate(scenario.nodes):
        for name in node.app_names[app]:
            attach(index, name)
    return layers


def chain_of(layer: Layer) -> list[Layer]:
    """
    The lookup chain of a request to *layer*'s endpoint: innermost first.
    """
    if layer is None:
        return [None]
    parts = layer.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)] + [None]


def resolve(regs: dict[Layer, dict[type, Spec]], chain: list[Layer], key: type) -> Any:
    """
    What the model says *key* resolves to along *chain*: a tag, or None when
    it (or what its factory needs) is missing.
    """
    for layer in chain:
        spec = regs[layer].get(key)
        if spec is not None:
            kind, tag = spec
            if kind != "dep":
                return tag
            inner = resolve(regs, chain, DEPENDS_ON[key])
            return None if inner is None else f"{tag}({inner})"
    return None


# -- the real thing --------------------------------------------------------


def provide(target: Any, key: type, spec: Spec, created: list[Made]) -> None:
    """
    Register *spec* for *key* on *target* (an app or a blueprint).
    """
    kind, tag = spec
    if kind == "value":
        register_value(target, key, Made(tag, created, closable=False))
    else:
        register_factory(target, key, factory_for(key, spec, created))


def factory_for(key: type, spec: Spec, created: list[Made]) -> Any:
    """
    The factory of a non-value *spec*, making Made instances into *created*.
    """
    kind, tag = spec
    if kind == "factory":
        return lambda: Made(tag, created, closable=False)
    if kind == "cm":
        return lambda: Session(Made(tag, created, closable=True))
    if kind == "gen":

        def gen() -> Iterator[Made]:
            made = Made(tag, created, closable=True)
            try:
                yield made
            finally:
                made.closed += 1

        return gen
    dependency = DEPENDS_ON[key]

    def dep(container: Any) -> Iterator[Made]:
        inner = container.get(dependency)
        made = Made(f"{tag}({inner.tag})", created, closable=True)
        try:
            yield made
        finally:
            made.closed += 1

    return dep


def probe() -> dict[str, Any]:
    """
    The view at every endpoint: what each key resolves to, None if missing.
    """
    return {key.__name__: tag_of(key) for key in KEYS}


class ProbeView(ServiceView):
    """
    The same probe as a view with declared services, one instance shared by
    every request.
    """

    init_every_request = False
    services = {"k0": K0, "k1": K1, "k2": K2}

    def get(self) -> dict[str, Any]:
        """
        What each declared service resolves to, None if missing.
        """
        return {key.__name__: self.tag(key.__name__.lower()) for key in KEYS}

    def tag(self, name: str) -> str | None:
        """
        The tag of the service attribute *name*, None if missing.
        """
        try:
            made: Made = getattr(self, name)
        except ServiceNotFoundError:
            return None
        return made.tag


def tag_of(key: type, blueprint: str | None = None) -> str | None:
    """
    The tag of what *key* resolves to, or None when something is missing.
    """
    try:
        made: Made = get(key, blueprint=blueprint)
    except ServiceNotFoundError:
        return None
    return made.tag


def url_of(layer: Layer, endpoint: str) -> str:
    """
    The URL of *endpoint* in *layer*: each attachment is prefixed by its name.
    """
    if layer is None:
        return f"/{endpoint}"
    return "/" + "/".join(layer.split(".")) + f"/{endpoint}"


class World:
    """
    The apps built from a scenario, and the model's registrations for each.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.created: list[Made] = []
        self.tags = itertools.count()
        blueprints = [Blueprint(f"b{i}", __name__) for i in range(len(scenario.nodes))]
        for bp, node in zip(blueprints, scenario.nodes, strict=True):
            add_probes(bp)
            for key, spec in node.registrations.items():
                provide(bp, key, spec, self.created)
        for bp, node in zip(blueprints, scenario.nodes, strict=True):
            if node.parent is not None:
                for name in node.names:
                    blueprints[node.parent].register_blueprint(
                        bp, **attach_options(bp, name)
                    )
        self.apps: list[Flask] = []
        self.layers: list[dict[str, int]] = []
        self.model: list[dict[Layer, dict[type, Spec]]] = []
        for a in range(APPS):
            app = init_app(Flask(f"model_app{a}"))
            add_probes(app)
            for key, spec in scenario.app_registrations[a].items():
                provide(app, key, spec, self.created)
            for bp, node in zip(blueprints, scenario.nodes, strict=True):
                for name in node.app_names[a]:
                    app.register_blueprint(bp, **attach_options(bp, name))
            layers = layers_of(scenario, a)
            self.apps.append(app)
            self.layers.append(layers)
            self.model.append(
                {
                    None: dict(scenario.app_registrations[a]),
                    **{
                        layer: dict(scenario.nodes[index].registrations)
                        for layer, index in layers.items()
                    },
                }
            )

    def check(self, a: int) -> None:
        """
        Every endpoint of app *a*, and every ``get(..., blueprint=)``,
        resolves as the model says.
        """
        app, model = self.apps[a], self.model[a]
        assert set(app.blueprints) == set(self.layers[a])
        client = app.test_client()
        for layer in [None, *self.layers[a]]:
            expected = {
                key.__name__: resolve(model, chain_of(layer), key) for key in KEYS
            }
            for endpoint in ("probe", "view"):
                response = client.get(url_of(layer, endpoint))
                assert (layer, endpoint, response.json) == (layer, endpoint, expected)
        with app.app_context():
            for layer in self.layers[a]:
                for key in KEYS:
                    assert tag_of(key, layer) == resolve(model, chain_of(layer), key)
            for key in KEYS:
                assert tag_of(key) == resolve(model, [None], key)

    def all_closed_once(self) -> None:
        """
        Every instance with a cleanup was closed once; the others never.
        """
        assert [(m.tag, m.closed) for m in self.created] == [
            (m.tag, int(m.closable)) for m in self.created
        ]

    def replace(self, op: tuple[Any, ...]) -> None:
        """
        Run an "overwrite" or "override" operation on the app and the model.
        """
        name, a, choice, key, kind = op
        app, model = self.apps[a], self.model[a]
        layers: list[Layer] = [None, *self.layers[a]]
        layer = layers[choice % len(layers)]
        if kind == "dep" and key not in DEPENDS_ON:
            kind = "gen"
        spec = (kind, f"{name}{next(self.tags)}:{key.__name__}:{kind}")
        with app.app_context():
            if name == "overwrite":
                self._overwrite(key, spec, layer)
                model[layer][key] = spec
                return
            previous = model[layer].get(key)
            model[layer][key] = spec
            with self._override(key, spec, layer):
                self.check(a)
            if previous is None:
                del model[layer][key]
            else:
                model[layer][key] = previous
        self.all_closed_once()

    def _overwrite(self, key: type, spec: Spec, layer: Layer) -> None:
        if spec[0] == "value":
            overwrite_value(
                key, Made(spec[1], self.created, closable=False), blueprint=layer
            )
        else:
            overwrite_factory(
                key, factory_for(key, spec, self.created), blueprint=layer
            )

    def _override(self, key: type, spec: Spec, layer: Layer) -> Any:
        if spec[0] == "value":
            return override(
                key, value=Made(spec[1], self.created, closable=False), blueprint=layer
            )
        return override(
            key, factory=factory_for(key, spec, self.created), blueprint=layer
        )


def add_probes(target: Flask | Blueprint) -> None:
    """
    Add the function probe and the view probe to an app or a blueprint.
    """
    target.add_url_rule("/probe", view_func=probe, endpoint="probe")
    target.add_url_rule("/view", view_func=ProbeView.as_view("view"))


def attach_options(bp: Blueprint, name: str) -> dict[str, Any]:
    """
    ``register_blueprint`` options: ``name=`` unless it is the blueprint's
    own, and a URL prefix made of the name.
    """
    options: dict[str, Any] = {"url_prefix": f"/{name}"}
    if name != bp.name:
        options["name"] = name
    return options


@pytest.mark.slow
class TestReferenceModel:
    @MODEL_SETTINGS
    @given(scenario=scenarios())
    def test_matches_model(self, scenario):
        """
        Every endpoint and every ``get(..., blueprint=)`` resolves as the
        model says, through any sequence of overwrites and overrides, and
        every instance with a cleanup is closed exactly once.
        """
        world = World(scenario)
        for op in scenario.ops:
            if op[0] == "check":
                world.check(op[1])
                world.all_closed_once()
            else:
                world.replace(op)
        world.all_closed_once()
