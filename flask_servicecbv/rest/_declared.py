"""A method with its declarations, until its class compiles them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from flask_servicecbv.exceptions import RestDeclarationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from .auth import Requirement
    from .declarations import Input, Output

# The class attribute that marks RestMixin and its subclasses.
_REST_VIEW: Final = "_servicecbv_rest_view"


@dataclass
class _Declared:
    """
    A method with its declarations, until its class compiles it.
    """

    func: Callable[..., Any]
    inputs: list[Input] = field(default_factory=list)
    output: Output | None = None
    # What doc() adds to the operation.
    doc: dict[str, Any] = field(default_factory=dict)
    # For generic views: declarations that depend on the class (its schema).
    dynamic: Callable[[type], tuple[list[Input], Output | None]] | None = None
    # Who may call it: see requires().
    requirement: Requirement | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        # RestMixin marks its classes: this module sits below it.
        if not getattr(owner, _REST_VIEW, False):
            msg = (
                f"{owner.__qualname__}.{name} is declared with @reads or "
                f"@returns, but {owner.__qualname__} is not a RestMixin "
                "subclass; derive it from RestView."
            )
            raise RestDeclarationError(msg)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Only reached on a class that was not compiled (never on a view).
        return self.func(*args, **kwargs)


def _declared(target: Any) -> _Declared:
    if isinstance(target, _Declared):
        return target
    if not callable(target):
        msg = f"@reads and @returns decorate methods or view classes, not {target!r}."
        raise RestDeclarationError(msg)
    return _Declared(target)
