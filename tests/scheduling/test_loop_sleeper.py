"""``loop.Sleeper``: the tick loop's pauses end when their time has passed or, at once, when
the stop is set; one watcher task serves every sleep (no task per sleep)."""

from __future__ import annotations

import asyncio

from taskplane.scheduling.loop import Sleeper


async def test_a_sleep_lasts_its_time_and_adds_no_task() -> None:
    stop = asyncio.Event()
    sleep = Sleeper(stop)
    await sleep(0.001)  # the watcher starts with the first sleep
    tasks = len(asyncio.all_tasks())
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(5):
        await sleep(0.02)
    assert loop.time() - started >= 0.1
    sleeping = asyncio.create_task(sleep(60))
    await asyncio.sleep(0.01)
    assert len(asyncio.all_tasks()) == tasks + 1  # the sleeping task itself, no other
    sleeping.cancel()
    await asyncio.gather(sleeping, return_exceptions=True)
    assert not stop.is_set()
    sleep.close()


async def test_the_stop_ends_every_sleep_at_once_and_later_sleeps_return() -> None:
    stop = asyncio.Event()
    sleep = Sleeper(stop)
    sleepers = [asyncio.create_task(sleep(60)) for _ in range(2)]  # the tick and the lease
    await asyncio.sleep(0.01)
    assert not any(s.done() for s in sleepers)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*sleepers), timeout=1)
    await asyncio.wait_for(sleep(60), timeout=1)  # stopped: no sleep at all
    sleep.close()


async def test_a_cancelled_sleep_leaves_nothing_behind() -> None:
    stop = asyncio.Event()
    sleep = Sleeper(stop)
    sleeping = asyncio.create_task(sleep(60))
    await asyncio.sleep(0.01)
    sleeping.cancel()
    await asyncio.gather(sleeping, return_exceptions=True)
    assert sleeping.cancelled()
    late = asyncio.create_task(sleep(60))
    await asyncio.sleep(0.01)
    stop.set()  # wakes the sleep still waiting, and nothing of the cancelled one fails
    await asyncio.wait_for(late, timeout=1)
    sleep.close()


async def test_close_ends_a_sleep_still_waiting() -> None:
    sleep = Sleeper(asyncio.Event())
    sleeping = asyncio.create_task(sleep(60))
    await asyncio.sleep(0.01)
    sleep.close()
    await asyncio.wait_for(sleeping, timeout=1)
