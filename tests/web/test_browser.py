"""The review page in a real browser: headless Chromium (Debian's ``chromium``, driven by Playwright)
against ``opslayer serve``'s app on a socket, with its in-process worker resuming approved threads.

Pins the issue's flows: alice asks over the API for a ~30,000 purchase order; grace approves in her
browser, heidi in another; the page shows the execution and the procurement system holds one order.
A rejection's reason reaches the agent's answer; an edit to a larger amount says more approval is
needed; alice cannot approve her own request; a POST without CSRF token is refused; hostile text is
shown literally; the Approve button is reachable by keyboard. Screenshots of the queue and a request
at 1280 and 390 pixels go to ``.artifacts/``.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Playwright, expect, sync_playwright

from agent.operations import Operations
from tests.api.conftest import world_settings
from tests.api.test_serve import Served
from tools.local import add_budget

ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts"
ORDER = "order 22 laptops for the Berlin office"  # 22 × 1,377.50 = 30,305.00 EUR: two approvers
MONITORS = "order 25 monitors for the Berlin office"  # 9,238.75 EUR: a procurement manager alone
HOSTILE = "order 22 laptops for the Berlin office <script>alert('pwned')</script> & <b>bold</b>"
WAIT_MS = 60_000  # the worker's resume and the page's poll, on a loaded machine


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's chromium; missing, the test fails naming it (``make chromium`` installs it)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: run `make chromium` (apt-get install chromium)")
    with sync_playwright() as playwright:
        yield _launch(playwright, executable)


def _launch(playwright: Playwright, executable: str) -> Browser:
    return playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, systems_template: Path) -> Iterator[dict[str, Any]]:
    """One served world for the module (each test asks for its own requests)."""
    settings = world_settings(
        tmp_path_factory.mktemp("web") / "home", systems_template, serve_worker=True, worker_poll_s=0.05
    )
    # Room in the budget for every order the module's tests run: an order worth more than its cost
    # centre has left is denied before anyone could approve it (over-cost-centre-budget).
    add_budget(settings.systems_db, "CC-IT-OPS", 100_000_000)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("OPENAI_API_KEY", raising=False)
        patch.delenv("OPSLAYER_OPENAI_API_KEY", raising=False)
        ops = Operations(settings)
        with Served(settings) as served:
            yield {"settings": settings, "ops": ops, "url": served.url, "tokens": {}}


def token(world: dict[str, Any], person: str) -> str:
    tokens: dict[str, str] = world["tokens"]
    if person not in tokens:
        tokens[person] = world["ops"].create_token(person, expires_in=None).token
    return tokens[person]


def ask(world: dict[str, Any], text: str, person: str = "alice.requester") -> dict[str, Any]:
    """``person`` asks over the API; the thread and the approval it waits for."""
    headers = {"Authorization": f"Bearer {token(world, person)}"}
    turn = httpx.post(f"{world['url']}/v1/threads", json={"message": text}, headers=headers, timeout=60)
    assert turn.status_code == 201, turn.text
    body = turn.json()
    assert body["pending"], body["answer"]
    return {"thread": body["thread_id"], "request": body["pending"][0]["id"]}


@pytest.fixture
def contexts(chromium: Browser) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def signed_in(world: dict[str, Any], contexts: list[BrowserContext], chromium: Browser, person: str) -> Page:
    """A new browser context (its own cookies) in which ``person`` signed in with their token."""
    context = chromium.new_context(base_url=world["url"], viewport={"width": 1280, "height": 900})
    contexts.append(context)
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(f"{world['url']}/login?next=%2F")
    page.get_by_label("API token").fill(token(world, person))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-as")).to_contain_text(person)
    return page


def purchase_orders(world: dict[str, Any]) -> int:
    with sqlite3.connect(world["settings"].systems_db) as db:
        count: int = db.execute("SELECT count(*) FROM purchase_orders").fetchone()[0]
    return count


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=ARTIFACTS / f"{name}-{width}.png", full_page=True)
        # readable at that width: nothing makes the page scroll sideways
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > "
            f"{width} + 1).map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width, wide[:8])
    page.set_viewport_size({"width": 1280, "height": 900})


def test_two_managers_approve_in_their_browsers_and_the_page_shows_the_execution(
    world: dict[str, Any], chromium: Browser, contexts: list[BrowserContext]
) -> None:
    orders_before = purchase_orders(world)
    asked = ask(world, ORDER)
    grace = signed_in(world, contexts, chromium, "grace.procure")

    mine = grace.get_by_role("table", name="Waiting for you")
    expect(mine.locator(f"tr[data-request='{asked['request']}']")).to_contain_text("30,305.00 EUR")
    expect(mine).to_contain_text("alice.requester")
    shoot(grace, "queue")
    mine.get_by_role("link", name=asked["request"]).click()
    expect(grace.get_by_test_id("status")).to_have_text("○ pending")
    expect(grace.get_by_test_id("still-needed")).to_contain_text("finance_controller")
    shoot(grace, "request")
    grace.get_by_role("button", name="Approve", exact=True).click()
    expect(grace.get_by_test_id("notice")).to_contain_text("Your approval was recorded")
    expect(grace.get_by_test_id("status")).to_have_text("○ pending")  # heidi's approval is still needed

    heidi = signed_in(world, contexts, chromium, "heidi.finance")
    heidi.goto(f"/approvals/{asked['request']}")
    heidi.get_by_label("Comment (optional)").first.fill("within the Q4 budget")
    heidi.get_by_role("button", name="Approve", exact=True).click()
    expect(heidi.get_by_test_id("status")).to_have_text("✓ approved")

    # grace's page was not reloaded: its poll brings the execution the worker ran
    expect(grace.get_by_test_id("execution-status")).to_have_text("✓ completed", timeout=WAIT_MS)
    expect(grace.get_by_test_id("execution-result")).to_contain_text("PO-")
    expect(grace.get_by_test_id("votes")).to_contain_text("within the Q4 budget")
    assert purchase_orders(world) == orders_before + 1


def test_a_rejection_reason_reaches_the_agents_answer(
    world: dict[str, Any], chromium: Browser, contexts: list[BrowserContext]
) -> None:
    asked = ask(world, MONITORS)
    grace = signed_in(world, contexts, chromium, "grace.procure")
    grace.goto(f"/approvals/{asked['request']}")
    reason = "Use the framework agreement with SUP-002 instead"
    grace.get_by_label("Reason").fill(reason)
    grace.get_by_role("button", name="Reject").click()
    expect(grace.get_by_test_id("status")).to_have_text("✗ rejected")
    expect(grace.get_by_test_id("answer")).to_contain_text(reason, timeout=WAIT_MS)


def test_an_edit_to_a_larger_amount_says_more_approval_is_needed(
    world: dict[str, Any], chromium: Browser, contexts: list[BrowserContext]
) -> None:
    asked = ask(world, MONITORS)
    grace = signed_in(world, contexts, chromium, "grace.procure")
    grace.goto(f"/approvals/{asked['request']}")
    grace.get_by_text("Edit the arguments and approve").click()
    unit = float(grace.get_by_label("lines 1 unit price").input_value())
    grace.get_by_label("lines 1 quantity").fill("100")
    grace.get_by_label("total amount").fill(f"{100 * unit:.2f}")
    grace.get_by_role("button", name="Approve the edited call").click()
    expect(grace.get_by_test_id("notice")).to_contain_text("needs more approval than you can give")
    expect(grace.get_by_test_id("status")).to_have_text("○ pending")
    expect(grace.get_by_test_id("still-needed")).to_contain_text("finance_controller")
    expect(grace.get_by_test_id("diff")).to_contain_text("100")


def test_alice_cannot_approve_her_own_request(
    world: dict[str, Any], chromium: Browser, contexts: list[BrowserContext]
) -> None:
    asked = ask(world, MONITORS)
    alice = signed_in(world, contexts, chromium, "alice.requester")
    alice.goto(f"/approvals/{asked['request']}")
    expect(alice.get_by_test_id("own-request")).to_be_visible()
    expect(alice.get_by_role("button", name="Approve")).to_have_count(0)
    csrf = alice.locator("form[action='/logout'] input[name=csrf]").input_value()
    forged = alice.request.post(f"/approvals/{asked['request']}/approve", form={"csrf": csrf})
    assert forged.status == 403
    assert world["ops"].approval(asked["request"]).request.votes == ()


def test_a_post_without_csrf_token_gets_403(
    world: dict[str, Any], chromium: Browser, contexts: list[BrowserContext]
) -> None:
    asked = ask(world, MONITORS)
    grace = signed_in(world, contexts, chromium, "grace.procure")
    refused = grace.request.post(f"/approvals/{asked['request']}/approve", form={"comment": "sure"})
    assert refused.status == 403 and "CSRF" in refused.text()
    assert world["ops"].approval(asked["request"]).request.votes == ()


def test_hostile_text_shows_literally(
    world: dict[str, Any], chromium: Browser, contexts: list[BrowserContext]
) -> None:
    asked = ask(world, HOSTILE)
    grace = signed_in(world, contexts, chromium, "grace.procure")
    dialogs: list[str] = []

    def dismissed(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    grace.on("dialog", dismissed)
    grace.goto(f"/approvals/{asked['request']}")
    expect(grace.get_by_test_id("request-text")).to_have_text(HOSTILE)
    assert grace.locator("blockquote b, blockquote script").count() == 0
    grace.goto(f"/threads/{asked['thread']}")
    expect(grace.locator(".msg-human").first).to_contain_text("<script>alert('pwned')</script>")
    assert dialogs == []


def test_the_approve_button_is_reachable_by_keyboard(
    world: dict[str, Any], chromium: Browser, contexts: list[BrowserContext]
) -> None:
    asked = ask(world, MONITORS)
    grace = signed_in(world, contexts, chromium, "grace.procure")
    grace.goto(f"/approvals/{asked['request']}")
    for _ in range(80):
        grace.keyboard.press("Tab")
        if grace.evaluate("document.activeElement && document.activeElement.id") == "approve":
            break
    else:
        pytest.fail("Tab never reached the Approve button")
    grace.keyboard.press("Enter")
    expect(grace.get_by_test_id("status")).to_have_text("✓ approved")
    assert [v.channel for v in world["ops"].approval(asked["request"]).request.votes] == ["web"]


def test_the_queue_updates_without_reloading(
    world: dict[str, Any], chromium: Browser, contexts: list[BrowserContext]
) -> None:
    grace = signed_in(world, contexts, chromium, "grace.procure")
    asked = ask(world, MONITORS)  # after grace's queue was drawn
    row = grace.get_by_role("table", name="Waiting for you").locator(f"tr[data-request='{asked['request']}']")
    expect(row).to_be_visible(timeout=WAIT_MS)


def _fewer(args: Any, quantity: int) -> dict[str, Any]:
    line = {**args["lines"][0], "quantity": quantity}
    return {**args, "lines": [line], "total_amount": round(quantity * line["unit_price"], 2)}


def test_an_edit_elsewhere_redraws_what_will_run_and_the_vote_names_it(
    world: dict[str, Any], chromium: Browser, contexts: list[BrowserContext]
) -> None:
    asked = ask(world, ORDER)
    ops = world["ops"]
    heidi = signed_in(world, contexts, chromium, "heidi.finance")
    heidi.goto(f"/approvals/{asked['request']}")
    expect(heidi.get_by_test_id("readable-args")).to_contain_text("22")
    request = ops.approval(asked["request"]).request
    ops.vote(
        request.id, voter="grace.procure", approve=True, channel="api", edited_args=_fewer(request.args, 21)
    )
    edited = ops.approval(asked["request"]).request
    expect(heidi.get_by_test_id("digest")).to_have_text(edited.args_digest, timeout=WAIT_MS)
    expect(heidi.locator("h1")).to_contain_text("Order 21 ×")
    assert heidi.locator("form[action$='/approve'] input[name=seen]").input_value() == edited.args_digest
    heidi.get_by_role("button", name="Approve", exact=True).click()
    expect(heidi.get_by_test_id("status")).to_have_text("✓ approved")
    votes = ops.approval(asked["request"]).request.votes
    assert [(v.approver, v.args_digest) for v in votes][-1] == ("heidi.finance", edited.args_digest)


def test_what_the_approver_types_survives_the_live_refresh(
    world: dict[str, Any], chromium: Browser, contexts: list[BrowserContext]
) -> None:
    ops = world["ops"]
    heidi = signed_in(world, contexts, chromium, "heidi.finance")
    voted, edited = ask(world, ORDER)["request"], ask(world, ORDER)["request"]

    heidi.goto(f"/approvals/{voted}")  # another vote: what heidi may do is the same
    reason = heidi.get_by_label("Reason")
    reason.fill("Over the Q4 budget")
    ops.vote(voted, voter="leo.procure2", approve=True, channel="api")
    expect(heidi.get_by_test_id("votes")).to_contain_text("leo.procure2", timeout=WAIT_MS)
    expect(reason).to_have_value("Over the Q4 budget")
    expect(reason).to_be_focused()
    expect(heidi.get_by_test_id("changed")).to_be_hidden()

    heidi.goto(f"/approvals/{edited}")  # an edit: the arguments are redrawn, the typing kept and flagged
    reason.fill("Over the Q4 budget")
    request = ops.approval(edited).request
    ops.vote(edited, voter="grace.procure", approve=True, channel="api", edited_args=_fewer(request.args, 20))
    digest = ops.approval(edited).request.args_digest
    expect(heidi.get_by_test_id("digest")).to_have_text(digest, timeout=WAIT_MS)
    expect(heidi.get_by_test_id("changed")).to_be_visible()
    expect(reason).to_have_value("Over the Q4 budget")


def test_a_refused_decision_leaves_the_request_at_its_own_address(
    world: dict[str, Any], chromium: Browser, contexts: list[BrowserContext]
) -> None:
    asked = ask(world, MONITORS)
    grace = signed_in(world, contexts, chromium, "grace.procure")
    grace.goto(f"/approvals/{asked['request']}")
    world["ops"].vote(
        asked["request"], voter="leo.procure2", approve=False, reason="framework deal", channel="api"
    )
    grace.get_by_role("button", name="Approve", exact=True).click()
    expect(grace.get_by_test_id("error")).to_contain_text("already rejected")
    expect(grace).to_have_url(f"{world['url']}/approvals/{asked['request']}")
    grace.reload()
    expect(grace.get_by_test_id("status")).to_have_text("✗ rejected")


def test_the_queue_is_left_alone_while_nothing_changes(
    world: dict[str, Any], chromium: Browser, contexts: list[BrowserContext]
) -> None:
    grace = signed_in(world, contexts, chromium, "grace.procure")
    grace.goto("/?status=expired")  # a list nothing in this world changes
    grace.evaluate(
        "window.mutations = 0;"
        "new MutationObserver(function (records) { window.mutations += records.length; })"
        ".observe(document.getElementById('live'), {childList: true, subtree: true, characterData: true})"
    )
    for _ in range(2):  # the first poll's answer was compared (and left alone) before the second comes
        with grace.expect_response(lambda r: "live=1" in r.url, timeout=WAIT_MS):
            pass
    assert grace.evaluate("window.mutations") == 0
