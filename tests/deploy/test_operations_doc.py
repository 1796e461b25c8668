"""docs/operations.md: its generated configuration reference matches the settings model."""

from __future__ import annotations

from streamer.settings import Settings

from .promql import REPO, load_module

DOCS = REPO / "docs"


def test_configuration_reference_is_current() -> None:
    generator = load_module(DOCS / "config_reference.py", "salespulse_config_reference")
    text = (DOCS / "operations.md").read_text()
    assert generator.updated(text) == text, (
        "docs/operations.md is stale: run .venv/bin/python docs/config_reference.py"
    )


def test_reference_names_every_setting() -> None:
    generator = load_module(DOCS / "config_reference.py", "salespulse_config_reference_2")
    section = generator.render_reference()
    for name in Settings.model_fields:
        assert f"`SALESPULSE_{name.upper()}" in section, name
    assert "`SALESPULSE_KAFKA__SASL_PASSWORD`" in section
    assert "`SALESPULSE_RULES__DEAL_STALLED__FACTOR`" in section


def test_every_topic_setting_is_documented() -> None:
    text = (DOCS / "operations.md").read_text()
    for name in Settings().topics.model_dump().values():
        assert f"`{name}`" in text, name
