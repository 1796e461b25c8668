"""The per-source token bucket."""

from __future__ import annotations

from streamer.gateway.ratelimit import TokenBucket


def test_a_burst_then_the_sustained_rate() -> None:
    bucket = TokenBucket(per_second=2.0, burst=3)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take(100.0)
    assert wait == 0.5  # one token comes back every half second
    assert bucket.take(100.5) == 0.0
    assert bucket.take(100.5) > 0


def test_idle_time_refills_up_to_the_burst_only() -> None:
    bucket = TokenBucket(per_second=1.0, burst=2)
    bucket.take(0.0)
    bucket.take(0.0)
    assert [bucket.take(1000.0) for _ in range(3)][:2] == [0.0, 0.0]
    assert bucket.take(1000.0) > 0
