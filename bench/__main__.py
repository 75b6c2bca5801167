"""``python -m bench [b1 ... b11] [--n N ...]``: run benchmarks, print their
tables, store their results in bench/stored/ (one JSON per benchmark, committed) and regenerate
docs/benchmarks.md from the stored results alone (``--report-only``: only that)."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from datetime import UTC, datetime

from bench import machine, procs, profiled, report
from bench.results import Result
from bench.suite import BENCHMARKS, PROFILE_PASS


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "names",
        nargs="*",
        metavar="b1|b2|b3|b4|b6|b7|b8|b9|b10|b11",
        help="benchmarks to run (default: all)",
    )
    p.add_argument(
        "--n",
        type=int,
        action="append",
        help="size: B1 schedules (repeatable), B2 registered schedules, B3 tasks, B4 configs, "
        "B6 schedules and configs (repeatable), B8 executions stored (repeatable), "
        "B9 registered schedules (repeatable), B10 schedules (repeatable), B11 schedules "
        "(repeatable; default 1,000,000)",
    )
    p.add_argument("--changes", type=int, help="B2: number of changes (default 200)")
    p.add_argument(
        "--duration",
        type=float,
        help="B4: seconds per endpoint (default 15); B7: seconds per attack (default 10); "
        "B8: seconds per size and way (default 10)",
    )
    p.add_argument(
        "--load",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="B4: load generator (default auto: wrk when installed, else the Python one)",
    )
    p.add_argument(
        "--fires",
        type=int,
        help="B1: fires per schedule in the window (default 6); B11 (default 3)",
    )
    p.add_argument(
        "--interval",
        type=int,
        help="B1: schedule interval in seconds (default 10); B11 (default 60)",
    )
    p.add_argument(
        "--refresh", type=int, help="B2: stock --update-interval (default: the stock default, 60)"
    )
    p.add_argument(
        "--workers",
        type=int,
        action="append",
        help="B3: worker process counts (repeatable; default 1 then 2)",
    )
    p.add_argument("--no-stock", action="store_true", help="skip the stock taskiq baselines")
    p.add_argument(
        "--no-peers",
        action="store_true",
        help="B1: skip the peers (Celery beat + RedBeat, APScheduler 4); --no-stock skips them too",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="after the measured runs, a short profiled pass of each benchmark (py-spy on "
        "its processes; figures discarded, flame graphs and top functions to the page)",
    )
    p.add_argument(
        "--profile-only",
        action="store_true",
        help="only the profiled passes: their profiles join the results the page holds",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite docs/benchmarks.md from the results in bench/stored/",
    )
    p.add_argument(
        "--no-report",
        action="store_true",
        help="print only: store no result, leave bench/stored/ and docs/benchmarks.md alone",
    )
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    return args


async def run_one(name: str, args: argparse.Namespace, command: str) -> Result:
    benchmark = BENCHMARKS[name]
    result = Result(name, benchmark.TITLE, command, description=benchmark.DESCRIPTION.strip())
    result.load_at_start = machine.load()
    result.machine = machine.describe()
    result.commit = result.machine["versions"]["taskplane (git)"]
    await BENCHMARKS[name].run(result, args)
    result.load_at_end = machine.load()
    result.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    return result


def profile_passes(names: list[str], args: argparse.Namespace, done: list[Result]) -> bool:
    """Each benchmark's profiled pass, after all the measured runs (so no measured figure
    shares the cores with py-spy); its profiles join that benchmark's result, from this run
    or the page. False if a pass failed."""
    stored = report.stored()
    ok = True
    for name in names:
        target = next((r for r in done if r.name == name), None) or stored.get(name)
        if target is None:
            print(f"\n--- {name}: no measured result to attach a profile to; pass skipped")
            continue
        pass_args, flags = profiled.arguments(args, PROFILE_PASS.get(name, {}))
        command = profiled.command(name, flags)
        print(f"\n>>> profiled pass: {command}   (load {machine.load()})", flush=True)
        try:
            with profiled.profiling() as raw:
                taken = asyncio.run(run_one(name, pass_args, command))
        except Exception as exc:
            ok = False
            print(f"!!! profiled pass of {name} failed: {exc!r}", flush=True)
            continue
        if args.no_report:
            found = profiled.collect(name, command, raw, procs.LOG_DIR / "svg", None)
        else:
            found = profiled.collect(name, command, raw, profiled.SVG_DIR, report.DOC.parent)
        for prof in found:
            prof.taken_at, prof.commit = taken.started_at, taken.commit
            print(f"  {prof.process}: {prof.samples:,} samples -> {prof.svg}", flush=True)
        target.profiles = found
        if target not in done:
            done.append(target)
    return ok


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.report_only:
        print(f"wrote {report.write([])}")
        return 0
    names = args.names or list(BENCHMARKS)
    failed = False
    done: list[Result] = []
    for name in [] if args.profile_only else names:
        own = [a for a in argv if a not in BENCHMARKS or a == name]
        if name not in own:
            own = [name, *own]
        own = [a for a in own if a != "--profile"]
        command = "python -m bench " + " ".join(shlex.quote(a) for a in own)
        print(f"\n>>> {command}   (load {machine.load()})", flush=True)
        try:
            result = asyncio.run(run_one(name, args, command))
        except Exception as exc:  # a failed benchmark is reported, the others still run
            failed = True
            print(f"!!! {name} failed: {exc!r}", flush=True)
            import traceback

            traceback.print_exc()
            continue
        print(result.text(), flush=True)
        done.append(result)
    if args.profile or args.profile_only:
        failed = not profile_passes(names, args, done) or failed
    if not args.no_report and done:
        path = report.write(done)
        print(f"\nwrote {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
