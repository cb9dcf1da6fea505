"""The run command as a real process: it comes up, answers, stops cleanly, and leaves no broker behind."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from gateway.runtime.embedded_broker import EmbeddedBroker, EmbeddedBrokerError

from .conftest import submitted_event

READY = re.compile(r"gateway ready in [\d.]+s: http=(\S+) kafka=(\S+) embedded_broker_pid=(\d+|None)")


def start_up(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
             log_name: str = "up.log") -> tuple[subprocess.Popen, str, int | None]:
    """`gateway up` in its own process group; returns it, its HTTP URL and the embedded broker's
    pid (None when it uses a broker of its own)."""
    log_path = tmp_path / log_name
    log = log_path.open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "up", "--port", "0", *args],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = READY.search(log_path.read_text())
        if match:
            return process, match.group(1), int(match.group(3)) if match.group(3).isdigit() else None
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"gateway up did not become ready:\n{log_path.read_text()}")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"  # a zombie has exited already
    except FileNotFoundError:
        return False


def wait_gone(pid: int, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def test_up_answers_ready_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    process, url, broker_pid = start_up(tmp_path)
    try:
        assert httpx.get(f"{url}/readyz").status_code == 200
        assert (tmp_path / "gateway-data" / "gateway.db").is_file(), "SQLite file by default"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert "gateway stopped" in (tmp_path / "up.log").read_text()
    assert wait_gone(broker_pid), "the embedded broker outlived the gateway"


def portal_figures(tmp_path: Path) -> dict[str, int]:
    with sqlite3.connect(tmp_path / "gateway-data" / "gateway.db") as database:
        return dict(database.execute(
            "SELECT outcome, count FROM flow_counters WHERE flow = 'national_portal'").fetchall())


def portal_synced(tmp_path: Path, at_least: int, timeout_s: float) -> dict[str, int]:
    """The portal flow's figures once `at_least` dossiers are delivered, or when time is up."""
    deadline = time.monotonic() + timeout_s
    while (figures := portal_figures(tmp_path)).get("delivered", 0) < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
    return figures


def test_a_stop_during_work_commits_what_was_handled(tmp_path: Path) -> None:
    """SIGTERM while messages are in hand: they finish and their offsets are committed before the
    consumers leave their groups, so the restarted gateway takes none of them a second time (with
    several consumers per subscription, FastStream leaves the group first). The broker outlives
    both gateways, as Kafka does."""
    codes = [f"000.00.15.H12-261123-{number:04d}" for number in range(1, 41)]
    with EmbeddedBroker() as broker:
        env = {"GATEWAY_KAFKA_BOOTSTRAP": broker.bootstrap, "GATEWAY_KAFKA_IDEMPOTENT_PRODUCER": "false",
               "GATEWAY_KAFKA_SESSION_TIMEOUT_MS": "2000", "GATEWAY_KAFKA_CONSUMERS_PER_SUBSCRIPTION": "3",
               "GATEWAY_SIMULATORS_FAULTS": json.dumps({"national_portal": {"latency_ms": 300}})}
        process, url, _ = start_up(tmp_path, env=env)
        try:
            with httpx.Client(base_url=url) as client:
                for code in codes:
                    assert client.post("/api/v1/dossiers/events", json=submitted_event(code)).status_code == 202
            portal_synced(tmp_path, 3, timeout_s=30)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0
        first_run = (tmp_path / "up.log").read_text()
        handled = portal_figures(tmp_path).get("delivered", 0)
        assert 3 <= handled < len(codes), f"the stop came with {handled} of {len(codes)} synced: not during the work"
        for failure in ("CommitFailedError", "UnknownMemberIdError", "not committed", "Traceback"):
            assert failure not in first_run, f"{failure} while stopping:\n{first_run[-4000:]}"

        # One consumer per group now: no rebalance inside the second run can make duplicates of its own.
        process, _, _ = start_up(tmp_path, env=env | {"GATEWAY_KAFKA_CONSUMERS_PER_SUBSCRIPTION": "1"},
                                 log_name="up-again.log")
        try:
            figures = portal_synced(tmp_path, len(codes), timeout_s=60)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0
    assert (figures.get("delivered"), figures.get("duplicates", 0)) == (len(codes), 0), figures


def test_a_demo_whose_gateway_goes_away_says_so(tmp_path: Path) -> None:
    process, url, _ = start_up(tmp_path, env={"GATEWAY_CONSOLE_ANONYMOUS_ROLE": "viewer"})
    demo = subprocess.Popen([sys.executable, "-m", "gateway", "demo", "--url", url, "--dossiers", "2000"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        portal_synced(tmp_path, 1, timeout_s=30)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    output, _ = demo.communicate(timeout=60)
    assert demo.returncode == 2, output
    assert f"demo: the gateway at {url} stopped answering" in output and "Traceback" not in output, output


def test_killing_the_process_group_leaves_no_broker(tmp_path: Path) -> None:
    process, _, broker_pid = start_up(tmp_path)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    assert wait_gone(broker_pid)


def test_a_crashed_gateway_takes_its_broker_along(tmp_path: Path) -> None:
    process, _, broker_pid = start_up(tmp_path)
    process.kill()  # only the gateway: no handler runs, the kernel tells the broker
    process.wait(10)
    assert wait_gone(broker_pid)


def broker_processes() -> set[int]:
    return {int(pid) for pid in os.listdir("/proc") if pid.isdigit() and alive(int(pid))
            and "tansu" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")}


def test_busy_port_is_a_clear_error_and_leaves_no_broker(tmp_path: Path) -> None:
    process, url, broker_pid = start_up(tmp_path)
    port = url.rsplit(":", 1)[1]
    try:
        brokers_before = broker_processes()
        second = subprocess.run([sys.executable, "-m", "gateway", "up", "--port", port], cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
        assert broker_processes() == brokers_before
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def test_invalid_setting_stops_start_up_with_a_message(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "gateway", "up"], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "GATEWAY_KAFKA_PARTITIONS": "0"}, timeout=60)
    assert result.returncode == 2
    assert "kafka.partitions = '0'" in result.stderr and "greater than or equal to 1" in result.stderr
    assert "Traceback" not in result.stderr


async def test_embedded_broker_speaks_kafka_and_stops() -> None:
    with EmbeddedBroker() as broker:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        await producer.start()
        await producer.send_and_wait("probe", b"hello", key=b"k")
        await producer.stop()
        consumer = AIOKafkaConsumer("probe", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        record = await consumer.getone()
        await consumer.stop()
        assert (record.key, record.value) == (b"k", b"hello")
        pid = broker.pid
    assert wait_gone(pid)


def test_broken_broker_binary_is_a_clear_error(tmp_path: Path) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'no such listener' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(EmbeddedBrokerError, match="exited at start-up: no such listener"):
        EmbeddedBroker(binary=str(fake)).start(timeout_s=5)
