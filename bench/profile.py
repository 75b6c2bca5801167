"""``python -m bench.profile FILE.pyspy [...]``: where a profiled process spent its samples.

A benchmark's profiled pass (``python -m bench --profile``, or ``BENCH_PROFILE=1``) has py-spy
record every process the bench starts to ``$TMPDIR/taskplane-bench/profiles/<name>.pyspy``
(collapsed stacks: ``frame;frame;... count`` per line); this reads them: the functions with
the most samples on the stack (inclusive) and at the top of it (self), and the stacks a flame
graph is drawn from (``bench.flamegraph``)."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

OWN_CODE = ("taskplane/", "bench/")  # py-spy names files by their path under sys.path


def frame_name(frame: str) -> str:
    """``function (taskplane/x.py:12)`` -> ``function (taskplane/x.py)``: one name per
    function, whatever line of it was running."""
    function, _, where = frame.partition(" (")
    if not where:
        return function
    return f"{function} ({where.rsplit(':', 1)[0].rstrip(')')})"


ENTRY = ("taskplane/cli/", "bench/__main__.py")  # entry points: on the stack of everything


def own_code(name: str) -> bool:
    """A function of taskplane's or the bench's, other than their entry points."""
    where = name.rpartition(" (")[2]
    return where.startswith(OWN_CODE) and not where.startswith(ENTRY)


@dataclass
class Samples:
    """The stacks of one profile (start-up imports left out), frames named by ``frame_name``."""

    stacks: Counter[tuple[str, ...]] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.stacks.values())

    def inclusive(self, *, own: bool = False) -> Counter[str]:
        """Samples with each function on the stack; ``own``: taskplane's and the bench's
        functions only (where our code spends, callees included)."""
        out: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            for frame in set(stack):
                if not own or own_code(frame):
                    out[frame] += count
        return out

    def own(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            if not stack[-1].startswith("process "):  # py-spy's root frame: no Python frame
                out[stack[-1]] += count
        return out


def read(text: str) -> Samples:
    samples = Samples()
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        if "_find_and_load" in stack:
            continue  # start-up imports: not part of the measured work
        samples.stacks[tuple(frame_name(f) for f in stack.split(";"))] += int(count_text)
    return samples


def top(counts: Counter[str], total: int, n: int) -> list[str]:
    """``"share  function file"`` lines, most samples first."""
    return [f"{c / max(total, 1):6.1%}  {f}" for f, c in counts.most_common(n)]


def summarize(path: Path, n: int = 25) -> str:
    samples = read(path.read_text(errors="replace"))
    total = samples.total
    out = [f"{path.name}: {total} samples (start-up imports left out)"]
    out.append("inclusive (on the stack), taskplane and bench code:")
    out += ["  " + line for line in top(samples.inclusive(own=True), total, n)]
    out.append("self (top of the stack), any code:")
    out += ["  " + line for line in top(samples.own(), total, n)]
    return "\n".join(out)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(summarize(Path(arg)))
