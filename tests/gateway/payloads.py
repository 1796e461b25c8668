"""Vendor payloads built from the field lists the vendors document, and their signatures.

No vendor code: HubSpot's webhook notification fields (eventId, subscriptionId,
portalId, appId, occurredAt, subscriptionType, attemptNumber, objectId,
changeSource, propertyName, propertyValue; objectTypeId for object.*),
Pipedrive's webhooks v2 body (meta, data, previous), Salesforce's change event
(ChangeEventHeader and the record's fields), Slack's block_actions payload and
slash command fields.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

PORTAL = 62515
APP = 54321
T_MS = 1_795_000_000_000  # 2026-11-18T... in ms, a fixed CRM time


def hs_notification(
    subscription: str,
    object_id: int,
    at_ms: int,
    prop: str | None = None,
    value: Any = None,
    event_id: int = 1,
    object_type: str | None = None,
    attempt: int = 0,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "eventId": event_id,
        "subscriptionId": 12345,
        "portalId": PORTAL,
        "appId": APP,
        "occurredAt": at_ms,
        "subscriptionType": subscription,
        "attemptNumber": attempt,
        "objectId": object_id,
        "changeSource": "CRM_UI",
    }
    if object_type is not None:
        item["objectTypeId"] = object_type
    if prop is not None:
        item["propertyName"] = prop
        item["propertyValue"] = value
        item["changeFlag"] = "UPDATED"
    else:
        item["changeFlag"] = "NEW" if subscription.endswith("creation") else "DELETED"
    return item


def hs_body(*items: dict[str, Any]) -> bytes:
    return json.dumps(list(items)).encode()


def hs_sign(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> dict[str, str]:
    """HubSpot's v3 headers: base64 HMAC-SHA256 of method + URI + body + timestamp."""
    message = method.encode() + uri.encode() + body + str(timestamp_ms).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature.decode(),
        "X-HubSpot-Request-Timestamp": str(timestamp_ms),
        "X-HubSpot-Signature-Version": "v3",
    }


def pd_deal(
    action: str,
    deal_id: int,
    timestamp: str,
    data: dict[str, Any] | None,
    previous: dict[str, Any] | None = None,
    entity: str = "deal",
) -> bytes:
    body = {
        "meta": {
            "action": action,
            "entity": entity,
            "version": "2.0",
            "company_id": 12882925,
            "user_id": 18487521,
            "id": "c5a9e2b4-7b9f-4c52-a6c6-2c0f9a1e0b7e",
            "entity_id": str(deal_id),
            "webhook_id": "99",
            "webhook_owner_id": "18487521",
            "permitted_user_ids": [18487521],
            "attempt": 1,
            "host": "company.pipedrive.com",
            "timestamp": timestamp,
            "change_source": "app",
            "correlation_id": "2f1e0b7e-1d2c-4b5a-9c8d-7e6f5a4b3c2d",
            "type": "general",
            "is_bulk_edit": False,
        },
        "data": data,
        "previous": previous,
    }
    return json.dumps(body).encode()


def pd_deal_data(deal_id: int, **overrides: Any) -> dict[str, Any]:
    data = {
        "id": deal_id,
        "title": "Platform annual",
        "value": 12000,
        "currency": "EUR",
        "status": "open",
        "stage_id": 1,
        "pipeline_id": 1,
        "owner_id": 18487521,
        "person_id": 3,
        "org_id": 2,
        "add_time": "2026-11-18T09:00:00Z",
        "update_time": "2026-11-18T09:00:00Z",
        "expected_close_date": "2026-12-31",
        "lost_reason": None,
        "probability": None,
        "visible_to": 3,
    }
    data.update(overrides)
    return data


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def sf_event(
    entity: str,
    change_type: str,
    record_ids: list[str],
    commit_ms: int,
    changed: list[str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    header = {
        "entityName": entity,
        "recordIds": record_ids,
        "changeType": change_type,
        "changeOrigin": "com/salesforce/api/soap/58.0;client=SfdcInternalAPI/",
        "transactionKey": "0002343d-9d90-e395-ed20-cf416ba652ad",
        "sequenceNumber": 1,
        "commitTimestamp": commit_ms,
        "commitNumber": 10585193272713,
        "commitUser": "005RM000001vI54YAE",
        "changedFields": changed or [],
        "nulledFields": [],
        "diffFields": [],
    }
    return {"ChangeEventHeader": header, **fields}


def slack_sign(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest(),
    }


def slack_press(
    alert_key: str,
    action_id: str,
    response_url: str,
    user: str = "U0123ABCD",
    channel: str = "C0ALERTS",
    team: str = "T0TEAM",
    message: dict[str, Any] | None = None,
) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "dana", "name": "dana", "team_id": team},
        "api_app_id": "A0APP",
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1795000000.000100",
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": "1234.5678.abcdef",
        "team": {"id": team, "domain": "acme"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "sales-alerts"},
        "message": message
        or {"type": "message", "ts": "1795000000.000100", "text": "Stalled", "blocks": []},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "salespulse_actions",
                "text": {"type": "plain_text", "text": "Acknowledge", "emoji": True},
                "value": alert_key,
                "type": "button",
                "action_ts": "1795000001.000200",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def slack_slash(
    text: str,
    response_url: str,
    user: str = "U0123ABCD",
    channel: str = "C0ALERTS",
    team: str = "T0TEAM",
    command: str = "/salespulse",
) -> bytes:
    return urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": team,
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "sales-alerts",
            "user_id": user,
            "user_name": "dana",
            "command": command,
            "text": text,
            "api_app_id": "A0APP",
            "response_url": response_url,
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    ).encode()
