"""JSON request bodies that hold Unicode text only."""

from __future__ import annotations

import re
from typing import Any

from flask.json.provider import DefaultJSONProvider

# A JSON escape of a surrogate, \uD800 to \uDFFF: the only way a surrogate
# gets into a body, since the UTF-8 bytes of one are not valid UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            msg = "it holds an unpaired surrogate, which is not Unicode text"
            raise ValueError(msg) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


class UnicodeJSONProvider(DefaultJSONProvider):
    """
    Flask's JSON, but a body with an unpaired surrogate (``"\\ud800"``) does
    not load.

    Python's :mod:`json` accepts such escapes, and the text they make cannot
    be encoded: psycopg fails on it, and the client would get a ``500``.
    The REST layer answers a body that does not load with ``400``.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Load *s*; raise :exc:`ValueError` if it holds a surrogate."""
        data = super().loads(s, **kwargs)
        pattern = _SURROGATE_ESCAPE if isinstance(s, str) else _SURROGATE_ESCAPE_BYTES
        if pattern.search(s):  # type: ignore[arg-type]
            # Rare: only then look at every string.
            _check_text(data)
        return data
