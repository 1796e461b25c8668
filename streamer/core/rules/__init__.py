"""Business rules: pure functions of state and ``now`` to alerts."""

from .alerting import AlertDraft
from .deal_stalled import StageBaseline, baseline, evaluate_stalled

__all__ = ["AlertDraft", "StageBaseline", "baseline", "evaluate_stalled"]
