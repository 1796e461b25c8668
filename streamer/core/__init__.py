"""The pure domain: state, rules, figures and the processor that drives them.

Everything here is a function of the events it is given and the times carried in
them: :mod:`.state` (values and folds), :mod:`.rules` (state and ``now`` to
alerts), :mod:`.figures` and :mod:`.kpis` (what is reported), :mod:`.deal_engine`
and :mod:`.rep_engine` (the two sides), :mod:`.event_time` (bounds and lateness),
:mod:`.routing` (which side and partition an event belongs to), :mod:`.processor`
(the one loop both the Faust worker and ``salespulse replay`` drive),
:mod:`.dead_letter`, :mod:`.backtest_figures` and :mod:`.timeutil`. It may import
:mod:`schemas`, :mod:`streamer.settings` and plain libraries, and nothing of Faust,
aiokafka or mode, nor read the wall clock: the drivers outside bring the events and
the time. Nothing is imported here eagerly.
"""

__all__ = [
    "backtest_figures",
    "dead_letter",
    "deal_engine",
    "event_time",
    "figures",
    "kpis",
    "processor",
    "rep_engine",
    "routing",
    "rules",
    "state",
    "timeutil",
]
