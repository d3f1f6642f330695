"""The ``flask services`` commands: list the wiring and check it."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import AppGroup

from ._context import _registry_of
from ._registry import chain_for, key_name, layer_name
from .checks import check_services, unused_layers
from .views import ServiceMixin

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["services_cli"]

#: ``flask services``: installed on the app by :func:`~flask_servicecbv.init_app`.
services_cli = AppGroup("services", help="Inspect the app's services.")


def _repr(obj: object) -> str:
    try:
        return repr(obj)
    except Exception as e:  # noqa: BLE001 -- a broken repr must not stop the listing
        return f"<repr failed: {type(e).__name__}>"


def _describe(obj: object) -> str:
    if obj is None:
        return "-"
    if isinstance(obj, functools.partial):
        # partial's repr names the module and every argument's repr in full.
        arguments = [_describe(obj.func), *map(_repr, obj.args)]
        arguments += [f"{name}={_repr(value)}" for name, value in obj.keywords.items()]
        return f"partial({', '.join(arguments)})"
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(qualname, str) and qualname:
        code = getattr(obj, "__code__", None)
        if qualname.endswith("<lambda>") and code is not None:
            # Every lambda is called <lambda>: where it is written tells them
            # apart.
            where = f"{Path(code.co_filename).name}:{code.co_firstlineno}"
            outer = qualname.removesuffix("<lambda>").rstrip(".")
            outer = outer.replace(".<locals>", "")
            return f"lambda in {outer} at {where}" if outer else f"lambda at {where}"
        return qualname
    return _repr(obj)


def _blueprint_title(app: Flask, name: str) -> str:
    """A blueprint's name, marked when flask_servicecbv itself made it."""
    blueprint = app.blueprints.get(name)
    if blueprint is not None and blueprint.import_name.split(".")[0] == __package__:
        return f"Blueprint {name!r} (flask_servicecbv's own)"
    return f"Blueprint {name!r}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@services_cli.command("list")
def list_command() -> None:
    """
    Print each layer's services, then where each blueprint's keys come from.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001
    registry = _registry_of(app)
    layers = registry.layers
    for name, layer in layers.items():
        title = "The app" if name is None else _blueprint_title(app, name)
        click.echo(f"{title}:")
        if not layer:
            click.echo("  (no services)")
        for key, svc in layer.items():
            made_by = (
                f"value {_describe(svc.value)}"
                if svc.factory is None
                else f"factory {_describe(svc.factory)}"
            )
            click.echo(f"  {key_name(key)}: {made_by}, ping {_describe(svc.ping)}")
    for blueprint in sorted(app.blueprints):
        click.echo(f"{_blueprint_title(app, blueprint)} resolves:")
        resolved = registry.resolved(chain_for(blueprint))
        for key, (provider, _) in resolved.items():
            click.echo(f"  {key_name(key)} <- {layer_name(provider)}")


@services_cli.command("check")
def check_command() -> None:
    """
    Check that every service a view declares resolves from its endpoint's
    blueprint chain; exit with status 1 if one does not.

    Views that declare no services (a :class:`~flask_servicecbv.HealthView`,
    say) have nothing to check and are not counted.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001
    for name in unused_layers(app):
        click.echo(
            f"warning: blueprint layer {name!r} has services, but no blueprint "
            f"{name!r} is registered; check the name.",
            err=True,
        )
    missing = check_services(app)
    for item in missing:
        searched = ", ".join(layer_name(layer) for layer in item.chain)
        click.echo(
            f"{item.endpoint}: {item.attribute} = {key_name(item.key)} "
            f"is not in {searched}",
            err=True,
        )
    if missing:
        click.echo(f"{len(missing)} service attribute(s) do not resolve.", err=True)
        raise SystemExit(1)
    declared = [
        len(view.view_class.service_attributes)
        for view in app.view_functions.values()
        if isinstance(getattr(view, "view_class", None), type)
        and issubclass(view.view_class, ServiceMixin)
        and view.view_class.service_attributes
    ]
    click.echo(
        f"Checked {_plural(sum(declared), 'service attribute')} of "
        f"{_plural(len(declared), 'view')} with services: all resolve."
    )
    click.echo("Views without services are not checked.")
