"""The gateway over real HTTP against the real local Kafka: signed vendor requests become
contract events; repeats are duplicates; refusals produce nothing; Slack buttons and the
slash command publish alert commands and update the message."""

from __future__ import annotations

import json
import time

import pytest

from streamer.kafka_admin import ensure_topics
from tests.integration.kafka_helpers import Collector, free_port, produce

from .live import (
    HUBSPOT_SECRET,
    PIPEDRIVE_PASSWORD,
    PIPEDRIVE_USER,
    SLACK_SECRET,
    SlackStandIn,
    gateway_settings,
    get,
    post,
    running,
    url,
)
from .payloads import (
    T_MS,
    basic,
    hs_body,
    hs_notification,
    hs_sign,
    pd_deal,
    pd_deal_data,
    sf_event,
    slack_press,
    slack_sign,
    slack_slash,
)

pytestmark = pytest.mark.kafka

DAY = 86_400_000


def creation(deal: int, at: int = T_MS) -> bytes:
    return hs_body(
        hs_notification("deal.creation", deal, at, event_id=1),
        hs_notification("deal.propertyChange", deal, at, "dealstage", "appointmentscheduled", 2),
        hs_notification("deal.propertyChange", deal, at, "hubspot_owner_id", "910", 3),
        hs_notification("deal.propertyChange", deal, at, "amount", "12000", 4),
    )


def hs_headers(settings, body: bytes, now_ms: int | None = None) -> dict[str, str]:
    ts = now_ms if now_ms is not None else int(time.time() * 1000)
    return hs_sign(HUBSPOT_SECRET, "POST", url(settings, "/hubspot"), body, ts)


def ids(records) -> list[str]:
    return [json.loads(r.value)["event_id"] for r in records]


async def test_hubspot_deal_webhooks_become_deal_events_and_repeats_are_duplicates(
    kafka_broker, tmp_path
) -> None:
    settings = gateway_settings(tmp_path)
    async with running(settings), Collector(settings, settings.topics.deals) as deals:
        body = creation(123)
        status, answer, _ = await post(settings, "/hubspot", body, hs_headers(settings, body))
        assert status == 200, answer
        move = hs_body(
            hs_notification(
                "deal.propertyChange", 123, T_MS + DAY, "dealstage", "presentationscheduled", 9
            )
        )
        status, _, _ = await post(settings, "/hubspot", move, hs_headers(settings, move))
        assert status == 200
        # HubSpot redelivers both (attemptNumber 1): same ids, so the worker sees duplicates
        for again in (body, move):
            status, _, _ = await post(settings, "/hubspot", again, hs_headers(settings, again))
            assert status == 200
        await deals.wait_for(lambda rs: len(rs) >= 4, 30, "four deal messages")
        assert (
            ids(deals.records)
            == [
                "hubspot:deal:123:created",
                f"hubspot:deal:123:stage:presentationscheduled:{T_MS + DAY}",
            ]
            * 2
        )
        assert {r.key for r in deals.records} == {b"hs-123"}
        created, moved = deals.values()[:2]
        assert (created["stage"], created["rep_id"], created["amount"]) == (
            "qualification",
            "rep-17",
            12000,
        )
        assert (moved["event_type"], moved["from_stage"], moved["stage"]) == (
            "deal.stage_changed",
            "qualification",
            "proposal",
        )


async def test_a_second_gateway_completes_partial_updates_from_the_shared_knowledge(
    kafka_broker, tmp_path
) -> None:
    first = gateway_settings(tmp_path)
    second = first.model_copy(
        update={"gateway": first.gateway.model_copy(update={"port": free_port()})}
    )
    async with running(first), Collector(first, first.topics.deals) as deals:
        body = creation(55)
        assert (await post(first, "/hubspot", body, hs_headers(first, body)))[0] == 200
        await deals.wait_for(lambda rs: len(rs) >= 1, 30, "the creation")
        # a new process (a restart, or another replica) reads the knowledge topic whole
        async with running(second):
            amount = hs_body(hs_notification("deal.propertyChange", 55, T_MS + DAY, "amount", "9"))
            status, answer, _ = await post(second, "/hubspot", amount, hs_headers(second, amount))
            assert status == 200, answer
            await deals.wait_for(lambda rs: len(rs) >= 2, 30, "the update")
    updated = deals.values()[1]
    assert updated["event_type"] == "deal.updated"
    assert (updated["stage"], updated["rep_id"], updated["amount"]) == (
        "qualification",
        "rep-17",
        9,
    )


async def test_refused_requests_produce_nothing(kafka_broker, tmp_path) -> None:
    settings = gateway_settings(tmp_path)
    await ensure_topics(settings)
    async with (
        running(settings),
        Collector(settings, settings.topics.deals) as deals,
        Collector(settings, settings.topics.dlq) as dlq,
        Collector(settings, settings.topics.commands) as commands,
    ):
        body = creation(1)
        now = int(time.time() * 1000)
        bad = hs_headers(settings, body)
        bad["X-HubSpot-Signature-v3"] = hs_sign(
            "wrong", "POST", url(settings, "/hubspot"), body, now
        )["X-HubSpot-Signature-v3"]
        stale = hs_headers(settings, body, now - 6 * 60 * 1000)
        big = hs_body(*[hs_notification("deal.creation", i, T_MS) for i in range(40)])
        not_json = b"[not json"
        refusals = [
            ("/hubspot", body, {}, 401),
            ("/hubspot", body, bad, 401),
            ("/hubspot", body, stale, 401),
            ("/hubspot", big, hs_headers(settings, big), 413),
            ("/hubspot", not_json, hs_headers(settings, not_json), 400),
            ("/pipedrive", b"{}", {}, 401),
            ("/pipedrive", b"{}", basic(PIPEDRIVE_USER, "wrong"), 401),
            ("/pipedrive", b"[]", basic(PIPEDRIVE_USER, PIPEDRIVE_PASSWORD), 400),
            ("/slack/interactions", b"payload=%7B%7D", {}, 401),
            (
                "/slack/commands",
                b"text=ack",
                slack_sign("wrong", int(time.time()), b"text=ack"),
                401,
            ),
            (
                "/slack/commands",
                b"text=ack",
                slack_sign(SLACK_SECRET, int(time.time()) - 301, b"text=ack"),
                401,
            ),
            ("/nowhere", b"", {}, 404),
        ]
        for path, data, headers, expected in refusals:
            status, answer, _ = await post(settings, path, data, headers)
            assert status == expected, (path, status, answer)
        # one good request after them: once its event is there, anything the refused ones
        # had produced would be there too (same producer, ordered sends)
        good = creation(2)
        assert (await post(settings, "/hubspot", good, hs_headers(settings, good)))[0] == 200
        await deals.wait_for(lambda rs: len(rs) >= 1, 30, "the good request's event")
        assert ids(deals.records) == ["hubspot:deal:2:created"]
        assert dlq.records == [] and commands.records == []
        status, metrics = await get(settings, "/metrics")
        assert status == 200
        assert (
            'salespulse_gateway_rejected_total{reason="signature",source="hubspot"} 3.0' in metrics
        )
        assert (
            'salespulse_gateway_rejected_total{reason="too_large",source="hubspot"} 1.0' in metrics
        )
        assert "hs-client-secret" not in metrics


async def test_unmappable_notifications_go_to_the_dead_letter_topic_with_the_reason(
    kafka_broker, tmp_path
) -> None:
    settings = gateway_settings(tmp_path)
    async with running(settings), Collector(settings, settings.topics.dlq) as dlq:
        item = hs_notification("deal.propertyChange", 404, T_MS, "amount", "10")
        body = hs_body(item)
        assert (await post(settings, "/hubspot", body, hs_headers(settings, body)))[0] == 200
        await dlq.wait_for(lambda rs: len(rs) >= 1, 30, "a dead letter")
    [record] = dlq.records
    headers = {k: v.decode() for k, v in record.headers}
    assert "knows no stage or owner" in headers["error"]
    assert headers["original_topic"] == "gateway:hubspot"
    assert headers["original_partition"] == headers["original_offset"] == "-1"
    assert json.loads(record.value) == item
    assert record.key == b"404"


async def test_pipedrive_webhooks_with_basic_auth(kafka_broker, tmp_path) -> None:
    settings = gateway_settings(tmp_path)
    auth = basic(PIPEDRIVE_USER, PIPEDRIVE_PASSWORD)
    async with running(settings), Collector(settings, settings.topics.deals) as deals:
        create = pd_deal("create", 42, "2026-11-18T09:00:00.000Z", pd_deal_data(42))
        move = pd_deal(
            "change", 42, "2026-11-20T09:00:00.000Z", pd_deal_data(42, stage_id=2), {"stage_id": 1}
        )
        for body in (create, move, move):
            status, answer, _ = await post(settings, "/pipedrive", body, auth)
            assert status == 200, answer
        await deals.wait_for(lambda rs: len(rs) >= 3, 30, "three deal messages")
    values = deals.values()
    assert [v["event_type"] for v in values] == [
        "deal.created",
        "deal.stage_changed",
        "deal.stage_changed",
    ]
    assert values[1]["event_id"] == values[2]["event_id"]
    assert {r.key for r in deals.records} == {b"pd-42"}


async def test_salesforce_change_events_from_a_topic(kafka_broker, tmp_path) -> None:
    opp, owner = "006RM000002a1bQYAQ", "005RM000001vI54YAE"
    settings = gateway_settings(tmp_path)
    cdc_topic = settings.topics.deals.replace("crm.deals", "salesforce.cdc")
    settings = gateway_settings(
        tmp_path,
        gateway={
            "salesforce": {
                "topic": cdc_topic,
                "group_id": f"{settings.app_id}-sf",
                "mapping": {
                    "stages": {
                        "Prospecting": {"stage": "prospecting"},
                        "Closed Won": {"stage": "won", "closed": "won"},
                    },
                    "owners": {owner: "rep-17"},
                },
            }
        },
    )
    create = sf_event(
        "Opportunity", "CREATE", [opp], T_MS, StageName="Prospecting", OwnerId=owner, Amount=5.0
    )
    won = sf_event(
        "Opportunity", "UPDATE", [opp], T_MS + DAY, ["StageName"], StageName="Closed Won"
    )
    await produce(
        settings,
        [
            (cdc_topic, opp.encode(), json.dumps({"payload": create}).encode()),
            (cdc_topic, opp.encode(), json.dumps({"payload": won}).encode()),
            (cdc_topic, opp.encode(), b"not a change event"),  # same partition: offset 2
        ],
    )
    async with (
        running(settings),
        Collector(settings, settings.topics.deals) as deals,
        Collector(settings, settings.topics.dlq) as dlq,
    ):
        await deals.wait_for(lambda rs: len(rs) >= 2, 60, "the Salesforce deal events")
        await dlq.wait_for(lambda rs: len(rs) >= 1, 30, "the dead letter")
    assert [v["event_type"] for v in deals.values()] == ["deal.created", "deal.won"]
    assert deals.values()[1]["rep_id"] == "rep-17"
    headers = {k: v.decode() for k, v in dlq.records[0].headers}
    assert headers["original_topic"] == cdc_topic and headers["original_offset"] == "2"


async def test_a_slack_button_press_acknowledges_and_updates_the_message(
    kafka_broker, tmp_path
) -> None:
    async with SlackStandIn() as slack:
        settings = gateway_settings(tmp_path, slack_url=slack.base)
        async with running(settings), Collector(settings, settings.topics.commands) as commands:
            key = "deal_stalled:deal:hs-123"
            message = {
                "type": "message",
                "ts": "1795000000.000100",
                "text": "Stalled: Deal hs-123",
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": "In proposal"}},
                    {"type": "actions", "block_id": "salespulse_actions", "elements": []},
                ],
            }
            body = slack_press(
                key, "salespulse_ack", slack.base + "actions/T0TEAM/1/x", message=message
            )
            status, answer, seconds = await post(
                settings,
                "/slack/interactions",
                body,
                slack_sign(SLACK_SECRET, int(time.time()), body),
            )
            assert status == 200, answer
            assert seconds < 3.0
            await commands.wait_for(lambda rs: len(rs) >= 1, 30, "the ack")
            await slack.wait_for(1, 30)
    [command] = commands.values()
    assert command["event_type"] == "alert.ack" and command["alert_key"] == key
    assert command["by"] == "dana (slack U0123ABCD)"
    assert commands.records[0].key == b"deal:hs-123"
    [update] = slack.posts
    assert update["replace_original"] is True
    assert [b["type"] for b in update["blocks"]] == ["section", "context"]
    assert "Acknowledged" in update["blocks"][-1]["elements"][0]["text"]


async def test_the_slash_command_snoozes_and_answers_ephemerally(kafka_broker, tmp_path) -> None:
    settings = gateway_settings(tmp_path, gateway={"slack": {"allowed_users": ["U0BOSS"]}})
    async with running(settings), Collector(settings, settings.topics.commands) as commands:
        key = "quota_pace:rep:rep-17"
        body = slack_slash(f"snooze {key} 2h back after the offsite", "https://x", user="U0BOSS")
        status, answer, seconds = await post(
            settings, "/slack/commands", body, slack_sign(SLACK_SECRET, int(time.time()), body)
        )
        assert status == 200 and seconds < 3.0
        reply = json.loads(answer)
        assert reply["response_type"] == "ephemeral" and "Snoozed" in reply["text"]
        someone = slack_slash(f"ack {key}", "https://x", user="U0SOMEONE")
        status, answer, _ = await post(
            settings,
            "/slack/commands",
            someone,
            slack_sign(SLACK_SECRET, int(time.time()), someone),
        )
        assert status == 200 and "may not" in json.loads(answer)["text"]
        await commands.wait_for(lambda rs: len(rs) >= 1, 30, "the snooze")
    [command] = commands.values()
    assert command["event_type"] == "alert.snooze" and command["reason"] == "back after the offsite"
    assert commands.records[0].key == b"rep:rep-17"


async def test_ready_and_metrics(kafka_broker, tmp_path) -> None:
    settings = gateway_settings(tmp_path)
    async with running(settings):
        status, body = await get(settings, "/ready")
        assert status == 200 and json.loads(body) == {"ready": True}
        status, body = await get(settings, "/metrics")
        assert status == 200 and "salespulse_gateway_ready 1.0" in body


async def test_over_the_rate_limit_is_429(kafka_broker, tmp_path) -> None:
    settings = gateway_settings(
        tmp_path, gateway={"pipedrive": {"rate_limit": {"per_second": 0.01, "burst": 1}}}
    )
    auth = basic(PIPEDRIVE_USER, PIPEDRIVE_PASSWORD)
    async with running(settings):
        body = pd_deal("create", 1, "2026-11-18T09:00:00Z", pd_deal_data(1))
        assert (await post(settings, "/pipedrive", body, auth))[0] == 200
        status, answer, _ = await post(settings, "/pipedrive", body, auth)
        assert status == 429, answer
        # a forged request is refused before it can spend the real sender's tokens
        assert (await post(settings, "/pipedrive", body, basic("x", "y")))[0] == 401


async def test_hubspot_signs_the_url_it_called_with_its_query(kafka_broker, tmp_path) -> None:
    settings = gateway_settings(tmp_path)
    async with running(settings):
        body = hs_body()
        target = url(settings, "/hubspot?tenant=acme&x=a%3Ab")
        signed = hs_sign(
            HUBSPOT_SECRET,
            "POST",
            url(settings, "/hubspot?tenant=acme&x=a:b"),  # HubSpot decodes %3A before signing
            body,
            int(time.time() * 1000),
        )
        status, answer, _ = await post(settings, "/hubspot?tenant=acme&x=a%3Ab", body, signed)
        assert status == 200, (target, answer)
        public = gateway_settings(tmp_path, gateway={"public_url": "https://sp.example.com"})
    async with running(public):
        body = hs_body()
        signed = hs_sign(
            HUBSPOT_SECRET, "POST", "https://sp.example.com/hubspot", body, int(time.time() * 1000)
        )
        assert (await post(public, "/hubspot", body, signed))[0] == 200
        wrong = hs_sign(
            HUBSPOT_SECRET, "POST", url(public, "/hubspot"), body, int(time.time() * 1000)
        )
        assert (await post(public, "/hubspot", body, wrong))[0] == 401
