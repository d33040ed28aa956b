"""Findings of the CLI's QA pass (/tmp/qa-cli-report.md), each pinned by what a person sees: a veto resumes
the thread; nothing is cut at 80 columns; damaged or unusable input exits 2 in one line naming what to
fix; a veto window reads as one; a settlement's refusal names every problem."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agent.cli.app import app
from agent.operations import Operations
from agent.settings import Settings
from governance.audit import EventKind
from governance.executions import idempotency_key
from tests.oversight.conftest import NOTE, NOTE_ASKS, PAUSES, VETOES, oversight_policy
from tests.test_cli_executions import crash_inside

WRITE_OFF = "write off 2 damaged SSD-1TB-NVME at AMS-1"


@pytest.fixture
def cli(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The root conftest's runner at 80 columns, on a seeded home under the oversight test policy."""
    monkeypatch.setenv("COLUMNS", "80")
    policy = Path(str(Settings().home)).parent / "oversight.yaml"
    policy.write_text(yaml.safe_dump(oversight_policy()), encoding="utf-8")
    monkeypatch.setenv("OPSLAYER_POLICY_FILE", str(policy))
    monkeypatch.setenv("OPSLAYER_GROUNDING", "false")
    assert cli.invoke(app, ["seed"]).exit_code == 0
    return cli


def invoke(cli: CliRunner, *args: str) -> tuple[int, str]:
    result = cli.invoke(app, list(args))
    return result.exit_code, result.output


def flat(text: str) -> str:
    return " ".join(text.split())


def one_line_error(code: int, out: str) -> str:
    """The one line of the error (a note such as "answers are not grounded" may come before it)."""
    assert code == 2, out
    assert "Traceback" not in out and out.endswith("\n") and out.count("error: ") == 1, out
    last = out.splitlines()[-1]
    assert last.startswith("error: "), out
    return last


# --- #3: a veto resumes the thread; a thread whose approvals are decided points to `chat --resume` ------


def test_a_veto_resumes_the_thread_so_the_agent_is_told(cli: CliRunner) -> None:
    [request] = Operations(Settings()).send(NOTE, actor=NOTE_ASKS).pending

    code, out = invoke(cli, "veto", request.id, "--reason", "not now", "--as", VETOES)

    assert code == 0, out
    assert "vetoed by dave.incident: not now" in out and "resuming it" in out
    assert Operations(Settings()).waiting_for(request.thread_id) == []
    code, out = invoke(cli, "chat", "--as", NOTE_ASKS, "--thread", request.thread_id, "summarise INC0010032")
    assert code == 0, out


def test_a_thread_whose_approvals_are_decided_points_to_chat_resume(cli: CliRunner) -> None:
    ops = Operations(Settings())
    [request] = ops.send(NOTE, actor=NOTE_ASKS).pending
    waiting = one_line_error(*invoke(cli, "chat", "--thread", request.thread_id, "summarise INC0010032"))
    assert f"is waiting for approval of {request.id}" in waiting
    ops.oversight.veto(request.id, voter=VETOES, reason="not now", channel="api")  # nobody resumed it

    out = one_line_error(*invoke(cli, "chat", "--thread", request.thread_id, "summarise INC0010032"))

    assert f"opslayer chat --resume --thread {request.thread_id}" in out
    assert "approve or reject" not in out


# --- #12: a veto-window call says when it runs and who may stop it ---------------------------------------


def test_a_veto_window_reads_as_one_never_as_0_approvals(cli: CliRunner) -> None:
    code, out = invoke(cli, "chat", "--as", NOTE_ASKS, NOTE)
    [request] = Operations(Settings()).approvals()
    ends = request.expires_at.strftime("%Y-%m-%d %H:%M UTC")

    assert code == 0, out
    assert f"veto window {request.id}: itsm_add_work_note — runs at {ends} unless someone" in flat(out)
    shown = flat(invoke(cli, "approvals", "show", request.id)[1].replace("│", " "))
    assert "0 ×" not in shown and f"runs at {ends} unless someone holding incident_manager vetoes it" in shown
    queue = flat(invoke(cli, "approvals", "list")[1])  # folded in its column
    assert "0 ×" not in queue and "runs at" in queue and "vetoes it" in queue


# --- #5: ids, threads, people and tools whole at 80 columns; no column dropped ---------------------------


def lines_holding(out: str, value: str) -> bool:
    return any(value in line for line in out.splitlines())


def test_nothing_that_is_copied_is_cut_at_80_columns(cli: CliRunner) -> None:
    ops = Operations(Settings())
    note = ops.send(NOTE, actor=NOTE_ASKS)
    write_off = ops.send(WRITE_OFF, actor=NOTE_ASKS)
    Operations(Settings()).send("order 40 laptops for the Berlin office", actor="alice.requester")
    [pause] = [invoke(cli, "autonomy", "pause", "--tool", "inventory_*", "--reason", "r", "--as", PAUSES)]
    assert pause[0] == 0, pause[1]
    executions = Operations(Settings()).executions(status=None, thread=None, limit=50)
    assert executions

    expected = {
        ("users",): ["alice.requester", "frank.warehouse", "U0ALICE01", "grace.procure"],
        ("executions", "list"): [
            *(r.key[:16] for r in executions),
            *(r.thread_id or "" for r in executions),
            *(r.tool for r in executions),
        ],
        ("audit", "tail", "-n", "50"): [note.thread_id, write_off.thread_id, "approval_requested"],
        ("autonomy", "status"): ["erin.change", "inventory_*"],
        ("monitors", "list"): ["confused-thread"],
        ("report",): ["procurement_create_purchase_order", "procurement_search_catalogue"],
        ("approvals", "list"): [
            "procurement_create_purchase_order",
            "alice.requester",
            *(r.id for r in Operations(Settings()).approvals()),
        ],
    }
    for command, values in expected.items():
        code, out = invoke(cli, *command)
        assert code == 0, out
        for value in values:
            assert lines_holding(out, value), (command, value, out)
    queue = invoke(cli, "approvals", "list")[1]
    assert "needs" in queue and "1 × service_desk" in flat(queue)  # the column is there, folded


# --- #6: a damaged database or audit event --------------------------------------------------------------


@pytest.mark.parametrize(
    ("database", "command"),
    [
        ("governance.db", ("audit", "head")),
        ("governance.db", ("approvals", "list")),
        ("governance.db", ("executions", "list")),
        ("governance.db", ("report",)),
        ("systems.db", ("seed",)),
        ("systems.db", ("chat", "summarise INC0010032")),
    ],
)
def test_a_file_that_is_not_a_database_is_named_in_one_line(
    cli: CliRunner, database: str, command: tuple[str, ...]
) -> None:
    damaged = Settings().home / database
    damaged.write_text("garbage")

    out = one_line_error(*invoke(cli, *command))

    assert f"error: {damaged}: file is not a database" in out


def test_an_unreadable_audit_payload_is_named_not_a_traceback(cli: CliRunner) -> None:
    Operations(Settings()).send(NOTE, actor=NOTE_ASKS)
    with sqlite3.connect(Settings().governance_db) as db:
        db.execute("UPDATE audit_events SET payload = 'not json' WHERE seq = 2")
    db.close()

    tail = one_line_error(*invoke(cli, "audit", "tail", "-n", "200"))
    assert "the payload of event seq=2 is not JSON" in tail
    assert "audit event's payload is not JSON" in one_line_error(*invoke(cli, "report"))


# --- #7: a configuration file that is not UTF-8 text is named ------------------------------------------


@pytest.mark.parametrize(
    ("variable", "command"),
    [
        (None, ("policy", "check", "{bad}")),
        ("OPSLAYER_POLICY_FILE", ("policy", "explain", "--tool", "itsm_get_incident", "--as", "carol.desk")),
        ("OPSLAYER_DIRECTORY_FILE", ("users",)),
        ("OPSLAYER_POLICY_FILE", ("chat", "summarise INC0010032")),
    ],
)
def test_a_file_that_is_not_utf8_is_named(
    cli: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str | None,
    command: tuple[str, ...],
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\xff\xfe")
    if variable is not None:
        monkeypatch.setenv(variable, str(bad))

    out = one_line_error(*invoke(cli, *(part.replace("{bad}", str(bad)) for part in command)))

    assert f"{bad} is not UTF-8 text" in out


# --- #8: numbers too large for a date or a database ----------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            ("tokens", "create", "--as", "alice.requester", "--expires", "999999w"),
            "--expires: a token lives at most",
        ),
        (("audit", "tail", "-n", str(2**63)), "-n must be from 1 to 1,000,000"),
    ],
)
def test_huge_numbers_name_the_option_and_its_range(
    cli: CliRunner, command: tuple[str, ...], expected: str
) -> None:
    assert expected in one_line_error(*invoke(cli, *command))


def test_executions_list_n_names_its_range(cli: CliRunner) -> None:
    code, out = invoke(cli, "executions", "list", "-n", str(2**63))

    assert code == 2 and "Traceback" not in out
    assert "'-n'" in out and "1000000" in out


# --- #9: chat refuses what the API refuses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [("", "empty message"), ("   ", "empty message"), ("x" * 20_001, "at most 20,000 are accepted")],
)
def test_chat_refuses_a_blank_or_overlong_message(cli: CliRunner, message: str, expected: str) -> None:
    assert expected in one_line_error(*invoke(cli, "chat", "--as", NOTE_ASKS, message))
    assert Operations(Settings()).audit_events(kinds=[EventKind.REQUEST]) == []


# --- #10: an empty OPSLAYER_HOME -----------------------------------------------------------------------


def test_an_empty_home_is_refused_and_writes_nothing(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("OPSLAYER_HOME", "")

    for command in (("seed",), ("approvals", "list")):
        assert "OPSLAYER_HOME is empty" in one_line_error(*invoke(cli, *command))
    assert list(here.iterdir()) == []


# --- #14: a settlement's refusal names every problem ----------------------------------------------------


def test_settle_names_every_problem_of_the_result(cli: CliRunner) -> None:
    invoke(cli, "chat", "--as", "alice.requester", "order 40 laptops for the Berlin office")
    [request] = Operations(Settings()).approvals()
    key = idempotency_key(request.thread_id, request.tool_call_id, request.args_digest)
    crash_inside(
        Settings().home, key, tool=request.tool, args_digest=request.args_digest, thread_id=request.thread_id
    )

    out = flat(invoke(cli, "executions", "settle", key, "--as", VETOES, "--completed", "--result", "{}")[1])

    assert "more" not in out
    for field in ("number", "supplier_id", "cost_centre", "requester", "lines", "total_amount", "state"):
        assert f"{field}: Field required" in out
