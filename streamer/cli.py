"""The ``salespulse`` console script (contract section 6)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import sys
from collections.abc import Iterator, Sequence

from .settings import Settings, SettingsError, load_settings

__all__ = ["main"]


def _cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from faust.worker import Worker as FaustWorker

    from .faust_app.worker import build_worker
    from .kafka_admin import TopicSetupError, ensure_topics
    from .logs import get_logger

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        layout = loop.run_until_complete(ensure_topics(settings))
    except TopicSetupError as error:
        print(f"salespulse worker: {error}", file=sys.stderr)
        return 2
    worker = build_worker(settings, layout)
    get_logger(__name__).info(
        "worker_starting",
        app_id=settings.app_id,
        partitions=layout.deals,
        rep_partitions=layout.reps,
        clock=settings.clock,
        web_port=settings.web_port,
        store=settings.store,
    )
    FaustWorker(
        worker.app,
        loglevel=settings.log_level.lower(),
        quiet=True,
        loop=loop,
    ).execute_from_commandline()
    return 0


def _cmd_kafka(settings: Settings, args: argparse.Namespace) -> int:
    from .devtools.devkafka import DevKafkaError, kafka_down, kafka_status, kafka_up

    try:
        if args.action == "up":
            kafka_up(settings)
            return 0
        if args.action == "down":
            kafka_down(settings, purge=args.purge)
            return 0
        running, text = kafka_status(settings)
        print(text)
        return 0 if running else 1
    except DevKafkaError as error:
        print(f"salespulse kafka {args.action}: {error}", file=sys.stderr)
        return 2


def _cmd_schemas(settings: Settings, args: argparse.Namespace) -> int:
    from schemas import export_json_schemas

    written = export_json_schemas(args.directory)
    print(f"wrote {len(written)} JSON Schemas to {args.directory}", file=sys.stderr)
    return 0


def _cmd_alerts(settings: Settings, args: argparse.Namespace) -> int:
    from .alerts_cli import follow_alerts

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow_alerts(settings, from_beginning=not args.new_only, as_json=args.json))
    return 0


def _cmd_alert_command(settings: Settings, args: argparse.Namespace) -> int:
    import getpass
    from datetime import UTC, datetime

    from .notify.commands import build_command, parse_until, send_command

    now = datetime.now(UTC)
    try:
        until = parse_until(args.until, now) if getattr(args, "until", None) else None
        command = build_command(
            args.alerts_command, args.key, args.by or getpass.getuser(), now, until, args.reason
        )
    except ValueError as error:
        print(f"salespulse alerts {args.alerts_command}: {error}", file=sys.stderr)
        return 2
    asyncio.run(send_command(settings, command))
    print(f"{args.alerts_command} sent for {args.key}", file=sys.stderr)
    return 0


def _cmd_gateway(settings: Settings, args: argparse.Namespace) -> int:
    from .gateway.server import run_gateway

    return run_gateway(settings)


def _cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from .devtools import simulate

    return simulate.run(settings, args)


def _cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from . import replay

    return replay.run(settings, args)


def _cmd_backtest(settings: Settings, args: argparse.Namespace) -> int:
    from . import backtest

    return backtest.run(settings, args)


def _cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from .devtools.demo import run_demo

    return run_demo(settings, args)


def _parser() -> argparse.ArgumentParser:
    from .backtest import add_arguments as backtest_arguments
    from .devtools import simulate
    from .devtools.demo import add_arguments as demo_arguments
    from .replay import add_arguments as replay_arguments

    parser = argparse.ArgumentParser(
        prog="salespulse",
        description="Streaming alerts for sales teams: CRM events in from Kafka, "
        "explained alerts out. Settings: SALESPULSE_* variables and salespulse.toml.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    worker = sub.add_parser("worker", help="run the stream processor (a Faust worker)")
    worker.set_defaults(func=_cmd_worker)

    gateway = sub.add_parser(
        "gateway", help="receive CRM webhooks and Slack actions, produce contract events"
    )
    gateway.set_defaults(func=_cmd_gateway)

    kafka = sub.add_parser("kafka", help="a local single-node Apache Kafka for development")
    kafka.add_argument("action", choices=["up", "down", "status"])
    kafka.add_argument("--purge", action="store_true", help="with down: delete its data too")
    kafka.set_defaults(func=_cmd_kafka)

    demo = sub.add_parser("demo", help="Kafka, a worker, the simulator and alerts, on one machine")
    demo_arguments(demo)
    demo.set_defaults(func=_cmd_demo)

    sim = sub.add_parser("simulate", help="write a realistic stream of CRM events to Kafka")
    simulate.add_arguments(sim)
    sim.set_defaults(func=_cmd_simulate)

    replay = sub.add_parser(
        "replay", help="run the rules over a JSON-lines file of events, on event time"
    )
    replay_arguments(replay)
    replay.set_defaults(func=_cmd_replay)

    backtest = sub.add_parser(
        "backtest", help="what each rule would have said over a file of events, and how well"
    )
    backtest_arguments(backtest)
    backtest.set_defaults(func=_cmd_backtest)

    alerts = sub.add_parser("alerts", help="follow the alerts topic and print alerts readably")
    alerts.add_argument("--new-only", action="store_true", help="skip alerts already on the topic")
    alerts.add_argument("--json", action="store_true", help="print the raw JSON messages")
    alerts.set_defaults(func=_cmd_alerts)
    alerts_sub = alerts.add_subparsers(dest="alerts_command", metavar="ACTION")
    for action, text in (
        ("ack", "acknowledge an alert: no more reminders for this episode"),
        ("snooze", "hold an alert's notifications back until a time"),
        ("unsnooze", "end a snooze now"),
    ):
        command = alerts_sub.add_parser(action, help=text)
        command.add_argument("key", metavar="KEY", help="the alert_key, e.g. deal_stalled:deal:d-9")
        command.add_argument("--by", help="who (default: the login name)")
        command.add_argument("--reason", help="why, in your words")
        if action == "snooze":
            command.add_argument(
                "--until", required=True, help="a duration (30m, 2h, 1d) or an RFC 3339 time"
            )
        command.set_defaults(func=_cmd_alert_command)

    schemas = sub.add_parser("schemas", help="JSON Schemas of every event and alert")
    schemas_sub = schemas.add_subparsers(dest="schemas_command", required=True)
    export = schemas_sub.add_parser("export", help="write the JSON Schemas to DIR")
    export.add_argument("directory", metavar="DIR")
    export.set_defaults(func=_cmd_schemas)
    return parser


@contextlib.contextmanager
def fewer_collections(young: int = 50_000) -> Iterator[None]:
    """Run the body with Python's cycle collector started every ``young`` allocations
    instead of every 700 (the other generations' settings kept); restored after. Every
    command runs so (a worker and a replay allocate alike).

    A replay allocates a few dozen short-lived objects per event and keeps a few (deal
    and rep states) for good; at 700 the collector ran every few events and went over
    the kept ones again and again: a fifth of the CPU of replaying 100,000 events, for
    no memory given back (that replay's peak RSS is the same either way)."""
    before = gc.get_threshold()
    gc.set_threshold(young, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"salespulse: {error}", file=sys.stderr)
        return 2
    from .logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    try:
        with fewer_collections():
            return int(args.func(settings, args))
    except BrokenPipeError:
        # the reader went away (`salespulse alerts | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
