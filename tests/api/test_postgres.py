"""The API with every store on PostgreSQL, as two server processes behind a load balancer would run.

Pins: a token made through one process authenticates at the other; the README order runs once with
its votes cast through different processes; the per-person send limit counts the shared trail, so it
holds across processes; the auditor's queries by actor and kind run there too; free text, ids and
query values with a NUL (which PostgreSQL text cannot hold) are 422s naming the field, not 500s.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from agent.api import create_app
from agent.operations import Operations
from agent.settings import Settings
from tests.api.test_api import LAPTOPS, assert_problem
from tests.pg.server import Databases


def test_two_processes_on_one_postgres_database(
    tmp_path: Path, systems_template: Path, pg_databases: Databases, monkeypatch: object
) -> None:
    url = pg_databases.create()
    homes = [tmp_path / "a", tmp_path / "b"]
    for home in homes:
        home.mkdir()
    shutil.copy(systems_template, homes[0] / "systems.db")  # the reference systems are shared too
    homes[1].rmdir()
    homes[1].symlink_to(homes[0])
    settings = [
        Settings(
            home=home,
            database_url=url,
            grounding=False,
            serve_worker=False,
            send_rate_per_minute=2,
            _env_file=None,
        )
        for home in homes
    ]
    one, two = (Operations(s) for s in settings)
    tokens = {
        p: one.create_token(p, expires_in=None).token
        for p in ("alice.requester", "grace.procure", "heidi.finance", "mia.audit")
    }

    def auth(person: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[person]}"}

    with (
        TestClient(create_app(settings[0], operations=one, worker=False)) as a,
        TestClient(create_app(settings[1], operations=two, worker=False)) as b,
    ):
        turn = b.post("/v1/threads", json={"message": LAPTOPS}, headers=auth("alice.requester")).json()
        request_id = turn["pending"][0]["id"]
        assert (
            a.post(f"/v1/approvals/{request_id}/approve", json={}, headers=auth("grace.procure")).status_code
            == 200
        )
        last = b.post(f"/v1/approvals/{request_id}/approve", json={}, headers=auth("heidi.finance")).json()
        one.resume(turn["thread_id"])  # the worker's job, in whichever process
        executions = a.get(
            "/v1/executions", params={"thread": turn["thread_id"]}, headers=auth("alice.requester")
        )
        second = a.post(
            "/v1/threads",
            json={"message": "how many SSD-1TB-NVME in AMS-1?"},
            headers=auth("alice.requester"),
        )
        limited = b.post("/v1/threads", json={"message": "and in BER-2?"}, headers=auth("alice.requester"))
        votes = a.get(
            "/v1/audit", params={"kind": "approval_vote", "actor": "heidi.finance"}, headers=auth("mia.audit")
        )

    assert last["can_resume"] and second.status_code == 201
    orders = [e for e in executions.json()["items"] if e["tool"] == "procurement_create_purchase_order"]
    assert [o["status"] for o in orders] == ["completed"]
    assert assert_problem(limited, 429)["retry_after"] >= 1
    assert [e["payload"]["request_id"] for e in votes.json()["items"]] == [request_id]
    pg_databases.done(url)


def test_free_text_with_a_nul_is_refused_naming_the_field_on_postgres(
    tmp_path: Path, systems_template: Path, pg_databases: Databases
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(systems_template, home / "systems.db")
    settings = Settings(
        home=home, database_url=pg_databases.create(), grounding=False, serve_worker=False, _env_file=None
    )
    ops = Operations(settings)
    made: dict[str, str] = {}

    def auth(person: str) -> dict[str, str]:
        made.setdefault(person, ops.create_token(person, expires_in=None).token)
        return {"Authorization": f"Bearer {made[person]}"}

    with TestClient(create_app(settings, operations=ops, worker=False)) as client:
        turn = client.post("/v1/threads", json={"message": LAPTOPS}, headers=auth("alice.requester")).json()
        request = turn["pending"][0]["id"]
        key = client.get(
            "/v1/executions", params={"thread": turn["thread_id"]}, headers=auth("carol.desk")
        ).json()["items"][0]["key"]
        pause = client.post(
            "/v1/autonomy/pause",
            json={"reason": "x", "tool": "itsm_add_work_note"},
            headers=auth("dave.incident"),
        ).json()["id"]
        attempts = [
            ("grace.procure", f"/v1/approvals/{request}/reject", {"reason": "bad\x00x"}, ["body", "reason"]),
            ("grace.procure", f"/v1/approvals/{request}/approve", {"comment": "ok\x00"}, ["body", "comment"]),
            (
                "grace.procure",
                f"/v1/approvals/{request}/edit",
                {"args": {}, "comment": "\x00"},
                ["body", "comment"],
            ),
            ("grace.procure", f"/v1/approvals/{request}/veto", {"reason": "x\x00"}, ["body", "reason"]),
            ("dave.incident", "/v1/autonomy/pause", {"reason": "x\x00y"}, ["body", "reason"]),
            ("dave.incident", "/v1/autonomy/pause", {"reason": "x", "person": "a\x00"}, ["body", "person"]),
            ("erin.change", f"/v1/autonomy/{pause}/resume", {"reason": "x\x00"}, ["body", "reason"]),
            ("mia.audit", f"/v1/monitors/{pause}/clear", {"reason": "x\x00"}, ["body", "reason"]),
            (
                "carol.desk",
                f"/v1/executions/{key}/settle",
                {"status": "failed", "text": "\x00"},
                ["body", "text"],
            ),
        ]
        for person, url, body, loc in attempts:
            response = client.post(url, json=body, headers=auth(person))
            assert [e["loc"] for e in assert_problem(response, 422)["errors"]] == [loc], url
        settle = {"status": "failed", "text": "x"}
        for url, body in (
            (f"/v1/executions/{key[:8]}%00/settle", settle),
            ("/v1/autonomy/RST-%00/resume", {"reason": "x"}),
            ("/v1/approvals/APR-%00/veto", {"reason": "x"}),
        ):
            assert_problem(client.post(url, json=body, headers=auth("mia.audit")), 422)
        for url in (
            "/v1/approvals/APR-%00",
            "/v1/approvals?status=all&requester=a%00",
            "/v1/approvals?tool=a%00",
            "/v1/audit?actor=a%00",
            "/v1/audit?kind=request&kind=a%00",
        ):
            assert_problem(client.get(url, headers=auth("mia.audit")), 422)
        approved = client.post(f"/v1/approvals/{request}/approve", json={}, headers=auth("grace.procure"))

    assert approved.status_code == 200 and len(approved.json()["approval"]["votes"]) == 1
    assert ops.audit_query(kinds=["autonomy_resumed", "monitor_cleared", "execution_settled"]).events == ()
