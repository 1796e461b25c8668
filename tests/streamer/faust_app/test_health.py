"""The progress watch behind /ready, /live and the exit of a stuck worker."""

from __future__ import annotations

import pytest

from streamer.faust_app.health import ProgressWatch, recovered_to
from streamer.settings import HealthSettings, SettingsError, load_settings

LIMITS = HealthSettings(stall_seconds=10, stuck_seconds=30, exit_after_seconds=60)


def test_an_idle_worker_stays_healthy_however_long_it_idles():
    watch = ProgressWatch(LIMITS, now=0.0)
    health = watch.judge(10_000.0, (5,), None, None)
    assert (health.progressing, health.live, health.exit) == (True, True, False)
    assert health.waiting_seconds == 0


def test_work_without_progress_makes_it_unready_then_not_live_then_exit():
    watch = ProgressWatch(LIMITS, now=0.0)
    watch.judge(0.0, (5,), None, None)
    verdicts = [
        (t, watch.judge(t, (5,), "12 messages behind the high watermarks", None))
        for t in (1.0, 9.0, 11.0, 29.0, 31.0, 59.0, 61.0)
    ]
    seen = [(t, h.progressing, h.live, h.exit) for t, h in verdicts]
    assert seen == [
        (1.0, True, True, False),
        (9.0, True, True, False),
        (11.0, False, True, False),
        (29.0, False, True, False),
        (31.0, False, False, False),
        (59.0, False, False, False),
        (61.0, False, False, True),
    ]
    assert "12 messages behind" in (verdicts[2][1].reason or "")


def test_progress_with_work_resets_the_clock():
    watch = ProgressWatch(LIMITS, now=0.0)
    for t in range(0, 100, 5):  # a record read every 5 s: slow, but moving
        health = watch.judge(float(t), (t,), "lag", None)
        assert health.progressing and health.live, t


def test_a_delivery_that_never_completes_counts_however_busy_the_rest_looks():
    watch = ProgressWatch(LIMITS, now=0.0)
    watch.delivery_started(0.0)
    # the position moves (the web server, ticks) but the effects are not acknowledged
    health = watch.judge(31.0, (31,), None, None)
    assert health.delivery_wait_seconds == 31.0
    assert (health.progressing, health.live, health.exit) == (False, False, False)
    assert "unacknowledged" in (health.reason or "")
    assert watch.judge(61.0, (61,), None, None).exit


def test_a_partition_that_reads_nothing_stalls_however_busy_the_others_are():
    watch = ProgressWatch(LIMITS, now=0.0)
    verdicts = []
    for t in range(0, 62):
        # the internal partition and the ticks move every second; input partition 1
        # has 6,147 messages waiting and its next offset never moves
        behind = {"crm.activities:1": (0, 6147), "deal-events:1": (t, 3)}
        verdicts.append(watch.judge(float(t), (t,), "lag", None, behind))
    assert [t for t, h in enumerate(verdicts) if not h.progressing][0] == 10
    assert not verdicts[31].live and verdicts[61].exit
    assert verdicts[11].reason == (
        "partition crm.activities:1 has 6147 messages waiting and read none for 11s"
    )


def test_a_partition_read_slowly_or_caught_up_is_no_stall():
    watch = ProgressWatch(LIMITS, now=0.0)
    for t in range(0, 100):
        slow = {"crm.deals:0": (t // 5, 900)}  # one record every 5 s: moving
        assert watch.judge(float(t), (t,), "lag", None, slow).progressing, t
    for t in range(100, 200):  # caught up, then waiting again from t=150: a fresh clock
        waiting = {"crm.deals:0": (20, 900)} if t >= 150 else {}
        health = watch.judge(float(t), (t,), "lag", None, waiting)
        assert health.progressing == (t < 160), t


def test_an_acknowledged_delivery_is_progress():
    watch = ProgressWatch(LIMITS, now=0.0)
    token = watch.delivery_started(0.0)
    watch.delivery_finished(token, 8.0)
    health = watch.judge(15.0, (0,), "lag", None)  # 7 s since the acknowledgement
    assert health.progressing and health.delivery_wait_seconds == 0


def test_a_failed_producer_is_not_live_and_exits_at_once():
    watch = ProgressWatch(LIMITS, now=0.0)
    health = watch.judge(0.5, (0,), None, "producer failed: KafkaError()")
    assert (health.progressing, health.live, health.exit) == (False, False, True)
    assert health.reason == "producer failed: KafkaError()"


def test_exit_after_zero_leaves_it_to_the_liveness_probe():
    watch = ProgressWatch(
        HealthSettings(stall_seconds=10, stuck_seconds=30, exit_after_seconds=0), now=0.0
    )
    watch.judge(0.0, (0,), "lag", None)
    health = watch.judge(10_000.0, (0,), "lag", None)
    assert not health.live and not health.exit


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"stall_seconds": 60, "stuck_seconds": 30}, "stuck_seconds (30.0) must not be below"),
        ({"stuck_seconds": 300, "exit_after_seconds": 100}, "exit_after_seconds (100.0)"),
        ({"stall_seconds": 0}, "health.stall_seconds"),
    ],
)
def test_limits_out_of_order_stop_start_up_naming_the_setting(values, named):
    with pytest.raises(SettingsError, match="health") as error:
        load_settings(health=values)
    assert named in str(error.value)


def test_recovery_offsets_faust_keeps_none_for_count_as_nothing():
    """Contract with the pinned Faust: its recovery keeps None as the offset of a changelog
    partition with nothing persisted (Recovery._add), so summing its offsets as numbers
    crashed the worker's health check during a rebalance (TypeError, seen in the
    two-worker catch-up test)."""
    import faust
    from faust.types import TP

    app = faust.App("t-health-contract", broker="kafka://127.0.0.1:1", store="memory://")
    table = app.Table("x", partitions=2, default=None)
    recovery = app.tables.recovery
    name = table.changelog_topic.get_topic_name()
    recovery.add_active(table, TP(name, 0))
    recovery.add_standby(table, TP(name, 1))
    assert list(recovery.active_offsets.values()) == [None]
    assert recovered_to(recovery.active_offsets, recovery.standby_offsets) == 0
    recovery.active_offsets[TP(name, 0)] = 41
    assert recovered_to(recovery.active_offsets, recovery.standby_offsets) == 41
