"""Child processes under measurement: CPU seconds and peak RSS of the whole process tree,
read from /proc (Linux), sampled by a background thread while the process runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = Path(tempfile.gettempdir()) / "taskplane-bench"  # child output, never committed
PROFILE_DIR = LOG_DIR / "profiles"  # py-spy's collapsed stacks, one <name>.pyspy per process


def profiling() -> bool:
    """Whether processes are profiled (the runner's profiled pass sets BENCH_PROFILE=1)."""
    return bool(os.environ.get("BENCH_PROFILE"))


def _record(pid: int, name: str, *, children: bool = True) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` (and its children) at 50 Hz without pausing it, until it
    exits or is interrupted (SIGINT): collapsed stacks in PROFILE_DIR/<name>.pyspy."""
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            _py_spy(),
            "record",
            "--format",
            "raw",
            "--rate",
            "50",
            *(["--subprocesses"] if children else []),
            "--nonblocking",
            "-o",
            str(PROFILE_DIR / f"{name}.pyspy"),
            "--pid",
            str(pid),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextmanager
def profile_self(name: str) -> Iterator[None]:
    """Profile the bench's own process meanwhile (work a benchmark runs in-process), when
    profiling."""
    if not profiling():
        yield
        return
    recorder = _record(os.getpid(), name, children=False)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            recorder.wait(30)
        except subprocess.TimeoutExpired:
            recorder.kill()


def _stat(pid: int) -> tuple[int, float, int] | None:
    """(ppid, cpu seconds, rss bytes) of one process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    rss = int(fields[21]) * PAGE
    return ppid, cpu, rss


def cpu_of(pid: int | None) -> float | None:
    """CPU seconds used so far by one process we did not start (e.g. redis-server)."""
    st = _stat(pid) if pid else None
    return st[1] if st else None


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                children.setdefault(st[0], []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


class Proc:
    """A process we start, sample and stop. Output goes to LOG_DIR/<name>.log."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
        self.popen: subprocess.Popen[bytes] | None = None
        self.peak_rss = 0
        self._cpu: dict[int, float] = {}  # last seen cpu seconds per pid (a dead child keeps it)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.log_path = LOG_DIR / f"{name}.log"
        self.profiler: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if profiling():
            self.profiler = _record(self.popen.pid, self.name)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def sample(self) -> None:
        total_rss = 0
        for p in tree(self.pid):
            st = _stat(p)
            if st is not None:
                self._cpu[p] = st[1]
                total_rss += st[2]
        self.peak_rss = max(self.peak_rss, total_rss)

    def _sample(self) -> None:
        while not self._stop.is_set() and self.alive():
            self.sample()
            self._stop.wait(0.25)

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) used so far by the process and its children."""
        if self.alive():
            self.sample()
        return sum(self._cpu.values())

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self.popen is None or self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)  # our own session: the process and its kids
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
        except ProcessLookupError:
            pass
        if self.profiler is not None:
            try:
                self.profiler.wait(30)
            except subprocess.TimeoutExpired:
                self.profiler.kill()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _py_spy() -> str:
    """The dev group's py-spy (next to this interpreter), else one on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else "py-spy"


def python(*args: str) -> list[str]:
    """argv running this interpreter (the project's venv) directly, so we measure it, not uv."""
    return [sys.executable, *args]
