"""``kafka up | down | status`` against a real broker.

Every test uses its own data dir and a free port, so a developer's broker on
9092 is never touched. Waits are on conditions with deadlines, not sleeps.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamer.devtools import devkafka
from streamer.devtools.devkafka import (
    KAFKA_VERSION,
    DevKafkaError,
    kafka_down,
    kafka_status,
    kafka_up,
)
from streamer.settings import Settings, load_settings

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="needs java on PATH")
needs_broker = [pytest.mark.kafka, needs_java]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(data_dir: Path, port: int | None = None) -> Settings:
    return load_settings(kafka_bootstrap=f"127.0.0.1:{port or free_port()}", data_dir=data_dir)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def pid_of(settings: Settings) -> int:
    return int((Path(settings.data_dir) / "kafka" / "kafka.pid").read_text())


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """One broker for the module on a free port, removed with its data afterwards."""
    settings = settings_for(tmp_path_factory.mktemp("devkafka"))
    kafka_up(settings, timeout=120)
    try:
        yield settings
    finally:
        kafka_down(settings, purge=True)


@pytest.mark.kafka
@needs_java
def test_status_reports_running_broker_and_second_up_is_a_quick_no_op(
    broker: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    running, text = kafka_status(broker)
    assert running
    pid = pid_of(broker)
    assert f"pid {pid}" in text
    assert broker.kafka_bootstrap in text
    assert KAFKA_VERSION in text
    assert str((Path(broker.data_dir) / "kafka").resolve()) in text

    started = time.monotonic()
    kafka_up(broker, timeout=30)
    assert time.monotonic() - started < 5
    assert pid_of(broker) == pid
    assert "already running" in capsys.readouterr().err


@pytest.mark.kafka
@needs_java
async def test_produce_consume_roundtrip_through_aiokafka(broker: Settings) -> None:
    topic = f"devkafka-{uuid.uuid4().hex}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=broker.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"deal won", key=b"deal-1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.kafka_bootstrap,
        group_id=f"devkafka-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=60)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"deal-1", b"deal won")


@pytest.mark.kafka
@needs_java
def test_down_stops_restart_keeps_data_and_purge_removes_it(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
    home = tmp_path / "kafka"

    kafka_up(settings, timeout=120)
    kafka_down(settings)
    assert kafka_status(settings)[0] is False
    assert "not running" in kafka_status(settings)[1]
    wait_until(lambda: refuses_connections(port), 10, "the port to close")
    assert (home / "data" / "meta.properties").is_file()

    kafka_up(settings, timeout=120)  # starts again on the formatted data
    assert kafka_status(settings)[0] is True
    kafka_down(settings, purge=True)
    assert not home.exists()
    assert refuses_connections(port)


@pytest.mark.kafka
@needs_java
def test_broker_exiting_during_start_up_shows_its_log(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    kafka_up(settings, timeout=120)
    kafka_down(settings)
    meta = tmp_path / "kafka" / "data" / "meta.properties"
    meta.write_text(meta.read_text().replace("node.id=1", "node.id=7"))
    try:
        with pytest.raises(DevKafkaError, match="exited during start-up") as caught:
            kafka_up(settings, timeout=120)
        assert "server.log" in str(caught.value)
        assert "\n" not in str(caught.value)
    finally:
        kafka_down(settings, purge=True)


def test_port_taken_by_something_else_is_refused(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        expected = f"port {port} .* already in use by another process"
        with pytest.raises(DevKafkaError, match=expected):
            kafka_up(settings_for(tmp_path, port))
    assert kafka_status(settings_for(tmp_path, port))[0] is False


def test_missing_java_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(DevKafkaError, match=r"java not found on PATH: .*install OpenJDK 17"):
        kafka_up(settings_for(tmp_path / "data"))


@needs_java
def test_missing_maven_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy = tmp_path / "deploy"  # a fresh copy, so there is no cached classpath
    deploy.mkdir()
    shutil.copy(devkafka._DEPLOY_DIR / "pom.xml", deploy / "pom.xml")
    monkeypatch.setattr(devkafka, "_DEPLOY_DIR", deploy)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(Path(shutil.which("java") or "java").resolve())
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(DevKafkaError, match=r"mvn not found on PATH: .*install"):
        kafka_up(settings_for(tmp_path / "data"))


@pytest.mark.kafka
@needs_java
@pytest.mark.skipif(shutil.which("mvn") is None, reason="needs mvn on PATH")
def test_maven_failure_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    pom = (devkafka._DEPLOY_DIR / "pom.xml").read_text()
    (deploy / "pom.xml").write_text(
        pom.replace(f"<kafka.version>{KAFKA_VERSION}<", "<kafka.version>0.0.0-no-such-release<")
    )
    monkeypatch.setattr(devkafka, "_DEPLOY_DIR", deploy)
    with pytest.raises(DevKafkaError, match="Maven could not download") as caught:
        kafka_up(settings_for(tmp_path / "data"))
    assert "0.0.0-no-such-release" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_up_refuses_a_remote_bootstrap(tmp_path: Path) -> None:
    settings = load_settings(kafka_bootstrap="kafka.example.com:9092", data_dir=tmp_path)
    with pytest.raises(DevKafkaError, match="only manages a local broker"):
        kafka_up(settings)


def test_status_and_down_of_a_never_started_dir(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    running, text = kafka_status(settings)
    assert running is False
    assert "not running" in text
    kafka_down(settings, purge=True)  # nothing to do, no error
