"""The dispatcher's retry, backoff and rate-limit decisions, with a recording sender."""

from __future__ import annotations

from streamer.notify.config import NotificationSettings
from streamer.notify.delivery import Dispatcher, backoff_seconds
from streamer.notify.message import Item, Notification, Outcome


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


class Scripted:
    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[tuple[str, float]] = []

    async def send(self, notification: Notification, now: float) -> Outcome:
        self.sent.append((notification.id, now))
        return self.outcomes.pop(0) if self.outcomes else Outcome.delivered()


SETTINGS = NotificationSettings(
    receivers={"hook": {"type": "slack_webhook", "url": "https://x"}},
    retry={"max_attempts": 3, "backoff_initial_seconds": 1, "backoff_max_seconds": 60},
)


def note(i: int = 1) -> Notification:
    return Notification(f"n{i}", "hook", "", "firing", (Item("firing", {}),), 0)


def dispatcher(sender: Scripted, clock: Clock) -> Dispatcher:
    d = Dispatcher(SETTINGS, clock=clock.time, sleep=clock.sleep)
    d.use_sender("hook", sender)
    return d


async def test_one_message_a_second_per_target():
    clock, sender = Clock(), Scripted()
    d = dispatcher(sender, clock)
    for i in range(3):
        assert (await d.deliver(note(i))).outcome.ok
    assert [t for _, t in sender.sent] == [1000.0, 1001.0, 1002.0]


async def test_429_waits_retry_after_and_is_not_a_failed_try():
    clock, sender = Clock(), Scripted(*[Outcome.again("rate_limited", 7, True)] * 4)
    result = await dispatcher(sender, clock).deliver(note())
    assert result.outcome.ok and result.attempts == 1 and result.rate_limited == 4
    assert [t for _, t in sender.sent] == [1000, 1007, 1014, 1021, 1028]


async def test_5xx_backs_off_then_gives_up_and_broken_stops_at_once():
    clock, sender = Clock(), Scripted(*[Outcome.again("http_500")] * 5)
    result = await dispatcher(sender, clock).deliver(note())
    assert not result.outcome.ok and result.attempts == 3 and result.outcome.reason == "http_500"
    assert len(sender.sent) == 3
    clock, sender = Clock(), Scripted(Outcome.broken("http_404_channel_not_found"))
    result = await dispatcher(sender, clock).deliver(note())
    assert result.attempts == 1 and not result.outcome.retry


def test_backoff_doubles_and_is_capped():
    assert [backoff_seconds(a, SETTINGS.retry) for a in (1, 2, 3, 7, 8)] == [1, 2, 4, 60, 60]


class DownFor:
    """A receiver that fails every try (5xx) until ``seconds`` of the clock have passed."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock, self.until = clock, clock.now + seconds
        self.sent: list[float] = []

    async def send(self, notification: Notification, now: float) -> Outcome:
        self.sent.append(now)
        return Outcome.delivered() if now >= self.until else Outcome.again("http_500")


async def test_default_retries_outlast_a_two_minute_outage_and_use_the_receiver_soon_after():
    """The first tries are waited for in line (a few seconds), the rest come back as
    ``retry_in`` (the agent parks the notification and calls again with the tries made)."""
    defaults = NotificationSettings(receivers={"hook": {"type": "slack_webhook", "url": "x"}})
    clock = Clock()
    receiver = DownFor(clock, 120.0)
    d = Dispatcher(defaults, clock=clock.time, sleep=clock.sleep)
    d.use_sender("hook", receiver)
    retry = defaults.retry
    result = await d.deliver(note())
    assert result.retry_in is not None and not result.outcome.ok
    assert sum(clock.slept) <= retry.inline_seconds, "held in line only briefly"
    calls = 1
    while result.retry_in is not None:
        clock.now += result.retry_in  # parked until then
        result = await d.deliver(note(), result.attempts)
        calls += 1
    assert result.outcome.ok, (result, receiver.sent)
    back_after = receiver.sent[-1] - receiver.until
    assert 0 <= back_after <= retry.backoff_max_seconds * 1.2  # the next try, jitter included
    assert result.attempts < retry.max_attempts, "attempts to spare beyond two minutes"
    assert result.attempts == len(receiver.sent) and calls > 1


async def test_a_receiver_down_for_good_goes_to_the_dlq_after_max_attempts_in_all():
    defaults = NotificationSettings(receivers={"hook": {"type": "slack_webhook", "url": "x"}})
    clock = Clock()
    receiver = DownFor(clock, 1e9)
    d = Dispatcher(defaults, clock=clock.time, sleep=clock.sleep)
    d.use_sender("hook", receiver)
    result = await d.deliver(note())
    while result.retry_in is not None:
        clock.now += result.retry_in
        result = await d.deliver(note(), result.attempts)
    assert not result.outcome.ok and result.outcome.reason == "http_500"
    assert result.attempts == len(receiver.sent) == defaults.retry.max_attempts
