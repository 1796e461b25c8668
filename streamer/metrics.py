"""Every Prometheus metric of salespulse, declared once, against an injected registry.

Names carry the ``salespulse_`` prefix and their unit. A worker exports the
figures of the partitions it owns; sum over workers in PromQL
(``sum by (stage) (salespulse_open_deals)``). Figures that are the same on
every worker (the learned stage averages) are exported by each; take ``max``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

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
        self.open_deals = Gauge(
            "salespulse_open_deals",
            "Open deals in this worker's partitions, by pipeline and stage.",
            ["pipeline", "stage"],
            registry=r,
        )
        self.stage_avg_days = Gauge(
            "salespulse_stage_avg_days",
            "Learned average days deals spend in a stage (all partitions); "
            "absent until a stage has completed visits.",
            ["pipeline", "stage"],
            registry=r,
        )
        self.stage_samples = Gauge(
            "salespulse_stage_samples",
            "Completed stage visits behind salespulse_stage_avg_days.",
            ["pipeline", "stage"],
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
            "Time to evaluate the time-based rules of one partition for one tick.",
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
            "1 once the worker has recovered its tables and processes messages.",
            registry=r,
        )
