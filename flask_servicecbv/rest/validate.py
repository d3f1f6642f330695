"""Validators that say the same thing to marshmallow and to the document."""

from __future__ import annotations

import re
from typing import Final

from marshmallow import ValidationError, validate

__all__ = ["NO_NUL", "FullMatch"]


class FullMatch(validate.Regexp):
    r"""
    Accept a string that *pattern* matches as a whole, with ASCII classes.

    marshmallow's :class:`~marshmallow.validate.Regexp` matches at the start
    only (``"a\x00"`` passes ``"[a-z]*"``), Python's ``$`` also matches before
    a final newline, and ``\d`` matches other scripts' digits; a JSON Schema
    ``pattern`` means none of that.
    This validator matches the whole string with ASCII classes, and shows the
    document ``^(?:pattern)$``, which a JSON Schema validator reads the same
    way.

    Args:
        pattern: The regular expression, without anchors.

        error: The error message, as for :class:`~marshmallow.validate.Regexp`.
    """

    def __init__(self, pattern: str, *, error: str | None = None) -> None:
        # What the document shows (apispec reads ``regex.pattern``).
        super().__init__(f"^(?:{pattern})$", re.ASCII, error=error)
        self.full = re.compile(pattern, re.ASCII)

    def __call__(self, value: str) -> str:  # type: ignore[override]
        """Return *value* if the pattern matches all of it; raise otherwise."""
        if self.full.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


#: Refuses the NUL character, which PostgreSQL cannot store in text.
NO_NUL: Final = FullMatch(r"[^\x00]*", error="The NUL character is not allowed.")
