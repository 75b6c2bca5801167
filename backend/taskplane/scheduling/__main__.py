"""``python -m taskplane.scheduling [--metrics-port P]``: one scheduler instance, settings
from TASKPLANE_*, the same ``serve_scheduler`` that ``taskplane scheduler`` runs."""

from __future__ import annotations

import argparse

from taskplane.scheduling.process import serve_scheduler
from taskplane.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m taskplane.scheduling")
    parser.add_argument("--metrics-port", type=int, default=None, help="/metrics port")
    args = parser.parse_args(argv)
    serve_scheduler(load_settings(), metrics_port=args.metrics_port)


if __name__ == "__main__":
    main()
