"""A ready health-check endpoint built on the services' pings."""

from __future__ import annotations

import contextvars
import logging
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from flask import current_app

from .extension import get_pings
from .views import ServiceView, _aclose_current

if TYPE_CHECKING:
    from ._container import ServicePing

__all__ = ["HealthView"]

log = logging.getLogger("flask_servicecbv")

# The threads of sync pings that have not finished yet, by registration: a
# ping that hangs keeps its entry, so that later checks report it as timed
# out instead of starting one more thread that would hang too.
_running: dict[object, threading.Thread] = {}
_running_lock = threading.Lock()


class HealthView(ServiceView):
    """
    Answer ``GET`` by running every ping visible from the view's blueprint.

    ``200 {"status": "ok", "services": {name: "ok", ...}}`` when all pass;
    ``503 {"status": "failing", "failing": [names], "services": {...}}`` when
    one fails or times out; ``services`` says ``"failing"`` or ``"timeout"``
    for each of those.
    The exception text of a failing ping is only included (under ``"errors"``)
    when the app is in debug mode; it is always logged.

    Each ping gets :attr:`PING_TIMEOUT` seconds; set it in a subclass.

    .. code-block:: python

        app.add_url_rule("/health", view_func=HealthView.as_view("health"))
    """

    #: How many seconds each ping may take before its service is reported as
    #: ``"timeout"``; ``None`` waits as long as the ping takes.
    #: A sync ping runs in a daemon thread of its own (with the request's
    #: context), which is left running when it times out; until it ends,
    #: later checks report the service as timed out without pinging it again.
    #: An async ping is cancelled when it times out.
    PING_TIMEOUT: ClassVar[float | None] = 5.0

    def get(self) -> tuple[dict[str, Any], int]:
        """
        Run the pings and report.
        """
        pings = get_pings()
        timeout = self.PING_TIMEOUT
        errors: dict[str, str]
        timed_out: set[str] = set()
        if any(ping.is_async for ping in pings):
            # One event loop for all the pings, and the container closed in it:
            # the sync teardown after this view cannot run async cleanups.
            errors = current_app.ensure_sync(_arun_pings)(pings, timeout, timed_out)
        else:
            errors = _run_pings(pings, timeout, timed_out)
        services = {
            ping.name: "timeout"
            if ping.name in timed_out
            else "failing"
            if ping.name in errors
            else "ok"
            for ping in pings
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


def _timed_out(ping: ServicePing, timeout: float | None, timed_out: set[str]) -> str:
    log.warning("Ping of %s did not finish within %s s.", ping.name, timeout)
    timed_out.add(ping.name)
    return f"TimeoutError: no answer within {timeout} s"


def _still_running(ping: ServicePing, timed_out: set[str]) -> str:
    log.warning(
        "Ping of %s is still running from an earlier check; not started again.",
        ping.name,
    )
    timed_out.add(ping.name)
    return "TimeoutError: an earlier ping is still running"


def _run_pings(
    pings: list[ServicePing], timeout: float | None, timed_out: set[str]
) -> dict[str, str]:
    errors: dict[str, str] = {}
    for ping in pings:
        error = _run_sync_ping(ping, timeout, timed_out)
        if error is not None:
            errors[ping.name] = error
    return errors


def _run_sync_ping(
    ping: ServicePing, timeout: float | None, timed_out: set[str]
) -> str | None:
    """
    Run a sync ping, inline without a timeout, else in a thread of its own;
    return its error text, or None when it passed.
    """
    if timeout is None:
        try:
            ping.ping()
        except Exception as e:  # noqa: BLE001 -- every ping runs, whatever fails
            return _failed(ping, e)
        return None
    registration = ping._svc  # noqa: SLF001 -- our own class
    outcome: list[BaseException | None] = []
    with _running_lock:
        if registration in _running:
            return _still_running(ping, timed_out)
        # The copied context holds the request's app and request contexts,
        # so the ping sees the same container, chain and current_app.
        thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(_ping_in_thread, ping, registration, outcome),
            name=f"flask_servicecbv ping {ping.name}",
            daemon=True,
        )
        # Started under the lock, so that the thread, which removes its entry
        # when it ends, finds it; and no entry is left when it cannot start.
        thread.start()
        _running[registration] = thread
    thread.join(timeout)
    if not outcome:
        return _timed_out(ping, timeout, timed_out)
    (error,) = outcome
    if error is None:
        return None
    if isinstance(error, Exception):
        return _failed(ping, error)
    # As inline: what is not an Exception ends the request.
    raise error


def _ping_in_thread(
    ping: ServicePing, registration: object, outcome: list[BaseException | None]
) -> None:
    try:
        ping.ping()
    except BaseException as e:  # noqa: BLE001 -- handed to the request's thread
        outcome.append(e)
    else:
        outcome.append(None)
    finally:
        with _running_lock:
            del _running[registration]


async def _arun_pings(
    pings: list[ServicePing], timeout: float | None, timed_out: set[str]
) -> dict[str, str]:
    errors: dict[str, str] = {}
    try:
        for ping in pings:
            if ping.is_async:
                error = await _run_async_ping(ping, timeout, timed_out)
            else:
                error = _run_sync_ping(ping, timeout, timed_out)
            if error is not None:
                errors[ping.name] = error
    finally:
        await _aclose_current(None)
    return errors


async def _run_async_ping(
    ping: ServicePing, timeout: float | None, timed_out: set[str]
) -> str | None:
    """
    Run an async ping, cancelled after *timeout*; return its error text, or
    None when it passed.
    """
    # Imported here: only apps with async services pay for asyncio.
    import asyncio  # noqa: PLC0415

    # A task and wait(), not wait_for(): a ping's own TimeoutError is a
    # failure to report as such, not a timeout.
    task = asyncio.ensure_future(ping.aping())
    await asyncio.wait((task,), timeout=timeout)
    if not task.done():
        task.cancel()
        await asyncio.wait((task,))
        return _timed_out(ping, timeout, timed_out)
    try:
        task.result()
    except Exception as e:  # noqa: BLE001 -- every ping runs
        return _failed(ping, e)
    return None
