"""Tests for flask_servicecbv.rest.validate: patterns that mean one thing."""

from __future__ import annotations

import re

import pytest
from marshmallow import Schema, ValidationError, fields

from flask_servicecbv.rest.validate import NO_NUL, FullMatch


class TestFullMatch:
    @pytest.mark.parametrize("value", ["abc", "a"])
    def test_accepts_whole_matches(self, value):
        """
        A string the pattern matches as a whole is returned.
        """
        assert FullMatch("[a-c]+")(value) == value

    @pytest.mark.parametrize(
        "value",
        [
            "abcd",  # re.match would accept the prefix
            "abc\n",  # Python's $ would accept the final newline
            "",
        ],
    )
    def test_refuses_partial_matches(self, value):
        """
        A string with anything outside the pattern is refused.
        """
        with pytest.raises(ValidationError, match="does not match"):
            FullMatch("[a-c]+")(value)

    def test_ascii_digits(self):
        """
        \\d means ASCII digits only, as in JSON Schema.
        """
        with pytest.raises(ValidationError, match="does not match"):
            FullMatch(r"\d+")("\u0663")
        assert FullMatch(r"\d+")("3") == "3"

    def test_document_pattern(self):
        """
        apispec reads the anchored pattern from ``regex``.
        """
        validator = FullMatch("[a-c]+")

        assert validator.regex.pattern == "^(?:[a-c]+)$"
        assert validator.regex.flags & re.ASCII

    def test_error_message(self):
        """
        A custom error message is used.
        """

        class Named(Schema):
            name = fields.String(validate=FullMatch("[a-z]+", error="Lower case."))

        with pytest.raises(ValidationError, match=r"Lower case\."):
            Named().load({"name": "Abc"})


class TestNoNul:
    def test_refuses_nul(self):
        """
        NUL anywhere is refused with a message that says so.
        """
        with pytest.raises(ValidationError, match=r"NUL character is not allowed"):
            NO_NUL("a\x00b")

    def test_accepts_the_rest(self):
        """
        Any other text, newlines included, is accepted.
        """
        assert NO_NUL("a\nb\u00e9") == "a\nb\u00e9"
