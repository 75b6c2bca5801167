"""``python -m bench.health_probe URL FILE``: GET ``URL`` back to back (one keep-alive
client, reconnecting when the api closes it; 20 per second at most) until terminated, one
line per call in FILE: the latency in ms, or ``fail`` (a 200, or the 503 of an api without
scheduler and worker, is an answer). A process of its own, so the attacker's busy event loop
does not inflate what it measures: B7 and tests/badclients use it."""

from __future__ import annotations

import sys
import time

import httpx


def main(url: str, out: str) -> None:
    with open(out, "a", buffering=1) as lines, httpx.Client(timeout=30) as client:
        while True:
            started = time.perf_counter()
            try:
                status = client.get(url).status_code
            except httpx.HTTPError:
                status = 0
            elapsed_ms = (time.perf_counter() - started) * 1000
            lines.write(f"{elapsed_ms:.2f}\n" if status in (200, 503) else "fail\n")
            time.sleep(max(0.0, 0.05 - elapsed_ms / 1000))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
