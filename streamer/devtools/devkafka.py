"""A real single-node Apache Kafka (KRaft) on 127.0.0.1 for development and tests.

Behind ``salespulse kafka up | down | status``. The broker's jars come from
Maven Central through the small Maven project in ``deploy/kafka/`` and are
cached in ``deploy/kafka/target/lib`` (fetched again only when the pom
changes). Everything the broker writes lives in ``settings.data_dir / "kafka"``:

* ``data/``           KRaft metadata and topic logs (formatted on first ``up``)
* ``logs/``           ``server.log`` (log4j) and ``console.log`` (JVM stdout/stderr)
* ``server.properties`` the broker config, rewritten by every ``up``
* ``kafka.pid``       the pid of the broker this directory started
* ``broker.json``     port, version and start time, for ``status``

The broker runs as broker and controller in one JVM, detached in its own
session so it outlives the command that started it. Its client listener is the
port of ``settings.kafka_bootstrap``; the controller listens on a free
loopback port chosen at each start (the quorum is static, so the port is not
stored in the metadata log). Only POSIX systems are supported.

Every failure a developer can act on raises :class:`DevKafkaError` with a
one-line message saying what to do.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from streamer.kafka_admin import INPUT_MAX_MESSAGE_BYTES
from streamer.settings import Settings

__all__ = ["KAFKA_VERSION", "DevKafkaError", "kafka_down", "kafka_status", "kafka_up"]

#: The Apache Kafka release run by ``kafka up``; equal to ``kafka.version`` in deploy/kafka/pom.xml.
KAFKA_VERSION = "4.4.0"

MIN_JAVA = 17
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
BIND_HOST = "127.0.0.1"

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_DEPLOY_DIR = _PROJECT_ROOT / "deploy" / "kafka"

_MAVEN_TIMEOUT = 900.0  # a cold download on a slow link; separate from the start-up timeout
_STOP_TIMEOUT = 30.0
_PROBE_TIMEOUT = 2.0
_PROGRESS_EVERY = 5.0
_LOG_TAIL_LINES = 8
_JVM_OPTS = (
    "-Xms256m",
    "-Xmx2g",  # thousands of partitions (a long-lived dev broker under many test runs)
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
_MAIN_CLASS = "kafka.Kafka"
_MARKER = "-Dsalespulse.devkafka="  # on the broker's command line: which directory started it


class DevKafkaError(RuntimeError):
    """``kafka up/down/status`` cannot do what was asked; the message says why and what to do."""


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Layout:
    """Where one development broker keeps everything, and the port it serves."""

    home: Path
    host: str
    port: int

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    @property
    def pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def state_file(self) -> Path:
        return self.home / "broker.json"

    @property
    def lock_file(self) -> Path:
        return self.home / ".lock"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def marker(self) -> str:
        return f"{_MARKER}{self.home}"


def _layout(settings: Settings, *, local_only: bool) -> _Layout:
    home = (Path(settings.data_dir) / "kafka").resolve()
    entries = [e.strip() for e in settings.kafka_bootstrap.split(",") if e.strip()]
    host, port = _parse_address(entries[0]) if entries else ("", 0)
    if local_only:
        if len(entries) != 1 or host not in LOCAL_HOSTS:
            raise DevKafkaError(
                f"kafka up only manages a local broker on 127.0.0.1, but kafka_bootstrap is "
                f"{settings.kafka_bootstrap!r}; set SALESPULSE_KAFKA_BOOTSTRAP=127.0.0.1:9092 "
                f"(or another local port) to use it"
            )
        if settings.kafka.security_protocol != "PLAINTEXT":
            raise DevKafkaError(
                f"kafka up runs a PLAINTEXT broker, but kafka.security_protocol is "
                f"{settings.kafka.security_protocol}; set SALESPULSE_KAFKA__SECURITY_PROTOCOL="
                f"PLAINTEXT to use it"
            )
    return _Layout(home=home, host=host, port=port)


def _parse_address(entry: str) -> tuple[str, int]:
    entry = re.sub(r"^[A-Za-z_]+://", "", entry)  # tolerate PLAINTEXT://host:port
    host, sep, port = entry.rpartition(":")
    if not sep:
        host, port = entry, "9092"
    host = host.strip("[]")
    try:
        number = int(port)
    except ValueError:
        raise DevKafkaError(f"kafka_bootstrap entry {entry!r} has no valid port") from None
    if not 0 < number < 65536:
        raise DevKafkaError(f"kafka_bootstrap entry {entry!r}: port must be 1..65535")
    return host, number


# --------------------------------------------------------------------------- process


def _read_pid(layout: _Layout) -> int | None:
    try:
        return int(layout.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _command_line(pid: int) -> str | None:
    """The command line of a live, non-zombie process, or None."""
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return None
            return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            return None
    try:  # no /proc (macOS): ask ps
        out = subprocess.run(
            ["ps", "-o", "stat=", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not out or out.startswith("Z"):
        return None
    return out.split(None, 1)[1] if " " in out else ""


def _our_broker_pid(layout: _Layout) -> int | None:
    """The pid of the broker this directory started, if that process still runs.

    The pid file alone is not trusted (pids are reused): the process must be a
    Kafka JVM carrying this directory's marker on its command line.
    """
    pid = _read_pid(layout)
    if pid is None:
        return None
    cmdline = _command_line(pid)
    if cmdline and _MAIN_CLASS in cmdline and layout.marker in cmdline:
        return pid
    return None


def _alive(pid: int) -> bool:
    return _command_line(pid) is not None


@contextlib.contextmanager
def _locked(layout: _Layout) -> Iterator[None]:
    """Serialise up/down on one data directory (two terminals, parallel tests)."""
    layout.home.mkdir(parents=True, exist_ok=True)
    with open(layout.lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _say(message: str) -> None:
    print(f"kafka: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- probes


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as Java's server sockets do, so a port in TIME_WAIT counts as free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((BIND_HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((BIND_HOST, 0))
        return int(sock.getsockname()[1])


def _speaks_kafka(port: int, timeout: float = _PROBE_TIMEOUT) -> bool:
    """Whether 127.0.0.1:port answers a Kafka ApiVersions request (v0, plain socket).

    A broker accepts connections before it serves requests, so an answer here
    means its request handlers run. Needs no event loop and logs nothing.
    """
    correlation_id = 0x5A1E5
    client_id = b"salespulse-devkafka"
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((BIND_HOST, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exactly(sock, 8)
    except OSError:
        return False
    if header is None:
        return False
    _size, got_id = struct.unpack(">ii", header)
    return bool(got_id == correlation_id)


def _recv_exactly(sock: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _metadata_ok(bootstrap: str, timeout: float = _PROBE_TIMEOUT) -> bool:
    """Whether a real Kafka client gets cluster metadata listing a broker.

    Runs aiokafka on a fresh event loop in its own thread, so it also works
    when the caller already runs an event loop.
    """
    from aiokafka import AIOKafkaClient  # imported late: status/down don't need it

    async def probe() -> bool:
        client = AIOKafkaClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout * 1000),
            client_id="salespulse-devkafka",
        )
        try:
            await asyncio.wait_for(client.bootstrap(), timeout)
            metadata = await asyncio.wait_for(client.fetch_all_metadata(), timeout)
            return bool(metadata.brokers())
        finally:
            await client.close()

    result: list[bool] = []

    def run() -> None:
        try:
            result.append(asyncio.run(probe()))
        except Exception:  # any failure means: not ready yet
            result.append(False)

    thread = threading.Thread(target=run, name="devkafka-probe", daemon=True)
    thread.start()
    thread.join(timeout * 3 + 1)
    return bool(result and result[0])


def _answers(layout: _Layout) -> bool:
    return _speaks_kafka(layout.port) and _metadata_ok(f"{BIND_HOST}:{layout.port}")


# --------------------------------------------------------------------------- java and maven


def _require_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise DevKafkaError(
            f"java not found on PATH: kafka up needs a Java {MIN_JAVA}+ runtime "
            f"(install OpenJDK {MIN_JAVA} or newer, e.g. apt-get install "
            f"openjdk-{MIN_JAVA}-jre-headless or brew install openjdk@{MIN_JAVA}, and put its bin/ "
            f"on PATH)"
        )
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError) as error:
        raise DevKafkaError(f"cannot run {java} -version: {error}") from None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match:
        major = int(match.group(1))
        if major == 1 and match.group(2):  # "1.8.0_392"
            major = int(match.group(2))
        if major < MIN_JAVA:
            raise DevKafkaError(
                f"{java} is Java {major}, but Apache Kafka {KAFKA_VERSION} needs Java "
                f"{MIN_JAVA} or newer; install OpenJDK {MIN_JAVA}+ and put it first on PATH"
            )
    return java


def _lib_dir() -> Path:
    return _DEPLOY_DIR / "target" / "lib"


def _pom_digest() -> str:
    pom = _DEPLOY_DIR / "pom.xml"
    try:
        content = pom.read_bytes()
    except OSError:
        raise DevKafkaError(f"{pom} is missing; kafka up runs from a source checkout") from None
    return hashlib.sha256(content).hexdigest()


def _ensure_jars() -> Path:
    """Fetch the broker's jars into deploy/kafka/target/lib unless the cache is current."""
    lib = _lib_dir()
    stamp = lib / ".pom-sha256"
    digest = _pom_digest()
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return lib
    target = lib.parent
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".lock", "w") as handle:  # two `up`s at once fetch once
        fcntl.flock(handle, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return lib
        mvn = shutil.which("mvn")
        if mvn is None:
            raise DevKafkaError(
                "mvn not found on PATH: kafka up fetches Apache Kafka from Maven Central with "
                "Apache Maven 3.6+ (install it, e.g. apt-get install maven or brew install maven)"
            )
        _say(f"fetching Apache Kafka {KAFKA_VERSION} jars with Maven (once; cached in {lib})")
        staging = target / "lib.partial"
        shutil.rmtree(staging, ignore_errors=True)
        command = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(_DEPLOY_DIR / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=_MAVEN_TIMEOUT, cwd=_DEPLOY_DIR
            )
        except subprocess.TimeoutExpired:
            raise DevKafkaError(
                f"Maven did not finish fetching the Kafka jars within {_MAVEN_TIMEOUT:.0f}s; "
                f"check the network to Maven Central and run kafka up again"
            ) from None
        if done.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            reason = _maven_reason(done.stdout + done.stderr)
            raise DevKafkaError(
                f"Maven could not download Apache Kafka {KAFKA_VERSION} from Maven Central "
                f"(network, proxy or ~/.m2/settings.xml?): {reason}"
            )
        (staging / ".pom-sha256").write_text(digest + "\n")
        shutil.rmtree(lib, ignore_errors=True)
        staging.rename(lib)
    return lib


def _maven_reason(output: str) -> str:
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in output.splitlines()]
    errors = [line.removeprefix("[ERROR]").strip() for line in lines if line.startswith("[ERROR]")]
    errors = [line for line in errors if line and not line.startswith(("->", "To see", "Re-run"))]
    reason = errors[0] if errors else next((line for line in lines if line), "no output")
    return reason if len(reason) <= 400 else reason[:397] + "..."


# --------------------------------------------------------------------------- config and start


def _server_properties(
    layout: _Layout, controller_port: int, advertised_port: int | None = None
) -> str:
    """The broker's config: one node, loopback only, single-replica internal topics."""
    advertised = advertised_port or layout.port
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{BIND_HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{BIND_HOST}:{layout.port},CONTROLLER://{BIND_HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{BIND_HOST}:{advertised}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(layout.data),
        # the project creates its topics explicitly; auto-creation stays on for ad-hoc use
        "auto.create.topics.enable": "true",
        "num.partitions": "6",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # a lone consumer should not wait 3 s for companions that never come
        "group.initial.rebalance.delay.ms": "0",
        # development data is kept until purged, not aged out under a running demo
        "log.retention.hours": "720",
        "log.retention.bytes": "-1",
        "log.segment.bytes": str(256 * 1024 * 1024),
        # Kafka's own default, written out because the size limits hang together: input
        # topics take this; the topics input is forwarded to (dead letters, late events)
        # and the worker's producer take more, for the headers (streamer/kafka_admin.py)
        "message.max.bytes": str(INPUT_MAX_MESSAGE_BYTES),
    }
    lines = [f"# written by salespulse kafka up for Apache Kafka {KAFKA_VERSION}, at every start"]
    lines += [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, url-safe base64 without padding, not starting '-'."""
    while True:
        value = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not value.startswith("-"):
            return value


def _java_command(java: str, lib: Path, layout: _Layout, *args: str) -> list[str]:
    return [
        java,
        *_JVM_OPTS,
        layout.marker,
        f"-Dkafka.logs.dir={layout.logs}",
        f"-Dlog4j2.configurationFile={_DEPLOY_DIR / 'log4j2.properties'}",
        "-cp",
        f"{lib}{os.sep}*",
        *args,
    ]


def _format_storage(java: str, lib: Path, layout: _Layout) -> None:
    if (layout.data / "meta.properties").is_file():
        return
    _say(f"formatting KRaft storage in {layout.data}")
    layout.data.mkdir(parents=True, exist_ok=True)
    command = _java_command(
        java, lib, layout, "kafka.tools.StorageTool", "format",
        "-t", _new_cluster_id(), "-c", str(layout.config),
    )  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()
        raise DevKafkaError(
            f"formatting Kafka storage in {layout.data} failed: "
            f"{output[-1] if output else 'exit code ' + str(done.returncode)}"
        )


def _spawn_detached(command: list[str], console_log: Path) -> int:
    """Start ``command`` in its own session, owned by init rather than by us.

    A throw-away shell backgrounds the JVM and exits, so the broker survives
    this process, is never left a zombie of it, and ignores its Ctrl-C.
    """
    script = f"{shlex.join(command)} </dev/null >>{shlex.quote(str(console_log))} 2>&1 &\necho $!\n"
    done = subprocess.run(
        ["/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=30,
    )
    try:
        return int(done.stdout.strip())
    except ValueError:
        raise DevKafkaError(f"could not start the broker: {done.stderr.strip()}") from None


_LOG_NAMES = ("console.log", "server.log")


def _log_sizes(layout: _Layout) -> dict[str, int]:
    """How far the logs go now, so an error shows this start's lines, not an old run's."""
    sizes = {}
    for name in _LOG_NAMES:
        try:
            sizes[name] = (layout.logs / name).stat().st_size
        except OSError:
            sizes[name] = 0
    return sizes


def _log_tail(layout: _Layout, since: dict[str, int]) -> str:
    """The error lines (else the last lines) logged since ``since``, joined into one line."""
    lines: list[str] = []
    for name in _LOG_NAMES:
        try:
            with open(layout.logs / name, "rb") as handle:
                handle.seek(since.get(name, 0))
                text = handle.read().decode(errors="replace")
        except OSError:
            continue
        lines += [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if " ERROR " in line or "Exception" in line]
    picked = (errors or lines)[-_LOG_TAIL_LINES:]
    return " | ".join(picked) if picked else "(nothing logged)"


def _wait_ready(
    layout: _Layout, pid: int, timeout: float, started: float, since: dict[str, int]
) -> None:
    deadline = started + timeout
    next_note = time.monotonic() + _PROGRESS_EVERY
    while True:
        if not _alive(pid):
            raise DevKafkaError(
                f"the broker exited during start-up (see {layout.logs / 'server.log'}): "
                f"{_log_tail(layout, since)}"
            )
        if _answers(layout):
            return
        now = time.monotonic()
        if now >= deadline:
            _stop(layout, pid)
            raise DevKafkaError(
                f"the broker did not answer on {layout.bootstrap} within {timeout:.0f}s and was "
                f"stopped (see {layout.logs / 'server.log'}): {_log_tail(layout, since)}"
            )
        if now >= next_note:
            _say(f"waiting for the broker on {layout.bootstrap} ({now - started:.0f}s)")
            next_note = now + _PROGRESS_EVERY
        time.sleep(0.2)


# --------------------------------------------------------------------------- stop


def _stop(layout: _Layout, pid: int, timeout: float = _STOP_TIMEOUT) -> bool:
    """SIGTERM (Kafka shuts down cleanly), SIGKILL after ``timeout``; True if it had to kill."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, 10.0):
        raise DevKafkaError(f"the broker (pid {pid}) did not exit even after SIGKILL")
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _forget(layout: _Layout) -> None:
    for path in (layout.pid_file, layout.state_file):
        path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- commands


def kafka_up(
    settings: Settings, *, timeout: float = 120.0, advertised_port: int | None = None
) -> None:
    """Start the development broker unless it runs; return once it answers clients.

    Progress goes to stderr. ``timeout`` bounds the wait for the broker to
    answer (the one-time Maven download has its own, longer limit). Raises
    :class:`DevKafkaError` on anything the developer has to fix.

    ``advertised_port`` (fault tests): the port the broker tells clients to connect
    to, where a proxy in front of it listens; the broker itself listens on the port
    of ``settings.kafka_bootstrap``, where the proxy forwards.
    """
    layout = _layout(settings, local_only=True)
    started = time.monotonic()
    with _locked(layout):
        pid = _our_broker_pid(layout)
        if pid is not None:
            running_port = _state(layout).get("port")
            if running_port not in (None, layout.port):
                raise DevKafkaError(
                    f"the dev broker of {layout.home} already runs on port {running_port}, not "
                    f"{layout.port}; run kafka down first to move it"
                )
            _wait_ready(layout, pid, timeout, started, _log_sizes(layout))
            _say(f"already running on {layout.bootstrap} (pid {pid})")
            return
        _forget(layout)
        if not _port_free(layout.port):
            what = "another Kafka broker" if _speaks_kafka(layout.port) else "another process"
            raise DevKafkaError(
                f"port {layout.port} on {BIND_HOST} is already in use by {what}, not by the dev "
                f"broker of {layout.home}; stop it or set SALESPULSE_KAFKA_BOOTSTRAP to a free "
                f"local port"
            )
        java = _require_java()
        lib = _ensure_jars()
        layout.logs.mkdir(parents=True, exist_ok=True)
        controller_port = _free_port()
        layout.config.write_text(_server_properties(layout, controller_port, advertised_port))
        _format_storage(java, lib, layout)
        _say(f"starting Apache Kafka {KAFKA_VERSION} on {layout.bootstrap} (logs in {layout.logs})")
        command = _java_command(java, lib, layout, _MAIN_CLASS, str(layout.config))
        since = _log_sizes(layout)
        pid = _spawn_detached(command, layout.logs / "console.log")
        layout.pid_file.write_text(f"{pid}\n")
        layout.state_file.write_text(
            json.dumps(
                {
                    "pid": pid,
                    "port": layout.port,
                    "controller_port": controller_port,
                    "version": KAFKA_VERSION,
                    "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                },
                indent=2,
            )
            + "\n"
        )
        _wait_ready(layout, pid, timeout, started, since)
        _say(f"ready on {layout.bootstrap} (pid {pid}, {time.monotonic() - started:.1f}s)")


def kafka_down(settings: Settings, *, purge: bool = False) -> None:
    """Stop the broker this data directory started; with ``purge`` also delete its data and logs."""
    layout = _layout(settings, local_only=False)
    if not layout.home.exists():
        _say(f"not running (nothing in {layout.home})")
        return
    with _locked(layout):
        pid = _our_broker_pid(layout)
        if pid is None:
            _say("not running")
        else:
            _say(f"stopping the broker (pid {pid})")
            if _stop(layout, pid):
                _say(f"the broker did not stop within {_STOP_TIMEOUT:.0f}s and was killed")
            else:
                _say("stopped")
        _forget(layout)
        if purge:
            shutil.rmtree(layout.home)
            _say(f"removed {layout.home}")


def kafka_status(settings: Settings) -> tuple[bool, str]:
    """Whether this data directory's broker runs, and a few lines saying where and what."""
    layout = _layout(settings, local_only=False)
    pid = _our_broker_pid(layout)
    if pid is None:
        lines = [f"kafka: not running (data dir {layout.home})"]
        if layout.host in LOCAL_HOSTS and layout.port and _speaks_kafka(layout.port, 1.0):
            lines.append(
                f"  note: something else answers Kafka on {layout.bootstrap}; "
                f"it was not started from this data dir"
            )
        return False, "\n".join(lines)
    state = _state(layout)
    port = state.get("port")
    port = port if isinstance(port, int) else layout.port
    bootstrap = f"{BIND_HOST}:{port}"
    answering = _speaks_kafka(port, 1.0)
    lines = [
        f"kafka: running (pid {pid})" + ("" if answering else ", not answering yet"),
        f"  bootstrap: {bootstrap}",
        f"  version:   Apache Kafka {state.get('version', 'unknown')}",
        f"  data dir:  {layout.home}",
        f"  logs:      {layout.logs / 'server.log'}",
    ]
    if state.get("started_at"):
        lines.append(f"  since:     {state['started_at']}")
    return True, "\n".join(lines)


def _state(layout: _Layout) -> dict[str, object]:
    try:
        value = json.loads(layout.state_file.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
