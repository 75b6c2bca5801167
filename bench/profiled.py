"""A benchmark's profiled pass: the same benchmark again, shorter (``suite.PROFILE_PASS``),
with py-spy on every process it starts; its figures are thrown away (py-spy takes CPU on the
same cores), its profiles become flame graphs (SVG) and top-function summaries for the page."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import flamegraph, procs, profile
from bench.results import Profile

SVG_DIR = Path(__file__).resolve().parents[1] / "docs" / "img" / "profiles"
TOP = 15  # functions listed per profile: our code on the stack, any code on top of it


def arguments(
    args: argparse.Namespace, defaults: Mapping[str, Any]
) -> tuple[argparse.Namespace, list[str]]:
    """The pass's options: what the command line set, else the pass's shorter ``defaults``;
    and the flags that say so (for the page)."""
    values = {**vars(args), "no_report": True}  # the pass's own figures go nowhere
    flags: list[str] = []
    for key, value in defaults.items():
        if not values.get(key):
            values[key] = value
    for key in defaults:
        flag = "--" + key.replace("_", "-")
        chosen = values[key]
        if chosen is True:
            flags.append(flag)
        elif isinstance(chosen, list):
            for item in chosen:
                flags += [flag, str(item)]
        elif chosen not in (None, False):
            flags += [flag, str(chosen)]
    return argparse.Namespace(**values), flags


def command(name: str, flags: list[str]) -> str:
    return "BENCH_PROFILE=1 python -m bench " + " ".join(
        shlex.quote(a) for a in [name, *flags, "--no-report"]
    )


@contextmanager
def profiling() -> Iterator[Path]:
    """BENCH_PROFILE=1 meanwhile (``procs.profiling``), profiles into a directory of this
    pass's own (LOG_DIR is shared with any other bench run on the machine); yields it."""
    procs.LOG_DIR.mkdir(parents=True, exist_ok=True)
    own = Path(tempfile.mkdtemp(prefix="profiles-", dir=procs.LOG_DIR))
    shared, procs.PROFILE_DIR = procs.PROFILE_DIR, own
    os.environ["BENCH_PROFILE"] = "1"
    try:
        yield own
    finally:
        os.environ.pop("BENCH_PROFILE", None)
        procs.PROFILE_DIR = shared


def collect(
    name: str, taken_by: str, found_in: Path, svg_dir: Path, docs: Path | None
) -> list[Profile]:
    """Flame graphs of the profiles the pass left in ``found_in``, into ``svg_dir`` (this
    benchmark's older ones there removed), and their summaries; ``found_in`` is removed.
    ``docs``: the directory the page links from (paths relative to it), or None to link the
    absolute paths."""
    svg_dir.mkdir(parents=True, exist_ok=True)
    for old in svg_dir.glob(f"{name}-*.svg"):
        old.unlink()
    out: list[Profile] = []
    for raw in sorted(found_in.glob("*.pyspy")):
        samples = profile.read(raw.read_text(errors="replace"))
        if not samples.total:
            continue
        stem = raw.stem if raw.stem.startswith(f"{name}-") else f"{name}-{raw.stem}"
        svg = svg_dir / f"{stem}.svg"
        svg.write_text(flamegraph.render(samples, f"{raw.stem}: {taken_by}"))
        out.append(
            Profile(
                process=raw.stem,
                svg=str(svg.relative_to(docs)) if docs is not None else str(svg),
                samples=samples.total,
                command=taken_by,
                inclusive=profile.top(samples.inclusive(own=True), samples.total, TOP),
                own=profile.top(samples.own(), samples.total, TOP),
            )
        )
    shutil.rmtree(found_in, ignore_errors=True)
    return out
