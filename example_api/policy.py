"""The tag policy: a service configured per blueprint in ``app.config``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_servicecbv import Service
from flask_servicecbv.exceptions import RequestValidationError

from .schemas import MAX_TAGS

if TYPE_CHECKING:
    from collections.abc import Iterable


class TagPolicy(Service):
    """
    How tags are written and counted.

    Configured in ``app.config["SERVICES"]`` for each blueprint, as in
    ``{"api": {"TagPolicy": {"max_tags": 20, "lowercase": True}}}``, and
    fetched with ``TagPolicy.from_context()``.

    Args:
        max_tags: The most tags one answer carries: a bookmark's tags on the
            API (from 1 to :data:`~example_api.schemas.MAX_TAGS`), the most
            used tags in a report.

        lowercase: Fold tags to lower case, so that ``Flask`` and ``flask``
            are one tag.
    """

    def __init__(self, *, max_tags: int, lowercase: bool = True) -> None:
        self.max_tags = max_tags
        self.lowercase = lowercase

    def __repr__(self) -> str:
        return f"TagPolicy(max_tags={self.max_tags}, lowercase={self.lowercase})"

    @classmethod
    def check_arguments(cls, *args: object, **kwargs: object) -> None:
        """Reject a maximum that is not a positive integer."""
        super().check_arguments(*args, **kwargs)
        max_tags = kwargs["max_tags"]
        if not isinstance(max_tags, int) or isinstance(max_tags, bool) or max_tags < 1:
            msg = f"max_tags must be a positive integer, not {max_tags!r}"
            raise ValueError(msg)

    def tag(self, tag: str) -> str:
        """Return *tag* as it is stored and looked up."""
        return tag.lower() if self.lowercase else tag

    def tags(self, tags: Iterable[str], *, maximum: int = MAX_TAGS) -> list[str]:
        """
        Return *tags* as they are stored: folded, without repeats, in order.

        Raises:
            RequestValidationError: There are more than :attr:`max_tags`
                (or *maximum*) of them (``422``).
        """
        kept = list(dict.fromkeys(self.tag(tag) for tag in tags))
        limit = min(self.max_tags, maximum)
        if len(kept) > limit:
            message = f"Give at most {limit} different tags."
            raise RequestValidationError({"json": {"tags": [message]}})
        return kept
