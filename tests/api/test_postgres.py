"""The API with every store on PostgreSQL, as two server processes behind a load balancer would run.

Pins: a token made through one process authenticates at the other; the README order runs once with
its votes cast through different processes; the per-person send limit counts the shared trail, so it
holds across processes; the auditor's queries by actor and kind run there too.
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
