"""A ready health-check endpoint built on the services' pings."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

from flask import Flask, current_app

from ._container import Container, ServicePing
from ._context import _G_KEY, _current_app, _current_container, _registry_of
from .views import ServiceView, _aclose_current

if TYPE_CHECKING:
    from ._registry import RegisteredService, Registry

__all__ = ["HealthView"]

log = logging.getLogger("flask_servicecbv")


class _Flight:
    """
    One sync ping under way in a thread of its own, whose outcome every
    check that arrives while it is young shares.
    """

    __slots__ = ("done", "ended", "outcome", "started")

    def __init__(self) -> None:
        self.started = time.monotonic()
        # Set once the ping has returned or raised, before its cleanup runs.
        self.done = threading.Event()
        # Set once its cleanup has run too and the thread is about to end.
        self.ended = threading.Event()
        self.outcome: BaseException | None = None


# The sync pings under way, by app, registration and lookup chain: a check
# that arrives while one is younger than its timeout waits for that one's
# outcome instead of starting another, and a ping that hangs keeps its entry
# (and its thread) until it ends, so that the threads stay bounded.
_flights: dict[
    tuple[Flask, RegisteredService, tuple[str | None, ...]], list[_Flight]
] = {}
_flights_lock = threading.Lock()


class _Check:
    """
    What the sync pings of one health check share: where they run and how
    long and how many of them may run.
    """

    __slots__ = ("app", "chain", "max_threads", "registry", "timed_out", "timeout")

    def __init__(
        self,
        app: Flask,
        chain: tuple[str | None, ...],
        timeout: float | None,
        max_threads: int,
    ) -> None:
        self.app = app
        self.registry: Registry = _registry_of(app)
        self.chain = chain
        self.timeout = timeout
        self.max_threads = max_threads
        self.timed_out: set[str] = set()


class HealthView(ServiceView):
    """
    Answer ``GET`` by running every ping visible from the view's blueprint.

    ``200 {"status": "ok", "services": {name: "ok", ...}}`` when all pass;
    ``503 {"status": "failing", "failing": [names], "services": {...}}`` when
    one fails or times out; ``services`` says ``"failing"`` or ``"timeout"``
    for each of those.
    A service's name is the ``name=`` it was registered with, else its key's.
    The exception text of a failing ping is only included (under ``"errors"``)
    when the app is in debug mode; it is always logged.

    Each ping gets :attr:`PING_TIMEOUT` seconds; set it in a subclass.

    .. code-block:: python

        app.add_url_rule("/health", view_func=HealthView.as_view("health"))
    """

    #: How many seconds each ping may take before its service is reported as
    #: ``"timeout"``; ``None`` waits as long as the ping takes.
    #: A sync ping runs in a daemon thread of its own, in an app context of
    #: its own (its own container, no request), so that it shares no
    #: connection and no ``after_this_request`` hook with the request; the
    #: thread is left running when it times out.
    #: Checks that arrive while a ping of the same service is under way, and
    #: younger than their timeout, wait for that ping's outcome instead of
    #: starting another.
    #: An async ping is cancelled when it times out.
    PING_TIMEOUT: ClassVar[float | None] = 5.0

    #: How many sync pings of one service may have timed out and still run.
    #: When that many hang, checks report the service as ``"timeout"`` at
    #: once, without starting another thread; a ping that finished and is
    #: still cleaning up, within its timeout, does not count.
    MAX_PING_THREADS: ClassVar[int] = 2

    def get(self) -> tuple[dict[str, Any], int]:
        """
        Run the pings and report.
        """
        cont = _current_container()
        pings = cont.get_pings()
        check = _Check(
            # The app, not the proxy, goes to the ping threads.
            _current_app(),
            cont.chain,
            self.PING_TIMEOUT,
            self.MAX_PING_THREADS,
        )
        errors: dict[str, str]
        if any(ping.is_async for ping in pings):
            # One event loop for all the pings, and the container closed in it:
            # the sync teardown after this view cannot run async cleanups.
            errors = current_app.ensure_sync(_arun_pings)(pings, check)
        else:
            errors = _run_pings(pings, check)
        timed_out = check.timed_out
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


def _still_running(ping: ServicePing, count: int, timed_out: set[str]) -> str:
    log.warning(
        "%s earlier pings of %s are still running; not started again.",
        count,
        ping.name,
    )
    timed_out.add(ping.name)
    return "TimeoutError: earlier pings are still running"


def _run_pings(pings: list[ServicePing], check: _Check) -> dict[str, str]:
    errors: dict[str, str] = {}
    for ping in pings:
        error = _run_sync_ping(ping, check)
        if error is not None:
            errors[ping.name] = error
    return errors


def _run_sync_ping(ping: ServicePing, check: _Check) -> str | None:
    """
    Run a sync ping, inline without a timeout, else in a thread of its own
    (or wait for the one under way); return its error text, or None when it
    passed.
    """
    timeout = check.timeout
    if timeout is None:
        try:
            ping.ping()
        except Exception as e:  # noqa: BLE001 -- every ping runs, whatever fails
            return _failed(ping, e)
        return None
    flight = _flight_for(ping, check, timeout)
    if isinstance(flight, str):
        return flight
    deadline = time.monotonic() + timeout
    if not flight.done.wait(timeout):
        return _timed_out(ping, timeout, check.timed_out)
    # Give the ping's cleanup what is left of the timeout, so that a healthy
    # service has given its connection back before the answer leaves (an app
    # that closes its registry next finds nothing still in use); a cleanup
    # that hangs does not hold the answer past the timeout.
    flight.ended.wait(max(0.0, deadline - time.monotonic()))
    error = flight.outcome
    if error is None:
        return None
    if isinstance(error, Exception):
        return _failed(ping, error)
    # As inline: what is not an Exception ends the request.
    raise error


def _flight_for(ping: ServicePing, check: _Check, timeout: float) -> _Flight | str:
    """
    Return the ping still running for *ping* that is younger than *timeout*,
    else start one; or, when too many are under way, the error text that says so.
    """
    svc = ping._svc  # noqa: SLF001 -- our own class
    key = (check.app, svc, check.chain)
    with _flights_lock:
        flights = _flights.setdefault(key, [])
        now = time.monotonic()
        for flight in flights:
            # A ping that has finished is not shared even while its cleanups
            # run: its outcome says nothing of the service now, and those
            # cleanups may be what hangs.
            if not flight.done.is_set() and now - flight.started < timeout:
                return flight
        # Only pings older than the timeout count as hung: one that is young
        # and cleaning up ends soon, and a new one starts only when none is
        # running, so the threads stay bounded.
        hung = sum(1 for flight in flights if now - flight.started >= timeout)
        if hung >= check.max_threads:
            return _still_running(ping, hung, check.timed_out)
        flight = _Flight()
        thread = threading.Thread(
            target=_ping_in_thread,
            args=(check, svc, key, flight),
            name=f"flask_servicecbv ping {ping.name}",
            daemon=True,
        )
        # Started under the lock, so that the thread, which removes its entry
        # when it ends, finds it; and no entry is left when it cannot start.
        thread.start()
        flights.append(flight)
    return flight


def _ping_in_thread(
    check: _Check,
    svc: RegisteredService,
    key: tuple[Flask, RegisteredService, tuple[str | None, ...]],
    flight: _Flight,
) -> None:
    # An app context of its own, with a container of its own searching the
    # request's chain: the ping makes its own instance of the service (its
    # own connection) and registers no hook on the request, and its cleanups
    # run here, at this context's teardown, so that none can block the
    # request's thread.
    app = check.app
    try:
        with app.app_context() as ctx:
            cont = Container(check.registry, check.chain, None, app.blueprints)
            ctx.g.__dict__[_G_KEY] = cont
            try:
                ServicePing(cont, svc, None).ping()
            except BaseException as e:  # noqa: BLE001 -- handed to the checks
                flight.outcome = e
            # The outcome is known: the checks waiting for it need not wait
            # for the cleanups too.
            flight.done.set()
    except Exception as e:
        if flight.done.is_set():
            log.exception("Ending the app context of the ping of %s failed.", svc.name)
        else:
            # The app context could not even be pushed: that is the outcome.
            flight.outcome = e
    finally:
        with _flights_lock:
            flights = _flights[key]
            flights.remove(flight)
            if not flights:
                del _flights[key]
        flight.done.set()
        flight.ended.set()


async def _arun_pings(pings: list[ServicePing], check: _Check) -> dict[str, str]:
    errors: dict[str, str] = {}
    try:
        for ping in pings:
            if ping.is_async:
                error = await _run_async_ping(ping, check.timeout, check.timed_out)
            else:
                error = _run_sync_ping(ping, check)
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
