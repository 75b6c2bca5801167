"""``metrics.observe_many``: one update per bucket hit, the same samples as one ``observe``
per value (every bucket, the sum and the count)."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from taskplane import metrics


def _samples(histogram: Histogram) -> dict[tuple[str, str], float]:
    [family] = histogram.collect()
    return {
        (s.name, s.labels.get("le", "")): s.value
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_observe_many_counts_as_one_observe_per_value() -> None:
    one_by_one = Histogram("one", "x", buckets=metrics.LAG_BUCKETS, registry=CollectorRegistry())
    at_once = Histogram("one", "x", buckets=metrics.LAG_BUCKETS, registry=CollectorRegistry())
    # on a bound (a bucket holds its bound), between bounds, past the last, and zero
    values = [0.0, 0.005, 0.0051, 0.01, 0.3, 0.5, 1.0, 59.9, 60.0, 61.0, 1e6, 0.02, 0.02]
    for value in values:
        one_by_one.observe(value)
    metrics.observe_many(at_once, values)
    metrics.observe_many(at_once, [])
    assert _samples(at_once) == _samples(one_by_one)
    assert _samples(at_once)[("one_count", "")] == len(values)
    assert _samples(at_once)[("one_bucket", "0.005")] == 2
    assert _samples(at_once)[("one_bucket", "+Inf")] == len(values)


def test_scheduled_fires_sent_counts_them_and_their_lags() -> None:
    registry = REGISTRY.get_sample_value
    before = registry("taskplane_fires_sent_total", {"trigger": "scheduled"}) or 0.0
    lag_count = _samples(metrics.DISPATCH_LAG)[("taskplane_dispatch_lag_seconds_count", "")]
    metrics.scheduled_fires_sent([0.01, 0.2])
    metrics.scheduled_fires_sent([])
    assert registry("taskplane_fires_sent_total", {"trigger": "scheduled"}) == before + 2
    after = _samples(metrics.DISPATCH_LAG)[("taskplane_dispatch_lag_seconds_count", "")]
    assert after == lag_count + 2
