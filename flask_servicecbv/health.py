"""A ready health-check endpoint built on the services' pings."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app

from .extension import get_pings
from .views import ServiceView

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
        services: dict[str, str] = {}
        errors: dict[str, str] = {}
        for ping in get_pings():
            try:
                if ping.is_async:
                    current_app.ensure_sync(ping.aping)()
                else:
                    ping.ping()
            except Exception as e:  # noqa: PERF203 -- every ping runs, whatever fails
                log.warning("Ping of %s failed.", ping.name, exc_info=True)
                services[ping.name] = "failing"
                errors[ping.name] = f"{type(e).__name__}: {e}"
            else:
                services[ping.name] = "ok"
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
