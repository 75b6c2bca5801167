"""``python -m bench.profile FILE.pyspy [...]``: where a profiled process spent its samples.

Run a benchmark with ``BENCH_PROFILE=1`` and py-spy records every measured process to
``$TMPDIR/taskplane-bench/<name>.pyspy`` (collapsed stacks); this prints the functions with
the most samples on the stack (inclusive) and at the top of it (self)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def summarize(path: Path, top: int = 25) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        if "_find_and_load" in stack:
            continue  # start-up imports: not part of the measured work
        total += count
        frames = [
            f.split(" (")[0] + " " + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1]
            for f in stack.split(";")
        ]
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    total = max(total, 1)
    out = [f"{path.name}: {total} samples (start-up imports left out)"]
    out.append("inclusive (on the stack):")
    out += [f"  {c / total:6.1%}  {f}" for f, c in inclusive.most_common(top)]
    out.append("self (top of the stack):")
    out += [f"  {c / total:6.1%}  {f}" for f, c in own.most_common(top)]
    return "\n".join(out)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(summarize(Path(arg)))
