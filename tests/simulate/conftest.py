"""Shared fixtures of the simulator tests: one default run, generated once."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.devtools.simulate import SimConfig, SimEvent, generate

DATA_DIR = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "crm-sales-opportunities"
)


@pytest.fixture(scope="session")
def default_events() -> list[SimEvent]:
    """The default config's events (12 reps, 90 days): about 45,000."""
    return list(generate(SimConfig()))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The CRM sample dataset, next to the repository; skips when it is not there."""
    if not (DATA_DIR / "sales_pipeline.csv").is_file():
        pytest.skip(f"CRM sample dataset not found at {DATA_DIR.resolve()}")
    return DATA_DIR
