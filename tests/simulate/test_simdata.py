"""The calibration constants still follow from the dataset they were derived from."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.devtools.simdata import (
    CALIBRATION,
    ROSTER,
    derive_calibration,
    derive_roster,
    main,
    quantile_mean,
    quantile_sample,
)


def test_constants_match_the_dataset(data_dir: Path) -> None:
    assert derive_calibration(data_dir) == CALIBRATION


def test_roster_is_sales_teams_csv(data_dir: Path) -> None:
    assert derive_roster(data_dir) == ROSTER
    assert len(ROSTER) == 35
    assert {r.office for r in ROSTER} == {"Central", "East", "West"}
    assert len({r.manager for r in ROSTER}) == 6


def test_headline_figures_are_plausible() -> None:
    assert 0.6 < CALIBRATION.win_rate < 0.66  # 4,238 won of 6,711 closed
    assert CALIBRATION.won_days[0] >= 1 and CALIBRATION.won_days[-1] <= 140
    assert 40 < CALIBRATION.won_days_mean < 70
    assert abs(sum(p.share for p in CALIBRATION.products) - 1) < 0.01
    assert 0.9 < quantile_mean(CALIBRATION.price_ratio) < 1.1


def test_quantile_sample_interpolates_between_the_quantiles() -> None:
    q = (0.0, 10.0, 30.0)
    assert quantile_sample(q, 0.0) == 0.0
    assert quantile_sample(q, 0.25) == 5.0
    assert quantile_sample(q, 0.75) == 20.0
    assert quantile_sample(q, 1.0) == 30.0
    assert quantile_mean(q) == pytest.approx(12.5)


def test_main_prints_the_derived_figures(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(data_dir)]) == 0
    assert f"win_rate = {CALIBRATION.win_rate!r}" in capsys.readouterr().out
    assert main([]) == 2
