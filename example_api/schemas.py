"""
What the API reads and sends, as marshmallow schemas.

Every pattern is checked with :class:`flask_servicecbv.rest.FullMatch`, which
matches it against the whole string and shows the same pattern, anchored, in
the OpenAPI document, so that the two always agree.
Patterns use ASCII classes only (``[0-9]``, never ``\\d``).
"""

from __future__ import annotations

from typing import Any, Final

from marshmallow import Schema, ValidationError, fields, validate

from flask_servicecbv.rest import NO_NUL, FullMatch

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = (
    r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}"
    r"|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
)

#: An http or https URL with a host name or IPv4 address, an optional port,
#: and printable ASCII after them; no user info, no IPv6 literal.
URL_PATTERN: Final = (
    rf"https?://{_LABEL}(?:\.{_LABEL})*(?::{_PORT})?(?:[/?#][\x21-\x7e]*)?"
)

#: A tag: letters, digits and ``._+#-``, starting with a letter or digit.
TAG_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._+#-]*"

#: The most tags a bookmark can carry; the tag policy may allow fewer.
MAX_TAGS: Final = 20

#: The most entries a list of tags may have, repeats included: a repeat
#: (in any case) is one tag, but the list's length bounds the work of
#: checking it (the REST layer checks it before the entries).
MAX_TAG_ENTRIES: Final = 2 * MAX_TAGS

_ENTRIES = validate.Length(max=MAX_TAG_ENTRIES)


class DistinctTags(validate.Validator):
    """
    Refuse more than *maximum* different tags; tags that differ only in
    case are one tag.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum

    def __call__(self, value: list[str]) -> list[str]:
        """Return *value*, or raise ``ValidationError``."""
        if len({tag.lower() for tag in value}) > self.maximum:
            message = f"Give at most {self.maximum} different tags."
            raise ValidationError(message)
        return value


def _text(pattern: str, error: str, **options: Any) -> dict[str, Any]:
    """The keyword arguments of a string field checked against *pattern*."""
    length = options.pop("length")
    return {"validate": [length, FullMatch(pattern, error=error)], **options}


class BookmarkSchema(Schema):
    """A bookmark: a URL with a title, tags and notes."""

    id = fields.Integer(dump_only=True, metadata={"description": "Its id."})
    url = fields.String(
        required=True,
        **_text(
            URL_PATTERN,
            "Give an http or https URL with a host name.",
            length=validate.Length(min=1, max=2048),
            metadata={"description": "An http or https URL."},
        ),
    )
    title = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=200), NO_NUL],
    )
    tags = fields.List(
        fields.String(
            **_text(
                TAG_PATTERN,
                "Use letters, digits and ._+#- in tags.",
                length=validate.Length(min=1, max=50),
            )
        ),
        load_default=list,
        validate=[_ENTRIES, DistinctTags(MAX_TAGS)],
        metadata={
            "description": (
                f"At most {MAX_TAGS} different tags, stored in lower case, "
                "without repeats: a repeat, in any case, counts once."
            )
        },
    )
    notes = fields.String(
        load_default="",
        validate=[validate.Length(max=10_000), NO_NUL],
    )
    created_at = fields.AwareDateTime(dump_only=True, format="iso")
    updated_at = fields.AwareDateTime(dump_only=True, format="iso")


class AdminBookmarkSchema(BookmarkSchema):
    """A bookmark as the admin blueprint shows it: with its owner."""

    owner = fields.String(
        dump_only=True,
        required=True,
        metadata={"description": "The name of the user who created it."},
    )


class BookmarkFilters(Schema):
    """The query arguments that filter the list of bookmarks."""

    tag = fields.String(
        **_text(
            TAG_PATTERN,
            "Use letters, digits and ._+#- in tags.",
            length=validate.Length(min=1, max=50),
            metadata={"description": "Only bookmarks with this tag."},
        )
    )
    q = fields.String(
        validate=[validate.Length(min=1, max=200), NO_NUL],
        metadata={
            "description": "Only bookmarks with this text in the title or notes."
        },
    )


class TagReportSchema(Schema):
    """How many bookmarks carry each tag."""

    tags = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "Tag to number of bookmarks, for the most used tags."},
    )


class LinkSchema(Schema):
    """One entry of the index."""

    href = fields.String(required=True)
    description = fields.String(required=True)


class IndexSchema(Schema):
    """What this service offers."""

    name = fields.String(required=True)
    links = fields.Dict(
        keys=fields.String(), values=fields.Nested(LinkSchema), required=True
    )
