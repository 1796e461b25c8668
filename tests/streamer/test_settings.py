"""A malformed setting stops start-up with a message naming it and what is allowed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streamer.settings import SettingsError, load_settings, load_settings_file, rules_for_team


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
        ({"rocksdb": {"block_cache_mib": 0}}, "rocksdb.block_cache_mib"),
        ({"rocksdb": {"write_buffer_mib": "big"}}, "rocksdb.write_buffer_mib"),
        ({"rep_rules_interval_seconds": 5400}, "rep_rules_interval_seconds"),
        ({"teams": {"emea": {"rules": {"nope": {}}}}}, "teams.emea.rules"),
        ({"currency_rates": {"eur": 1.1}}, "currency_rates"),
        ({"max_event_time_jump_seconds": 0}, "max_event_time_jump_seconds"),
        ({"earliest_event_year": 2030, "latest_event_year": 2029}, "latest_event_year"),
        ({"latest_event_year": 10_000}, "latest_event_year"),
        ({"rules": {"follow_up_gap": {"for_seconds": -1}}}, "rules.follow_up_gap.for_seconds"),
        (
            {"rules": {"quota_pace": {"keep_firing_for_seconds": "a day"}}},
            "rules.quota_pace.keep_firing_for_seconds",
        ),
        ({"rules": {"deal_stalled": {"keep_firing_for_seconds": 60}}}, "rules.deal_stalled"),
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


def test_a_named_settings_file_stands_in_for_salespulse_toml(tmp_path, monkeypatch):
    for name in [k for k in os.environ if k.startswith("SALESPULSE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "salespulse.toml").write_text("[rules.deal_stalled]\nfactor = 4.0\n")
    other = tmp_path / "tuned.toml"
    other.write_text("[rules.follow_up_gap]\nquiet_days = 10\n")
    s = load_settings_file(other)
    assert s.rules.follow_up_gap.quiet_days == 10
    assert s.rules.deal_stalled.factor == 2.0, "salespulse.toml is not read alongside it"
    monkeypatch.setenv("SALESPULSE_RULES__FOLLOW_UP_GAP__QUIET_DAYS", "12")
    assert load_settings_file(other).rules.follow_up_gap.quiet_days == 12, "env still wins"


def test_a_named_settings_file_that_is_missing_or_bad_names_itself(tmp_path):
    with pytest.raises(SettingsError, match="no such configuration file"):
        load_settings_file(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('[rules.pipeline_load]\nmax_open = "many"\n')
    with pytest.raises(SettingsError, match="setting rules.pipeline_load.max_open"):
        load_settings_file(bad)
    bad.write_text("[rules.pipeline_load\n")
    with pytest.raises(SettingsError, match="bad.toml"):
        load_settings_file(bad)


def test_for_and_keep_firing_for_are_set_per_rule_and_per_team():
    s = load_settings(
        rules={"activity_barometer": {"for_seconds": 3600}},
        teams={"emea": {"rules": {"activity_barometer": {"keep_firing_for_seconds": 7200}}}},
    )
    emea, apac = rules_for_team(s, "emea"), rules_for_team(s, "apac")
    assert (
        emea.activity_barometer.for_seconds,
        emea.activity_barometer.keep_firing_for_seconds,
    ) == (
        3600,
        7200,
    )
    assert (
        apac.activity_barometer.keep_firing_for_seconds
        == s.rules.activity_barometer.keep_firing_for_seconds
    )
    with pytest.raises(SettingsError, match="setting teams.emea.rules"):
        load_settings(teams={"emea": {"rules": {"quota_pace": {"for_seconds": -5}}}})
