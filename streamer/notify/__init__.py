"""Alert delivery to people: lifecycle, routing, Slack, email, webhooks, the delivery log.

One concept per module: ``config`` (settings models), ``lifecycle`` (what to
tell, pure), ``routing`` (to whom and when, pure), ``slack`` / ``email`` /
``webhook`` (formats and senders), ``delivery`` (retries, rate limits, the log),
``agents`` (the Faust agents, via :func:`register_notifications`).

Nothing is imported here eagerly: ``streamer.settings`` imports ``config``, and
``agents`` imports Faust.
"""

from __future__ import annotations

from typing import Any

__all__ = ["register_notifications"]


def __getattr__(name: str) -> Any:
    if name == "register_notifications":
        from .agents import register_notifications

        return register_notifications
    raise AttributeError(name)
