"""Sets the KPI gauges from a KPI report (the same report ``replay --report`` writes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..metrics import Metrics
from ..settings import Settings

__all__ = ["KpiExporter"]


class KpiExporter:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.rep_labels = settings.kpi_rep_labels
        self.kpi = metrics.kpi

    def export(self, report: Mapping[str, Any], reps: Any = None) -> None:
        """Replace every KPI series with the report's figures; no data means no series."""
        for gauge in (
            *self.kpi.rep.values(),
            *self.kpi.team.values(),
            *self.kpi.stage.values(),
            *self.kpi.by_dimension.values(),
        ):
            gauge.clear()
        if self.rep_labels:
            for rep_id, figures in report["reps"].items():
                team = figures.get("team_id") or ""
                for name, gauge in self.kpi.rep.items():
                    value = figures.get(name)
                    if name == "stage_conversion":
                        for key, share in (value or {}).items():
                            if share is not None:
                                pipeline, _, stage = key.partition("/")
                                gauge.labels(team, rep_id, pipeline, stage).set(share)
                    elif value is not None:
                        gauge.labels(team, rep_id).set(value)
        for team, figures in report["teams"].items():
            for name, gauge in self.kpi.team.items():
                value = figures.get(name)
                if name == "stage_conversion":
                    for key, share in (value or {}).items():
                        if share is not None:
                            pipeline, _, stage = key.partition("/")
                            gauge.labels(team, pipeline, stage).set(share)
                elif value is not None:
                    gauge.labels(team).set(value)
        stage_names = {
            "open_deals": "open_deals",
            "open_amount": "open_amount",
            "avg_days": "stage_avg_days",
            "conversion": "stage_conversion",
        }
        for key, figures in report["stages"].items():
            pipeline, _, stage = key.partition("/")
            for metric, field in stage_names.items():
                value = figures.get(field)
                if value is not None:
                    self.kpi.stage[metric].labels(pipeline, stage).set(value)
            samples = figures.get("samples")
            if samples is not None:
                self.kpi.stage["samples"].labels(pipeline, stage).set(samples)
        for dim, section in (("source_channel", "source_channels"), ("product", "products")):
            for value_name, amounts in report.get(section, {}).items():
                for kpi, amount in amounts.items():
                    self.kpi.by_dimension[(kpi, dim)].labels(value_name).set(amount)
