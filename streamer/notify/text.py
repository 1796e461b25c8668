"""Words shared by every format: headlines, the numbers, the subject, the times."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["KIND_WORD", "closed_line", "headline", "numbers", "subject_line", "when_line"]

KIND_WORD = {"firing": "Firing", "reminder": "Still firing", "resolved": "Resolved"}
_EMOJI = {"firing": "\U0001f6a8", "reminder": "\U0001f501", "resolved": "\u2705"}


def headline(kind: str, alert: Mapping[str, Any], emoji: bool = False) -> str:
    """``<Kind>: <title>``, the kind said once: a title that already starts with it (as
    resolved rep alerts did before their titles said what happened) is not prefixed again."""
    mark = f"{_EMOJI.get(kind, '')} " if emoji else ""
    word = KIND_WORD.get(kind, kind)
    title = str(alert.get("title", alert.get("alert_key")))
    while title.startswith(f"{word}: "):
        title = title[len(word) + 2 :]
    return f"{mark}{word}: {title}"


def numbers(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The metrics that made the decision, as (name, value) text pairs."""
    out = []
    for name, value in (alert.get("metrics") or {}).items():
        if isinstance(value, float):
            shown = f"{value:,.1f}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"
        else:
            shown = "–" if value is None else str(value)
        out.append((name.replace("_", " "), shown))
    return out


def subject_line(alert: Mapping[str, Any]) -> str:
    subject = alert.get("subject") or {}
    parts = [f"{subject.get('kind', '?')} {subject.get('id', '?')}"]
    if alert.get("rep_id") and subject.get("kind") != "rep":
        parts.append(f"rep {alert['rep_id']}")
    if alert.get("team_id"):
        parts.append(f"team {alert['team_id']}")
    return " · ".join(parts)


def when_line(kind: str, alert: Mapping[str, Any]) -> str:
    started = str(alert.get("started_at", "")).replace("T", " ").replace("Z", " UTC")
    if kind == "resolved" and alert.get("resolved_at"):
        ended = str(alert["resolved_at"]).replace("T", " ").replace("Z", " UTC")
        return f"since {started}, resolved {ended}"
    return f"since {started}"


# what one episode of a rule is called in a sentence (singular, plural); other rules say
# "<rule> alert(s)"
_EPISODE_NOUN = {
    "deal_stalled": ("stalled deal", "stalled deals"),
    "follow_up_gap": ("follow-up gap", "follow-up gaps"),
}


def _episodes(rule: str, n: int) -> str:
    one, many = _EPISODE_NOUN.get(rule, (f"{rule} alert", f"{rule} alerts"))
    return f"{n:,} {one if n == 1 else many}"


def closed_line(closed: Mapping[str, int]) -> str | None:
    """The one line a digest gives the episodes it left out because they opened and
    closed since the last digest, e.g. "3 follow-up gaps opened and closed since the
    last digest"; None when there were none."""
    parts = [_episodes(rule, n) for rule, n in sorted(closed.items()) if n > 0]
    if not parts:
        return None
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{listed} opened and closed since the last digest"
