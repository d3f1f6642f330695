"""Ready views over a repository service: list, create, retrieve, update, delete."""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Final,
    Protocol,
    TypeVar,
    runtime_checkable,
)

from flask import abort, request, url_for
from flask.globals import _cv_app, _cv_request
from flask.views import MethodView, http_method_funcs
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.routing import BaseConverter

from flask_servicecbv.exceptions import RequestValidationError, RestDeclarationError

from ._declared import _Declared
from .declarations import Input, Output, RestMixin
from .etag import check_preconditions, etag_of
from .pagination import (
    CursorPage,
    CursorPagination,
    Page,
    Pagination,
    decode_cursor,
    encode_cursor,
)
from .response import json_bytes

if TYPE_CHECKING:
    from flask import Blueprint, Flask

__all__ = [
    "MAX_ID",
    "SORT_ARGUMENT",
    "Action",
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
    "SortField",
    "UpdateMixin",
    "action",
    "at_least",
    "at_most",
    "one_of",
    "search",
]

ItemT_co = TypeVar("ItemT_co", covariant=True)

#: The largest id that :class:`IdConverter` accepts: a signed 64-bit integer.
MAX_ID = 2**63 - 1

#: The query argument that orders a listing: ``?sort=title,-created``.
SORT_ARGUMENT: Final = "sort"


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
    *filters* are the loaded query arguments other than the page and the
    order.

    Ordering and cursors are optional: a listing that declares
    ``SORTABLE`` also passes ``order=``, and one paged by
    ``CursorPagination`` passes ``after=`` and calls
    ``cursor_of(item, order)``; see :class:`InMemoryRepository` for their
    meaning.
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


def _sort_key(value: Any) -> tuple[bool, Any]:
    # None sorts first, and is never compared with a value.
    return (value is not None, value)


def _keys_of(order: Sequence[str]) -> list[tuple[str, bool]]:
    """
    The (name, descending) sort keys of *order*, ``id`` last.

    Raises:
        RequestValidationError: A name comes twice.
    """
    keys: list[tuple[str, bool]] = []
    for spelled in order:
        name = spelled.removeprefix("-")
        if any(key == name for key, _ in keys):
            message = f"Cannot sort by {spelled!r} twice: give each name once."
            raise RequestValidationError({"query": {SORT_ARGUMENT: [message]}})
        keys.append((name, spelled.startswith("-")))
    if not any(name == "id" for name, _ in keys):
        keys.append(("id", False))
    return keys


def _field_key(name: str) -> Callable[[Mapping[str, Any]], tuple[bool, Any]]:
    return lambda item: _sort_key(item.get(name))


def _spelled(keys: list[tuple[str, bool]]) -> list[str]:
    return [f"-{name}" if descending else name for name, descending in keys]


def _beyond(
    item: Mapping[str, Any], keys: list[tuple[str, bool]], bound: list[Any]
) -> bool:
    """Whether *item* comes after the sort key values *bound*."""
    for (name, descending), limit in zip(keys, bound, strict=True):
        value = _sort_key(item.get(name))
        if value != limit:
            return bool(value < limit if descending else value > limit)
    return False


class InMemoryRepository:
    """
    A :class:`Repository` of dicts kept in memory, for tests and examples.

    Ids count up from 1.
    A filter of ``FILTERS`` selects the items for which it returns true;
    any other filter selects the items whose field equals the filter's
    value, or, for a list field, contains it.
    ``list()`` orders by any fields (``order=``) and continues after a
    cursor (``after=``) from ``cursor_of()``.
    Safe to share between threads.
    """

    #: Filters by name: ``filter(item, value)`` says whether an item is
    #: selected; ``{"year_from": lambda item, year: item["year"] >= year}``.
    FILTERS: ClassVar[Mapping[str, Callable[[Mapping[str, Any], Any], bool]]] = {}

    def __init__(self, items: Iterable[Mapping[str, Any]] = ()) -> None:
        self._items: dict[int, dict[str, Any]] = {}
        self._next = 1
        self._lock = threading.Lock()
        for item in items:
            self.create(item)

    def __repr__(self) -> str:
        return f"<InMemoryRepository: {len(self._items)} items>"

    def _selected(self, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        declared = self.FILTERS

        def keep(item: dict[str, Any]) -> bool:
            for name, wanted in filters.items():
                check = declared.get(name)
                if check is not None:
                    if not check(item, wanted):
                        return False
                    continue
                value = item.get(name)
                if value != wanted and not (
                    isinstance(value, list) and wanted in value
                ):
                    return False
            return True

        with self._lock:
            return [dict(item) for item in self._items.values() if keep(item)]

    def list(
        self,
        *,
        offset: int = 0,
        limit: int,
        filters: Mapping[str, Any],
        order: Sequence[str] = (),
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        """
        See :meth:`Repository.list`.

        Args:
            offset: How many items to skip (after *after*, when given).

            limit: How many items at most.

            filters: Values by filter name.

            order: Field names, each ascending or, with ``-`` before it,
                descending (``("title", "-year")``); the order of creation
                when empty. The id breaks ties; a missing field sorts as
                ``None``, first.

            after: A cursor from :meth:`cursor_of` for the same *order*: the
                items that come after that item, whether or not it is still
                there.

        Raises:
            RequestValidationError: (``422``) *order* names a field twice,
                or *after* is not a cursor of *order*.
        """
        items = self._selected(filters)
        keys = _keys_of(order)
        if order:
            # Stable sorts, the last key first, give the order of all keys.
            for name, descending in reversed(keys):
                items.sort(key=_field_key(name), reverse=descending)
        if after is not None:
            values = decode_cursor(after, _spelled(keys), nullable=True)
            bound = [_sort_key(value) for value in values]
            items = [item for item in items if _beyond(item, keys, bound)]
        return items[offset : offset + limit]

    def cursor_of(self, item: Mapping[str, Any], order: Sequence[str] = ()) -> str:
        """
        Return the opaque cursor that :meth:`list` takes as ``after=`` to
        continue after *item* in *order*.

        Raises:
            RequestValidationError: *order* names a field twice.
        """
        keys = _keys_of(order)
        return encode_cursor(_spelled(keys), [item.get(name) for name, _ in keys])

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


# -- query arguments: ordering and filters ---------------------------------


class SortField(fields.List[Any]):
    """
    The ``sort`` query argument: names from *names*, each ascending or, with
    ``-`` before it, descending, separated by commas
    (``?sort=title,-created``); several ``sort`` arguments add up.
    It loads as the list of names as spelled (``["title", "-created"]``).

    A name that is not allowed, or an empty one, is refused with one
    message.
    A name given again is left out: its first mention decides its direction,
    as a later one would change nothing in SQL's ``ORDER BY``; so every value
    that the API description allows is accepted.
    The API description shows an array whose items are an enum of
    ``name`` and ``-name``, comma-separated (``style: form``,
    ``explode: false``).

    Args:
        names: The names that may be given.
    """

    def __init__(self, names: Sequence[str], **kwargs: Any) -> None:
        self.names = tuple(names)
        choices = [each for name in self.names for each in (name, f"-{name}")]
        metadata = {
            "description": (
                "The order of the items: names separated by commas, each with "
                "- before it for descending order; the id breaks ties."
            ),
            "style": "form",
            "explode": False,
            # ?sort= alone is an empty array, which is refused: say so.
            "minItems": 1,
            **kwargs.pop("metadata", {}),
        }
        super().__init__(
            fields.String(validate=validate.OneOf(choices)),
            metadata=metadata,
            **kwargs,
        )

    def _deserialize(
        self,
        value: Any,
        attr: str | None,  # noqa: ARG002 -- marshmallow's signature
        data: Any,  # noqa: ARG002
        **kwargs: Any,  # noqa: ARG002
    ) -> list[Any]:
        raw = [value] if isinstance(value, str) else value
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            raise self.make_error("invalid")
        order: dict[str, str] = {}
        for text in raw:
            for each in text.split(","):
                name = each.removeprefix("-")
                if name not in self.names:
                    msg = (
                        f"Cannot sort by {each[:40]!r}; sort by "
                        f"{', '.join(self.names)} (- before one descends)."
                    )
                    raise ValidationError(msg)
                order.setdefault(name, each)
        return list(order.values())


def _no_nul(value: str) -> None:
    # PostgreSQL's text cannot hold NUL: refuse it before the database does.
    if "\x00" in value:
        msg = "Must not contain the NUL character."
        raise ValidationError(msg)


def _described(field: fields.Field[Any], description: str) -> fields.Field[Any]:
    if "description" not in field.metadata:
        field.metadata = {**field.metadata, "description": description}
    return field


def one_of(
    field: fields.Field[Any],
    *,
    description: str | None = None,
    max_values: int = 100,
) -> fields.List[Any]:
    """
    Return a filter argument that takes several values (``?status=open&status=lent``)
    and selects the items that have any of them: a list of *field*, of at most
    *max_values* values (``422`` above).

    The repository gets the list: :class:`~flask_servicecbv.sqlalchemy.OneOf`
    turns it into ``IN``.
    """
    return fields.List(
        field,
        validate=validate.Length(max=max_values),
        metadata={
            "description": description
            or "Items that have any of these values; repeat the argument for each."
        },
    )


def at_least(
    field: fields.Field[Any], *, description: str | None = None
) -> fields.Field[Any]:
    """
    Return *field* described as the lower bound of a range filter
    (:class:`~flask_servicecbv.sqlalchemy.AtLeast`): ``?year_from=1990``.
    """
    return _described(field, description or "Items whose value is at least this.")


def at_most(
    field: fields.Field[Any], *, description: str | None = None
) -> fields.Field[Any]:
    """
    Return *field* described as the upper bound of a range filter
    (:class:`~flask_servicecbv.sqlalchemy.AtMost`): ``?year_to=1999``.
    """
    return _described(field, description or "Items whose value is at most this.")


def search(*, description: str | None = None, max_length: int = 200) -> fields.String:
    """
    Return a search argument (:class:`~flask_servicecbv.sqlalchemy.Search`):
    text of 1 to *max_length* characters, without NUL, that the items
    contain, ignoring case: ``?q=dune``.
    """
    return fields.String(
        validate=[validate.Length(min=1, max=max_length), _no_nul],
        metadata={
            "description": description
            or "Items that contain this text, ignoring case.",
            "pattern": "^[^\\u0000]*$",
        },
    )


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


_ACTION_NAME: Final = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")


class Action:
    """
    An extra route of an item view, such as ``POST /loans/<id>/return``, as
    declared with :func:`action`: its name, its method and its function.

    The item view makes, for each action, a view class of its own (in its
    :attr:`~RetrieveMixin.actions`) whose one method runs the action.
    """

    __slots__ = ("declared", "method", "name")

    def __init__(self, name: str, method: str, declared: _Declared) -> None:
        self.name = name
        self.method = method
        self.declared = declared

    def __repr__(self) -> str:
        return f"<Action {self.method.upper()} {self.name!r}>"

    def __set_name__(self, owner: type, attribute: str) -> None:
        if not issubclass(owner, _GenericMixin):
            msg = (
                f"{owner.__qualname__}.{attribute} is an @action, but "
                f"{owner.__qualname__} is not a generic item view; derive it "
                "from ItemView or ReadOnlyItemView."
            )
            raise RestDeclarationError(msg)

    def view_for(self, owner: type[_GenericMixin]) -> type[_GenericMixin]:
        """Return the view class that serves this action of *owner*."""
        func = self.declared.func
        check = self.method != "get"

        def run(view: _GenericMixin, **kwargs: Any) -> Any:
            item = view.get_item(kwargs[view.LOOKUP])
            if check:
                precondition = view.precondition()
                if precondition is not None:
                    precondition(item)
            return func(view, item, **kwargs)

        for attribute in ("__name__", "__qualname__", "__doc__", "__module__"):
            setattr(run, attribute, getattr(func, attribute))
        declared = _Declared(
            run,
            inputs=list(self.declared.inputs),
            output=self.declared.output,
            doc=dict(self.declared.doc),
        )
        words = re.split(r"[-_]", self.name)
        name = owner.__name__ + "".join(word.title() for word in words)
        namespace = {
            "__module__": owner.__module__,
            "__qualname__": f"{owner.__qualname__}.{name}",
            "__doc__": owner.__doc__,
            # Only the action's method: the item's others are not routed here.
            "methods": {self.method.upper()},
            self.method: declared,
            "ACTION": self,
        }
        return type(name, (owner,), namespace)


def action(name: str, *, method: str = "post") -> Callable[[Any], Action]:
    """
    Declare an extra route of an item view: ``POST <item URL>/<name>``.

    The function is called with the item (looked up as for ``GET``:
    ``404`` when there is none) after ``If-Match`` and ``If-None-Match``
    are checked against it (``412``; ``428`` without ``If-Match`` when the
    view sets :attr:`~RetrieveMixin.REQUIRE_IF_MATCH`), and with the URL
    variables and its declared inputs as keyword arguments.
    Its :func:`~flask_servicecbv.rest.reads`, :func:`~flask_servicecbv.rest.returns`
    and :func:`~flask_servicecbv.rest.doc` declarations, and the view's
    ``ERRORS``, make its plan, as for any method: put ``@action`` above them.

    .. code-block:: python

        class LoanItem(ItemView):
            repository = ServiceAttr(LoanRepository)
            schema = LoanSchema

            @action("return")
            @returns(LoanSchema)
            def give_back(self, item, **_):
                \"\"\"Return a lent book.\"\"\"
                return self.repository.give_back(item["id"])

        LoanItem.add_url_rules(bp, "/loans/<id:item_id>", "loan")

    The check of the preconditions and the action's own writes are two
    steps: for one atomic step, pass :meth:`~RetrieveMixin.precondition` to
    the repository's write.

    Args:
        name: The last segment of the action's URL: lower-case letters and
            digits, words joined by ``-`` or ``_``.

        method: The HTTP method, lower case.

    Raises:
        RestDeclarationError: The name or method is not one of those, or the
            function is a coroutine function.
    """
    if not _ACTION_NAME.fullmatch(name):
        msg = (
            f"action({name!r}): use lower-case letters and digits, words "
            "joined by - or _, as the last segment of the item's URL."
        )
        raise RestDeclarationError(msg)
    if method not in http_method_funcs - {"head", "options"}:
        msg = (
            f"action({name!r}, method={method!r}): use get, post, put, patch "
            "or delete, in lower case."
        )
        raise RestDeclarationError(msg)

    def decorate(target: Any) -> Action:
        declared = target if isinstance(target, _Declared) else _Declared(target)
        if inspect.iscoroutinefunction(declared.func):
            msg = (
                f"@action({name!r}) on {declared.func.__qualname__}: actions "
                "are synchronous; use def, not async def."
            )
            raise RestDeclarationError(msg)
        return Action(name, method, declared)

    return decorate


class _Items(fields.List[Any]):
    """
    The items of a page: documented as a list of the item schema, dumped in
    one call of that schema instead of one per item.
    """

    def _serialize(self, value: Any, *_: Any, **__: Any) -> Any:
        if value is None:
            return None
        inner: fields.Nested = self.inner  # type: ignore[assignment]
        return inner.schema.dump(value, many=True)


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

    #: Whether ``PUT``, ``PATCH``, ``DELETE`` and actions other than ``GET``
    #: must send ``If-Match`` (answered with ``428`` when they do not).
    REQUIRE_IF_MATCH: ClassVar[bool] = False

    #: The view classes of the ``@action`` routes by name, made when the
    #: class is (see ``add_url_rules()``).
    actions: ClassVar[Mapping[str, type[_GenericMixin]]] = {}

    #: The action that an action's view class serves, else ``None``.
    ACTION: ClassVar[Action | None] = None

    # The repository: a service attribute that subclasses declare.
    repository: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if cls.__dict__.get("schema") is not None:
            _item_schema(cls)  # checked, and built once, now
        super().__init_subclass__(**kwargs)
        if "ACTION" in cls.__dict__:
            # An action's own view: it has no actions of its own.
            cls.actions = {}
            return
        found: dict[str, Action] = {}
        for klass in reversed(cls.__mro__):
            for value in klass.__dict__.values():
                if isinstance(value, Action):
                    found[value.name] = value
        if found:
            cls.actions = {name: spec.view_for(cls) for name, spec in found.items()}

    @classmethod
    def add_url_rules(
        cls, target: Flask | Blueprint, rule: str, endpoint: str, **options: Any
    ) -> None:
        """
        Add the view to *target* at *rule* as *endpoint*, and each of its
        :attr:`actions` at ``rule/name`` as ``endpoint_name`` (``-`` in the
        name becomes ``_``).

        .. code-block:: python

            LoanItem.add_url_rules(bp, "/loans/<id:item_id>", "loan")
            # /loans/<id:item_id>         loan
            # /loans/<id:item_id>/return  loan_return

        Args:
            target: The app or a blueprint.

            rule: The item's URL rule.

            endpoint: The item's endpoint.

            options: More arguments of ``add_url_rule``.
        """
        views: list[tuple[str, str, Any]] = [(rule, endpoint, cls)]
        views += [
            (f"{rule.rstrip('/')}/{name}", f"{endpoint}_{name.replace('-', '_')}", view)
            for name, view in cls.actions.items()
        ]
        for url, name, view in views:
            target.add_url_rule(url, view_func=view.as_view(name), **options)

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

    #: The way the listing is paged, with its page sizes, by page number
    #: (:class:`Pagination`, the default) or by cursor (``CursorPagination``).
    PAGINATION: ClassVar[Pagination | CursorPagination] = Pagination()

    #: A schema of query arguments that filter the listing; they reach
    #: :meth:`list_items` and :meth:`count_items` as ``filters``.
    FILTERS: ClassVar[type[Schema] | None] = None

    #: The names that ``?sort=`` may give, each ascending or, with ``-``
    #: before it, descending: ``("title", "created")``. When set, the
    #: repository's ``list()`` gets ``order=``, the names as given (empty
    #: for its default order); when empty (the default), there is no
    #: ``sort`` argument and no ``order=``.
    SORTABLE: ClassVar[Sequence[str]] = ()

    @classmethod
    def _sortable(cls) -> tuple[str, ...]:
        names = cls.SORTABLE
        where = f"{cls.__qualname__}.SORTABLE"
        if isinstance(names, str):
            msg = f"{where} is the string {names!r}; give a tuple of names."
            raise RestDeclarationError(msg)
        for name in names:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name) or (
                list(names).count(name) > 1
            ):
                msg = (
                    f"{where} names {name!r}; give each name once, without "
                    "- or commas: - before a name asks for descending order."
                )
                raise RestDeclarationError(msg)
        return tuple(names)

    @classmethod
    def _list_plan(cls) -> tuple[list[Input], Output | None]:
        base = cls.FILTERS or Schema
        name = f"{cls.__name__}Query"
        arguments: dict[str, Any] = dict(cls.PAGINATION.fields())
        sortable = cls._sortable()
        if sortable:
            arguments[SORT_ARGUMENT] = SortField(sortable)
        query = type(name, (base,), arguments)
        envelope = Schema.from_dict(
            {
                "items": _Items(fields.Nested(_item_schema(cls)), required=True),
                "meta": fields.Nested(cls.PAGINATION.META_SCHEMA, required=True),
            },
            name=f"{cls.__name__}Page",
        )
        return (
            [Input(query(), "query", "query")],
            Output(
                envelope(),
                headers={"Link": cls.PAGINATION.LINKS},
                etag=True,
            ),
        )

    def list_items(
        self, page: Page | CursorPage, filters: Mapping[str, Any], **options: Any
    ) -> Sequence[Any]:
        """
        Return the items of *page*; override to change the query.

        For a ``CursorPage``, return one item more than the page size
        when there is one: it tells that a next page exists.
        *options* go to the repository's ``list()``: ``order=`` when the view
        declares ``SORTABLE``.
        """
        if isinstance(page, CursorPage):
            return list(
                self.repository.list(
                    offset=0,
                    limit=page.per_page + 1,
                    filters=filters,
                    after=page.after,
                    **options,
                )
            )
        return list(
            self.repository.list(
                offset=page.offset, limit=page.per_page, filters=filters, **options
            )
        )

    def count_items(self, filters: Mapping[str, Any]) -> int:
        """Return how many items *filters* select."""
        return int(self.repository.count(filters=filters))

    @_generic(lambda cls: cls._list_plan())  # type: ignore[attr-defined]
    def get(self, *, query: dict[str, Any], **_: Any) -> Any:
        """
        List a page of the items that the query selects.

        The query loads with :attr:`FILTERS`, the arguments of
        :attr:`PAGINATION` (``page`` and ``per_page``, or ``after`` and
        ``per_page``) and, when :attr:`SORTABLE` is set, ``sort``: the
        filters reach :meth:`list_items` and :meth:`count_items`, ``sort``
        the repository's ``list()`` as ``order=``. Query arguments that
        none of them declares are ignored, unless :attr:`UNKNOWN` says
        otherwise. A page past the last one is empty, not missing.

        It answers:

        - ``200``: ``{"items": [...], "meta": {...}}``, with ``Link`` and
          the ``ETag`` of the body.
        - ``304``: ``If-None-Match`` names that ``ETag`` (or is ``*``).
        - ``400``: ``If-Match`` or ``If-None-Match`` is not ``*`` or a list
          of entity tags.
        - ``412``: ``If-Match`` does not name that ``ETag``.
        - ``422``: a query argument does not load: a filter's value, a
          ``page`` or ``per_page`` out of its range, a ``sort`` name that
          :attr:`SORTABLE` does not give (or given twice), an ``after``
          cursor that this listing did not make for this order.
        """
        page = self.PAGINATION.page_of(query)
        options: dict[str, Any] = {}
        if self.SORTABLE:
            # Out of the filters before the repository sees them.
            options["order"] = tuple(query.pop(SORT_ARGUMENT, ()))
        if isinstance(page, CursorPage):
            found = self.list_items(page, query, **options)
            next_cursor = None
            if len(found) > page.per_page:
                found = found[: page.per_page]
                next_cursor = self.repository.cursor_of(
                    found[-1], options.get("order", ())
                )
            body = {"items": found, "meta": page.meta(next_cursor)}
            return body, {"Link": page.links(next_cursor, request)}
        total = self.count_items(query)
        items = self.list_items(page, query, **options) if page.offset < total else []
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
        """
        Create an item from the JSON body, loaded with :attr:`schema`.

        The body's ``dump_only`` fields are refused, and so are the fields
        that the schema does not declare, unless :attr:`UNKNOWN` says
        otherwise; :meth:`create_item` stores the item.

        It answers:

        - ``201``: the new item, dumped with :attr:`schema`, and its URL in
          ``Location`` (:meth:`item_location`).
        - ``400``: there is no body, or it is not UTF-8 JSON.
        - ``413``: the body is larger than ``REST_MAX_BODY_SIZE``; it is
          not read.
        - ``415``: the body's ``Content-Type`` is not JSON.
        - ``422``: the body does not load: a required field missing, a
          field unknown or read-only, a value invalid.
        """
        item = self.create_item(body)
        return item, {"Location": self.item_location(item)}


class RetrieveMixin(_GenericMixin):
    """``GET`` an item, with its ``ETag``; ``404`` when there is none."""

    @_generic(lambda cls: ([], Output(_item_schema(cls), etag=True)))
    def get(self, **kwargs: Any) -> Any:
        """
        Retrieve the item that the URL names, found by :meth:`get_item`.

        It answers:

        - ``200``: the item, dumped with :attr:`schema`, with its ``ETag``.
        - ``304``: ``If-None-Match`` names that ``ETag`` (or is ``*``).
        - ``400``: ``If-Match`` or ``If-None-Match`` is not ``*`` or a list
          of entity tags.
        - ``404``: there is no such item, or :meth:`check_object` hides it.
        - ``412``: ``If-Match`` does not name that ``ETag``.
        """
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
        """
        Replace the item that the URL names with the JSON body.

        The body loads with :attr:`schema`, every required field required,
        before the item is looked up with :meth:`get_item`;
        :meth:`update_item` writes it. With ``If-Match`` or
        ``If-None-Match`` (or :attr:`REQUIRE_IF_MATCH`), the repository
        checks them against the item's current ``ETag`` and writes it in
        one atomic step (:meth:`check_precondition`).

        It answers:

        - ``200``: the replaced item, dumped with :attr:`schema`, with its
          new ``ETag``.
        - ``400``: there is no body, it is not UTF-8 JSON, or ``If-Match``
          or ``If-None-Match`` is not ``*`` or a list of entity tags.
        - ``404``: there is no such item, :meth:`check_object` hides it,
          or it was deleted before the write.
        - ``412``: ``If-Match`` does not name the item's current ``ETag``,
          or ``If-None-Match`` does.
        - ``413``: the body is larger than ``REST_MAX_BODY_SIZE``; it is
          not read.
        - ``415``: the body's ``Content-Type`` is not JSON.
        - ``422``: the body does not load: a required field missing, a
          field unknown or read-only, a value invalid.
        - ``428``: :attr:`REQUIRE_IF_MATCH` is set and ``If-Match`` is
          missing.
        """
        return self._update(kwargs[self.LOOKUP], body, partial=False)

    @_generic(
        lambda cls: (
            [Input(_item_schema(cls), "json", "body", partial=True)],
            Output(_item_schema(cls), etag=True),
        )
    )
    def patch(self, *, body: dict[str, Any], **kwargs: Any) -> Any:
        """
        Change the fields that the JSON body sends of the item that the URL
        names; the others keep their values.

        The body loads with :attr:`schema`, partially: no field is
        required. The rest goes as for :meth:`put`: the lookup with
        :meth:`get_item`, the write with :meth:`update_item`, the
        preconditions checked by the repository in the same atomic step.

        It answers:

        - ``200``: the changed item, dumped with :attr:`schema`, with its
          new ``ETag``.
        - ``400``: there is no body, it is not UTF-8 JSON, or ``If-Match``
          or ``If-None-Match`` is not ``*`` or a list of entity tags.
        - ``404``: there is no such item, :meth:`check_object` hides it,
          or it was deleted before the write.
        - ``412``: ``If-Match`` does not name the item's current ``ETag``,
          or ``If-None-Match`` does.
        - ``413``: the body is larger than ``REST_MAX_BODY_SIZE``; it is
          not read.
        - ``415``: the body's ``Content-Type`` is not JSON.
        - ``422``: a field sent does not load: unknown or read-only, or a
          value invalid.
        - ``428``: :attr:`REQUIRE_IF_MATCH` is set and ``If-Match`` is
          missing.
        """
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
        """
        Delete the item that the URL names.

        The item is looked up with :meth:`get_item` first, then
        :meth:`delete_item` deletes it. With ``If-Match`` or
        ``If-None-Match`` (or :attr:`REQUIRE_IF_MATCH`), the repository
        checks them against the item's current ``ETag`` and deletes it in
        one atomic step (:meth:`check_precondition`).

        It answers:

        - ``204``: deleted; no body.
        - ``400``: ``If-Match`` or ``If-None-Match`` is not ``*`` or a list
          of entity tags.
        - ``404``: there is no such item, :meth:`check_object` hides it,
          or it was deleted meanwhile.
        - ``412``: ``If-Match`` does not name the item's current ``ETag``,
          or ``If-None-Match`` does.
        - ``428``: :attr:`REQUIRE_IF_MATCH` is set and ``If-Match`` is
          missing.
        """
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
