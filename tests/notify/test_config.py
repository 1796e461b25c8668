"""Notification settings that must agree with the rest of the settings."""

from __future__ import annotations

from streamer.notify.config import EVERY_RULE, DigestSettings
from streamer.settings import RulesSettings


def test_every_rule_is_the_contracts_rules() -> None:
    # notify.config may not import streamer.settings, so it keeps its own list
    assert set(EVERY_RULE) == set(RulesSettings.model_fields)


def test_a_managers_own_inbox_digests_every_rule_but_critical_firings() -> None:
    digest = DigestSettings()
    for rule in RulesSettings.model_fields:
        assert digest.takes(rule, "warning", "firing", to_manager=True)
        assert not digest.takes(rule, "critical", "firing", to_manager=True)
        assert not digest.takes(rule, "warning", "firing", to_manager=False)
