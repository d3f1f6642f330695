"""
REST endpoints on service views: declared inputs and outputs, JSON errors,
generic views over a repository service, pagination, entity tags, and
permissions (who may call each method; the caller is the principal service
of :mod:`flask_servicecbv.auth`).

Importing :mod:`flask_servicecbv` does not import this package; the OpenAPI
document is in :mod:`flask_servicecbv.rest.openapi`, which needs apispec.
"""

from __future__ import annotations

from ._parsing import MAX_BODY_SIZE, body_limit, reads_body
from .auth import METHOD_GROUPS, Requirement, authenticated, public, requires
from .declarations import (
    ARGUMENT_NAMES,
    DeclaredError,
    ErrorResponse,
    Input,
    Output,
    Plan,
    RestMixin,
    RestView,
    doc,
    reads,
    returns,
)
from .errors import (
    MAX_ERRORS,
    MAX_FIELD_ERRORS,
    PROBLEM_JSON,
    ErrorSchema,
    ProblemSchema,
    capped_errors,
    error_body,
    json_errors,
)
from .etag import check_if_match, check_preconditions, etag_of, if_none_match
from .generics import (
    MAX_ID,
    CollectionView,
    CreateMixin,
    DeleteMixin,
    IdConverter,
    InMemoryRepository,
    ItemView,
    ListMixin,
    ReadOnlyCollectionView,
    ReadOnlyItemView,
    Repository,
    RetrieveMixin,
    UpdateMixin,
)
from .pagination import MAX_PAGE, Page, PageMetaSchema, Pagination, QueryInteger
from .validate import NO_NUL, FullMatch

__all__ = [
    "ARGUMENT_NAMES",
    "MAX_BODY_SIZE",
    "MAX_ERRORS",
    "MAX_FIELD_ERRORS",
    "MAX_ID",
    "MAX_PAGE",
    "METHOD_GROUPS",
    "NO_NUL",
    "PROBLEM_JSON",
    "CollectionView",
    "CreateMixin",
    "DeclaredError",
    "DeleteMixin",
    "ErrorResponse",
    "ErrorSchema",
    "FullMatch",
    "IdConverter",
    "InMemoryRepository",
    "Input",
    "ItemView",
    "ListMixin",
    "Output",
    "Page",
    "PageMetaSchema",
    "Pagination",
    "Plan",
    "ProblemSchema",
    "QueryInteger",
    "ReadOnlyCollectionView",
    "ReadOnlyItemView",
    "Repository",
    "Requirement",
    "RestMixin",
    "RestView",
    "RetrieveMixin",
    "UpdateMixin",
    "authenticated",
    "body_limit",
    "capped_errors",
    "check_if_match",
    "check_preconditions",
    "doc",
    "error_body",
    "etag_of",
    "if_none_match",
    "json_errors",
    "public",
    "reads",
    "reads_body",
    "requires",
    "returns",
]
