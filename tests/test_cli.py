"""The `opslayer` command line, through typer's runner on a temporary OPSLAYER_HOME."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from agent.cli.app import app
from governance.audit import AuditLog, EventKind
from governance.directory import DEFAULT_DIRECTORY_PATH
from governance.store import sqlite_engine

PO = {
    "supplier_id": "SUP-001",
    "cost_centre": "CC-IT-OPS",
    "lines": [{"sku": "LAP-14-PRO", "quantity": 20, "unit_price": 1500.0}],
    "total_amount": 30000.0,
}


def invoke(cli: CliRunner, *args: str) -> tuple[int, str]:
    result = cli.invoke(app, list(args))
    return result.exit_code, result.output


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def explain(
    cli: CliRunner, tool: str, args: Mapping[str, object], person: str, *extra: str
) -> tuple[int, Any]:
    code, out = invoke(
        cli, "policy", "explain", "--tool", tool, "--args", json.dumps(args), "--as", person, "--json", *extra
    )
    return code, json.loads(out) if code == 0 else {"output": out}


def test_explain_30k_po_needs_procurement_manager_and_finance_controller(cli: CliRunner) -> None:
    code, decision = explain(cli, "procurement_create_purchase_order", PO, "alice.requester")
    assert code == 0
    assert decision["tier"] == "approve"
    assert {tuple(r["roles"]) for r in decision["approvals"]} == {
        ("procurement_manager",),
        ("finance_controller",),
    }
    assert decision["policy_version"].startswith("2026-11 baseline@sha256:")
    assert len(decision["args_digest"]) == 64


def test_explain_500_po_notifies_and_unknown_tool_is_denied(cli: CliRunner) -> None:
    small = {  # four monitors at SUP-001's catalogue price
        **PO,
        "lines": [{"sku": "MON-22-FHD", "quantity": 4, "unit_price": 129.71}],
        "total_amount": 518.84,
    }
    assert explain(cli, "procurement_create_purchase_order", small, "alice.requester")[1]["tier"] == "notify"
    code, decision = explain(cli, "procurement_delete_everything", {}, "alice.requester")
    assert code == 0 and decision["tier"] == "deny"
    assert "not in the catalogue" in decision["reasons"][0]


def test_explain_refuses_a_po_priced_below_the_catalogue(cli: CliRunner) -> None:
    cheap = {**PO, "lines": [{"sku": "LAP-14-PRO", "quantity": 20, "unit_price": 1.0}], "total_amount": 20.0}
    code, out = explain(cli, "procurement_create_purchase_order", cheap, "alice.requester")
    assert code == 2
    text = " ".join(out["output"].split())
    assert "1.00 for LAP-14-PRO is below the catalogue price 1377.50 of supplier SUP-001" in text


def test_explain_uses_facts_and_the_time_given(cli: CliRunner) -> None:
    change = {
        "ci": "payments-api",
        "short_description": "Restart",
        "description": "Rolling restart",
        "risk": "moderate",
    }
    assert (
        explain(cli, "itsm_create_change_request", change, "ivan.ops", "--at", "2026-11-24T10:00:00Z")[1][
            "tier"
        ]
        == "approve"
    )
    frozen = explain(cli, "itsm_create_change_request", change, "ivan.ops", "--at", "2026-12-24T10:00:00Z")[1]
    assert frozen["tier"] == "deny" and "year-end-change-freeze" in frozen["rule_ids"]
    staging = {**change, "ci": "payments-api-staging"}
    assert (
        explain(cli, "itsm_create_change_request", staging, "ivan.ops", "--at", "2026-11-24T10:00:00Z")[1][
            "tier"
        ]
        == "notify"
    )


@pytest.mark.parametrize(
    ("args", "person", "expected"),
    [
        ("{not json", "alice.requester", "--args is not valid JSON"),
        ("[1]", "alice.requester", "must be a JSON object"),
        (json.dumps({**PO, "requester": "bob.requester"}), "alice.requester", "requester"),
        (json.dumps(PO), "nobody.here", "nobody.here"),
    ],
)
def test_explain_bad_input_names_the_problem(cli: CliRunner, args: str, person: str, expected: str) -> None:
    code, out = invoke(
        cli,
        "policy",
        "explain",
        "--tool",
        "procurement_create_purchase_order",
        "--args",
        args,
        "--as",
        person,
    )
    assert code == 2
    assert expected in out


def test_policy_check_accepts_the_shipped_policy(cli: CliRunner) -> None:
    code, out = invoke(cli, "policy", "check")
    assert code == 0 and "2026-11 baseline" in out


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"id": "r1", "tools": ["itsm_get_incident"], "tier": "approv"}, ["r1", "tier"]),
        ({"id": "r1", "tools": ["itsm_get_incident"], "tier": "auto", "when": "args.x >"}, ["r1", "when"]),
        (
            {
                "id": "r1",
                "tools": ["itsm_get_incident"],
                "tier": "approve",
                "approvers": {"roles": ["wizard"]},
            },
            ["r1", "wizard"],
        ),
        ({"id": "r1", "tools": ["nothing_matches_*"], "tier": "auto"}, ["r1", "nothing_matches_*"]),
    ],
)
def test_policy_check_exits_2_naming_rule_and_field(
    cli: CliRunner, tmp_path: Path, rule: dict[str, object], expected: list[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps({"label": "bad", "rules": [rule]}))
    code, out = invoke(cli, "policy", "check", str(path))
    assert code == 2
    for word in expected:
        assert word in out


def test_policy_check_duplicate_ids(cli: CliRunner, tmp_path: Path) -> None:
    rule = {"id": "same", "tools": ["itsm_get_incident"], "tier": "auto"}
    path = tmp_path / "dup.yaml"
    path.write_text(json.dumps({"label": "dup", "rules": [rule, rule]}))
    code, out = invoke(cli, "policy", "check", str(path))
    assert code == 2 and "same" in out and "duplicate" in out


def test_tools_and_users_json(cli: CliRunner) -> None:
    code, out = invoke(cli, "tools", "--json")
    tools = {tool["name"]: tool for tool in json.loads(out)}
    assert code == 0 and len(tools) == 22
    assert tools["procurement_create_purchase_order"]["side_effect"] == "financial"
    assert tools["itsm_get_incident"]["json_schema"]["additionalProperties"] is False
    code, out = invoke(cli, "users", "--json")
    people = {person["id"]: person for person in json.loads(out)}
    assert "finance_controller" in people["heidi.finance"]["roles"]


def test_audit_verify_names_the_edited_event(cli: CliRunner, tmp_path: Path) -> None:
    assert invoke(cli, "chat", "--as", "carol.desk", "summarise INC0010032")[0] == 0
    code, out = invoke(cli, "audit", "verify")
    assert code == 0 and "intact" in out
    code, out = invoke(cli, "audit", "tail", "-n", "3", "--json")
    events = json.loads(out)
    assert code == 0 and len(events) == 3 and events[-1]["kind"] == "response"
    with sqlite3.connect(tmp_path / "home" / "governance.db") as db:
        db.execute('UPDATE audit_events SET payload = \'{"tier":"auto"}\' WHERE seq = 2')
    code, out = invoke(cli, "audit", "verify")
    assert code == 1
    assert "seq=2" in out


def test_audit_verify_against_a_kept_head_notices_the_newest_events_deleted(
    cli: CliRunner, tmp_path: Path
) -> None:
    assert invoke(cli, "chat", "--as", "carol.desk", "summarise INC0010032")[0] == 0
    code, head = invoke(cli, "audit", "head")
    seq, _, digest = head.strip().partition(":")
    assert code == 0 and int(seq) > 3 and len(digest) == 64
    assert json.loads(invoke(cli, "audit", "head", "--json")[1]) == {"seq": int(seq), "hash": digest}
    code, out = invoke(cli, "audit", "verify", "--head", head.strip())
    assert code == 0 and "intact" in out and f"kept head at seq {seq}" in flat(out)

    with sqlite3.connect(tmp_path / "home" / "governance.db") as db:
        db.execute("DELETE FROM audit_events WHERE seq > ?", (int(seq) - 2,))
    assert invoke(cli, "audit", "verify")[0] == 0  # the chain alone cannot tell
    code, out = invoke(cli, "audit", "verify", "--head", head.strip())

    assert code == 1
    assert f"does not hold the kept head at seq={seq}" in flat(out)
    assert f"newest events deleted?); the chain now ends at seq {int(seq) - 2}" in flat(out)


def test_audit_verify_reads_the_head_file_a_worker_publishes(cli: CliRunner, tmp_path: Path) -> None:
    assert invoke(cli, "chat", "--as", "carol.desk", "summarise INC0010032")[0] == 0
    kept = json.loads(invoke(cli, "audit", "head", "--json")[1])
    published = tmp_path / "audit-head.json"
    published.write_text(json.dumps({**kept, "at": "2026-12-07T05:00:00+00:00"}))
    code, out = invoke(cli, "audit", "verify", "--head", str(published))
    assert code == 0 and f"kept head at seq {kept['seq']}" in flat(out)

    with sqlite3.connect(tmp_path / "home" / "governance.db") as db:
        db.execute("DELETE FROM audit_events WHERE seq = ?", (kept["seq"],))
    assert invoke(cli, "audit", "verify", "--head", str(published))[0] == 1
    published.write_text("{}")
    code, out = invoke(cli, "audit", "verify", "--head", str(published))
    assert code == 2 and "is not a published audit head" in flat(out)


@pytest.mark.parametrize(
    ("head", "named"),
    [
        ("12", "--head: '12' is not SEQ:HASH"),
        ("twelve:" + "a" * 64, "'twelve' is not a sequence number"),
        ("12:abc", "64 hexadecimal characters"),
    ],
)
def test_audit_verify_refuses_a_malformed_head_naming_the_problem(
    cli: CliRunner, head: str, named: str
) -> None:
    code, out = invoke(cli, "audit", "verify", "--head", head)

    assert code == 2 and named in flat(out) and len(out.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["-n", "-5"], "-n must be from 1 to 1,000,000, got -5"),
        (["-n", "0"], "-n must be from 1 to 1,000,000, got 0"),
        (["--thread", ""], "--thread must not be blank"),
        (["--thread", "   "], "--thread must not be blank"),
        (["--thread", "t" * 5000], "--thread is 5000 characters long; thread ids have at most 255"),
    ],
)
def test_audit_tail_refuses_a_count_below_one_and_blank_or_overlong_threads(
    cli: CliRunner, args: list[str], named: str
) -> None:
    code, out = invoke(cli, "audit", "tail", *args)

    assert code == 2 and named in flat(out)


def test_audit_commands_print_hostile_text_from_the_trail_literally(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    db_path = tmp_path / "home" / "governance.db"
    AuditLog(sqlite_engine(db_path)).append(
        EventKind.REQUEST, {"text": "[/] [bold]\x1b[31mred"}, thread_id="t-[/]", actor="\x1b]0;pwned\x07[/]"
    )

    shown = cli.invoke(app, ["audit", "tail"], env={"COLUMNS": "200"})  # wide enough not to wrap
    code, out = shown.exit_code, shown.output

    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert '{"text": "[/] [bold]\\u001b[31mred"}' in out  # as JSON
    assert "t-[/]" in out and "<U+001B>]0;pwned<U+0007>[/]" in out
    assert json.loads(invoke(cli, "audit", "tail", "--json")[1])[0]["actor"] == "\x1b]0;pwned\x07[/]"
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE audit_events SET event_id = '[/]\x1b[2J', hash = '[/]\x1b[2J'")
    code, out = invoke(cli, "audit", "head")
    assert code == 0 and out == "1:[/]<U+001B>[2J\n"
    code, out = invoke(cli, "audit", "verify")
    assert code == 1 and "id=[/]<U+001B>[2J: payload or fields edited" in flat(out) and "\x1b" not in out


def test_no_command_reads_markup_or_shows_hidden_characters_from_what_it_prints(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = "see [/] [red]x[/] \x1b[31m\u202eevil"
    shown = "see [/] [red]x[/] <U+001B>[31m<U+202E>evil"
    code, _ = invoke(
        cli, "autonomy", "pause", "--tool", "itsm_add_*", "--reason", hostile, "--as", "erin.change"
    )
    assert code == 0
    note = {"number": "INC0010047", "text": "hello there"}
    explained = cli.invoke(
        app,
        [
            "policy",
            "explain",
            "--tool",
            "itsm_add_work_note",
            "--as",
            "carol.desk",
            "--args",
            json.dumps(note),
        ],
        env={"COLUMNS": "300"},
    )
    unknown = cli.invoke(app, ["policy", "explain", "--tool", "[/]", "--as", "carol.desk"])
    directory = tmp_path / "directory.yaml"
    people = yaml.safe_load(DEFAULT_DIRECTORY_PATH.read_text())
    people["people"][0]["display_name"] = hostile
    directory.write_text(yaml.safe_dump(people), encoding="utf-8")
    monkeypatch.setenv("OPSLAYER_DIRECTORY_FILE", str(directory))
    users = cli.invoke(app, ["users"], env={"COLUMNS": "300"})

    for result in (explained, unknown, users):
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "\x1b" not in result.output and "\u202e" not in result.output
    assert explained.exit_code == 0 and shown in flat(explained.output)
    assert "[/]" in unknown.output
    assert users.exit_code == 0 and shown in flat(users.output)


def test_chat_approve_from_cli_executes_the_po_once(cli: CliRunner, tmp_path: Path) -> None:
    code, out = invoke(cli, "chat", "--as", "alice.requester", "order 40 laptops for the Berlin office")
    assert code == 0 and "waiting for approval" in out
    pending = json.loads(invoke(cli, "approvals", "list", "--json")[1])
    assert len(pending) == 1 and pending[0]["tool"] == "procurement_create_purchase_order"
    approval_id = pending[0]["id"]
    code, out = invoke(cli, "approvals", "approve", approval_id, "--as", "alice.requester")
    assert code == 2 and "cannot approve" in out
    assert invoke(cli, "approvals", "approve", approval_id, "--as", "grace.procure")[0] == 0
    code, out = invoke(cli, "approvals", "approve", approval_id, "--as", "heidi.finance")
    assert code == 0 and "PO-2026-0025" in out
    code, out = invoke(cli, "approvals", "approve", approval_id, "--as", "leo.procure2")
    assert code == 2
    with sqlite3.connect(tmp_path / "home" / "systems.db") as db:
        created = db.execute("SELECT count(*) FROM purchase_orders WHERE number = 'PO-2026-0025'").fetchone()[
            0
        ]
        total = db.execute("SELECT count(*) FROM purchase_orders").fetchone()[0]
    assert (created, total) == (1, 25)  # 24 seeded + exactly one


def test_an_approval_in_the_cli_leaves_the_resume_to_a_worker_already_holding_the_thread(
    cli: CliRunner, tmp_path: Path
) -> None:
    from datetime import timedelta

    from agent.operations import Operations
    from agent.settings import Settings
    from governance.work import RESUME

    invoke(cli, "chat", "--as", "carol.desk", "write off 3 damaged MON-27-4K at AMS-1")
    [pending] = json.loads(invoke(cli, "approvals", "list", "--json")[1])
    ops = Operations(Settings(_env_file=None, home=tmp_path / "home"))
    lease = timedelta(minutes=5)
    assert ops.stores.work.lease_now(RESUME, pending["thread_id"], "worker-elsewhere", lease_for=lease)

    code, out = invoke(cli, "approvals", "approve", pending["id"], "--as", "frank.warehouse")

    assert code == 0 and f"A worker is resuming thread {pending['thread_id']} now" in flat(out)
    with sqlite3.connect(tmp_path / "home" / "systems.db") as db:
        assert db.execute("SELECT count(*) FROM adjustments").fetchone()[0] == 0  # not run here


def test_reject_tells_the_agent_and_nothing_runs(cli: CliRunner, tmp_path: Path) -> None:
    invoke(cli, "chat", "--as", "carol.desk", "write off 3 damaged MON-27-4K at AMS-1")
    approval_id = json.loads(invoke(cli, "approvals", "list", "--json")[1])[0]["id"]
    code, out = invoke(
        cli, "approvals", "reject", approval_id, "--as", "frank.warehouse", "--reason", "recount first"
    )
    assert code == 0 and "recount first" in out
    with sqlite3.connect(tmp_path / "home" / "systems.db") as db:
        assert db.execute("SELECT count(*) FROM adjustments").fetchone()[0] == 0


def test_unknown_approval_and_person_are_clear_errors(cli: CliRunner) -> None:
    code, out = invoke(cli, "approvals", "show", "APR-00000000")
    assert code == 2 and "APR-00000000" in out
    code, out = invoke(cli, "chat", "--as", "nobody.here", "summarise INC0010032")
    assert code == 2 and "nobody.here" in out


def test_policy_replay_reports_tier_changes(cli: CliRunner, tmp_path: Path) -> None:
    invoke(cli, "chat", "--as", "carol.desk", "summarise INC0010032")
    invoke(cli, "chat", "--as", "carol.desk", "add a note to INC0010047 saying checked the pool")
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        json.dumps(
            {
                "label": "strict",
                "defaults": {"unmatched_tool": "deny"},
                "rules": [{"id": "reads", "tools": ["*_get_*", "*_search_*"], "tier": "auto"}],
            }
        )
    )
    code, out = invoke(cli, "policy", "replay", "--policy", str(strict), "--json")
    report = json.loads(out)
    assert code == 0 and report["calls"] == 2 and report["changed"] == 1
    assert report["changes"][0]["tool"] == "itsm_add_work_note"
    assert (report["changes"][0]["old_tier"], report["changes"][0]["new_tier"]) == ("notify", "deny")


def test_resume_needs_a_known_waiting_thread(cli: CliRunner) -> None:
    code, out = invoke(cli, "chat", "--resume")
    assert code == 2 and "--thread" in out
    code, out = invoke(cli, "chat", "--resume", "--thread", "t-nope")
    assert code == 2 and "t-nope" in out
