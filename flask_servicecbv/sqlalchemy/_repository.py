"""A repository over an SQLAlchemy Core table, with filters, ordering and cursors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)

from flask_servicecbv.exceptions import RequestValidationError, RestDeclarationError
from flask_servicecbv.rest.pagination import (
    MAX_CURSOR_LENGTH,
    decode_cursor,
    encode_cursor,
)

from ._services import FOLD_FUNCTION, fold

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from sqlalchemy import Column, Connection, Select
    from sqlalchemy.sql.dml import ReturningInsert

__all__ = [
    "MAX_CURSOR_LENGTH",
    "AtLeast",
    "AtMost",
    "Equals",
    "Filter",
    "OneOf",
    "SQLAlchemyRepository",
    "Search",
]

#: What the ``errors`` of a ``422`` call the order: the query argument that
#: the generic views read it from.
ORDER_ARGUMENT: Final = "sort"


# -- filters -------------------------------------------------------------------


class Filter(ABC):
    """
    A filter of :attr:`SQLAlchemyRepository.FILTERS`: turns a filter's value
    into a ``WHERE`` clause.

    Args:
        columns: The names of the columns it reads, checked against the
            table when the repository class is made.
    """

    __slots__ = ("columns",)

    def __init__(self, *columns: str) -> None:
        if not columns:
            msg = f"{type(self).__name__}() needs the name of a column."
            raise RestDeclarationError(msg)
        self.columns = columns

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.columns))})"

    @abstractmethod
    def clause(
        self, repository: SQLAlchemyRepository, value: Any
    ) -> ColumnElement[bool]:
        """Return the clause that selects the rows *value* asks for."""


class Equals(Filter):
    """The column equals the value: ``?status=open``."""

    __slots__ = ()

    def clause(
        self, repository: SQLAlchemyRepository, value: Any
    ) -> ColumnElement[bool]:
        """``column = value``."""
        equal: ColumnElement[bool] = repository.table.c[self.columns[0]] == value
        return equal


class OneOf(Filter):
    """
    The column equals one of the values, a collection
    (``?status=open&status=lent`` loaded with a ``fields.List``); an empty
    one selects nothing.
    """

    __slots__ = ()

    def clause(
        self, repository: SQLAlchemyRepository, value: Any
    ) -> ColumnElement[bool]:
        """``column IN (values)``."""
        return repository.table.c[self.columns[0]].in_(list(value))


class AtLeast(Filter):
    """The column is at least the value: ``?published_from=2001-01-01``."""

    __slots__ = ()

    def clause(
        self, repository: SQLAlchemyRepository, value: Any
    ) -> ColumnElement[bool]:
        """``column >= value``."""
        bound: ColumnElement[bool] = repository.table.c[self.columns[0]] >= value
        return bound


class AtMost(Filter):
    """The column is at most the value: ``?published_to=2010-12-31``."""

    __slots__ = ()

    def clause(
        self, repository: SQLAlchemyRepository, value: Any
    ) -> ColumnElement[bool]:
        """``column <= value``."""
        bound: ColumnElement[bool] = repository.table.c[self.columns[0]] <= value
        return bound


class Search(Filter):
    """
    Any of the columns contains the value, ignoring case: ``?q=école``.

    A column with a folded copy (:attr:`SQLAlchemyRepository.FOLDED`) is
    searched in that copy, folded by :func:`fold` in Python on every database.
    Otherwise SQLite searches ``servicecbv_fold(column)`` (the same
    :func:`fold`, installed by :func:`make_engine`), and other databases
    ``lower(column)`` against ``lower(value)``: their ``lower()`` follows the
    database's locale, and does not fold ``ß`` to ``ss``.
    """

    __slots__ = ()

    def clause(
        self, repository: SQLAlchemyRepository, value: Any
    ) -> ColumnElement[bool]:
        """Any column contains *value*, ignoring case."""
        table = repository.table
        text = str(value)
        folded = fold(text)
        # LIKE's wildcards in the value match themselves.
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        sqlite = repository.conn.dialect.name == "sqlite"
        clauses = []
        for name in self.columns:
            copy = repository.FOLDED.get(name)
            if copy is not None:
                clauses.append(table.c[copy].contains(folded, autoescape=True))
            elif sqlite:
                column = getattr(func, FOLD_FUNCTION)(table.c[name])
                clauses.append(column.contains(folded, autoescape=True))
            else:
                clauses.append(
                    func.lower(table.c[name]).like(
                        func.lower(literal(pattern)), escape="\\"
                    )
                )
        return or_(*clauses)


# -- cursors -------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    """One sort key: a column, ascending or not."""

    name: str
    column: Column[Any]
    descending: bool

    @property
    def spelled(self) -> str:
        return f"-{self.name}" if self.descending else self.name


# -- the repository ------------------------------------------------------------


def _bad(argument: str, message: str) -> RequestValidationError:
    return RequestValidationError({"query": {argument: [message]}})


def _python_type(column: ColumnElement[Any]) -> type:
    """
    The Python type of *column*'s values; ``object`` (any JSON scalar) when
    its type names none, which SQLAlchemy 2.0 says by raising.
    """
    try:
        return column.type.python_type
    except NotImplementedError:
        return object


class SQLAlchemyRepository:
    """
    A :class:`~flask_servicecbv.rest.Repository` of dicts over one SQLAlchemy
    Core :class:`~sqlalchemy.Table`, on the request's connection.

    It never commits: the connection service commits the request's
    transaction once the view has succeeded.
    Subclasses declare the table and what may be filtered and sorted; the
    declarations are checked when the class is made.

    .. code-block:: python

        class BookRepository(SQLAlchemyRepository):
            table = book
            FILTERS = {"author": Equals("author"), "q": Search("title")}
            SORTABLE = ("title", "published")

        register_factory(
            app, BookRepository,
            lambda container: BookRepository(container.get(Connection)),
        )

    Args:
        conn: The connection of the current app context.

    Raises:
        RestDeclarationError: (when a subclass is made) the table has no
            single-column primary key, or a declaration names a column the
            table does not have, a sortable column may be NULL, or is not
            among :attr:`COLUMNS`.
    """

    #: The table; every subclass that is used must set it.
    table: ClassVar[Table]

    #: The columns an item has, by name; every column but the folded copies
    #: when ``None``.
    COLUMNS: ClassVar[Sequence[str] | None] = None

    #: The columns that :meth:`create` and :meth:`update` take from the data;
    #: when ``None``, every column of :attr:`COLUMNS` but the primary key and
    #: those the table fills itself (a default that is not a constant, an
    #: ``onupdate``, a ``server_default``).
    WRITABLE: ClassVar[Sequence[str] | None] = None

    #: The filters, by name; their names are the keys of ``filters`` that
    #: :meth:`list` and :meth:`count` accept.
    FILTERS: ClassVar[Mapping[str, Filter]] = {}

    #: The columns ``order=`` may name; the primary key always may.
    SORTABLE: ClassVar[Sequence[str]] = ()

    #: The order when ``order=`` is empty, spelled as ``order=`` is; the
    #: primary key, ascending, breaks ties in every order.
    DEFAULT_ORDER: ClassVar[Sequence[str]] = ()

    #: Folded copies that the repository keeps for :class:`Search`:
    #: column name -> the name of the column that holds it folded.
    FOLDED: ClassVar[Mapping[str, str]] = {}

    # Worked out once per class, when it is made.
    _pk: ClassVar[Column[Any]]
    _columns: ClassVar[tuple[Column[Any], ...]]
    _select: ClassVar[Select[Any]]
    _insert: ClassVar[ReturningInsert[Any]]
    _writable: ClassVar[tuple[str, ...]]
    _sortable: ClassVar[dict[str, Column[Any]]]
    _default_keys: ClassVar[tuple[_Key, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "table" in cls.__dict__ or hasattr(cls, "_pk"):
            cls._prepare()

    @classmethod
    def _check(cls, names: Sequence[str], what: str) -> None:
        for name in names:
            if name not in cls.table.c:
                msg = (
                    f"{cls.__qualname__}.{what} names {name!r}, which table "
                    f"{cls.table.name!r} does not have."
                )
                raise RestDeclarationError(msg)

    @classmethod
    def _prepare(cls) -> None:
        table = cls.table
        pk = list(table.primary_key.columns)
        if len(pk) != 1:
            msg = (
                f"{cls.__qualname__}.table {table.name!r} needs a primary key of "
                "one column: items are looked up by one id."
            )
            raise RestDeclarationError(msg)
        cls._pk = pk[0]
        cls._check(list(cls.FOLDED) + list(cls.FOLDED.values()), "FOLDED")
        copies = set(cls.FOLDED.values())
        names = (
            [column.name for column in table.columns if column.name not in copies]
            if cls.COLUMNS is None
            else list(cls.COLUMNS)
        )
        cls._check(names, "COLUMNS")
        if cls._pk.name not in names:
            msg = (
                f"{cls.__qualname__}.COLUMNS must include the primary key "
                f"{cls._pk.name!r}."
            )
            raise RestDeclarationError(msg)
        cls._columns = tuple(table.c[name] for name in names)
        # Built once: each query copies them (they are immutable) and adds
        # its own clauses.
        cls._select = select(*cls._columns)
        cls._insert = insert(table).returning(*cls._columns)
        writable = (
            [name for name in names if cls._written(table.c[name])]
            if cls.WRITABLE is None
            else list(cls.WRITABLE)
        )
        cls._check(writable, "WRITABLE")
        cls._writable = tuple(writable)
        for each in cls.FILTERS.values():
            cls._check(each.columns, "FILTERS")
        cls._check(cls.SORTABLE, "SORTABLE")
        sortable = {cls._pk.name: cls._pk}
        for name in cls.SORTABLE:
            column = table.c[name]
            if column.nullable or name not in names:
                msg = (
                    f"{cls.__qualname__}.SORTABLE names {name!r}, which "
                    "may be NULL or is not among COLUMNS: a cursor needs "
                    "every sort key in each item, never NULL."
                )
                raise RestDeclarationError(msg)
            sortable[name] = column
        cls._sortable = sortable
        cls._default_keys = cls._keys_of(cls.DEFAULT_ORDER, declared=True)

    @classmethod
    def _written(cls, column: Column[Any]) -> bool:
        """Whether a column is written from the data, by default."""
        default = column.default
        return not (
            column.primary_key
            or column.onupdate is not None
            or column.server_default is not None
            or (default is not None and not default.is_scalar)
        )

    @classmethod
    def _keys_of(cls, order: Sequence[str], *, declared: bool) -> tuple[_Key, ...]:
        """
        The sort keys of *order*, the primary key last.

        Raises:
            RestDeclarationError: *declared* (it is :attr:`DEFAULT_ORDER`)
                and a name is not sortable.

            RequestValidationError: A name is not sortable, or comes twice.
        """
        keys: list[_Key] = []
        for spelled in order:
            name = spelled.removeprefix("-")
            column = cls._sortable.get(name)
            if column is None or any(key.name == name for key in keys):
                allowed = ", ".join(sorted(cls._sortable))
                message = (
                    f"Cannot sort by {spelled!r}: give each name at most once, "
                    f"- before it to descend; names: {allowed}."
                )
                if declared:
                    msg = f"{cls.__qualname__}.DEFAULT_ORDER: {message}"
                    raise RestDeclarationError(msg)
                raise _bad(ORDER_ARGUMENT, message)
            keys.append(_Key(name, column, spelled.startswith("-")))
        if not any(key.column is cls._pk for key in keys):
            keys.append(_Key(cls._pk.name, cls._pk, descending=False))
        return tuple(keys)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} of {self.table.name!r}>"

    # -- hooks -----------------------------------------------------------------

    def load_related(self, items: list[dict[str, Any]]) -> None:
        """
        Add to *items* (a page, or one item) what other tables hold for them,
        in one query for all of them; by default, nothing.
        """

    def write_related(
        self, item: dict[str, Any], data: Mapping[str, Any], *, partial: bool
    ) -> None:
        """
        Store what *data* gives for other tables, for the *item* just created
        or updated, and set it on *item*; when a ``PATCH`` (*partial*) leaves
        it out, load it onto *item* instead. By default, nothing.
        """

    def scope(self) -> list[ColumnElement[bool]]:
        """
        Return the clauses that limit every query of the repository to the
        rows it may see (the caller's own, say): what it lists, counts,
        reads, changes and deletes; a row outside is not found. By default,
        none.
        """
        return []

    def filter_clause(self, name: str, value: Any) -> ColumnElement[bool]:
        """
        Return the clause of the filter *name* for *value*; override it for
        filters that :class:`Filter` does not express (a tag in another
        table), and call this for the others.

        Raises:
            RestDeclarationError: :attr:`FILTERS` has no filter *name*.
        """
        spec = self.FILTERS.get(name)
        if spec is None:
            known = ", ".join(sorted(self.FILTERS)) or "none"
            msg = (
                f"{type(self).__qualname__} has no filter {name!r} (it has: "
                f"{known}); declare it in FILTERS or override filter_clause()."
            )
            raise RestDeclarationError(msg)
        return spec.clause(self, value)

    def values(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        """
        Return the column values that *data* writes, with their folded
        copies: the writable columns it gives (*partial*), or all of them,
        those it leaves out set to their constant default, else NULL.
        """
        table = self.table
        if partial:
            values = {name: data[name] for name in self._writable if name in data}
        else:
            values = {}
            for name in self._writable:
                if name in data:
                    values[name] = data[name]
                else:
                    default = table.c[name].default
                    values[name] = None if default is None else default.arg  # type: ignore[attr-defined]
        for name, copy in self.FOLDED.items():
            if name in values:
                value = values[name]
                values[copy] = None if value is None else fold(value)
        return values

    # -- reading ---------------------------------------------------------------

    def where(self, filters: Mapping[str, Any]) -> list[ColumnElement[bool]]:
        """
        The clauses of *filters*, and the :meth:`scope`; a filter whose value
        is ``None`` is not applied.
        """
        return [
            *self.scope(),
            *(
                self.filter_clause(name, value)
                for name, value in filters.items()
                if value is not None
            ),
        ]

    def _items(self, query: Select[Any]) -> list[dict[str, Any]]:
        items = [dict(row._mapping) for row in self.conn.execute(query)]  # noqa: SLF001 -- SQLAlchemy's public row API
        if items:
            self.load_related(items)
        return items

    def _keys(self, order: Sequence[str]) -> tuple[_Key, ...]:
        if not order:
            return self._default_keys
        return self._keys_of(order, declared=False)

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
        Return at most *limit* items that *filters* select, in *order*.

        Args:
            offset: How many items to skip (after *after*, when given).

            limit: How many items at most.

            filters: Values by filter name (see :attr:`FILTERS`).

            order: Column names of :attr:`SORTABLE`, each ascending or, with
                ``-`` before it, descending (``("title", "-published")``);
                :attr:`DEFAULT_ORDER` when empty. The primary key breaks ties.

            after: A cursor from :meth:`cursor_of` for the same *order*: the
                items that come after that item, whether or not it still
                exists; others inserted meanwhile are found in their place.

        Raises:
            RequestValidationError: (``422``) *order* names a column that is
                not sortable, or *after* is not a cursor of this repository
                for *order*.
        """
        keys = self._keys(order)
        query = self._select.where(*self.where(filters))
        if after is not None:
            query = query.where(self._after(keys, self._decode_cursor(after, keys)))
        query = query.order_by(
            *(key.column.desc() if key.descending else key.column.asc() for key in keys)
        )
        if offset:
            query = query.offset(offset)
        return self._items(query.limit(limit))

    def count(self, *, filters: Mapping[str, Any]) -> int:
        """Return how many items *filters* select."""
        query = select(func.count()).select_from(self.table).where(*self.where(filters))
        return int(self.conn.execute(query).scalar_one())

    def get(self, item_id: Any) -> dict[str, Any] | None:
        """Return one item, or ``None``."""
        items = self._items(self._select.where(self._pk == item_id, *self.scope()))
        return items[0] if items else None

    # -- cursors ---------------------------------------------------------------

    def cursor_of(self, item: Mapping[str, Any], order: Sequence[str] = ()) -> str:
        """
        Return the opaque cursor that :meth:`list` takes as ``after=`` to
        continue after *item* (the last of a page) in *order*.

        Raises:
            RequestValidationError: *order* names a column that is not
                sortable.
        """
        keys = self._keys(order)
        return encode_cursor(
            [key.spelled for key in keys], [item[key.name] for key in keys]
        )

    def _decode_cursor(self, cursor: str, keys: tuple[_Key, ...]) -> tuple[Any, ...]:
        return decode_cursor(
            cursor,
            [key.spelled for key in keys],
            [_python_type(key.column) for key in keys],
        )

    @staticmethod
    def _after(keys: tuple[_Key, ...], values: Sequence[Any]) -> ColumnElement[bool]:
        """The rows that come after *values* in the order of *keys*."""
        bound = [
            literal(value, key.column.type)
            for key, value in zip(keys, values, strict=True)
        ]
        if len({key.descending for key in keys}) == 1:
            # One row-value comparison, which an index on the keys serves.
            row = tuple_(*(key.column for key in keys))
            other = tuple_(*bound)
            return row < other if keys[0].descending else row > other
        clauses = []
        for index, key in enumerate(keys):
            same = [keys[i].column == bound[i] for i in range(index)]
            beyond = (
                key.column < bound[index]
                if key.descending
                else key.column > bound[index]
            )
            clauses.append(and_(*same, beyond))
        return or_(*clauses)

    # -- writing ---------------------------------------------------------------

    def _locked(self, item_id: Any) -> dict[str, Any] | None:
        """
        Return an item, or ``None``, read under a lock that keeps every other
        writer of it waiting until this transaction ends.

        PostgreSQL locks the row (``SELECT ... FOR UPDATE``): a concurrent
        writer of the same item waits, then reads what this one wrote.
        SQLite has one writer at a time: the transaction becomes a write
        transaction (``BEGIN IMMEDIATE``) before the read, waiting at most
        the busy timeout for another writer to finish.
        """
        query = self._select.where(self._pk == item_id, *self.scope())
        if self.conn.dialect.name == "sqlite":
            # sqlite3 opens a transaction before the first write, not before
            # a read: open a write transaction now, unless one is open.
            if not self.conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
                self.conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            query = query.with_for_update()
        items = self._items(query)
        return items[0] if items else None

    def create(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Insert an item from loaded *data*; return it, with its id."""
        row = self.conn.execute(
            self._insert.values(self.values(data, partial=False))
        ).one()
        item = dict(row._mapping)  # noqa: SLF001 -- SQLAlchemy's public row API
        self.write_related(item, data, partial=False)
        return item

    def update(
        self,
        item_id: Any,
        data: Mapping[str, Any],
        *,
        partial: bool,
        precondition: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any] | None:
        """
        Change an item: every writable column (*partial* false, ``PUT``) or
        those *data* gives (``PATCH``); return it, or ``None`` when there is
        none.

        With *precondition*, the item is read under a lock (a row lock on
        PostgreSQL, a write transaction on SQLite) and given to it, as
        :meth:`get` returns it; only if it returns is the item changed, before
        any other writer can change it.
        What it raises propagates, and nothing is written.
        """
        if precondition is not None:
            current = self._locked(item_id)
            if current is None:
                return None
            precondition(current)
        values: dict[Any, Any] = dict(self.values(data, partial=partial))
        if not values:
            # Nothing of this table changes: SET id = id still runs the
            # columns' onupdate, and finds whether the item exists.
            values = {self._pk: self._pk}
        row = self.conn.execute(
            update(self.table)
            .where(self._pk == item_id, *self.scope())
            .values(values)
            .returning(*self._columns)
        ).one_or_none()
        if row is None:
            return None
        item = dict(row._mapping)  # noqa: SLF001 -- SQLAlchemy's public row API
        self.write_related(item, data, partial=partial)
        return item

    def delete(
        self,
        item_id: Any,
        *,
        precondition: Callable[[dict[str, Any]], None] | None = None,
    ) -> bool:
        """
        Delete an item (rows of other tables that refer to it go with it if
        their foreign key says ``ON DELETE CASCADE``); return whether there
        was one.

        With *precondition*, as in :meth:`update`: it is given the item read
        under a lock, and the item is deleted only if it returns.
        """
        if precondition is not None:
            current = self._locked(item_id)
            if current is None:
                return False
            precondition(current)
        deleted = self.conn.execute(
            delete(self.table).where(self._pk == item_id, *self.scope())
        )
        return deleted.rowcount > 0
