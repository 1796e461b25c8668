"""A faster hand-over of fetched messages in Faust's consumer (faust-streaming 0.15.3).

Faust's drain loop (``Consumer._drain_messages``) hands every fetched message to the
conductor through ``wait_first(callback(message), suspend_flow.wait())``, so that a
rebalance (which suspends the flow) can abandon a hand-over that is blocked. That costs
four tasks, an ``asyncio.wait`` and their cancellation for *every* message, most of a bare
agent's time per message.

The hand-over can only block in two places: flow control (suspended during a rebalance)
and the producer buffer (over its limit while a stream's side effects are sent). When
neither is the case at the moment the message is handed over, the callback runs to its
end without waiting for anything, and ``await callback(message)`` is exactly what the
``wait_first`` would have done, minus the tasks. Otherwise the original path is taken.
Ordering, offsets, acks and commits are untouched: the loop body is Faust's own.

:func:`install` makes an app's transport create :class:`FastPathConsumer`; the loop below
is Faust's, changed only where marked, so it can go upstream as it is.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from mode import Service

__all__ = ["THROUGHPUT_SETTINGS", "FastPathConsumer", "install"]

THROUGHPUT_SETTINGS: dict[str, Any] = {
    # Fetch more per partition and round trip (Faust's default is 1 MiB) and let a stream
    # buffer more before fetching pauses (default 4,096), so the agents are not left
    # waiting on the consumer thread between batches (bench/README.md).
    "consumer_max_fetch_size": 4 * 1024 * 1024,
    "stream_buffer_maxsize": 65_536,
}


class FastPathConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer with the hand-over fast path (see the module)."""

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        flag_consumer_fetching = CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        # fast path: what the hand-over could wait for
        flow_suspended = self.suspend_flow.is_set
        app_flow_suspended = self.app.flow_control._suspend.is_set
        producer_buffer = self.app.producer.buffer

        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                ait = cast(Any, getmany(timeout=1.0))
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0

                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset:
                                acks_enabled = acks_enabled_for(message.topic)
                                if acks_enabled:
                                    await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None:  # noqa: SIM102 - Faust's loop as it is
                                if self._n_acked >= commit_every:
                                    self._n_acked = 0
                                    await self.commit()
                            # --- fast path (the only change to Faust's loop) ---
                            if (
                                not flow_suspended()
                                and not app_flow_suspended()
                                and producer_buffer.size <= producer_buffer.max_messages
                            ):
                                await callback(message)
                            else:
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            # --- end of the fast path ---
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev(
                                "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                                offset,
                                message.key,
                                message.value,
                            )
                    unset_flag(flag_consumer_fetching)

        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(flag_consumer_fetching)


def install(app: Any) -> None:
    """Make ``app`` consume through :class:`FastPathConsumer` (before it starts)."""
    app.transport.Consumer = FastPathConsumer
