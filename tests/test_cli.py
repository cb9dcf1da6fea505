"""The gateway command: roles, worker selection, demo."""

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from gateway.runtime.cli import app
from gateway.runtime.config import Settings
from gateway.simulators.demo import run_demo
from gateway.simulators.onegate import OneGateSimulator

from .conftest import StartGateway

runner = CliRunner()


def test_roles_lists_the_ledger() -> None:
    result = runner.invoke(app, ["roles"])
    assert result.exit_code == 0 and "ledger" in result.stdout


def test_worker_refuses_unknown_roles() -> None:
    result = runner.invoke(app, ["worker", "--connectors", "ledger,bank_of_nowhere"])
    assert result.exit_code == 2
    assert "unknown connector or role bank_of_nowhere; known: ledger" in result.stderr


def test_worker_refuses_to_run_nothing() -> None:
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 2 and "nothing to run" in result.stderr


def test_demo_without_a_running_gateway_starts_one_and_settles(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "demo", "--dossiers", "25", "--json", "--url", "http://127.0.0.1:9", "--seed", "3"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["settled"] is True and summary["dossiers"] == 25
    # 25 dossiers, and the steps up to processed (2, 4, 9) of those whose result goes by post
    sent = summary["flows"]["intake"]["sent"]
    assert sent > 25 and (sent - 25) % 3 == 0
    assert summary["flows"]["intake"]["delivered"] == sent
    assert summary["flows"]["ledger"]["delivered"] == sent
    assert summary["flows"]["ledger"]["duplicates"] == 0
    # Starting its own gateway, the demo plays the post too (VNPost of deploy/postal.yaml, simulated).
    postal = summary["postal"]
    assert postal["chosen"]["dossiers"] > 0
    assert sum(count for states in postal["parcels"].values() for state, count in states.items()
               if state in ("delivered", "returned")) == postal["chosen"]["parcels"]


async def test_demo_drives_a_running_gateway(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    summary = await run_demo(Settings(), dossiers=10, url=gateway.running.http_url, timeout_s=60, seed=1, console=None)
    assert summary["gateway"] == gateway.running.http_url
    assert summary["settled"] and summary["flows"]["ledger"]["delivered"] == summary["flows"]["intake"]["sent"]


def test_demo_dossiers_look_like_the_province() -> None:
    simulator = OneGateSimulator(seed=5)
    dossiers = [simulator.dossier(number) for number in range(1, 30)]
    assert len({dossier.code for dossier in dossiers}) == 29
    for dossier in dossiers:
        assert dossier.code.startswith(dossier.agency_code + "-")
        assert dossier.applicant.full_name.split()[0] in {"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan",
                                                          "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"}
        assert (dossier.fees != ()) == dossier.online_payment
