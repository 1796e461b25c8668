"""Developer tools, apart from the runtime: a local Kafka broker (:mod:`.devkafka`),
the traffic simulator (:mod:`.simulate`, with the figures it draws from in
:mod:`.simdata`), the CRM sample dataset read as events (:mod:`.crm_sample`) and
``salespulse demo`` (:mod:`.demo`). They may import anything in the project; the
runtime (the worker, the gateway, notifications and :mod:`streamer.core`) does not
import them, only the command line, the backtest and tests do. Nothing is imported
here eagerly.
"""

__all__ = ["crm_sample", "demo", "devkafka", "simdata", "simulate"]
