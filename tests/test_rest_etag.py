"""Tests for flask_servicecbv.rest.etag: entity tags and preconditions."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import BadRequest, PreconditionFailed, PreconditionRequired

from flask_servicecbv.rest import (
    check_if_match,
    check_preconditions,
    etag_of,
    if_none_match,
)

TAG = etag_of(b"body")


class TestEtagOf:
    def test_stable(self):
        """
        The tag depends only on the bytes: unquoted hex, equal for equal bodies.
        """
        assert etag_of(b"body") == TAG
        assert etag_of(b"body ") != TAG
        assert len(TAG) == 32
        assert int(TAG, 16) >= 0


class TestIfNoneMatch:
    @pytest.mark.parametrize("header", [f'"{TAG}"', f'W/"{TAG}"', f'"x", "{TAG}"', "*"])
    @pytest.mark.parametrize("method", ["GET", "HEAD"])
    def test_matches(self, app, header, method):
        """
        GET and HEAD match with the weak comparison, and `*` matches.
        """
        headers = {"If-None-Match": header}
        with app.test_request_context(method=method, headers=headers) as ctx:
            assert if_none_match(TAG, ctx.request)

    @pytest.mark.parametrize(
        ("method", "header"),
        [("GET", '"other"'), ("GET", None), ("POST", "*"), ("PUT", f'"{TAG}"')],
    )
    def test_no_match(self, app, method, header):
        """
        Another tag, no header, or a method that changes things never matches.
        """
        headers = {} if header is None else {"If-None-Match": header}
        with app.test_request_context(method=method, headers=headers) as ctx:
            assert not if_none_match(TAG, ctx.request)


class TestCheckIfMatch:
    @pytest.mark.parametrize("header", [f'"{TAG}"', f'"x", "{TAG}"', "*"])
    def test_matches(self, app, header):
        """
        A strong match, or `*` for an existing resource, passes.
        """
        with app.test_request_context(headers={"If-Match": header}) as ctx:
            check_if_match(TAG, ctx.request, required=True)

    @pytest.mark.parametrize("header", [f'W/"{TAG}"', '"other"'])
    def test_stale(self, app, header):
        """
        A weak tag (strong comparison) or another tag fails with 412.
        """
        with (
            app.test_request_context(headers={"If-Match": header}) as ctx,
            pytest.raises(PreconditionFailed, match="The resource has changed"),
        ):
            check_if_match(TAG, ctx.request, required=False)

    def test_no_resource(self, app):
        """
        `*` fails when there is no current representation.
        """
        with (
            app.test_request_context(headers={"If-Match": "*"}) as ctx,
            pytest.raises(PreconditionFailed, match="If-Match does not match"),
        ):
            check_if_match(None, ctx.request, required=False)

    def test_required(self, app):
        """
        A required If-Match that is absent fails with 428.
        """
        with (
            app.test_request_context() as ctx,
            pytest.raises(PreconditionRequired, match="send If-Match with the ETag"),
        ):
            check_if_match(TAG, ctx.request, required=True)

    def test_optional(self, app):
        """
        An optional If-Match that is absent passes.
        """
        with app.test_request_context() as ctx:
            check_if_match(TAG, ctx.request, required=False)


OK = "ok"
NOT_MODIFIED = 304


class TestCheckPreconditions:
    @pytest.mark.parametrize(
        ("method", "headers", "etag", "outcome"),
        [
            # 1. If-Match, strong, on every method.
            ("GET", {"If-Match": f'"{TAG}"'}, TAG, OK),
            ("GET", {"If-Match": '"other"'}, TAG, PreconditionFailed),
            ("HEAD", {"If-Match": f'W/"{TAG}"'}, TAG, PreconditionFailed),
            ("PUT", {"If-Match": "*"}, TAG, OK),
            ("PUT", {"If-Match": "*"}, None, PreconditionFailed),
            ("DELETE", {"If-Match": '"other"'}, TAG, PreconditionFailed),
            # 2. If-None-Match, weak: 304 for GET and HEAD, 412 otherwise.
            ("GET", {"If-None-Match": f'W/"{TAG}"'}, TAG, NOT_MODIFIED),
            ("HEAD", {"If-None-Match": "*"}, TAG, NOT_MODIFIED),
            ("GET", {"If-None-Match": '"other"'}, TAG, OK),
            ("GET", {"If-None-Match": "*"}, None, OK),
            ("PUT", {"If-None-Match": "*"}, TAG, PreconditionFailed),
            ("PATCH", {"If-None-Match": f'"{TAG}"'}, TAG, PreconditionFailed),
            ("DELETE", {"If-None-Match": f'W/"{TAG}"'}, TAG, PreconditionFailed),
            ("PUT", {"If-None-Match": "*"}, None, OK),
            ("PUT", {"If-None-Match": '"other"'}, TAG, OK),
            # In order: If-Match first, then If-None-Match.
            (
                "GET",
                {"If-Match": f'"{TAG}"', "If-None-Match": f'"{TAG}"'},
                TAG,
                NOT_MODIFIED,
            ),
            (
                "GET",
                {"If-Match": '"other"', "If-None-Match": f'"{TAG}"'},
                TAG,
                PreconditionFailed,
            ),
            ("GET", {}, TAG, OK),
            ("PUT", {}, TAG, OK),
        ],
    )
    def test_rfc_9110(self, app, method, headers, etag, outcome):
        """
        If-Match then If-None-Match, as RFC 9110 13.2.2 orders them.
        """
        with app.test_request_context(method=method, headers=headers) as ctx:
            if outcome is PreconditionFailed:
                with pytest.raises(PreconditionFailed, match=r"ETag|If-None-Match"):
                    check_preconditions(etag, ctx.request)
            else:
                result = check_preconditions(etag, ctx.request)
                assert result is (outcome == NOT_MODIFIED)

    @pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
    def test_required(self, app, method):
        """
        A required If-Match that a change does not send is a 428, even with
        If-None-Match.
        """
        headers = {"If-None-Match": '"other"'}
        with (
            app.test_request_context(method=method, headers=headers) as ctx,
            pytest.raises(PreconditionRequired, match="send If-Match with the ETag"),
        ):
            check_preconditions(TAG, ctx.request, required=True)

    @pytest.mark.parametrize("method", ["GET", "HEAD"])
    def test_required_not_on_reads(self, app, method):
        """
        GET and HEAD need no If-Match, whatever *required* says.
        """
        with app.test_request_context(method=method) as ctx:
            assert not check_preconditions(TAG, ctx.request, required=True)

    @pytest.mark.parametrize("name", ["If-Match", "If-None-Match"])
    @pytest.mark.parametrize("value", ['"unterminated', "two words", '"a" "b"'])
    def test_malformed(self, app, name, value):
        """
        A conditional header that is neither `*` nor a list of entity tags is
        a 400, not a precondition that silently fails or passes.
        """
        with (
            app.test_request_context(method="PUT", headers={name: value}) as ctx,
            pytest.raises(BadRequest, match=r"is not \* or a list of entity tags"),
        ):
            check_preconditions(TAG, ctx.request)
