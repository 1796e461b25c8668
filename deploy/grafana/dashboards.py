"""Grafana dashboards of salespulse, as code (grafana-foundation-sdk).

Run it to regenerate the committed JSON (a test fails when they differ)::

    .venv/bin/python deploy/grafana/dashboards.py

Two dashboards, both on a Prometheus data source chosen by the ``datasource``
variable (the provisioned one by default):

* *Sales pulse*: the contract's KPIs (section 7) for managers.
* *Service health*: what the workers do, for whoever runs them.

How to aggregate over workers (see ``streamer/metrics.py``): rep KPIs come
from the one worker owning the rep, team and stage KPIs are the same on every
worker, so both are read with ``max by (...)``; service metrics are per worker
and are summed. Panels for metric families that other parts of the code add
later (late events) appear as soon as ``streamer.metrics``
declares them: the generator reads the live registry, and the test then asks
for the JSON to be regenerated.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BarGaugeDisplayMode, VizOrientation
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableRefresh,
    VariableSort,
)

__all__ = ["DASHBOARDS", "OUT_DIR", "build_all", "exported_metric_names", "main", "render"]

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"


def exported_metric_names() -> set[str]:
    """Every sample name the worker's and the gateway's registries export (``_total``,
    ``_bucket``... included)."""
    from streamer.metrics import GatewayMetrics, Metrics

    names: set[str] = set()
    families = [*Metrics().registry.collect(), *GatewayMetrics().registry.collect()]
    for family in families:
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
            names.add(family.name + "_created")
        elif family.type == "histogram":
            names.update(family.name + s for s in ("_bucket", "_sum", "_count", "_created"))
        elif family.type == "summary":
            names.update(family.name + s for s in ("_sum", "_count", "_created"))
    return names


def q(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DS)
    if legend:
        query = query.legend_format(legend)
    return query.instant() if instant else query.range()


def ts(
    title: str, description: str, targets: Iterable[prometheus.Dataquery], unit: str = "short"
) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).description(description).unit(unit).datasource(DS)
    panel = panel.fill_opacity(10).span(12).height(8)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def bars(
    title: str,
    description: str,
    target: prometheus.Dataquery,
    unit: str = "short",
    span: int = 12,
    max_value: float | None = None,
) -> bargauge.Panel:
    panel = (
        bargauge.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DS)
        .with_target(target)
        .orientation(VizOrientation.HORIZONTAL)
        .display_mode(BarGaugeDisplayMode.GRADIENT)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .span(span)
        .height(8)
    )
    if max_value is not None:
        panel = panel.min(0).max(max_value)
    return panel


def single(
    title: str, description: str, target: prometheus.Dataquery, unit: str = "short"
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DS)
        .with_target(target)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
        .span(6)
        .height(4)
    )


def quantile(p: float, histogram: str) -> str:
    return f"histogram_quantile({p}, sum by (le) (rate({histogram}_bucket[{RATE}])))"


def datasource_variable() -> dashboard.DatasourceVariable:
    return dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")


def query_variable(name: str, label: str, query: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query({"query": query, "refId": f"{name}-values", "qryType": 1})
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


# -- Sales pulse ---------------------------------------------------------------------

TEAM = 'team_id=~"$team"'
REP = 'team_id=~"$team", rep_id=~"$rep"'


def sales_pulse() -> dashboard.Dashboard:
    d = (
        dashboard.Dashboard("Sales pulse")
        .uid("salespulse-sales")
        .description("The contract's sales KPIs, live from the salespulse workers.")
        .tags(["salespulse", "sales"])
        .time("now-7d", "now")
        .refresh("1m")
        .timezone("browser")
        .with_variable(datasource_variable())
        .with_variable(
            query_variable("team", "Team", "label_values(salespulse_team_open_deals, team_id)")
        )
        .with_variable(
            query_variable(
                "rep", "Rep", f"label_values(salespulse_rep_open_deals{{{TEAM}}}, rep_id)"
            )
        )
        .with_variable(
            query_variable(
                "pipeline", "Pipeline", "label_values(salespulse_stage_avg_days, pipeline)"
            )
        )
    )
    d = d.with_row(dashboard.Row("Pipeline"))
    d = d.with_panel(
        single(
            "Open deals",
            "Open deals of the selected teams now.",
            q(f"sum(max by (team_id) (salespulse_team_open_deals{{{TEAM}}}))", instant=True),
        )
    )
    d = d.with_panel(
        single(
            "Open amount",
            "Summed amount of open deals of the selected teams, reporting currency.",
            q(f"sum(max by (team_id) (salespulse_team_open_amount{{{TEAM}}}))", instant=True),
            unit="currencyUSD",
        )
    )
    d = d.with_panel(
        single(
            "Win rate (90 days)",
            "Won / (won + lost) over deals closed in the last 90 days (per team; lowest shown).",
            q(f"min(max by (team_id) (salespulse_team_win_rate{{{TEAM}}}))", instant=True),
            unit="percentunit",
        )
    )
    d = d.with_panel(
        single(
            "Reps at quota pace",
            "Share of the team's reps whose attainment is at least the elapsed share of their "
            "quota period (lowest team shown).",
            q(
                f"min(max by (team_id) (salespulse_team_reps_at_quota_ratio{{{TEAM}}}))",
                instant=True,
            ),
            unit="percentunit",
        )
    )
    d = d.with_panel(
        bars(
            "Open deals per stage",
            "Open deals now, per stage of the pipeline (all teams).",
            q(
                'max by (stage) (salespulse_stage_open_deals{pipeline=~"$pipeline"})',
                "{{stage}}",
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        bars(
            "Open amount per stage",
            "Summed amount of open deals per stage, reporting currency (all teams).",
            q(
                'max by (stage) (salespulse_stage_open_amount{pipeline=~"$pipeline"})',
                "{{stage}}",
                instant=True,
            ),
            unit="currencyUSD",
        )
    )
    d = d.with_panel(
        table.Panel()
        .title("Time in stage against the learned average")
        .description(
            "Learned average days deals spend in each stage, the completed visits behind it, "
            "and the deal_stalled threshold at the default factor 2. A deal is reported stalled "
            "when its days in stage pass the threshold."
        )
        .datasource(DS)
        .with_target(
            q(
                'max by (pipeline, stage) (salespulse_stage_avg_days{pipeline=~"$pipeline"})',
                "",
                "A",
                True,
            ).format("table")
        )
        .with_target(
            q(
                'max by (pipeline, stage) (salespulse_stage_samples{pipeline=~"$pipeline"})',
                "",
                "B",
                True,
            ).format("table")
        )
        .with_target(
            q(
                "max by (pipeline, stage) "
                '(salespulse:stage_stall_threshold_days:factor2{pipeline=~"$pipeline"})',
                "",
                "C",
                True,
            ).format("table")
        )
        .with_transformation(_merge())
        .span(12)
        .height(8)
    )
    d = d.with_panel(
        bars(
            "Stage-to-stage conversion (funnel, 90 days)",
            "Share of deals that left each stage in the last 90 days by moving forward rather "
            "than being lost; read top to bottom as the funnel.",
            q(
                'max by (stage) (salespulse_stage_conversion{pipeline=~"$pipeline"})',
                "{{stage}}",
                instant=True,
            ),
            unit="percentunit",
            max_value=1,
        )
    )
    d = d.with_row(dashboard.Row("Reps"))
    d = d.with_panel(
        bars(
            "Quota attainment per rep",
            "Won amount (or count) in the current quota period / target. Compare with the "
            "team's share of reps at pace above; the quota_pace rule fires below 0.8 of the "
            "elapsed share.",
            q(
                f"max by (rep_id) (salespulse_rep_quota_attainment{{{REP}}})",
                "{{rep_id}}",
                instant=True,
            ),
            unit="percentunit",
        )
    )
    d = d.with_panel(
        bars(
            "Quota pace per rep (attainment / elapsed share of the period)",
            "1.0 is on pace: attainment equal to the share of the quota period gone by. "
            "quota_pace fires below 0.8 (critical below 0.5) once 20% of the period is gone.",
            q(
                f"max by (rep_id) (salespulse_rep_quota_attainment{{{REP}}})"
                f" / max by (rep_id) (salespulse_rep_quota_period_elapsed{{{REP}}})",
                "{{rep_id}}",
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        bars(
            "Win rate per rep (90 days)",
            "Won / (won + lost), deals closed in the last 90 days.",
            q(f"max by (rep_id) (salespulse_rep_win_rate{{{REP}}})", "{{rep_id}}", instant=True),
            unit="percentunit",
            max_value=1,
        )
    )
    d = d.with_panel(
        ts(
            "Contact rate per rep (7 days)",
            "Conversations / outbound attempts over the last 7 days; the low_contact_rate rule "
            "fires below 0.032.",
            [q(f"max by (rep_id) (salespulse_rep_contact_rate{{{REP}}})", "{{rep_id}}")],
            unit="percentunit",
        )
    )
    d = d.with_panel(
        ts(
            "Outbound activity per rep (7 days)",
            "Outbound calls, emails and social touches over the last 7 days.",
            [q(f"max by (rep_id) (salespulse_rep_outbound_attempts{{{REP}}})", "{{rep_id}}")],
        )
    )
    d = d.with_panel(
        table.Panel()
        .title("Rep scorecard")
        .description("The rep KPIs of the contract, one row per rep.")
        .datasource(DS)
        .with_target(
            q(f"max by (rep_id) (salespulse_rep_open_deals{{{REP}}})", "", "A", True).format(
                "table"
            )
        )
        .with_target(
            q(f"max by (rep_id) (salespulse_rep_open_amount{{{REP}}})", "", "B", True).format(
                "table"
            )
        )
        .with_target(
            q(f"max by (rep_id) (salespulse_rep_deal_size_avg{{{REP}}})", "", "C", True).format(
                "table"
            )
        )
        .with_target(
            q(
                f"max by (rep_id) (salespulse_rep_sales_cycle_days_avg{{{REP}}})", "", "D", True
            ).format("table")
        )
        .with_target(
            q(
                f"max by (rep_id) (salespulse_rep_follow_ups_per_deal_avg{{{REP}}})", "", "E", True
            ).format("table")
        )
        .with_target(
            q(
                f"max by (rep_id) (salespulse_rep_lead_to_opportunity_ratio{{{REP}}})",
                "",
                "F",
                True,
            ).format("table")
        )
        .with_target(
            q(f"max by (rep_id) (salespulse_rep_email_open_rate{{{REP}}})", "", "G", True).format(
                "table"
            )
        )
        .with_target(
            q(f"max by (rep_id) (salespulse_rep_won_amount{{{REP}}})", "", "H", True).format(
                "table"
            )
        )
        .with_transformation(_merge())
        .span(24)
        .height(9)
    )
    d = d.with_row(dashboard.Row("Teams and alerts"))
    d = d.with_panel(
        ts(
            "Won amount per team (90 days) and month-on-month growth",
            "Summed amount of deals won in the last 90 days, and won amount of the last 30 days "
            "over the 30 days before, minus 1 (right axis).",
            [
                q(f"max by (team_id) (salespulse_team_won_amount{{{TEAM}}})", "{{team_id}} won"),
                q(
                    f"max by (team_id) (salespulse_team_won_amount_growth_mom{{{TEAM}}})",
                    "{{team_id}} growth",
                    "B",
                ),
            ],
            unit="currencyUSD",
        ).override_by_regexp(".* growth", [_unit_override("percentunit"), _right_axis()])
    )
    d = d.with_panel(
        table.Panel()
        .title("Team scorecard")
        .description("The team KPIs of the contract, one row per team.")
        .datasource(DS)
        .targets(
            [
                q(
                    f"max by (team_id) (salespulse_team_{kpi}{{{TEAM}}})", "", chr(65 + i), True
                ).format("table")
                for i, kpi in enumerate(
                    (
                        "open_deals",
                        "open_amount",
                        "won_amount",
                        "deal_size_avg",
                        "sales_cycle_days_avg",
                        "contact_rate",
                        "outbound_attempts",
                        "lead_to_opportunity_ratio",
                    )
                )
            ]
        )
        .with_transformation(_merge())
        .span(24)
        .height(7)
    )
    d = d.with_panel(
        ts(
            "Stage conversion per team (90 days)",
            "Each team's share of deals leaving a stage by moving forward, by stage.",
            [
                q(
                    "max by (team_id, stage) "
                    f'(salespulse_team_stage_conversion{{{TEAM}, pipeline=~"$pipeline"}})',
                    "{{team_id}} {{stage}}",
                )
            ],
            unit="percentunit",
        )
    )
    d = d.with_panel(
        ts(
            "Stage conversion per rep (90 days)",
            "Each rep's share of deals leaving a stage by moving forward; conversion_drop fires "
            "below half the team's.",
            [
                q(
                    "max by (rep_id, stage) "
                    f'(salespulse_rep_stage_conversion{{{REP}, pipeline=~"$pipeline"}})',
                    "{{rep_id}} {{stage}}",
                )
            ],
            unit="percentunit",
        )
    )
    d = d.with_panel(
        bars(
            "Open amount by source channel",
            "Summed amount of open deals by where they came from (all teams).",
            q(
                "max by (source_channel) (salespulse_open_amount_by_source_channel)",
                "{{source_channel}}",
                instant=True,
            ),
            unit="currencyUSD",
        )
    )
    d = d.with_panel(
        bars(
            "Won amount by product (90 days)",
            "Summed amount of deals won in the last 90 days by product (all teams).",
            q("max by (product) (salespulse_won_amount_by_product)", "{{product}}", instant=True),
            unit="currencyUSD",
        )
    )
    d = d.with_panel(
        ts(
            "Open alerts by rule",
            "Alerts firing now, summed over the workers' partitions.",
            [q("sum by (rule) (salespulse_open_alerts)", "{{rule}}")],
        )
    )
    return d


def _merge() -> object:
    from grafana_foundation_sdk.models.dashboard import DataTransformerConfig

    return DataTransformerConfig(id_val="merge", options={})


def _unit_override(unit: str) -> object:
    from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

    return DynamicConfigValue(id_val="unit", value=unit)


def _right_axis() -> object:
    from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

    return DynamicConfigValue(id_val="custom.axisPlacement", value="right")


# -- Service health ------------------------------------------------------------------


def service_health(names: set[str]) -> dashboard.Dashboard:
    d = (
        dashboard.Dashboard("salespulse service health")
        .uid("salespulse-service")
        .description("Throughput, lag, rejects, alerts, deliveries and recovery of the workers.")
        .tags(["salespulse", "service"])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .with_variable(datasource_variable())
    )
    d = d.with_row(dashboard.Row("Workers"))
    d = d.with_panel(
        single(
            "Workers up",
            "Worker scrape targets answering now.",
            q('sum(up{job="salespulse"})', instant=True),
        )
    )
    d = d.with_panel(
        single(
            "Workers ready",
            "Workers that recovered their tables and process messages (/ready).",
            q("sum(salespulse_ready)", instant=True),
        )
    )
    d = d.with_panel(
        single(
            "Consumer lag",
            "Messages behind the high watermark, all input partitions.",
            q("sum(salespulse:consumer_lag_messages:sum)", instant=True),
        )
    )
    d = d.with_panel(
        single(
            "Event-time watermark age",
            "Wall clock minus the newest occurred_at seen by any worker.",
            q("time() - max(salespulse_event_time_watermark_seconds)", instant=True),
            unit="s",
        )
    )
    d = d.with_row(dashboard.Row("Throughput"))
    d = d.with_panel(
        ts(
            "Events accepted per second",
            "Input events validated and accepted, by type, all workers.",
            [q("sum by (event_type) (salespulse:events_accepted:rate5m)", "{{event_type}}")],
            unit="ops",
        )
    )
    d = d.with_panel(
        ts(
            "Rejected, duplicate and forwarded events",
            "Rejected: sent to the dead-letter topic (by input topic). Duplicates changed "
            "nothing. Forwarded: re-keyed to their home topic.",
            [
                q(
                    f"sum by (topic) (rate(salespulse_events_rejected_total[{RATE}]))",
                    "rejected {{topic}}",
                ),
                q(f"sum(rate(salespulse_events_duplicate_total[{RATE}]))", "duplicate", "B"),
                q(f"sum(rate(salespulse_events_forwarded_total[{RATE}]))", "forwarded", "C"),
                q(
                    f"sum(rate(salespulse_unconverted_amounts_total[{RATE}]))",
                    "no currency rate",
                    "D",
                ),
            ],
            unit="ops",
        )
    )
    d = d.with_panel(
        ts(
            "Consumer lag per topic",
            "Messages behind the high watermark, summed over partitions and workers.",
            [q("salespulse:consumer_lag_messages:sum", "{{topic}}")],
        )
    )
    d = d.with_panel(
        ts(
            "Event delay",
            "Wall-clock time between an event's occurred_at and its processing (p50, p95, p99).",
            [
                q(
                    quantile(p, "salespulse_event_delay_seconds"),
                    f"p{int(p * 100)}",
                    ref,
                )
                for p, ref in ((0.5, "A"), (0.95, "B"), (0.99, "C"))
            ],
            unit="s",
        )
    )
    late = sorted(n for n in names if "_late" in n and n.endswith("_total"))
    if late:
        d = d.with_panel(
            ts(
                "Late events",
                "Events that arrived after the event-time watermark less the allowed lateness.",
                [
                    q(f"sum(rate({name}[{RATE}]))", name.removeprefix("salespulse_"), chr(65 + i))
                    for i, name in enumerate(late)
                ],
                unit="ops",
            )
        )
    d = d.with_row(dashboard.Row("Alerts and notifications"))
    d = d.with_panel(
        ts(
            "Alert state changes per minute",
            "Messages written to the alerts topic, by rule and status.",
            [
                q(
                    f"sum by (rule, status) (rate(salespulse_alerts_total[{RATE}])) * 60",
                    "{{rule}} {{status}}",
                )
            ],
            unit="short",
        )
    )
    d = d.with_panel(
        ts(
            "Open alerts by rule",
            "Alerts firing now, summed over workers.",
            [q("sum by (rule) (salespulse_open_alerts)", "{{rule}}")],
        )
    )
    d = d.with_panel(
        ts(
            "Notifications delivered per minute",
            "Notifications accepted by their receiver (Slack, email, webhook), by receiver.",
            [
                q(
                    "sum by (receiver) "
                    f"(rate(salespulse_notifications_delivered_total[{RATE}])) * 60",
                    "{{receiver}}",
                )
            ],
        )
    )
    d = d.with_panel(
        ts(
            "Delivery failures and retries per minute",
            "Failed: given up after the retries and parked on the notifications DLQ (by receiver "
            "and reason). Attempts that did not succeed: retried, rate limited, or broken hooks.",
            [
                q(
                    "sum by (receiver, reason) "
                    f"(rate(salespulse_notifications_failed_total[{RATE}])) * 60",
                    "failed {{receiver}} {{reason}}",
                ),
                q(
                    "sum by (receiver, result) "
                    f'(rate(salespulse_notifications_attempts_total{{result!="ok"}}[{RATE}])) * 60',
                    "{{result}} {{receiver}}",
                    "B",
                ),
            ],
        )
    )
    d = d.with_panel(
        ts(
            "Notification latency",
            "From the alert's emitted_at to the receiver's acceptance (p95), and notifications "
            "held back for quiet hours or digests.",
            [
                q(quantile(0.95, "salespulse_notifications_latency_seconds"), "p95 latency"),
                q("sum by (reason) (salespulse_notifications_parked)", "parked {{reason}}", "B"),
            ],
            unit="s",
        ).override_by_regexp("parked .*", [_unit_override("short"), _right_axis()])
    )
    d = d.with_row(dashboard.Row("Recovery and time"))
    d = d.with_panel(
        ts(
            "Workers ready",
            "1 per worker once its tables are recovered; dips mark rebalances and restarts.",
            [q("salespulse_ready", "{{instance}}")],
        )
    )
    d = d.with_panel(
        ts(
            "State rebuild time",
            "Time to rebuild in-memory indexes after a partition assignment (p95).",
            [
                q(
                    quantile(0.95, "salespulse_state_rebuild_seconds"),
                    "p95",
                )
            ],
            unit="s",
        )
    )
    d = d.with_panel(
        ts(
            "Ticks per second",
            "Time-based rule evaluations, all partitions; zero means time-based alerts stopped.",
            [q(f"sum(rate(salespulse_ticks_total[{RATE}]))", "ticks")],
            unit="ops",
        )
    )
    d = d.with_panel(
        ts(
            "Tick duration",
            "Time to evaluate the time-based rules of one partition (p95).",
            [
                q(
                    quantile(0.95, "salespulse_tick_duration_seconds"),
                    "p95",
                )
            ],
            unit="s",
        )
    )
    return _gateway_row(d)


def _gateway_row(d: dashboard.Dashboard) -> dashboard.Dashboard:
    """`salespulse gateway`: what the CRMs and Slack send, what it refuses, what it makes."""
    d = d.with_row(dashboard.Row("Gateway"))
    d = d.with_panel(
        ts(
            "Gateway requests per second",
            "Requests answered, by source and HTTP status, all gateway processes. 401: bad or "
            "stale signatures; 413: too large; 429: rate limited; 503: Kafka did not acknowledge.",
            [
                q(
                    f"sum by (source, status) (rate(salespulse_gateway_requests_total[{RATE}]))",
                    "{{source}} {{status}}",
                )
            ],
            unit="reqps",
        )
    )
    d = d.with_panel(
        ts(
            "Gateway events produced per second",
            "Contract events produced from CRM notifications, by source and event type.",
            [
                q(
                    "sum by (source, event_type) "
                    f"(rate(salespulse_gateway_events_produced_total[{RATE}]))",
                    "{{source}} {{event_type}}",
                )
            ],
            unit="ops",
        )
    )
    d = d.with_panel(
        ts(
            "Gateway notifications by result",
            "mapped, pending (a creation waiting for its owner or stage), ignored (objects or "
            "properties salespulse does not read) and dead_lettered (to crm.dlq, with the reason).",
            [
                q(
                    "sum by (source, result) "
                    f"(rate(salespulse_gateway_notifications_total[{RATE}]))",
                    "{{source}} {{result}}",
                )
            ],
            unit="ops",
        )
    )
    d = d.with_panel(
        ts(
            "Gateway refusals and Slack commands",
            "Requests refused before mapping, by source and reason, and alert commands "
            "published from Slack buttons and the slash command.",
            [
                q(
                    f"sum by (source, reason) (rate(salespulse_gateway_rejected_total[{RATE}]))",
                    "{{source}} {{reason}}",
                ),
                q(
                    f"sum by (command) (rate(salespulse_gateway_alert_commands_total[{RATE}]))",
                    "{{command}}",
                    ref="B",
                ),
            ],
            unit="ops",
        )
    )
    d = d.with_panel(
        ts(
            "Gateway answer time",
            "From reading a request to answering it, Kafka acknowledgement included (p95), "
            "by source. Slack needs an answer within 3 s; the CRMs retry after their timeout.",
            [
                q(
                    "histogram_quantile(0.95, sum by (le, source) "
                    f"(rate(salespulse_gateway_request_duration_seconds_bucket[{RATE}])))",
                    "{{source}} p95",
                )
            ],
            unit="s",
        )
    )
    d = d.with_panel(
        ts(
            "Gateways ready",
            "1 per gateway process once it has read its knowledge topic and can produce.",
            [q("salespulse_gateway_ready", "{{instance}}")],
        )
    )
    return d


DASHBOARDS = {"sales-pulse.json": sales_pulse, "service-health.json": service_health}


def build_all(names: set[str] | None = None) -> dict[str, dict]:
    """The dashboards as JSON-ready dicts, by file name."""
    names = exported_metric_names() if names is None else names
    built = {
        "sales-pulse.json": sales_pulse().build(),
        "service-health.json": service_health(names).build(),
    }
    return {name: json.loads(json.dumps(model, cls=JSONEncoder)) for name, model in built.items()}


def render(model: dict) -> str:
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    out = Path(argv[0]) if argv else OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    for name, model in build_all().items():
        (out / name).write_text(render(model))
        print(f"wrote {out / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
