"""The veto flow in a real browser (Debian's chromium through Playwright) against ``opslayer serve``'s
app with its in-process worker, under a policy that gives work notes a 15-minute veto window.

carol asks for a work note over the API; dave (incident_manager) sees on his queue when it runs unless
vetoed, opens it, vetoes it with a reason; the agent's answer quotes the reason and the ITSM system
holds no such note. judy (a manager) then opens the impact dashboard, screenshotted at 1280 pixels
into ``.artifacts/``.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from agent.operations import Operations
from agent.settings import Settings
from tests.api.test_serve import Served
from tests.oversight.conftest import NOTE, NOTE_ASKS, VETOES, oversight_policy

ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts"
WAIT_MS = 60_000  # the worker's resume and the page's poll, on a loaded machine
REASON = "The pool is <b>not</b> checked yet — wait for the storage team"


@pytest.fixture
def settings(tmp_path: Path, systems_template: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPSLAYER_OPENAI_API_KEY", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(systems_template, home / "systems.db")
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(oversight_policy()), encoding="utf-8")
    return Settings(
        home=home, grounding=False, policy_file=policy, serve_worker=True, worker_poll_s=0.05, _env_file=None
    )


@pytest.fixture
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: run `make chromium` (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


def _sign_in(browser: Browser, url: str, token: str, opened: list[BrowserContext]) -> Page:
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
    opened.append(context)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-as")).to_be_visible()
    return page


def _notes_saying(settings: Settings, text: str) -> int:
    with sqlite3.connect(settings.systems_db) as db:
        found: int = db.execute(
            "SELECT count(*) FROM work_notes WHERE text LIKE ?", (f"%{text}%",)
        ).fetchone()[0]
    return found


def test_an_entitled_person_vetoes_on_the_page_and_the_agent_quotes_the_reason(
    settings: Settings, browser: Browser
) -> None:
    ops = Operations(settings)
    tokens = {p: ops.create_token(p, expires_in=None).token for p in (NOTE_ASKS, VETOES, "judy.cio")}
    opened: list[BrowserContext] = []
    with Served(settings) as served:
        try:
            asked = httpx.post(
                f"{served.url}/v1/threads",
                json={"message": NOTE},
                headers={"Authorization": f"Bearer {tokens[NOTE_ASKS]}"},
                timeout=60,
            )
            assert asked.status_code == 201, asked.text
            request_id = asked.json()["pending"][0]["id"]

            dave = _sign_in(browser, served.url, tokens[VETOES], opened)
            row = dave.get_by_role("table", name="Waiting for you").locator(
                f"tr[data-request='{request_id}']"
            )
            expect(row).to_contain_text("unless vetoed")
            row.get_by_role("link", name=request_id).click()
            expect(dave.get_by_test_id("veto-window")).to_contain_text("unless vetoed")
            expect(dave.get_by_test_id("veto-by")).to_contain_text("dave.incident")
            ARTIFACTS.mkdir(exist_ok=True)
            dave.screenshot(path=ARTIFACTS / "veto-request-1280.png", full_page=True)
            dave.get_by_label("Reason (required to veto").fill(REASON)
            dave.get_by_role("button", name="Veto").click()

            expect(dave.get_by_test_id("notice")).to_contain_text("You vetoed this call")
            expect(dave.get_by_test_id("status")).to_have_text("✗ rejected")
            expect(dave.get_by_test_id("answer")).to_contain_text(REASON, timeout=WAIT_MS)
            assert dave.locator("[data-testid=answer] b").count() == 0
            assert _notes_saying(settings, "checked the pool") == 0
            [veto] = ops.audit_events(kinds=["veto"])
            assert veto.actor == VETOES and veto.payload["reason"] == REASON

            judy = _sign_in(browser, served.url, tokens["judy.cio"], opened)
            judy.get_by_role("link", name="Impact").click()
            expect(judy.locator("#fig-vetoes")).to_have_text("1")
            expect(judy.get_by_role("img", name="Calls by tier")).to_be_visible()
            judy.screenshot(path=ARTIFACTS / "impact-1280.png", full_page=True)
            assert judy.evaluate("document.documentElement.scrollWidth") <= 1280
        finally:
            for context in opened:
                context.close()
