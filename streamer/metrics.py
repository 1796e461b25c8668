"""Every Prometheus metric of salespulse, declared once, against an injected registry.

Names carry the ``salespulse_`` prefix and their unit.

Service metrics (events, alerts, lag, ticks) count what *this* worker did:
``sum`` them over workers.

KPIs (contract section 7) follow one naming scheme, ``salespulse_<level>_<kpi>``:

* ``salespulse_rep_<kpi>{team_id, rep_id}``: exported only by the worker that
  owns the rep's partition (``sum`` or ``max`` over workers give the same);
  switched off with ``kpi_rep_labels = false`` for large organisations.
* ``salespulse_team_<kpi>{team_id}``, ``salespulse_stage_<kpi>{pipeline, stage}``
  and the ``..._by_source_channel`` / ``..._by_product`` breakdowns: global
  figures that every worker computes from the shared view and exports alike;
  take ``max`` over workers.

A KPI with no data is absent rather than 0, as the contract says.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["GatewayMetrics", "Metrics"]

_DELAY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400)


class Metrics:
    """The metrics of one process. Tests pass a fresh registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events_accepted = Counter(
            "salespulse_events_accepted_total",
            "Input events validated and accepted, by type.",
            ["event_type"],
            registry=r,
        )
        self.events_rejected = Counter(
            "salespulse_events_rejected_total",
            "Input messages that could not be accepted and went to the dead-letter topic.",
            ["topic"],
            registry=r,
        )
        self.dead_letter_window_ratio = Gauge(
            "salespulse_dead_letter_window_ratio",
            "Share of rejected input messages in the dead-letter limit's window "
            "(dead_letter.window), per input topic; absent until the window holds "
            "dead_letter.min_messages messages.",
            ["topic"],
            registry=r,
        )
        self.dead_letter_limit_exceeded = Gauge(
            "salespulse_dead_letter_limit_exceeded",
            "1 while the share of rejected input messages in the window is above "
            "dead_letter.max_ratio, else 0, per input topic.",
            ["topic"],
            registry=r,
        )
        self.dead_letters_truncated = Counter(
            "salespulse_dead_letters_truncated_total",
            "Dead letters too large for the dead-letter topic, written cut with the header "
            "truncated: true (size and SHA-256 of the original in headers), per input topic.",
            ["topic"],
            registry=r,
        )
        self.events_duplicate = Counter(
            "salespulse_events_duplicate_total",
            "Accepted events that changed nothing (repeated event_id).",
            ["event_type"],
            registry=r,
        )
        self.events_forwarded = Counter(
            "salespulse_events_forwarded_total",
            "Events that arrived on another input topic and were re-keyed to their own.",
            ["event_type"],
            registry=r,
        )
        self.events_late = Counter(
            "salespulse_events_late_total",
            "Events older than their partition's watermark less the allowed lateness; "
            "written to the late-events topic and left out of the figures.",
            ["event_type"],
            registry=r,
        )
        self.unconverted_amounts = Counter(
            "salespulse_unconverted_amounts_total",
            "Deal amounts in a currency with no configured rate, taken at face value.",
            ["currency"],
            registry=r,
        )
        self.alerts = Counter(
            "salespulse_alerts_total",
            "Alert state changes emitted to the alerts topic, by rule and status.",
            ["rule", "status"],
            registry=r,
        )
        self.open_alerts = Gauge(
            "salespulse_open_alerts",
            "Alerts currently firing in this worker's partitions, by rule.",
            ["rule"],
            registry=r,
        )
        self.event_delay = Histogram(
            "salespulse_event_delay_seconds",
            "Wall-clock time between an event's occurred_at and its processing.",
            buckets=_DELAY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "salespulse_consumer_lag_messages",
            "Messages behind the partition's high watermark, per input topic and partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.event_time_watermark = Gauge(
            "salespulse_event_time_watermark_seconds",
            "Newest occurred_at seen by this worker (POSIX seconds).",
            registry=r,
        )
        self.ticks = Counter(
            "salespulse_ticks_total",
            "Time ticks handled (time-based rules evaluated), per partition.",
            ["partition"],
            registry=r,
        )
        self.tick_duration = Histogram(
            "salespulse_tick_duration_seconds",
            "Time to run the processor after a batch or tick: records up to the frontier "
            "processed and the rules judged.",
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
            registry=r,
        )
        self.state_rebuild = Histogram(
            "salespulse_state_rebuild_seconds",
            "Time to rebuild in-memory indexes from the tables after an assignment.",
            buckets=(0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.ready = Gauge(
            "salespulse_ready",
            "1 while the worker has recovered its tables and makes progress (/ready).",
            registry=r,
        )
        self.live = Gauge(
            "salespulse_live",
            "1 unless the worker is stuck: work without progress for health.stuck_seconds, "
            "or a failed producer (/live).",
            registry=r,
        )
        self.stalled_seconds = Gauge(
            "salespulse_stalled_seconds",
            "Seconds the worker has had work (lag, unsent or unacknowledged records, a "
            "rebalance or recovery) without progress; 0 while it progresses or is idle.",
            registry=r,
        )
        self.delivery_wait_seconds = Gauge(
            "salespulse_delivery_wait_seconds",
            "Age of the oldest batch of effects (alerts, forwards, dead letters) awaiting "
            "Kafka's acknowledgement; 0 when none waits.",
            registry=r,
        )
        self.kpi = KpiGauges(r)
        self.notifications = NotificationMetrics(r)


class NotificationMetrics:
    """Delivery of alerts to people (streamer.notify). Labels carry receiver *names* from
    the configuration, never URLs, addresses or tokens."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.notices = Counter(
            "salespulse_notifications_notices_total",
            "Alert state changes the lifecycle decided to tell people, by kind.",
            ["kind"],
            registry=r,
        )
        self.unroutable = Counter(
            "salespulse_notifications_unroutable_total",
            "Notices no route or default receiver took, by rule.",
            ["rule"],
            registry=r,
        )
        self.commands = Counter(
            "salespulse_notifications_commands_total",
            "Alert commands applied (ack, snooze, unsnooze).",
            ["command"],
            registry=r,
        )
        self.delivered = Counter(
            "salespulse_notifications_delivered_total",
            "Notifications delivered, by receiver and kind.",
            ["receiver", "kind"],
            registry=r,
        )
        self.failed = Counter(
            "salespulse_notifications_failed_total",
            "Notifications given up on and sent to the notifications DLQ, by receiver and reason.",
            ["receiver", "reason"],
            registry=r,
        )
        self.attempts = Counter(
            "salespulse_notifications_attempts_total",
            "Send attempts, by receiver and result (ok, retry, rate_limited, broken).",
            ["receiver", "result"],
            registry=r,
        )
        self.duplicates = Counter(
            "salespulse_notifications_duplicates_total",
            "Notifications skipped because the delivery log shows them done.",
            ["receiver"],
            registry=r,
        )
        self.parked = Gauge(
            "salespulse_notifications_parked",
            "Notifications waiting in this worker: held for quiet hours (quiet_hours), for a "
            "digest (digest), or to be tried again after a receiver failed (retry).",
            ["reason"],
            registry=r,
        )
        self.latency = Histogram(
            "salespulse_notifications_latency_seconds",
            "From the alert message's emitted_at to the receiver's acceptance, by receiver.",
            ["receiver"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
            registry=r,
        )
        self.send_duration = Histogram(
            "salespulse_notifications_send_duration_seconds",
            "Duration of one send attempt, by receiver.",
            ["receiver"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )


class GatewayMetrics:
    """``salespulse gateway``: CRM webhooks and Slack actions in, contract events out.
    Per gateway process; ``sum`` over processes. Labels are source names (``hubspot``,
    ``pipedrive``, ``salesforce``, ``slack``), never ids or secrets."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "salespulse_gateway_requests_total",
            "HTTP requests answered, by source and status code.",
            ["source", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "salespulse_gateway_request_duration_seconds",
            "From reading a request to answering it (events acknowledged by Kafka), by source.",
            ["source"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.rejected = Counter(
            "salespulse_gateway_rejected_total",
            "Requests refused before mapping, by source and reason (signature, stale, "
            "too_large, malformed, rate_limited, forbidden).",
            ["source", "reason"],
            registry=r,
        )
        self.notifications = Counter(
            "salespulse_gateway_notifications_total",
            "CRM notifications read, by source and result (mapped, pending, ignored, "
            "dead_lettered).",
            ["source", "result"],
            registry=r,
        )
        self.events = Counter(
            "salespulse_gateway_events_produced_total",
            "Contract events produced, by source and event type.",
            ["source", "event_type"],
            registry=r,
        )
        self.commands = Counter(
            "salespulse_gateway_alert_commands_total",
            "Alert commands published from Slack, by command.",
            ["command"],
            registry=r,
        )
        self.knowledge_records = Gauge(
            "salespulse_gateway_knowledge_records",
            "CRM records whose last known attributes this gateway holds.",
            registry=r,
        )
        self.ready = Gauge(
            "salespulse_gateway_ready",
            "1 once the gateway has read its knowledge topic and can produce.",
            registry=r,
        )


# KPI gauges (contract section 7): (metric suffix, help, labels)
REP_KPIS: tuple[tuple[str, str], ...] = (
    ("open_deals", "Open deals now."),
    ("open_amount", "Summed amount of open deals, reporting currency."),
    ("win_rate", "Won / (won + lost), deals closed in the last 90 days."),
    ("won_amount", "Summed amount of deals won in the last 90 days, reporting currency."),
    ("deal_size_avg", "Average amount of deals won in the last 90 days, reporting currency."),
    ("sales_cycle_days_avg", "Average days from creation to won, deals won in the last 90 days."),
    ("quota_attainment", "Won amount (or count) in the current quota period / target."),
    ("quota_period_elapsed", "Share of the current quota period gone by (to compare with)."),
    ("contact_rate", "Conversations / outbound attempts, last 7 days."),
    ("outbound_attempts", "Outbound calls, emails and social touches, last 7 days."),
    ("follow_ups_per_deal_avg", "Follow-up touches per open deal."),
    ("lead_to_opportunity_ratio", "Leads created in the last 30 days that converted / created."),
    ("email_open_rate", "Emails opened or replied / emails sent, last 30 days."),
)
TEAM_KPIS: tuple[tuple[str, str], ...] = (
    ("open_deals", "Open deals now."),
    ("open_amount", "Summed amount of open deals, reporting currency."),
    ("win_rate", "Won / (won + lost), deals closed in the last 90 days."),
    ("won_amount", "Summed amount of deals won in the last 90 days, reporting currency."),
    ("deal_size_avg", "Average amount of deals won in the last 90 days, reporting currency."),
    ("sales_cycle_days_avg", "Average days from creation to won, deals won in the last 90 days."),
    ("reps_at_quota_ratio", "Share of reps whose attainment is at least the elapsed share."),
    ("contact_rate", "Conversations / outbound attempts, last 7 days."),
    ("outbound_attempts", "Outbound calls, emails and social touches, last 7 days."),
    ("lead_to_opportunity_ratio", "Leads created in the last 30 days that converted / created."),
    ("won_amount_growth_mom", "Won amount of the last 30 days over the 30 days before, minus 1."),
)
STAGE_KPIS: tuple[tuple[str, str], ...] = (
    ("open_deals", "Open deals now, by stage."),
    ("open_amount", "Summed amount of open deals by stage, reporting currency."),
    ("avg_days", "Learned average days deals spend in the stage (contract: stage_avg_days)."),
    ("samples", "Completed stage visits behind salespulse_stage_avg_days."),
    ("conversion", "Share of deals that left the stage in the last 90 days moving forward."),
)


class KpiGauges:
    """The KPI gauges, by level; a worker sets whole levels at once (see :meth:`replace`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rep = {
            name: Gauge(f"salespulse_rep_{name}", text, ["team_id", "rep_id"], registry=registry)
            for name, text in REP_KPIS
        }
        self.rep["stage_conversion"] = Gauge(
            "salespulse_rep_stage_conversion",
            "Rep's share of deals leaving the stage in the last 90 days by moving forward.",
            ["team_id", "rep_id", "pipeline", "stage"],
            registry=registry,
        )
        self.team = {
            name: Gauge(f"salespulse_team_{name}", text, ["team_id"], registry=registry)
            for name, text in TEAM_KPIS
        }
        self.team["stage_conversion"] = Gauge(
            "salespulse_team_stage_conversion",
            "Team's share of deals leaving the stage in the last 90 days by moving forward.",
            ["team_id", "pipeline", "stage"],
            registry=registry,
        )
        self.stage = {
            name: Gauge(f"salespulse_stage_{name}", text, ["pipeline", "stage"], registry=registry)
            for name, text in STAGE_KPIS
        }
        self.by_dimension = {
            (kpi, dim): Gauge(
                f"salespulse_{kpi}_by_{dim}",
                f"{'Open' if kpi == 'open_amount' else 'Won (last 90 days)'} amount by {dim}, "
                "reporting currency.",
                [dim],
                registry=registry,
            )
            for kpi in ("open_amount", "won_amount")
            for dim in ("source_channel", "product")
        }
