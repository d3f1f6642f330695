"""Ready views over a repository service: list, create, retrieve, update, delete."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from flask import abort, request, url_for
from flask.globals import _cv_app, _cv_request
from flask.views import MethodView
from marshmallow import Schema, fields
from werkzeug.routing import BaseConverter

from flask_servicecbv.exceptions import RestDeclarationError

from .declarations import Input, Output, RestMixin, _Declared
from .etag import check_preconditions, etag_of
from .pagination import Page, PageMetaSchema, Pagination
from .response import json_bytes

__all__ = [
    "MAX_ID",
    "CollectionView",
    "CreateMixin",
    "DeleteMixin",
    "IdConverter",
    "InMemoryRepository",
    "ItemView",
    "ListMixin",
    "ReadOnlyCollectionView",
    "ReadOnlyItemView",
    "Repository",
    "RetrieveMixin",
    "UpdateMixin",
]

ItemT_co = TypeVar("ItemT_co", covariant=True)

#: The largest id that :class:`IdConverter` accepts: a signed 64-bit integer.
MAX_ID = 2**63 - 1


class IdConverter(BaseConverter):
    """
    A URL converter for database ids: ASCII digits, from 1 to :data:`MAX_ID`.

    Werkzeug's ``int`` converter also matches other scripts' digits and has no
    upper bound, so ``/items/99999999999999999999`` reaches the database;
    with ``<id:item_id>`` it is a ``404``.

    .. code-block:: python

        app.url_map.converters["id"] = IdConverter
    """

    regex = r"[1-9][0-9]{0,18}"
    weight = 50
    part_isolating = True

    def to_python(self, value: str) -> int:
        """Return the id; ``404`` above :data:`MAX_ID`."""
        number = int(value)
        if number > MAX_ID:
            from werkzeug.routing import ValidationError  # noqa: PLC0415

            raise ValidationError
        return number

    def to_url(self, value: Any) -> str:
        """Return the id as URL text."""
        return str(int(value))


@runtime_checkable
class Repository(Protocol[ItemT_co]):
    """
    What the generic views need from a repository service.

    Items are whatever the repository returns (dicts, objects, rows): the
    view's schema dumps them.
    *filters* are the loaded query arguments other than the page.
    """

    def list(
        self, *, offset: int, limit: int, filters: Mapping[str, Any]
    ) -> Iterable[ItemT_co]:
        """Return at most *limit* items after the first *offset*, in a stable order."""
        ...

    def count(self, *, filters: Mapping[str, Any]) -> int:
        """Return how many items *filters* select."""
        ...

    def get(self, item_id: Any) -> ItemT_co | None:
        """Return the item, or ``None`` when there is none."""
        ...

    def create(self, data: Mapping[str, Any]) -> ItemT_co:
        """Store a new item from loaded *data* and return it, with its id."""
        ...

    def update(
        self,
        item_id: Any,
        data: Mapping[str, Any],
        *,
        partial: bool,
        precondition: Callable[[Any], None] | None = None,
    ) -> ItemT_co | None:
        """
        Change an item and return it, or ``None`` when there is none.

        With *partial* false, *data* is the item's whole new writable state
        (``PUT``); with *partial* true, only the fields given change
        (``PATCH``).

        With *precondition*, the check and the change are one atomic step:
        the repository reads the current item while holding a lock that stops
        any other writer of it (a row lock, a write transaction), calls
        ``precondition(item)`` with the item as :meth:`get` returns it, and
        changes it only if that returns; what it raises (``412``) propagates
        and nothing is written. A missing item returns ``None`` without
        calling it.
        """
        ...

    def delete(
        self, item_id: Any, *, precondition: Callable[[Any], None] | None = None
    ) -> bool:
        """
        Delete an item; return whether there was one.

        *precondition* is checked atomically with the deletion, as for
        :meth:`update`.
        """
        ...


class InMemoryRepository:
    """
    A :class:`Repository` of dicts kept in memory, for tests and examples.

    Ids count up from 1.
    Filters select the items whose field equals the filter's value, or, for a
    list field, contains it.
    Safe to share between threads.
    """

    def __init__(self, items: Iterable[Mapping[str, Any]] = ()) -> None:
        self._items: dict[int, dict[str, Any]] = {}
        self._next = 1
        self._lock = threading.Lock()
        for item in items:
            self.create(item)

    def __repr__(self) -> str:
        return f"<InMemoryRepository: {len(self._items)} items>"

    def _selected(self, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        def keep(item: dict[str, Any]) -> bool:
            for name, wanted in filters.items():
                value = item.get(name)
                if value != wanted and not (
                    isinstance(value, list) and wanted in value
                ):
                    return False
            return True

        with self._lock:
            return [dict(item) for item in self._items.values() if keep(item)]

    def list(
        self, *, offset: int, limit: int, filters: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """See :meth:`Repository.list`; in the order of creation."""
        return self._selected(filters)[offset : offset + limit]

    def count(self, *, filters: Mapping[str, Any]) -> int:
        """See :meth:`Repository.count`."""
        return len(self._selected(filters))

    def get(self, item_id: Any) -> dict[str, Any] | None:
        """See :meth:`Repository.get`."""
        with self._lock:
            found = self._items.get(item_id)
            return None if found is None else dict(found)

    def create(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """See :meth:`Repository.create`."""
        with self._lock:
            item = {**data, "id": self._next}
            self._items[self._next] = item
            self._next += 1
            return dict(item)

    def update(
        self,
        item_id: Any,
        data: Mapping[str, Any],
        *,
        partial: bool,
        precondition: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any] | None:
        """See :meth:`Repository.update`; the precondition runs under the lock."""
        with self._lock:
            found = self._items.get(item_id)
            if found is None:
                return None
            if precondition is not None:
                precondition(dict(found))
            item = {**found, **data} if partial else {**data, "id": item_id}
            self._items[item_id] = item
            return dict(item)

    def delete(
        self,
        item_id: Any,
        *,
        precondition: Callable[[dict[str, Any]], None] | None = None,
    ) -> bool:
        """See :meth:`Repository.delete`; the precondition runs under the lock."""
        with self._lock:
            found = self._items.get(item_id)
            if found is None:
                return False
            if precondition is not None:
                precondition(dict(found))
            del self._items[item_id]
            return True


# -- the views -------------------------------------------------------------


def _item_schema(cls: type) -> Schema:
    """The class's schema instance, built once per class."""
    own = cls.__dict__.get("_servicecbv_item_schema")
    if own is not None and own[0] is cls.schema:  # type: ignore[attr-defined]
        return own[1]  # type: ignore[no-any-return]
    declared = cls.schema  # type: ignore[attr-defined]
    if isinstance(declared, type) and issubclass(declared, Schema):
        schema = declared()
    elif isinstance(declared, Schema):
        schema = declared
    else:
        msg = (
            f"{cls.__qualname__}.schema must be a marshmallow Schema class or "
            f"instance, not {declared!r}."
        )
        raise RestDeclarationError(msg)
    setattr(cls, "_servicecbv_item_schema", (declared, schema))  # noqa: B010
    return schema


def _generic(
    plan: Callable[[type], tuple[list[Input], Output | None]],
) -> Callable[[Callable[..., Any]], Any]:
    """Declare a generic method whose declarations depend on the class."""

    def dynamic(cls: type) -> tuple[list[Input], Output | None]:
        if getattr(cls, "schema", None) is None:
            return [], None
        return plan(cls)

    def decorate(func: Callable[..., Any]) -> Any:
        return _Declared(func, dynamic=dynamic)

    return decorate


class _GenericMixin(RestMixin):
    """What every generic view shares: the schema, the repository, the id."""

    #: The marshmallow schema of an item, used to load bodies and dump items;
    #: ``dump_only`` fields are not accepted in bodies, ``load_only`` fields
    #: not sent back.
    schema: ClassVar[type[Schema] | Schema | None] = None

    #: The name of the URL variable that holds the item's id.
    LOOKUP: ClassVar[str] = "item_id"

    #: The item attribute or key that holds its id (for ``Location``).
    ID_FIELD: ClassVar[str] = "id"

    #: Whether ``PUT``, ``PATCH`` and ``DELETE`` must send ``If-Match``
    #: (answered with ``428`` when they do not).
    REQUIRE_IF_MATCH: ClassVar[bool] = False

    # The repository: a service attribute that subclasses declare.
    repository: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if cls.__dict__.get("schema") is not None:
            _item_schema(cls)  # checked, and built once, now
        super().__init_subclass__(**kwargs)

    def _no_item(self, item_id: Any) -> Any:
        abort(404, f"There is no item {item_id}.")

    def representation_etag(self, item: Any) -> str:
        """
        Return the entity tag of *item*'s representation: the same as the
        ``ETag`` that retrieving it sends.
        """
        body = json_bytes(_cv_app.get().app, _item_schema(type(self)).dump(item))
        return etag_of(body)

    def check_precondition(self, item: Any) -> None:
        """
        Check ``If-Match`` and ``If-None-Match`` against the current *item*
        before changing it (RFC 9110, 13.2.2).

        The repository calls it, with the item it holds locked, as the
        ``precondition`` of its ``update`` or ``delete``.

        Raises:
            werkzeug.exceptions.PreconditionFailed: ``If-Match`` does not
                match, or ``If-None-Match`` does (``*`` matches any item):
                412.

            werkzeug.exceptions.PreconditionRequired: ``If-Match`` is missing
                and :attr:`REQUIRE_IF_MATCH` is set (428).
        """
        check_preconditions(
            self.representation_etag(item), request, required=self.REQUIRE_IF_MATCH
        )

    def precondition(self) -> Callable[[Any], None] | None:
        """
        Return what a change passes the repository as its ``precondition``:
        :meth:`check_precondition`, or ``None`` for a request that carries no
        precondition (and need not, see :attr:`REQUIRE_IF_MATCH`).
        """
        environ = _cv_request.get().request.environ
        if (
            "HTTP_IF_MATCH" in environ
            or "HTTP_IF_NONE_MATCH" in environ
            or self.REQUIRE_IF_MATCH
        ):
            return self.check_precondition
        return None

    def get_item(self, item_id: Any) -> Any:
        """
        Return the item or answer ``404``; override to change the lookup.

        The item found passes :meth:`check_object` first.
        """
        item = self.repository.get(item_id)
        if item is None:
            self._no_item(item_id)
        self.check_object(item)
        return item

    def check_object(self, item: Any) -> None:
        """
        Check that the caller may act on *item*, which :meth:`get_item` found:
        every item method (retrieve, replace, change, delete) looks it up
        there first. By default anyone may; override it to raise
        ``abort(404)`` where another caller's item must look missing, or
        ``abort(403)`` where its existence may show.
        """


class ListMixin(_GenericMixin):
    """``GET`` a page of items: ``{"items": [...], "meta": {...}}`` and ``Link``."""

    #: The page sizes; set another :class:`Pagination` in a subclass.
    PAGINATION: ClassVar[Pagination] = Pagination()

    #: A schema of query arguments that filter the listing; they reach
    #: :meth:`list_items` and :meth:`count_items` as ``filters``.
    FILTERS: ClassVar[type[Schema] | None] = None

    @classmethod
    def _list_plan(cls) -> tuple[list[Input], Output | None]:
        base = cls.FILTERS or Schema
        name = f"{cls.__name__}Query"
        query = type(name, (base,), dict(cls.PAGINATION.fields()))
        envelope = Schema.from_dict(
            {
                "items": fields.List(fields.Nested(_item_schema(cls)), required=True),
                "meta": fields.Nested(PageMetaSchema, required=True),
            },
            name=f"{cls.__name__}Page",
        )
        return (
            [Input(query(), "query", "query")],
            Output(
                envelope(),
                headers={"Link": "RFC 8288 links to other pages."},
                etag=True,
            ),
        )

    def list_items(self, page: Page, filters: Mapping[str, Any]) -> Sequence[Any]:
        """Return the items of *page*; override to change the query."""
        return list(
            self.repository.list(
                offset=page.offset, limit=page.per_page, filters=filters
            )
        )

    def count_items(self, filters: Mapping[str, Any]) -> int:
        """Return how many items *filters* select."""
        return int(self.repository.count(filters=filters))

    @_generic(lambda cls: cls._list_plan())  # type: ignore[attr-defined]
    def get(self, *, query: dict[str, Any], **_: Any) -> Any:
        """List a page of items, filtered by the query."""
        page = self.PAGINATION.page_of(query)
        total = self.count_items(query)
        items = self.list_items(page, query) if page.offset < total else []
        body = {"items": items, "meta": page.meta(total)}
        return body, {"Link": page.links(total, request)}


class CreateMixin(_GenericMixin):
    """``POST`` an item: ``201`` with the item and its ``Location``."""

    #: The endpoint of the item view, for ``Location`` (``".bookmark"``);
    #: by default, the list's URL followed by the id.
    ITEM_ENDPOINT: ClassVar[str | None] = None

    def create_item(self, data: dict[str, Any]) -> Any:
        """Store the loaded *data*; override to change how items are made."""
        return self.repository.create(data)

    def item_location(self, item: Any) -> str:
        """Return the URL of a created *item*."""
        item_id = (
            item[self.ID_FIELD]
            if isinstance(item, Mapping)
            else getattr(item, self.ID_FIELD)
        )
        endpoint = self.ITEM_ENDPOINT
        req = _cv_request.get().request  # one lookup, not a proxy per use
        if endpoint is not None:
            # The item view names its URL variable: use its LOOKUP.
            full = f"{req.blueprint}{endpoint}" if endpoint[:1] == "." else endpoint
            view = _cv_app.get().app.view_functions.get(full)
            lookup = getattr(getattr(view, "view_class", None), "LOOKUP", self.LOOKUP)
            return url_for(endpoint, **{lookup: item_id})
        return f"{req.script_root}{req.path.rstrip('/')}/{item_id}"

    @_generic(
        lambda cls: (
            [Input(_item_schema(cls), "json", "body")],
            Output(
                _item_schema(cls),
                status=201,
                headers={"Location": "The new item's URL."},
            ),
        )
    )
    def post(self, *, body: dict[str, Any], **_: Any) -> Any:
        """Create an item."""
        item = self.create_item(body)
        return item, {"Location": self.item_location(item)}


class RetrieveMixin(_GenericMixin):
    """``GET`` an item, with its ``ETag``; ``404`` when there is none."""

    @_generic(lambda cls: ([], Output(_item_schema(cls), etag=True)))
    def get(self, **kwargs: Any) -> Any:
        """Retrieve an item."""
        return self.get_item(kwargs[self.LOOKUP])


class UpdateMixin(_GenericMixin):
    """
    ``PUT`` replaces an item (every required field is required), ``PATCH``
    changes the fields it sends; both honour ``If-Match``.
    """

    def update_item(
        self,
        item_id: Any,
        data: dict[str, Any],
        *,
        partial: bool,
        precondition: Callable[[Any], None] | None = None,
    ) -> Any:
        """
        Change the item; override to change how items are updated.

        *precondition*, when given, goes to the repository, which checks it
        and changes the item in one atomic step.
        """
        if precondition is None:
            item = self.repository.update(item_id, data, partial=partial)
        else:
            item = self.repository.update(
                item_id, data, partial=partial, precondition=precondition
            )
        if item is None:
            # Deleted since it was read.
            self._no_item(item_id)
        return item

    def _update(self, item_id: Any, data: dict[str, Any], *, partial: bool) -> Any:
        # The lookup first: an item that get_item hides cannot be changed.
        self.get_item(item_id)
        precondition = self.precondition()
        if precondition is None:
            return self.update_item(item_id, data, partial=partial)
        return self.update_item(
            item_id, data, partial=partial, precondition=precondition
        )

    @_generic(
        lambda cls: (
            [Input(_item_schema(cls), "json", "body")],
            Output(_item_schema(cls), etag=True),
        )
    )
    def put(self, *, body: dict[str, Any], **kwargs: Any) -> Any:
        """Replace an item."""
        return self._update(kwargs[self.LOOKUP], body, partial=False)

    @_generic(
        lambda cls: (
            [Input(_item_schema(cls), "json", "body", partial=True)],
            Output(_item_schema(cls), etag=True),
        )
    )
    def patch(self, *, body: dict[str, Any], **kwargs: Any) -> Any:
        """Change some fields of an item."""
        return self._update(kwargs[self.LOOKUP], body, partial=True)


class DeleteMixin(_GenericMixin):
    """``DELETE`` an item: ``204``; honours ``If-Match``."""

    def delete_item(
        self, item_id: Any, *, precondition: Callable[[Any], None] | None = None
    ) -> None:
        """
        Delete the item; override to change how items are deleted.

        *precondition*, when given, goes to the repository, which checks it
        and deletes the item in one atomic step.
        """
        if precondition is None:
            deleted = self.repository.delete(item_id)
        else:
            deleted = self.repository.delete(item_id, precondition=precondition)
        if not deleted:
            self._no_item(item_id)

    @_generic(lambda _: ([], Output(None, status=204)))
    def delete(self, **kwargs: Any) -> Any:
        """Delete an item."""
        item_id = kwargs[self.LOOKUP]
        # The lookup first: an item that get_item hides cannot be deleted.
        self.get_item(item_id)
        precondition = self.precondition()
        if precondition is None:
            self.delete_item(item_id)
        else:
            self.delete_item(item_id, precondition=precondition)


class CollectionView(ListMixin, CreateMixin, MethodView):
    """
    ``GET`` a page of items and ``POST`` a new one.

    .. code-block:: python

        class BookmarkList(CollectionView):
            repository = ServiceAttr(BookmarkRepository)
            schema = BookmarkSchema
    """


class ItemView(RetrieveMixin, UpdateMixin, DeleteMixin, MethodView):
    """
    ``GET``, ``PUT``, ``PATCH`` and ``DELETE`` one item, by the URL variable
    named in :attr:`LOOKUP`.

    .. code-block:: python

        class BookmarkItem(ItemView):
            repository = ServiceAttr(BookmarkRepository)
            schema = BookmarkSchema
    """


class ReadOnlyCollectionView(ListMixin, MethodView):
    """
    ``GET`` a page of items, and nothing else: ``POST`` is a ``405``.

    .. code-block:: python

        class PublicBookmarks(ReadOnlyCollectionView):
            repository = ServiceAttr(BookmarkRepository)
            schema = BookmarkSchema
    """


class ReadOnlyItemView(RetrieveMixin, MethodView):
    """
    ``GET`` one item, by the URL variable named in :attr:`LOOKUP`, and
    nothing else: ``PUT``, ``PATCH`` and ``DELETE`` are ``405``.

    .. code-block:: python

        class PublicBookmark(ReadOnlyItemView):
            repository = ServiceAttr(BookmarkRepository)
            schema = BookmarkSchema
    """
