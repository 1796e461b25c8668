"""The Faust edge: the worker app, its agents and tables, the consumer fast path and
the pages it serves.

:mod:`.worker` builds the app around :class:`streamer.core.processor.Processor`,
:mod:`.fastpath` is the consumer fast path (the only code that reaches into Faust's
and mode's internals), :mod:`.shared_feed` keeps every worker's copy of the shared
view, and :mod:`.kpi_export` turns the KPI report into metrics. This is the only
package that touches Faust internals; it may import :mod:`streamer.core` and the
top-level runtime modules (settings, metrics, logs, kafka_admin, notify), and
nothing outside it imports it except the command line. Nothing is imported here
eagerly: importing Faust is slow and not every command needs it.
"""

__all__ = ["fastpath", "kpi_export", "shared_feed", "worker"]
