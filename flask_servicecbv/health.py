"""A ready health-check endpoint built on the services' pings."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import current_app

from .extension import get_pings
from .views import ServiceView, _aclose_current

if TYPE_CHECKING:
    from ._container import ServicePing

__all__ = ["HealthView"]

log = logging.getLogger("flask_servicecbv")


class HealthView(ServiceView):
    """
    Answer ``GET`` by running every ping visible from the view's blueprint.

    ``200 {"status": "ok", "services": {name: "ok", ...}}`` when all pass;
    ``503 {"status": "failing", "failing": [names], "services": {...}}`` when
    one fails.
    The exception text of a failing ping is only included (under ``"errors"``)
    when the app is in debug mode; it is always logged.

    .. code-block:: python

        app.add_url_rule("/health", view_func=HealthView.as_view("health"))
    """

    def get(self) -> tuple[dict[str, Any], int]:
        """
        Run the pings and report.
        """
        pings = get_pings()
        errors: dict[str, str]
        if any(ping.is_async for ping in pings):
            # One event loop for all the pings, and the container closed in it:
            # the sync teardown after this view cannot run async cleanups.
            errors = current_app.ensure_sync(_arun_pings)(pings)
        else:
            errors = _run_pings(pings)
        services = {
            ping.name: "failing" if ping.name in errors else "ok" for ping in pings
        }
        if not errors:
            return {"status": "ok", "services": services}, 200
        body: dict[str, Any] = {
            "status": "failing",
            "failing": sorted(errors),
            "services": services,
        }
        if current_app.debug:
            body["errors"] = errors
        return body, 503


def _failed(ping: ServicePing, e: Exception) -> str:
    log.warning("Ping of %s failed.", ping.name, exc_info=e)
    return f"{type(e).__name__}: {e}"


def _run_pings(pings: list[ServicePing]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for ping in pings:
        try:
            ping.ping()
        except Exception as e:  # noqa: BLE001, PERF203 -- every ping runs, whatever fails
            errors[ping.name] = _failed(ping, e)
    return errors


async def _arun_pings(pings: list[ServicePing]) -> dict[str, str]:
    errors: dict[str, str] = {}
    try:
        for ping in pings:
            try:
                if ping.is_async:
                    await ping.aping()
                else:
                    ping.ping()
            except Exception as e:  # noqa: BLE001, PERF203 -- every ping runs
                errors[ping.name] = _failed(ping, e)
    finally:
        await _aclose_current(None)
    return errors
