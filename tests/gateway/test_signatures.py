"""Signature checks, against signatures made by the documented algorithms."""

from __future__ import annotations

import base64

from streamer.gateway.signatures import basic_auth_valid, hubspot_v3_valid, slack_valid

from .payloads import basic, hs_body, hs_notification, hs_sign, slack_sign

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = "https://salespulse.example.com/hubspot"
NOW = 1_795_000_000.0


def _hs(body: bytes, ts_ms: int, uri: str = URI) -> dict[str, str]:
    return hs_sign(SECRET, "POST", uri, body, ts_ms)


def test_hubspot_v3_accepts_a_documented_signature() -> None:
    body = hs_body(hs_notification("deal.creation", 123, 1_795_000_000_000))
    h = _hs(body, int(NOW * 1000))
    assert hubspot_v3_valid(
        SECRET,
        "POST",
        URI,
        body,
        h["X-HubSpot-Request-Timestamp"],
        h["X-HubSpot-Signature-v3"],
        NOW,
    )


def test_hubspot_v3_refuses_a_changed_body_uri_method_secret_or_timestamp() -> None:
    body = hs_body(hs_notification("deal.creation", 123, 1_795_000_000_000))
    ts = int(NOW * 1000)
    h = _hs(body, ts)
    sig = h["X-HubSpot-Signature-v3"]
    assert not hubspot_v3_valid(SECRET, "POST", URI, body + b" ", str(ts), sig, NOW)
    assert not hubspot_v3_valid(SECRET, "POST", URI + "x", body, str(ts), sig, NOW)
    assert not hubspot_v3_valid(SECRET, "PUT", URI, body, str(ts), sig, NOW)
    assert not hubspot_v3_valid("other", "POST", URI, body, str(ts), sig, NOW)
    assert not hubspot_v3_valid(SECRET, "POST", URI, body, str(ts + 1), sig, NOW)
    assert not hubspot_v3_valid(SECRET, "POST", URI, body, None, sig, NOW)
    assert not hubspot_v3_valid(SECRET, "POST", URI, body, str(ts), None, NOW)
    assert not hubspot_v3_valid(SECRET, "POST", URI, body, "soon", sig, NOW)


def test_hubspot_v3_refuses_timestamps_older_than_five_minutes() -> None:
    body = b"[]"
    old = int((NOW - 301) * 1000)
    h = _hs(body, old)
    assert not hubspot_v3_valid(
        SECRET, "POST", URI, body, str(old), h["X-HubSpot-Signature-v3"], NOW
    )
    recent = int((NOW - 299) * 1000)
    h = _hs(body, recent)
    assert hubspot_v3_valid(
        SECRET, "POST", URI, body, str(recent), h["X-HubSpot-Signature-v3"], NOW
    )


def test_hubspot_v3_decodes_the_characters_hubspot_decodes_in_the_uri() -> None:
    body = b"[]"
    ts = int(NOW * 1000)
    # HubSpot signs the URI with %3A and friends decoded
    h = _hs(body, ts, "https://salespulse.example.com/hubspot?portal=a:b")
    assert hubspot_v3_valid(
        SECRET,
        "POST",
        "https://salespulse.example.com/hubspot?portal=a%3Ab",
        body,
        str(ts),
        h["X-HubSpot-Signature-v3"],
        NOW,
    )


def test_slack_signature_and_its_five_minute_window() -> None:
    body = b"payload=%7B%7D"
    h = slack_sign("8f742231b10e8888abcd99yyyzzz85a5", int(NOW), body)
    args = (h["X-Slack-Request-Timestamp"], h["X-Slack-Signature"])
    assert slack_valid("8f742231b10e8888abcd99yyyzzz85a5", body, *args, NOW)
    assert not slack_valid("8f742231b10e8888abcd99yyyzzz85a5", body + b"x", *args, NOW)
    assert not slack_valid("other", body, *args, NOW)
    assert not slack_valid("8f742231b10e8888abcd99yyyzzz85a5", body, *args, NOW + 301)
    assert not slack_valid("8f742231b10e8888abcd99yyyzzz85a5", body, None, args[1], NOW)
    assert not slack_valid("8f742231b10e8888abcd99yyyzzz85a5", body, args[0], "v0=" + "0" * 64, NOW)


def test_slack_documented_example_signature() -> None:
    # Slack's request-verification guide walks through this request
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    ts = "1531420618"
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert slack_valid(secret, body, ts, expected, float(ts))


def test_basic_auth() -> None:
    header = basic("pipedrive", "s3cret")["Authorization"]
    assert basic_auth_valid(header, "pipedrive", "s3cret")
    assert not basic_auth_valid(header, "pipedrive", "other")
    assert not basic_auth_valid(header, "someone", "s3cret")
    assert not basic_auth_valid(None, "pipedrive", "s3cret")
    assert not basic_auth_valid("Bearer abc", "pipedrive", "s3cret")
    assert not basic_auth_valid("Basic !!!", "pipedrive", "s3cret")
    no_colon = "Basic " + base64.b64encode(b"pipedrives3cret").decode()
    assert not basic_auth_valid(no_colon, "pipedrive", "s3cret")
