"""What people see at the terminal is what runs, whole, and an unusable setup fails in one line.

Pins (issue "ready for surfaces"): hostile text (rich markup, ANSI escapes, zero-width and
right-to-left characters, very long lines) from a user, the model or a backend is printed literally by
`chat` and `approvals show`; ids are never cut at 80 columns; the REPL stays when the thread waits for
approval; a home that is a file, a bad or non-UTF-8 policy and a bad `--status` exit 2 with one line.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from agent.cli.app import app
from governance import store

HOSTILE = "tonight [per ticket] [/] \x1b[2J\u202eevil\u200b"


@pytest.fixture
def cli(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The root conftest's runner, at 80 columns: what must not be cut there is checked there."""
    monkeypatch.setenv("COLUMNS", "80")
    return cli


def invoke(cli: CliRunner, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = cli.invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


def pending(cli: CliRunner) -> list[dict[str, object]]:
    return list(json.loads(invoke(cli, "approvals", "list", "--json")[1]))


def test_an_approver_sees_markup_and_hidden_characters_literally(cli: CliRunner) -> None:
    code, out = invoke(cli, "chat", "--as", "ivan.ops", f"open a change to restart payments-api {HOSTILE}")
    assert code == 0, out
    [request] = pending(cli)
    assert "[per ticket] [/]" in json.dumps(request["args"])  # it is part of what would run

    code, shown = invoke(cli, "approvals", "show", str(request["id"]))

    assert code == 0, shown
    assert "[per ticket] [/]" in shown  # not eaten as markup, no crash on [/]
    assert "\x1b" not in shown and "<U+001B>[2J" in shown  # the escape is shown, not acted on
    assert "<U+202E>evil<U+200B>" in shown  # the bidi override and zero-width space are visible


def test_ids_are_never_cut_at_80_columns(cli: CliRunner) -> None:
    invoke(cli, "chat", "--as", "alice.requester", "order 40 laptops for the Berlin office")
    [request] = pending(cli)

    code, table = invoke(cli, "approvals", "list")

    assert code == 0
    for whole in (request["id"], "alice.requester"):
        assert str(whole) in table


def test_a_final_vote_reads_once_not_approved_approved(cli: CliRunner) -> None:
    invoke(cli, "chat", "--as", "carol.desk", "write off 3 damaged MON-27-4K at AMS-1")
    [request] = pending(cli)

    code, out = invoke(cli, "approvals", "approve", str(request["id"]), "--as", "frank.warehouse")

    assert code == 0, out
    assert "approved approved" not in out and f"{request['id']}: approved by frank.warehouse" in out


def test_the_repl_stays_when_its_thread_waits_and_offers_a_new_thread(cli: CliRunner) -> None:
    script = "order 40 laptops for the Berlin office\nsummarise INC0010032\ny\n\n"

    code, out = invoke(cli, "chat", "--as", "alice.requester", stdin=script)

    assert code == 0, out
    assert "waiting for approval" in out and "Start a new thread" in out
    assert "INC0010032" in out.split("Start a new thread", 1)[1]  # answered in the new thread


@pytest.mark.parametrize(
    ("setup", "args", "expected"),
    [
        ("home-is-file", ("approvals", "list"), "home"),
        ("bad-policy", ("approvals", "approve", "APR-00000000", "--as", "grace.procure"), "policy"),
        ("bad-policy", ("chat", "--as", "carol.desk", "summarise INC0010032"), "policy"),
        ("latin1-policy", ("approvals", "reject", "APR-00000000", "--as", "x", "--reason", "r"), "UTF-8"),
        ("none", ("approvals", "list", "--status", "bogus"), "--status"),
    ],
)
def test_an_unusable_setup_exits_2_with_one_line(
    cli: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setup: str,
    args: tuple[str, ...],
    expected: str,
) -> None:
    if setup == "home-is-file":
        (tmp_path / "home").write_text("not a folder")
    elif setup == "bad-policy":
        (tmp_path / "p.yaml").write_text(
            "label: x\nrules:\n  - id: r\n    tools: [nope_*]\n    tier: sometimes\n"
        )
        monkeypatch.setenv("OPSLAYER_POLICY_FILE", str(tmp_path / "p.yaml"))
    elif setup == "latin1-policy":
        (tmp_path / "p.yaml").write_bytes("label: caf\xe9\n".encode("latin-1"))
        monkeypatch.setenv("OPSLAYER_POLICY_FILE", str(tmp_path / "p.yaml"))

    code, out = invoke(cli, *args)

    assert code == 2, out
    assert "Traceback" not in out and out.startswith("error: ")
    assert expected.lower() in out.lower()


def test_version_and_flags_that_take_no_value(cli: CliRunner) -> None:
    code, out = invoke(cli, "--version")
    assert code == 0 and out.startswith("opslayer ")
    code, help_text = invoke(cli, "chat", "--help")
    assert code == 0 and "--dry-run" in help_text
    assert "<bool>" not in help_text.split("--help")[0]  # a flag is written alone, not --dry-run true


def test_chat_says_when_answers_are_not_grounded(cli: CliRunner) -> None:
    code, out = invoke(cli, "chat", "--as", "carol.desk", "summarise INC0010032")

    assert code == 0, out
    assert "not grounded" in out and "opslayer ingest knowledge/corpus" in " ".join(out.split())


def test_seed_reset_refuses_while_approvals_wait_then_forgets_every_number_the_trail_named(
    cli: CliRunner, tmp_path: Path
) -> None:
    invoke(cli, "chat", "--as", "carol.desk", "write off 3 damaged MON-27-4K at AMS-1")
    [request] = pending(cli)

    code, out = invoke(cli, "seed", "--reset")
    assert code == 2 and str(request["id"]) in out and "--force" in out
    assert pending(cli) == [request]  # nothing was reset

    code, out = invoke(cli, "seed", "--reset", "--force")
    assert code == 0, out
    assert pending(cli) == []
    code, tail = invoke(cli, "audit", "tail", "--json")
    assert code == 0 and json.loads(tail) == []  # no event names a record of the old systems


def _snapshot(tmp_path: Path) -> Path:
    """A copy of a home's governance database, as an auditor gets it: one file, checkpointed."""
    source = tmp_path / "home" / "governance.db"
    with sqlite3.connect(source) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    shutil.copyfile(source, snapshot / "governance.db")
    return snapshot


def test_audit_verify_reads_a_snapshot_without_writing_it(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke(cli, "chat", "--as", "carol.desk", "summarise INC0010032")
    snapshot = _snapshot(tmp_path)
    before = (snapshot / "governance.db").read_bytes()
    monkeypatch.setenv("OPSLAYER_HOME", str(snapshot))
    # Read-only media: a read-only open of a WAL database cannot make its -shm file there.
    real_reader = store.sqlite_reader

    def read_only_media(path: Path, *, immutable: bool = False) -> Any:
        if immutable:
            return real_reader(path, immutable=True)
        return create_engine("sqlite:///file:/nonexistent/ro.db?mode=ro&uri=true", connect_args={"uri": True})

    monkeypatch.setattr(store, "sqlite_reader", read_only_media)

    code, out = invoke(cli, "audit", "verify")

    assert code == 0 and "audit chain intact" in out, out
    assert (snapshot / "governance.db").read_bytes() == before
    assert sorted(p.name for p in snapshot.iterdir()) == ["governance.db"]  # no -wal, no -shm, no tables


def test_audit_commands_on_a_missing_database_fail_in_one_line(cli: CliRunner, tmp_path: Path) -> None:
    code, out = invoke(cli, "audit", "verify")

    assert code == 2 and out.startswith("error: ") and "governance.db" in out
    assert not (tmp_path / "home" / "governance.db").exists()  # a reader never creates one


@pytest.mark.parametrize("thread", ["", "   ", "t" * 256])
def test_a_blank_or_overlong_thread_id_is_refused_in_one_line(cli: CliRunner, thread: str) -> None:
    code, out = invoke(cli, "chat", "--as", "carol.desk", "--thread", thread, "summarise INC0010032")

    assert code == 2 and out.splitlines()[-1].startswith("error: a thread id")


def test_the_queue_filters_by_who_may_act_requester_and_tool(cli: CliRunner) -> None:
    invoke(cli, "chat", "--as", "carol.desk", "write off 3 damaged MON-27-4K at AMS-1")
    invoke(cli, "chat", "--as", "alice.requester", "order 40 laptops for the Berlin office")

    def ids(*filters: str) -> list[str]:
        code, out = invoke(cli, "approvals", "list", "--json", *filters)
        assert code == 0, out
        return [str(r["tool"]) for r in json.loads(out)]

    assert ids("--actionable-by", "frank.warehouse") == ["inventory_adjust_stock"]
    assert ids("--actionable-by", "grace.procure") == ["procurement_create_purchase_order"]
    assert ids("--requester", "carol.desk") == ["inventory_adjust_stock"]
    assert ids("--tool", "procurement_create_purchase_order") == ["procurement_create_purchase_order"]
    assert ids("--actionable-by", "alice.requester") == []
