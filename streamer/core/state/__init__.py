"""Pure state of salespulse: values and folds, no Kafka, no clock."""

from .deal import CLOSED_STAGES, DealState, StageMark, StalledEpisode, Visit, apply_deal_event
from .stage_stats import StageKey, StageStat, StageStats, combine, stage_key
from .stall_index import StallIndex

__all__ = [
    "CLOSED_STAGES",
    "DealState",
    "StageKey",
    "StageMark",
    "StageStat",
    "StageStats",
    "StallIndex",
    "StalledEpisode",
    "Visit",
    "apply_deal_event",
    "combine",
    "stage_key",
]
