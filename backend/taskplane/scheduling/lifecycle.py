"""A config's lifecycle in the schedule state, each step under the config's lock: created,
updated (an active schedule re-registered at once), deleted (the row's deletion between two
Redis steps) and the undo of a failed create. The control actions are ``actions.py``'s; an
update that re-registers uses its activation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from redis.exceptions import RedisError

from taskplane.actors import Actor
from taskplane.db.configs import SCHEDULE_FIELDS, ConfigRow
from taskplane.enums import Action, Event, SchedulerType
from taskplane.scheduling.actions import Actions
from taskplane.scheduling.decisions import (
    ACTIVE,
    INACTIVE,
    PAUSED,
    ActionResult,
    kind_of,
    metadata_of,
    spec_or_none,
)
from taskplane.state import running

log = logging.getLogger(__name__)


class Lifecycle:
    """The lifecycle hooks (see the module doc), over the control actions' services."""

    def __init__(self, actions: Actions) -> None:
        self.actions = actions

    async def on_created(self, config: ConfigRow, *, actor: Actor) -> None:
        """Every config has state from creation: ``inactive`` with a ``created`` event."""
        spec = spec_or_none(config)
        await self.actions.state.create(config.id, metadata_of(config, spec, None), actor=actor)

    async def on_updated(
        self,
        config: ConfigRow,
        changed: Iterable[str],
        note: str | None = None,
        *,
        actor: Actor,
        changes: Mapping[str, Any] | None = None,
        reload: Callable[[], Awaitable[ConfigRow | None]] | None = None,
    ) -> ActionResult:
        """Record ``updated`` (details ``changed``: the field names, and ``changes``: each
        field's ``{from, to}`` as the caller shows them); an active schedule is
        re-registered at once (replace, no window); a config that became manual stops.
        Returns what happened to the status.

        ``reload`` (for a caller that committed the row before calling) reads the config
        again once the per-config lock is held, so concurrent updates register the latest
        committed row whatever order their calls arrive in; None from it (the config was
        deleted meanwhile) makes this a no-op."""
        changed_set = set(changed)
        cid = config.id
        async with self.actions.locks.held(cid):
            if reload is not None:
                fresh = await reload()
                if fresh is None:
                    status = await self.actions._status(cid)
                    return ActionResult(cid, "update", True, status, "deleted", changed=False)
                config = fresh
            current = await self.actions._status(cid)
            spec = spec_or_none(config)
            details: dict[str, Any] = {"changed": sorted(changed_set)}
            if changes is not None:
                details["changes"] = dict(changes)
            await self.actions.state.update_metadata(
                cid, metadata_of(config, spec, None), actor=actor, note=note, details=details
            )
            if current not in (ACTIVE, PAUSED) or not (changed_set & SCHEDULE_FIELDS):
                return ActionResult(cid, "update", True, current, "updated", changed=False)
            if kind_of(config) is SchedulerType.MANUAL:
                await self.actions.state.transition(
                    cid,
                    INACTIVE,
                    allowed_from=None,
                    event=Event.STOPPED,
                    actor=actor,
                    note="config is now manual",
                    config_name=config.name,
                )
                await self.actions.core.remove(cid)
                return ActionResult(cid, "update", True, INACTIVE, "manual config: stopped")
            if current is PAUSED:
                return ActionResult(cid, "update", True, current, "updated", changed=False)
            return await self.actions._activate(
                config,
                Action.RELOAD,
                event=None,
                allowed_from={ACTIVE},
                note=note,
                actor=actor,
                replace=True,
            )

    async def delete(
        self,
        config_id: int,
        delete_row: Callable[[], Awaitable[str | None]],
        *,
        actor: Actor,
    ) -> None:
        """Delete a config: ``delete_row`` commits the row's deletion, between two Redis
        steps, so that a request that fails changes nothing.

        1. Under the config's lock (with Redis unreachable this fails first, and nothing has
           changed), its due score is taken out: it can fire no more.
        2. ``delete_row`` runs (it returns the config's name); if it fails, the due score is
           put back, as it was.
        3. The registration, state, counters and history go, and the ``deleted`` audit
           entry is written. The config is gone by now, so
           a Redis failure here is logged, not raised: the schedule cannot fire (step 1), and
           reconcile removes what is left.
        """
        async with self.actions.locks.held(config_id):
            score = await self.actions.core.take_due(config_id)
            try:
                name = await delete_row()
            except BaseException:
                if score is not None:
                    await asyncio.shield(self.actions.core.restore_due(config_id, score))
                raise
            try:
                await self.actions.core.remove(config_id)
                await self.actions.state.delete(config_id, actor=actor, config_name=name)
                await running.forget(self.actions.redis, self.actions.keys, config_id)
            except RedisError:
                log.warning(
                    "config deleted; its schedule state is left for reconcile",
                    extra={"config_id": config_id},
                )

    async def on_deleted(self, config_id: int, *, forget_audit: bool = False) -> None:
        """Remove the schedule, state, counters and history of a config; ``forget_audit``
        (the undo of a create that failed, so that it changed nothing) also its audit
        entries."""
        async with self.actions.locks.held(config_id):
            await self.actions.core.remove(config_id)
            await self.actions.state.delete(config_id)
            await running.forget(self.actions.redis, self.actions.keys, config_id)
            if forget_audit:
                await self.actions.state.audit.forget_config(config_id)
