"""What B1 measures of one scheduler at one size (taskplane, stock taskiq and the peers alike)
and the figures derived from it; shared by b1_scheduler and b1_peers."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

INTERVAL_SECONDS = 10
FIRES = 6
REGISTER_CAP_SECONDS = 120  # registration (every system) is stopped here


@dataclass
class Outcome:
    system: str
    n: int
    register_seconds: float | None = None
    registered: int = 0
    expected: int = 0
    sent: int = 0
    missed: int = 0
    duplicated: int = 0
    lags: list[float] = field(default_factory=list)
    cpu_per_minute: float | None = None
    redis_cpu_per_minute: float | None = None
    window_seconds: float = FIRES * INTERVAL_SECONDS
    peak_rss: int | None = None
    errors_in_log: int = 0
    note: str = ""
    redis_memory_added: int | None = None
    """Redis's ``used_memory`` after registration minus before (bytes; B11, on a server of
    its own: on the shared one it would count everyone's keys)."""
    redis_commands: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Redis's time by command over the window, from ``INFO commandstats``: name -> (calls,
    µs); the profile of Redis (a script's time is its EVALSHA's)."""


async def redis_pid(redis: Redis) -> int | None:
    """The Redis server's pid, when it runs on this machine (its CPU is part of the cost)."""
    try:
        info = await redis.info("server")
        return int(info["process_id"])
    except Exception:
        return None


async def used_memory(redis: Redis) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def command_times(redis: Redis) -> dict[str, tuple[int, int]]:
    """``INFO commandstats`` as command -> (calls, µs) since the server started."""
    stats = await redis.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
        for name, v in stats.items()
        if isinstance(v, dict)
    }


def command_delta(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for name, (calls, usec) in after.items():
        calls0, usec0 = before.get(name, (0, 0))
        if calls > calls0:
            out[name] = (calls - calls0, usec - usec0)
    return out


def per_fire_us(per_minute_: float | None, outcome: Outcome) -> str:
    """CPU seconds per minute of the window as µs per fire sent in it."""
    if per_minute_ is None or not outcome.sent:
        return "-"
    return f"{per_minute_ * outcome.window_seconds / 60 / outcome.sent * 1e6:,.0f} µs"


def total_per_fire(outcome: Outcome) -> float | None:
    """Scheduler + Redis CPU seconds per fire sent in the window (the Lua moved work into
    Redis: counting the scheduler alone would flatter it)."""
    if outcome.cpu_per_minute is None or outcome.redis_cpu_per_minute is None:
        return None
    if not outcome.sent:
        return None
    both = outcome.cpu_per_minute + outcome.redis_cpu_per_minute
    return both * outcome.window_seconds / 60 / outcome.sent


def per_minute(before: float | None, after: float | None, seconds: float) -> float | None:
    if before is None or after is None:
        return None
    return (after - before) * 60 / seconds


def count_errors(text: str) -> int:
    """Log records at ERROR or above (stock: `[ERROR  ]`, taskplane: ` ERROR `)."""
    return sum(
        1
        for line in text.splitlines()
        if "[ERROR" in line or " ERROR " in line or "[CRITICAL" in line or " CRITICAL " in line
    )
