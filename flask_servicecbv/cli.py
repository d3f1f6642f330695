"""The ``flask services`` commands: list the wiring and check it."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from ._context import _registry_of
from ._registry import chain_for, key_name, layer_name
from .checks import check_services, unused_layers
from .views import ServiceMixin

__all__ = ["services_cli"]

#: ``flask services``: installed on the app by :func:`~flask_servicecbv.init_app`.
services_cli = AppGroup("services", help="Inspect the app's services.")


def _describe(obj: object) -> str:
    if obj is None:
        return "-"
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(qualname, str) and qualname:
        return qualname
    try:
        return repr(obj)
    except Exception as e:  # noqa: BLE001 -- a broken repr must not stop the listing
        return f"<repr failed: {type(e).__name__}>"


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
        # Not str.capitalize(): it would lowercase the blueprint's name.
        title = layer_name(name)
        click.echo(f"{title[0].upper()}{title[1:]}:")
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
        click.echo(f"Blueprint {blueprint!r} resolves:")
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
