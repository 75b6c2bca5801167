"""What a bulk action reports per id: the single call's result, or its refusal."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from taskplane.errors import TaskplaneError
from taskplane.scheduling.decisions import (
    ActionResult,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Refused:
    """An id the single call would refuse, with the error it would raise."""

    config_id: int
    error: TaskplaneError
    """``NotFound``, ``Conflict`` or ``InvalidInput``: its HTTP code is ``api.errors``'s."""

    @property
    def detail(self) -> str:
        return str(self.error)


@dataclass(frozen=True, slots=True)
class BulkReport:
    results: list[ActionResult]
    errors: list[Refused]


Outcome = ActionResult | Refused


def refusal(config_id: int, exc: TaskplaneError) -> Refused:
    return Refused(config_id, exc)
