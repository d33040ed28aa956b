"""`opslayer autonomy`, `opslayer monitors` and `opslayer veto` on a home under the oversight policy:
what people type, what they see (literally), what the trail records, and one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agent.cli.app import app
from agent.operations import Operations
from agent.settings import Settings
from governance.audit import EventKind
from tests.oversight.conftest import NOTE, NOTE_ASKS, PAUSES, VETOES, oversight_policy


@pytest.fixture
def home(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    policy = tmp_path / "oversight.yaml"
    policy.write_text(yaml.safe_dump(oversight_policy()), encoding="utf-8")
    monkeypatch.setenv("OPSLAYER_POLICY_FILE", str(policy))
    monkeypatch.setenv("OPSLAYER_GROUNDING", "false")
    assert cli.invoke(app, ["seed"]).exit_code == 0
    return Settings()


def test_pause_status_and_resume(cli: CliRunner, home: Settings) -> None:
    paused = cli.invoke(
        app,
        [
            "autonomy",
            "pause",
            "--tool",
            "inventory_*",
            "--reason",
            "counts [bold]off[/bold]",
            "--as",
            PAUSES,
            "--json",
        ],
    )
    assert paused.exit_code == 0, paused.output
    pause = json.loads(paused.output)
    assert pause["rule_id"] == f"pause:{pause['id']}" and pause["tools"] == ["inventory_*"]

    shown = cli.invoke(app, ["autonomy", "status"])
    assert pause["id"] in shown.output and "[bold]" in shown.output  # literally: markup is not read
    assert json.loads(cli.invoke(app, ["autonomy", "status", "--json"]).output)[0]["reason"] == (
        "counts [bold]off[/bold]"
    )

    explained = cli.invoke(
        app,
        [
            "policy",
            "explain",
            "--tool",
            "inventory_transfer_stock",
            "--as",
            "carol.desk",
            "--args",
            json.dumps(
                {
                    "sku": "SSD-1TB-NVME",
                    "from_warehouse": "AMS-1",
                    "to_warehouse": "BER-2",
                    "quantity": 2,
                    "reason": "rebalance",
                }
            ),
        ],
    )
    assert "approve" in explained.output and f"pause:{pause['id']}" in explained.output

    resumed = cli.invoke(app, ["autonomy", "resume", pause["id"], "--reason", "recounted", "--as", PAUSES])
    assert resumed.exit_code == 0, resumed.output
    assert "Autonomy is not paused." in cli.invoke(app, ["autonomy", "status"]).output


def test_refusals_are_one_line(cli: CliRunner, home: Settings) -> None:
    refused = cli.invoke(app, ["autonomy", "pause", "--reason", "x", "--as", "carol.desk"])
    assert refused.exit_code == 2 and "may not pause autonomy: it needs change_manager" in refused.output
    unknown = cli.invoke(app, ["monitors", "clear", "RST-00000000", "--reason", "x", "--as", PAUSES])
    assert unknown.exit_code == 2 and "no restriction 'RST-00000000'" in unknown.output


def test_monitors_list_and_veto(cli: CliRunner, home: Settings) -> None:
    listed = cli.invoke(app, ["monitors", "list"])
    assert listed.exit_code == 0 and "confused-thread" in listed.output

    [request] = Operations(home).send(NOTE, actor=NOTE_ASKS).pending
    vetoed = cli.invoke(app, ["veto", request.id, "--reason", "not yet", "--as", VETOES])
    assert vetoed.exit_code == 0, vetoed.output
    assert "vetoed by dave.incident: not yet" in vetoed.output
    assert [e.payload["reason"] for e in Operations(home).audit_events(kinds=[EventKind.VETO])] == ["not yet"]
