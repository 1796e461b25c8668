"""A malformed setting stops start-up with a message naming it and what is allowed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streamer.settings import SettingsError, load_settings, rules_for_team


def test_defaults_are_the_contracts():
    s = load_settings()
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert (s.rules.deal_stalled.factor, s.rules.deal_stalled.min_samples) == (2.0, 5)
    assert s.rules.low_contact_rate.min_rate == 0.032
    assert s.rules.quota_pace.warning_ratio == 0.8


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"rules": {"deal_stalled": {"factor": 0.5}}}, "rules.deal_stalled.factor"),
        ({"web_port": 70000}, "web_port"),
        ({"rep_rules_interval_seconds": 5400}, "rep_rules_interval_seconds"),
        ({"teams": {"emea": {"rules": {"nope": {}}}}}, "teams.emea.rules"),
        ({"currency_rates": {"eur": 1.1}}, "currency_rates"),
    ],
)
def test_bad_values_name_the_setting(overrides, named):
    with pytest.raises(SettingsError) as error:
        load_settings(**overrides)
    assert f"setting {named}" in str(error.value)


def test_team_overrides_apply_to_that_team_only():
    s = load_settings(teams={"emea": {"rules": {"low_contact_rate": {"min_rate": 0.05}}}})
    assert rules_for_team(s, "emea").low_contact_rate.min_rate == 0.05
    assert rules_for_team(s, "apac").low_contact_rate.min_rate == 0.032


def test_worker_refuses_to_start_on_a_bad_environment_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESPULSE_")}
    env["SALESPULSE_RULES__LOW_CONTACT_RATE__MIN_RATE"] = "lots"
    done = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "worker"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "rules.low_contact_rate.min_rate" in done.stderr
    assert "SALESPULSE_RULES__LOW_CONTACT_RATE__MIN_RATE" in done.stderr


def test_settings_file_is_read_and_checked(tmp_path):
    config = tmp_path / "salespulse.toml"
    config.write_text('[rules.pipeline_load]\nmax_open = "many"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESPULSE_")}
    env["SALESPULSE_CONFIG"] = str(config)
    done = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "worker"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "rules.pipeline_load.max_open" in done.stderr
