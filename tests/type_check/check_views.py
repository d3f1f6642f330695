"""
Checked by ``mypy --strict``: service attributes keep their types.

``assert_type`` fails the type check when ``self.db`` is anything but a
``Connection`` (``Any`` included); at runtime it only returns its argument.
``tests/test_views.py`` imports this module and runs the view.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING

# typing.assert_type needs Python 3.11 and mypy checks for 3.10.
from typing_extensions import assert_type

from flask_servicecbv import ServiceAttr, ServiceView


@dataclass
class Connection:
    """A service key."""

    name: str


class ShowConnection(ServiceView):
    """A view with one typed service attribute."""

    db = ServiceAttr(Connection)

    def get(self) -> str:
        """
        Return the name of the request's Connection.
        """
        assert_type(self.db, Connection)
        return self.db.name


assert_type(ShowConnection.db, ServiceAttr[Connection])


class Repository(abc.ABC):
    """An abstract service key."""

    @abc.abstractmethod
    def names(self) -> list[str]:  # pragma: no cover -- abstract
        """Return the stored names."""


class ShowRepository(ServiceView):
    """A view with a service attribute whose key is an abstract class."""

    # mypy does not bind type[T] to an abstract class, so the attribute is
    # annotated; the annotation gives self.repo its type.
    repo: ServiceAttr[Repository] = ServiceAttr(Repository)


assert_type(ShowRepository.repo, ServiceAttr[Repository])
if TYPE_CHECKING:
    assert_type(ShowRepository().repo, Repository)
