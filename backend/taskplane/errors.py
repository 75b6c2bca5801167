"""Domain exceptions. Domain code raises these, never HTTPException.

TaskplaneError
├── NotFound            an id or name that does not exist          -> 404
├── Conflict            a name taken, an action invalid in a state -> 409
├── InvalidInput        a value that breaks a rule; names its field -> 422
├── DuplicateTaskType   two task types registered under one name (start-up)
└── BackendUnavailable  PostgreSQL or Redis cannot be reached      -> 503
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class TaskplaneError(Exception):
    """Root of every error taskplane raises on purpose."""


class NotFound(TaskplaneError):
    """The thing asked for does not exist: '{kind} {ident} not found'."""

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} not found")
        self.kind = kind
        self.ident = ident


class Conflict(TaskplaneError):
    """The request clashes with the current state; the message says the state."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field: ``loc`` is its path (without the 'body' root), ``msg`` why."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"


class InvalidInput(TaskplaneError):
    """One or more fields are invalid; each error names its field at the deepest level."""

    def __init__(self, errors: Sequence[FieldError], root: str = "body") -> None:
        self.errors = list(errors)
        self.root = root
        super().__init__("; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in self.errors))

    @classmethod
    def field(
        cls, *loc: str | int, msg: str, type: str = "value_error", root: str = "body"
    ) -> InvalidInput:
        return cls([FieldError(tuple(loc), msg, type)], root=root)


class DuplicateTaskType(TaskplaneError):
    """Two task types were registered under one name: '{name}' in {first} and {second}."""


class BackendUnavailable(TaskplaneError):
    """A backing store (PostgreSQL or Redis) cannot be reached right now."""

    def __init__(self, component: str, reason: str = "unreachable") -> None:
        super().__init__(f"{component} is unavailable: {reason}")
        self.component = component
