"""Who made a change: every history event and every audit entry names its actor.

An ``Actor`` is passed explicitly down every write path (API route or CLI command ->
``ConfigService`` / ``SchedulerService`` -> the state service), never read from ambient
state: a call that records an event must say who asks. API.md "Who did it" fixes the names:
the API token's name (``"admin"`` for the settings' admin token), ``"cli"`` for the
``taskplane`` command, and ``"scheduler"`` / ``"worker"`` / ``"reconcile"`` for what the
system does itself. ``is_audited`` says whether the change also joins the audit trail
(``state/audit.py``): changes made through the API or the CLI do, the system's own do not.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    is_audited: bool

    @classmethod
    def token(cls, name: str) -> Actor:
        """A caller of the API, by its token's name (the admin token of the settings:
        ``"admin"``, as ``auth.ADMIN`` names it)."""
        return cls(name, True)


CLI = Actor("cli", True)
SCHEDULER = Actor("scheduler", False)
WORKER = Actor("worker", False)
RECONCILE = Actor("reconcile", False)
