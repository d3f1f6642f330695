"""
Service subclasses with a stable dotted path, for configuring
``app.config["SERVICES"]`` by ``"service_fixtures.ClassName"``.

pytest puts ``tests/`` on ``sys.path`` (rootdir ``conftest.py`` and the test
modules have no package), so this module imports as ``service_fixtures``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_servicecbv import Service


@dataclass
class CfgDottedService(Service):
    """
    Configured by its dotted path; records the arguments it was built with.
    """

    url: str
    timeout: float = 5.0


class CfgTwinService(Service):
    """
    Shares its ``__name__`` with a class that a test defines, so that the bare
    name is ambiguous while the dotted path is not.
    """


@dataclass
class CliPingService(Service):
    """
    A configured service with a ping, as ``flask services list`` shows it.
    """

    region: str

    def ping(self) -> None:
        """
        Always healthy: only its name is printed by ``flask services list``.
        """
