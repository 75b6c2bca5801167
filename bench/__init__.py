"""taskplane's benchmarks (issue 9): B1 scheduler precision and scale, B2 change propagation,
B3 execution throughput with recording, B4 API latency. Each runs side by side with what a user
would pick instead (stock taskiq), prints a table, stores its result in
``bench/stored/<name>.json`` (committed), and the runner regenerates ``docs/benchmarks.md``
from the stored results alone.

    python -m bench                 # all four, full size
    python -m bench b1 --n 1000     # one, at a chosen size
    python -m bench --report-only   # none: only the page, from bench/stored/
"""
