"""The profiled pass's pure parts: reading py-spy's collapsed stacks, the flame graph drawn
from them, the pass's options, and the page's Profiles section."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.results import Profile, Result

from bench import flamegraph, profile, profiled, report

RAW = """\
<module> (bench/x.py:3);run (bench/x.py:10);work (taskplane/w.py:20) 6
<module> (bench/x.py:3);run (bench/x.py:12);work (taskplane/w.py:21) 2
<module> (bench/x.py:3);run (bench/x.py:14);run (bench/x.py:14) 1
<module> (a.py:1);_find_and_load (<frozen importlib._bootstrap>:1) 50
<module> (bench/x.py:3);run (bench/x.py:15);<b>&amp (redis/y.py:1) 1
process 12:"python -m taskplane.cli api";main (taskplane/cli/app.py:9) 4
process 12:"python -m taskplane.cli api" 2
not a stack line
"""


def test_a_profile_names_a_function_once_whatever_line_ran_and_leaves_imports_out() -> None:
    samples = profile.read(RAW)
    assert samples.total == 16  # the 50 import samples are not the measured work
    inclusive = samples.inclusive()
    assert inclusive["work (taskplane/w.py)"] == 8  # two lines of one function
    assert inclusive["run (bench/x.py)"] == 10  # a recursive call counts once per stack
    assert samples.own()["work (taskplane/w.py)"] == 8 and samples.own()["run (bench/x.py)"] == 1
    assert inclusive["<b>&amp (redis/y.py)"] == 1
    assert "<b>&amp (redis/y.py)" not in samples.inclusive(own=True)  # not our code
    assert "main (taskplane/cli/app.py)" not in samples.inclusive(own=True)  # an entry point
    assert not [f for f in samples.own() if f.startswith("process ")]  # py-spy's root only
    first, second, third = profile.top(samples.inclusive(own=True), samples.total, 3)
    assert {first, second} == {" 62.5%  <module> (bench/x.py)", " 62.5%  run (bench/x.py)"}
    assert third == " 50.0%  work (taskplane/w.py)"


def test_the_flame_graph_has_a_box_per_frame_with_its_share_and_escapes_names() -> None:
    svg = flamegraph.render(profile.read(RAW), "b9-api: a <test>")
    assert svg.startswith("<svg ") and svg.rstrip().endswith("</svg>")
    assert "<title>work (taskplane/w.py) (8 samples, 50.00%)</title>" in svg
    assert "<title>all (16 samples, 100.00%)</title>" in svg
    assert "&lt;b&gt;&amp;amp (redis/y.py)" in svg and "a &lt;test&gt;" in svg
    assert "<b>" not in svg


def test_the_pass_takes_the_command_line_options_else_its_shorter_defaults() -> None:
    given = argparse.Namespace(n=[1000], fires=None, no_stock=False, no_report=False, load="auto")
    pass_args, flags = profiled.arguments(given, {"n": [100_000], "fires": 2, "no_stock": True})
    assert (pass_args.n, pass_args.fires, pass_args.no_stock) == ([1000], 2, True)
    assert pass_args.no_report is True and pass_args.load == "auto"  # its figures go nowhere
    assert flags == ["--n", "1000", "--fires", "2", "--no-stock"]
    assert profiled.command("b1", flags) == (
        "BENCH_PROFILE=1 python -m bench b1 --n 1000 --fires 2 --no-stock --no-report"
    )


def test_the_page_links_each_flame_graph_with_its_top_functions(tmp_path: Path) -> None:
    store, doc = tmp_path / "stored", tmp_path / "benchmarks.md"
    b4 = Result("b4", "API latency", "python -m bench b4")
    report.write([b4], store, doc)
    assert "No profile stored yet" in doc.read_text()
    b4.profiles = [
        Profile(
            process="b4-api",
            svg="img/profiles/b4-api.svg",
            samples=1234,
            command="BENCH_PROFILE=1 python -m bench b4 --duration 5 --no-report",
            inclusive=[" 80.0%  run uvicorn.py", " 10.0%  a|b x.py"],
            own=[" 30.0%  execute asyncpg.py"],
            taken_at="2026-12-02T07:28:00+00:00",
            commit="abc1234",
        )
    ]
    report.write([b4], store, doc)
    text = doc.read_text()
    assert "## Profiles" in text and "No profile stored yet" not in text
    assert (
        "Profiled pass: `BENCH_PROFILE=1 python -m bench b4 --duration 5 --no-report`, run at "
        "2026-12-02T07:28:00+00:00, taskplane at abc1234." in text
    )
    assert "**`b4-api`**: 1,234 samples, [flame graph](img/profiles/b4-api.svg)" in text
    assert "| `run uvicorn.py` | 80.0% | `execute asyncpg.py` | 30.0% |" in text
    assert "| `a\\|b x.py` | 10.0% |  |  |" in text
    assert report.stored(store)["b4"].profiles[0].samples == 1234
