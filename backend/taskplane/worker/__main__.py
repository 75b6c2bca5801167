"""``python -m taskplane.worker [--queue Q ...] [--concurrency N] [--metrics-port P]``: a
worker from the environment's settings (TASKPLANE_*), the same ``serve_worker`` that
``taskplane worker`` runs."""

from __future__ import annotations

import argparse

from taskplane.settings import load_settings
from taskplane.worker.process import serve_worker


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m taskplane.worker")
    parser.add_argument("--queue", "-q", action="append", default=[], help="queue (repeat)")
    parser.add_argument("--concurrency", type=int, default=10, help="executions at once")
    parser.add_argument("--metrics-port", type=int, default=None, help="/metrics port")
    args = parser.parse_args(argv)
    serve_worker(
        load_settings(),
        args.queue or None,
        max(1, args.concurrency),
        metrics_port=args.metrics_port,
    )


if __name__ == "__main__":
    main()
