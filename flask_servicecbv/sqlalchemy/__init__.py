"""
Databases with SQLAlchemy: engine, connection and session services, and a
repository over a table; needs ``pip install flask-servicecbv[sqlalchemy]``.
"""

from __future__ import annotations

try:
    import sqlalchemy
except ImportError as e:  # the extra is not installed
    _msg = (
        "flask_servicecbv.sqlalchemy needs SQLAlchemy 2.0 or later; install "
        "it with `pip install flask-servicecbv[sqlalchemy]`."
    )
    raise ImportError(_msg, name=e.name) from e

if int(sqlalchemy.__version__.split(".")[0]) < 2:  # noqa: PLR2004 -- the major version
    _msg = (
        f"flask_servicecbv.sqlalchemy needs SQLAlchemy 2.0 or later, not "
        f"{sqlalchemy.__version__}; upgrade it with "
        "`pip install flask-servicecbv[sqlalchemy]`."
    )
    raise ImportError(_msg)

from ._repository import (
    MAX_CURSOR_LENGTH,
    AtLeast,
    AtMost,
    Equals,
    Filter,
    OneOf,
    Search,
    SQLAlchemyRepository,
)
from ._services import (
    EXTENSION_KEY,
    FOLD_FUNCTION,
    Transactional,
    connection_factory,
    database_unavailable,
    fold,
    init_app,
    is_unavailable,
    make_engine,
    ping,
    register_read_only,
    request_transaction,
    session_factory,
)

__all__ = [
    "EXTENSION_KEY",
    "FOLD_FUNCTION",
    "MAX_CURSOR_LENGTH",
    "AtLeast",
    "AtMost",
    "Equals",
    "Filter",
    "OneOf",
    "SQLAlchemyRepository",
    "Search",
    "Transactional",
    "connection_factory",
    "database_unavailable",
    "fold",
    "init_app",
    "is_unavailable",
    "make_engine",
    "ping",
    "register_read_only",
    "request_transaction",
    "session_factory",
]
