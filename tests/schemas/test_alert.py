"""The alert message: faithful to the contract example, round-trips, refuses contradictions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import SCHEMA_VERSION, Alert, AlertSubject, alert_key_for
from tests.schemas.payloads import CONTRACT_ALERT_EXAMPLE


def _compact(pretty: bytes) -> bytes:
    # The contract wraps its example after commas; the wire form has no breaks.
    return b"".join(line.strip() for line in pretty.splitlines())


def _alert(**changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "alert_id": "quota_pace:rep-17:2026-10-01",
        "alert_key": "quota_pace:rep:rep-17",
        "rule": "quota_pace",
        "status": "firing",
        "severity": "critical",
        "subject": AlertSubject(kind="rep", id="rep-17"),
        "rep_id": "rep-17",
        "title": "Rep rep-17 behind quota pace",
        "summary": "Attainment 0.20 at 0.55 of the period.",
        "metrics": {"attainment": 0.2, "elapsed": 0.55, "pace": 0.36, "note": None},
        "started_at": datetime(2026, 11, 2, tzinfo=UTC),
        "emitted_at": datetime(2026, 11, 2, 0, 0, 5, tzinfo=UTC),
        **changes,
    }
    return Alert(**fields)


def test_contract_example_serialises_byte_for_byte() -> None:
    alert = Alert.from_json(CONTRACT_ALERT_EXAMPLE)

    assert alert.to_json_bytes() == _compact(CONTRACT_ALERT_EXAMPLE)


def test_contract_example_fields() -> None:
    alert = Alert.from_json(CONTRACT_ALERT_EXAMPLE.decode())

    assert alert.schema_version == SCHEMA_VERSION == 1
    assert alert.subject == AlertSubject(kind="deal", id="deal-9")
    assert alert.subject.key == "deal:deal-9"
    assert alert.metrics["samples"] == 57 and isinstance(alert.metrics["samples"], int)
    assert alert.metrics["days_in_stage"] == 31.0
    assert alert.resolved_at is None
    assert alert.started_at == datetime(2026, 12, 13, 4, 12, tzinfo=UTC)


def test_round_trip_keeps_every_field() -> None:
    alert = _alert(
        status="resolved",
        resolved_at=datetime(2026, 11, 20, 8, tzinfo=timezone(timedelta(hours=1))),
        team_id="emea",
        manager_id="mgr-3",
        title="Stall résolu — ünïcode ✓",
    )

    raw = alert.to_json_bytes()

    assert Alert.from_json(raw) == alert
    assert b'"resolved_at":"2026-11-20T07:00:00Z"' in raw
    assert "résolu — ünïcode ✓".encode() in raw  # UTF-8, not \u escapes
    assert b": " not in raw and b", " not in raw  # compact


def test_optional_people_default_to_null_on_the_wire() -> None:
    raw = _alert(rep_id=None).to_json_bytes()

    assert b'"rep_id":null,"team_id":null,"manager_id":null' in raw


def test_alert_key_helper_matches_contract_format() -> None:
    assert alert_key_for("deal_stalled", AlertSubject(kind="deal", id="deal-9")) == (
        "deal_stalled:deal:deal-9"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"alert_key": "quota_pace:rep-17"}, "alert_key must be 'quota_pace:rep:rep-17'"),
        ({"status": "resolved"}, "resolved_at must be set exactly when status is 'resolved'"),
        (
            {"resolved_at": datetime(2026, 11, 3, tzinfo=UTC)},
            "resolved_at must be set exactly when status is 'resolved'",
        ),
        ({"started_at": datetime(2026, 11, 2)}, "timestamp needs a UTC offset"),
        ({"emitted_at": "2026-11-02 00:00:05Z"}, "separated by T, not a space"),
        ({"severity": "fatal"}, "Input should be 'info', 'warning' or 'critical'"),
        ({"metrics": {"x": float("nan")}}, "finite number"),
    ],
)
def test_contradictory_alert_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _alert(**changes)


def test_alert_is_frozen() -> None:
    alert = _alert()

    with pytest.raises(ValidationError):
        alert.status = "resolved"  # type: ignore[misc]  # the point of the test
