"""The read model's reads (``info_reads``): a page of configs in one pipeline of two
commands, decoded per config in order: state, newest events, registration and due time."""

from __future__ import annotations

from typing import Any

from taskplane.actors import CLI
from taskplane.scheduling import info_reads
from taskplane.scheduling.service import SchedulerService
from taskplane.state.keys import Keys
from tests.scheduling.configs import MakeConfig


async def _read(svc: SchedulerService, keys: Keys, ids: list[int], history: int) -> list[Any]:
    async with svc.redis.pipeline(transaction=False) as pipe:
        info_reads.queue(pipe, keys, ids, history=history)
        assert len(pipe.command_stack) == 2  # one script (states, shapes), one ZMSCORE
        replies: list[Any] = await pipe.execute()
    return replies


async def test_a_page_is_read_in_two_commands_and_decoded_in_order(
    svc: SchedulerService, make_config: MakeConfig, keys: Keys
) -> None:
    started, stopped = await make_config(), await make_config()
    await svc.start(started, actor=CLI)
    await info_reads.load_script(svc.redis)
    missing = max(started.id, stopped.id) + 1000
    ids = [started.id, missing, stopped.id]

    reads = info_reads.decode(ids, await _read(svc, keys, ids, 2), history=2)

    first, absent, last = reads
    assert first.state is not None and first.state.status == "active"
    assert [e.event for e in first.events] == ["started", "created"]
    assert first.registered.is_registered and first.registered.task is not None
    assert first.registered.spec is not None and first.registered.next_due is not None
    assert absent.state is None and absent.events == []
    assert absent.registered == info_reads.Registered(False, None, None, None)
    assert last.state is not None and last.state.status == "inactive"
    assert [e.event for e in last.events] == ["created"]
    assert not last.registered.is_registered and last.registered.next_due is None


async def test_without_history_only_the_states_are_read(
    svc: SchedulerService, make_config: MakeConfig, keys: Keys
) -> None:
    config = await make_config()
    await info_reads.load_script(svc.redis)
    replies = await _read(svc, keys, [config.id], 0)
    assert len(replies[0]) == 2  # the state hash alone, no history list; then the shapes
    [read] = info_reads.decode([config.id], replies)
    assert read.state is not None and read.events == []
