"""Where a worker's time goes: py-spy over one worker with every rule on, draining a backlog.

    python -m bench.profile_worker [EVENTS] [--seconds S] [--out DIR]

Writes the data set (simulator) to fresh topics, starts one worker on the event clock and
records it with ``py-spy`` (``pip install py-spy``; needs ptrace rights) while it drains
the backlog: ``DIR/worker.collapsed`` (all threads, idle included) and a summary of the
functions with the most own and total samples on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from streamer.core.timeutil import DAY
from streamer.kafka_admin import ensure_topics

from .common import Figures, WorkerProcess, all_rules_settings, get_json
from .throughput import DataSet


def summarize(collapsed: Path, top: int = 30) -> str:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        frames = stack.split(";")
        threads[frames[0]] += n
        own[frames[-1]] += n
        for frame in set(frames[1:]):
            total[frame] += n
    out = [f"{samples} samples"]
    out += [f"  thread {t}: {n / samples:.1%}" for t, n in threads.most_common()]
    out.append("own time:")
    out += [f"  {n / samples:6.1%}  {f}" for f, n in own.most_common(top)]
    out.append("total time:")
    out += [f"  {n / samples:6.1%}  {f}" for f, n in total.most_common(top)]
    return "\n".join(out)


async def main(events: int, seconds: float, out: Path) -> None:
    if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="salespulse-profile-") as tmp:
        data = DataSet(Path(tmp), events)
        await data.make(Figures())
        settings = all_rules_settings(
            Path(tmp) / "w", topics=data.settings.topics, partitions=6, clock="event",
            allowed_lateness_seconds=DAY,
        )  # fmt: skip
        await ensure_topics(settings)
        worker = WorkerProcess(settings, Path(tmp) / "worker.log")
        worker.start()
        try:
            while True:  # profile the steady state: from the first processed message on
                try:
                    if get_json(settings, "/progress")["processed"]:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            assert worker.proc is not None
            collapsed = out / "worker.collapsed"
            subprocess.run(
                [
                    pyspy,
                    "record",
                    "--pid",
                    str(worker.proc.pid),
                    "--duration",
                    str(int(seconds)),
                    "--rate",
                    "200",
                    "--threads",
                    "--idle",
                    "--format",
                    "raw",
                    "--output",
                    str(collapsed),
                    "--nonblocking",
                ],  # fmt: skip
                check=True,
                capture_output=True,
            )
        finally:
            worker.stop()
        print(summarize(collapsed))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="?", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/profile"))
    args = parser.parse_args()
    asyncio.run(main(args.events, args.seconds, args.out))
