"""A private PostgreSQL for fault-injection tests: ``initdb`` + ``pg_ctl`` into a temp dir on a
free port, with a password (a real secret for the log scans), stopped and started at will.
The shared server on 5432 is never touched.

As root, ``initdb`` refuses to run: every server command then runs as user ``postgres``
(``runuser``), in a temp dir that user owns (pytest's tmp dirs are not reachable by it).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from taskplane.embedded_redis import free_port

SERVER_USER = "postgres"


def bin_dir() -> Path:
    """The newest PostgreSQL's binaries (Debian keeps them off PATH)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise AssertionError("no initdb: install PostgreSQL's server binaries")
    return Path(initdb).parent


class PrivatePostgres:
    """One cluster in a temp dir; ``stop()`` / ``start()`` keep its port and its data."""

    def __init__(self) -> None:
        self.password = f"pw-{secrets.token_hex(12)}"
        self.port = free_port()
        self.bin = bin_dir()
        self.is_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="taskplane-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        if self.is_root:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.dir, user.pw_uid, user.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        argv = [str(self.bin / tool), *args]
        if self.is_root:
            argv = ["runuser", "-u", SERVER_USER, "--", *argv]
        done = subprocess.run(
            argv, cwd=self.dir, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise AssertionError(f"{tool} failed ({done.returncode}): {done.stderr}\n{log}")

    def init(self) -> None:
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.is_root:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            "--no-sync",
        )
        pwfile.unlink()

    def start(self) -> None:
        """Start and wait until it accepts connections (``pg_ctl -w``)."""
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.dir}",  # its own socket dir, never the shared server's
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",  # this cluster tests outages, not power cuts
                "-c max_connections=60",
            ]
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop (``fast``: every session is cut) and wait: the port refuses from now on."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def begin_stop(self, mode: str = "smart") -> None:
        """Ask it to stop and return at once (``smart``: it refuses new sessions with "the
        database system is shutting down" until every open session has ended)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-W", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()
