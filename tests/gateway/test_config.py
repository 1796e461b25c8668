"""The gateway's settings: safe defaults, secrets hidden, malformed values named."""

from __future__ import annotations

import pytest

from streamer.settings import SettingsError, load_settings


def test_every_route_is_off_until_its_secret_is_set() -> None:
    gateway = load_settings().gateway
    assert gateway.hubspot.client_secret is None
    assert gateway.pipedrive.password is None
    assert gateway.slack.signing_secret is None
    assert gateway.salesforce.topic is None
    assert gateway.host == "127.0.0.1"


def test_blank_secrets_keep_their_route_off() -> None:
    gateway = load_settings(
        gateway={"hubspot": {"client_secret": "  "}, "slack": {"signing_secret": ""}}
    ).gateway
    assert gateway.hubspot.client_secret is None and gateway.slack.signing_secret is None


def test_secrets_are_never_printed() -> None:
    settings = load_settings(gateway={"hubspot": {"client_secret": "hs-very-secret"}})
    assert "hs-very-secret" not in repr(settings) + str(settings.model_dump())


def test_a_partial_mapping_keeps_the_vendor_defaults() -> None:
    gateway = load_settings(
        gateway={"hubspot": {"mapping": {"stages": {"s1": {"stage": "proposal"}}}}}
    ).gateway
    assert gateway.hubspot.mapping.id_prefix == "hs-"
    assert gateway.hubspot.mapping.activities["calls"].channel == "call"


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"port": 0}, "gateway.port"),
        ({"max_body_bytes": 10}, "gateway.max_body_bytes"),
        ({"public_url": "salespulse.example.com"}, "gateway.public_url"),
        ({"pipedrive": {"username": "only-a-name"}}, "gateway.pipedrive"),
        ({"hubspot": {"mapping": {"rep_id_template": "{name}"}}}, "rep_id_template"),
        ({"hubspot": {"mapping": {"stages": {"x": {"stage": "p", "closed": "maybe"}}}}}, "closed"),
        ({"salesforce": {"mapping": {"activities": {"Call": {"channel": "fax"}}}}}, "channel"),
    ],
)
def test_a_malformed_setting_stops_start_up_naming_it(values: dict, named: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(gateway=values)
    assert named in str(error.value) and "SALESPULSE_GATEWAY" in str(error.value)
