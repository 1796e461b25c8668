"""The README's demo shows deal_stalled alerts on its own, through the real Kafka."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from .kafka_helpers import BOOTSTRAP

pytestmark = pytest.mark.kafka


def test_demo_prints_a_stalled_deal_alert_within_two_minutes(kafka_broker, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESPULSE_")}
    env.update(SALESPULSE_KAFKA_BOOTSTRAP=BOOTSTRAP, SALESPULSE_DATA_DIR=str(tmp_path))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "demo", "--exit-after", "1", "--timeout", "120"],
        env=env,
        capture_output=True,
        text=True,
        timeout=200,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    first = done.stdout.split("\n\n")[0]
    assert first.startswith("FIRING") and "deal_stalled" in first, done.stdout[:2000]
    assert "stalled in" in first and "threshold_days=" in first
    assert "demo: stopped" in done.stderr
    print(f"first deal_stalled alert printed; demo ran {elapsed:.1f}s in all")
