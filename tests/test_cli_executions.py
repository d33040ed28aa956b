"""`opslayer executions …` through typer's runner: finding a call a crash left started, and settling it."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.cli.app import app
from governance.executions import ExecutionLedger, idempotency_key
from governance.store import sqlite_engine

PO_RESULT = json.dumps(
    {
        "number": "PO-2026-0777",
        "supplier_id": "SUP-001",
        "cost_centre": "CC-IT-OPS",
        "requester": "alice.requester",
        "lines": [{"sku": "LAP-14-PRO", "quantity": 40, "unit_price": 1377.5}],
        "total_amount": 55100.0,
        "state": "submitted",
        "created_at": "2026-11-02T09:31:00Z",
    }
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPSLAYER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPSLAYER_GROUNDING", "false")  # no retrieval needed to order laptops
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPSLAYER_POLICY_FILE", raising=False)
    monkeypatch.delenv("OPSLAYER_SETTLE_ROLES", raising=False)
    return tmp_path / "home"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def ledger(home: Path) -> ExecutionLedger:
    return ExecutionLedger(sqlite_engine(home / "governance.db"), clock=lambda: datetime.now(UTC))


def crash_inside(home: Path, key: str, *, tool: str, args_digest: str, thread_id: str) -> None:
    """Claim ``key`` and die inside the handler, as a process killed mid-call would."""

    def killed() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ledger(home).run_once(key, tool=tool, args_digest=args_digest, thread_id=thread_id, handler=killed)


def purchase_orders(home: Path) -> int:
    with sqlite3.connect(home / "systems.db") as db:
        count: int = db.execute("SELECT count(*) FROM purchase_orders").fetchone()[0]
    db.close()
    return count


@pytest.fixture
def stuck(home: Path) -> dict[str, Any]:
    """A 55,100 EUR order whose execution died after both approvals; the approve that resumed it failed."""
    assert invoke("chat", "--as", "alice.requester", "order 40 laptops for the Berlin office")[0] == 0
    [request] = json.loads(invoke("approvals", "list", "--json")[1])
    key = idempotency_key(request["thread_id"], request["tool_call_id"], request["args_digest"])
    crash_inside(
        home, key, tool=request["tool"], args_digest=request["args_digest"], thread_id=request["thread_id"]
    )
    assert invoke("approvals", "approve", request["id"], "--as", "grace.procure")[0] == 0
    code, out = invoke("approvals", "approve", request["id"], "--as", "heidi.finance")
    return {"key": key, "thread_id": request["thread_id"], "code": code, "out": out}


def test_a_thread_blocked_by_a_started_row_says_which_commands_unblock_it(stuck: dict[str, Any]) -> None:
    message = flat(stuck["out"])

    assert stuck["code"] == 2
    assert "has not finished" in message
    assert f"opslayer executions show {stuck['key'][:16]}" in message
    assert f"opslayer executions settle {stuck['key'][:16]} --as YOU --completed --result TEXT" in message
    assert f"opslayer chat --resume --thread {stuck['thread_id']}" in message


def test_list_and_show_find_the_started_row_with_the_call_it_belongs_to(stuck: dict[str, Any]) -> None:
    code, out = invoke("executions", "list", "--status", "started", "--json")
    [row] = json.loads(out)
    assert code == 0 and (row["key"], row["status"]) == (stuck["key"], "started")
    code, out = invoke("executions", "list", "--thread", stuck["thread_id"], "-n", "2", "--json")
    newest, _ = json.loads(out)
    assert code == 0 and newest["key"] == stuck["key"]

    code, out = invoke("executions", "show", stuck["key"][:10], "--json")
    shown = json.loads(out)
    assert code == 0 and shown["key"] == stuck["key"] and shown["settlement"] is None
    assert shown["call"]["requested_by"] == "alice.requester"
    assert shown["call"]["args"]["lines"][0]["sku"] == "LAP-14-PRO"
    code, out = invoke("executions", "show", stuck["key"])
    assert code == 0 and "No outcome is recorded" in out and "LAP-14-PRO" in out


def test_settled_as_completed_the_thread_resumes_with_the_recorded_result(
    home: Path, stuck: dict[str, Any]
) -> None:
    before = purchase_orders(home)
    code, out = invoke(
        "executions",
        "settle",
        stuck["key"][:12],
        "--as",
        "dave.incident",
        "--completed",
        "--result",
        PO_RESULT,
    )
    assert code == 0 and "started → completed, settled by dave.incident" in flat(out)

    code, out = invoke("chat", "--resume", "--thread", stuck["thread_id"])

    assert code == 0 and "recorded result, not run again" in flat(out)
    assert "Purchase order PO-2026-0777 created (submitted): 40 × LAP-14-PRO" in flat(out)
    assert purchase_orders(home) == before  # nothing ran: the settlement said it already had
    shown = json.loads(invoke("executions", "show", stuck["key"], "--json")[1])
    assert shown["status"] == "completed"
    assert json.loads(shown["result"])["lines"][0]["line_total"] == 55100.0  # as the tool writes it
    assert (shown["settlement"]["operator"], shown["settlement"]["previous_status"]) == (
        "dave.incident",
        "started",
    )
    events = json.loads(invoke("audit", "tail", "-n", "50", "--json")[1])
    assert [e["actor"] for e in events if e["kind"] == "execution_settled"] == ["dave.incident"]
    assert "intact" in invoke("audit", "verify")[1]
    code, out = invoke(
        "executions", "settle", stuck["key"], "--as", "carol.desk", "--failed", "--reason", "no"
    )
    assert code == 2 and "is completed, not started" in flat(out)


def test_settled_as_failed_the_model_is_told_the_reason(home: Path, stuck: dict[str, Any]) -> None:
    reason = "no PO for this key in the ERP; nothing was ordered"
    code, _ = invoke(
        "executions", "settle", stuck["key"], "--as", "carol.desk", "--failed", "--reason", reason
    )
    assert code == 0

    code, out = invoke("chat", "--resume", "--thread", stuck["thread_id"])

    assert code == 0 and "executed procurement_create_purchase_order → failed" in flat(out)
    shown = json.loads(invoke("executions", "show", stuck["key"], "--json")[1])
    assert (shown["error"], shown["error_type"]) == (reason, "settled_by_operator")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--as", "nobody.here", "--completed", "--result", "{}"], "no person 'nobody.here'"),
        (["--as", "alice.requester", "--completed", "--result", "{}"], "alice.requester may not settle"),
        (["--as", "dave.incident"], "--completed --result TEXT, or --failed --reason TEXT"),
        (["--as", "dave.incident", "--completed", "--failed", "--reason", "x"], "not both"),
        (["--as", "dave.incident", "--completed"], "--completed needs --result TEXT"),
        (["--as", "dave.incident", "--completed", "--result", "{}", "--reason", "x"], "--reason goes with"),
        (["--as", "dave.incident", "--failed", "--reason", "   "], "--failed needs a non-empty --reason"),
        (["--as", "dave.incident", "--failed", "--result", "{}"], "--result goes with --completed"),
    ],
)
def test_settle_refuses_bad_input_naming_the_problem(
    stuck: dict[str, Any], args: list[str], expected: str
) -> None:
    code, out = invoke("executions", "settle", stuck["key"], *args)

    assert code == 2 and expected in flat(out)
    assert json.loads(invoke("executions", "show", stuck["key"], "--json")[1])["status"] == "started"


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ('{"number": "PO-2026-0777"', "not valid JSON (Expecting ',' delimiter at line 1 column 26)"),
        ("PO-2026-0777 is in the ERP", "not valid JSON"),
        ('{"number": "PO-2026-0777"}', "supplier_id: Field required"),
        (PO_RESULT.replace('"submitted"', '"lost"'), "state: Input should be"),
        (PO_RESULT.replace("{", '{"[/]": 1, ', 1), "[/]: not a field of the result"),
    ],
)
def test_settle_refuses_a_result_that_is_not_the_tools_record(
    stuck: dict[str, Any], result: str, expected: str
) -> None:
    code, out = invoke(
        "executions", "settle", stuck["key"], "--as", "dave.incident", "--completed", "--result", result
    )

    assert code == 2 and "not one procurement_create_purchase_order returns" in flat(out)
    assert expected in flat(out)
    assert json.loads(invoke("executions", "show", stuck["key"], "--json")[1])["status"] == "started"
    events = json.loads(invoke("audit", "tail", "-n", "200", "--json")[1])
    assert [e for e in events if e["kind"] == "execution_settled"] == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["show", "deadbeefdeadbeef"], "no execution with key 'deadbeefdeadbeef'"),
        (["show", "abcdef1"], "at least 8 characters"),
        (["show", "abcdef12"], "'abcdef12' matches more than one execution"),
        (["settle", "abcdef12", "--as", "dave.incident", "--failed", "--reason", "x"], "more than one"),
    ],
)
def test_unknown_short_and_ambiguous_keys_are_clear_errors(
    home: Path, args: list[str], expected: str
) -> None:
    for key in ("abcdef12-one", "abcdef12-two"):
        ledger(home).run_once(key, tool="itsm_get_incident", args_digest="d" * 64, thread_id="t", handler=str)

    code, out = invoke("executions", *args)

    assert code == 2 and expected in flat(out)
    assert invoke("executions", "show", "abcdef12-o", "--json")[0] == 0
