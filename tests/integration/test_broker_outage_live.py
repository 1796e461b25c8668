"""The broker goes away for a minute and comes back (issue 11 item 4).

A broker of the test's own (never the shared one) on a port and data directory of its
own; a worker reading a seeded simulation from it. The first half of the simulated days
is put on the topics and consumed; then a day is put on them and the broker is stopped
(``kafka down``: a clean stop, no purge) while the worker is working on it; 60 s later
it is started again on the same data. The worker must go on by itself, in the same
process: no restart by the test. Then the rest of the stream follows, and:

* every input event was read once by that process: ``salespulse_events_accepted_total``
  per event type equals the events sent of that type (a re-read after the outage would
  count more, a lost one fewer), and the group committed every input to its end;
* the alerts equal replay's of the same file, as sets of (alert_id, status).

The time to recover, from the broker answering again to the worker group having
committed the day it was working on, is printed; so is what /ready and /live said
during the outage. At the end the worker stops cleanly (SIGTERM, status 0).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from streamer.devtools.devkafka import kafka_down, kafka_up
from streamer.kafka_admin import ensure_topics

from . import oracle
from .kafka_faults import own_broker

pytestmark = pytest.mark.kafka

SEED = 11
REPS = 12
EVENTS = 10_000
OUTAGE_SECONDS = 60.0


def status_of(worker, path: str) -> int:
    url = f"http://127.0.0.1:{worker.settings.web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def accepted_per_type(metrics_text: str) -> Counter[str]:
    accepted: Counter[str] = Counter()
    for line in metrics_text.splitlines():
        if line.startswith("salespulse_events_accepted_total{"):
            label, value = line.rsplit(" ", 1)
            accepted[label.split('event_type="', 1)[1].split('"', 1)[0]] += int(float(value))
    return accepted


@pytest.mark.timeout(600)
async def test_broker_stopped_for_a_minute_mid_stream_the_worker_resumes_by_itself(
    make_worker, tmp_path
):
    path = tmp_path / "events.jsonl"
    lines = oracle.simulate_file(path, events=EVENTS, seed=SEED, reps=REPS)
    days = [list(day) for _, day in itertools.groupby(lines, key=lambda e: e.occurred_at[:10])]
    assert len(days) >= 6, len(days)
    sent = Counter(json.loads(line.value)["event_type"] for line in lines)
    with own_broker(tmp_path / "broker") as broker:
        settings = oracle.oracle_settings(tmp_path, kafka_bootstrap=broker.kafka_bootstrap)
        expected = oracle.replay_file(settings, path)
        await ensure_topics(settings)
        worker = make_worker(settings)
        worker.start()
        worker.wait_ready()
        outage_day = len(days) // 2
        await oracle.produce_lines(settings, itertools.chain(*days[:outage_day]))
        await oracle.wait_consumed(settings, [worker])

        # a day on the topics, and the broker gone while the worker works on it
        await oracle.produce_lines(settings, days[outage_day])
        kafka_down(broker)
        down_at = time.monotonic()
        during: Counter[str] = Counter()
        while time.monotonic() - down_at < OUTAGE_SECONDS:
            assert worker.proc is not None and worker.proc.poll() is None, (
                f"the worker exited while the broker was down:\n{worker.tail()}"
            )
            during[f"/ready {status_of(worker, '/ready')}"] += 1
            during[f"/live {status_of(worker, '/live')}"] += 1
            await asyncio.sleep(1.0)
        kafka_up(broker, timeout=120)
        up_at = time.monotonic()
        await oracle.wait_consumed(settings, [worker], timeout=300)
        recovered_in = time.monotonic() - up_at

        await oracle.produce_lines(settings, itertools.chain(*days[outage_day + 1 :]))
        drained = await oracle.wait_drained(settings, [worker], timeout=300)
        accepted = accepted_per_type(worker.metrics())
        written = await oracle.read_written(settings)
        assert worker.starts == 1 and worker.proc.poll() is None, "the same worker process"
        stopped = worker.stop()  # while its broker is there to say goodbye to
        assert stopped == 0, f"exit status {stopped} on SIGTERM:\n{worker.tail()}"

    print(
        f"\n{len(lines):,} events over {len(days)} days; broker down {OUTAGE_SECONDS:.0f}s while "
        f"the worker read day {outage_day + 1} ({len(days[outage_day]):,} events); the worker "
        f"during the outage (polls a second): {dict(sorted(during.items()))}\ntime to recover: "
        f"{recovered_in:.1f}s from the broker answering again to the day committed; at the "
        f"end {drained}\naccepted per type: {dict(sorted(accepted.items()))}"
    )
    assert accepted == sent, "every event read once: " + str(
        {t: (sent[t], accepted[t]) for t in sent.keys() | accepted.keys() if sent[t] != accepted[t]}
    )
    oracle.assert_same_alerts(
        expected,
        written,
        f"{len(lines):,} events, the broker down {OUTAGE_SECONDS:.0f}s mid-stream",
    )
