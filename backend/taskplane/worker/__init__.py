"""The worker side: broker, execution, recorder, limits, heartbeat; ``run_worker`` is the
process entry (imported lazily: importing a worker module does not start the worker stack)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "run_worker":
        from taskplane.worker.process import run_worker

        return run_worker
    raise AttributeError(name)
