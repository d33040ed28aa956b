"""The request page's decisions against what others did meanwhile, and what it shows: votes carry the
arguments they were cast on (an edit in between is refused with the current ones shown), an edit
changes only what the approver changed, hidden characters are marked, buttons are offered only where a
vote would count, notices come from the person's own vote, refusals stay on the request's page."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from agent.operations import Operations
from agent.web import forms
from agent.web.show import since, summary, until
from governance.approvals import ApprovalStatus
from tests.web.conftest import SignIn

ORDER = "order 22 laptops for the Berlin office"  # needs grace or leo, and heidi
MONITORS = "order 25 monitors for the Berlin office"  # grace alone
CHANGE = (
    "open a change request for payments-api to restart pods\n\n\n\n\n    also drop the prod database\n\tend"
)


def ask(ops: Operations, text: str, *, thread: str | None = None) -> str:
    turn = ops.send(text, actor="alice.requester", channel="api", thread=thread)
    assert turn.pending, turn.answer
    return turn.pending[0].id


class _Form(HTMLParser):
    """What a browser submits for one form: inputs (without line breaks), textareas (CRLF line breaks,
    the HTML parser's leading newline dropped), the selected option, checked boxes only."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and (a.get("type") != "checkbox" or "checked" in a):
            value = a.get("value", "")  # a text input drops line breaks from its value
            self.values[a["name"]] = value if a.get("type") == "hidden" else re.sub("[\r\n]", "", value)
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""
        elif tag == "select":
            self._select = a["name"]
        elif (
            tag == "option"
            and self._select is not None
            and (self._select not in self.values or "selected" in a)
        ):
            self.values[self._select] = a.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._textarea is not None:
            text = self._text[1:] if self._text.startswith("\n") else self._text
            self.values[self._textarea] = text.replace("\n", "\r\n")
            self._textarea = None
        elif tag == "select":
            self._select = None


def form_of(page: str, request_id: str, action: str) -> dict[str, str]:
    start = page.index(f'action="/approvals/{request_id}/{action}"')
    parser = _Form()
    parser.feed(page[start : page.index("</form>", start)])
    return parser.values


def fewer(args: Any, quantity: int) -> dict[str, Any]:
    """The order's arguments with its one line's quantity (and the total) changed."""
    line = {**args["lines"][0], "quantity": quantity}
    return {**args, "lines": [line], "total_amount": round(quantity * line["unit_price"], 2)}


def part(page: str, testid: str, tag: str) -> str:
    found = re.search(rf'data-testid="{testid}">(.*?)</{tag}>', page, re.S)
    assert found is not None, testid
    return html.unescape(found.group(1))


# --- #1: a vote names the arguments it was cast on ------------------------------------------------


def test_every_decision_form_carries_the_digest_of_the_arguments_shown(
    ops: Operations, signed_in: SignIn
) -> None:
    request_id = ask(ops, ORDER)
    page = signed_in("heidi.finance").get(f"/approvals/{request_id}").text
    digest = ops.approval(request_id).request.args_digest
    for action in ("approve", "reject", "edit"):
        assert form_of(page, request_id, action)["seen"] == digest, action


def test_a_vote_on_arguments_an_edit_replaced_is_refused_showing_the_current_ones(
    ops: Operations, signed_in: SignIn
) -> None:
    request_id = ask(ops, ORDER)
    heidi = signed_in("heidi.finance")
    stale = heidi.get(f"/approvals/{request_id}").text
    grace = signed_in("grace.procure")
    edit = form_of(grace.get(f"/approvals/{request_id}").text, request_id, "edit")
    unit = float(edit["lines.0.unit_price"])
    grace.post(
        f"/approvals/{request_id}/edit",
        data={**edit, "lines.0.quantity": "26", "total_amount": f"{26 * unit:.2f}"},
    )
    edited = ops.approval(request_id).request
    assert edited.args["lines"][0]["quantity"] == 26

    for action, extra in (("approve", {}), ("reject", {"reason": "no"}), ("edit", {})):
        refused = heidi.post(
            f"/approvals/{request_id}/{action}", data={**form_of(stale, request_id, action), **extra}
        )
        assert refused.status_code == 409, action
        assert "The arguments changed since you opened this page" in refused.text
        assert f'data-testid="digest">{edited.args_digest}<' in refused.text  # the current ones
        assert 'lines 1 quantity</dt><dd class="literal">26<' in refused.text
    request = ops.approval(request_id).request
    assert [v.approver for v in request.votes] == [
        "grace.procure"
    ] and request.status is ApprovalStatus.PENDING


def test_the_live_fragment_redraws_the_arguments_when_they_change(ops: Operations, signed_in: SignIn) -> None:
    request_id = ask(ops, MONITORS)
    grace = signed_in("grace.procure")
    before = grace.get(f"/approvals/{request_id}?live=1").text
    request = ops.approval(request_id).request
    edited = fewer(request.args, 24)
    ops.vote(request_id, voter="leo.procure2", approve=True, channel="api", edited_args=edited)
    after = grace.get(f"/approvals/{request_id}?live=1").text
    digest = ops.approval(request_id).request.args_digest
    for name in ("args", "title"):
        assert f'data-part="{name}" data-key="{request.args_digest}"' in before
        assert f'data-part="{name}" data-key="{digest}"' in after
    assert 'quantity</dt><dd class="literal">24<' in after and "Order 24 ×" in after


# --- #2 and #3: an edit changes only what the approver changed ------------------------------------


def test_an_edit_keeps_every_untouched_argument_byte_for_byte(ops: Operations, signed_in: SignIn) -> None:
    request_id = ask(ops, CHANGE)
    proposed = dict(ops.approval(request_id).request.args)
    assert "\n\n\n" in proposed["description"] and "\t" in proposed["short_description"]
    erin = signed_in("erin.change")
    page = erin.get(f"/approvals/{request_id}").text
    assert '<textarea id="f-description"' in page and '<textarea id="f-short_description"' in page
    form = form_of(page, request_id, "edit")
    done = erin.post(f"/approvals/{request_id}/edit", data={**form, "risk": "low"})
    assert done.status_code == 200, done.text
    assert dict(ops.approval(request_id).request.args) == {**proposed, "risk": "low"}
    assert [
        c.strip() for c in re.findall(r"<tr><td><code>(.*?)</code>", part(done.text, "diff", "table"))
    ] == ["risk"]


def test_a_whitespace_change_reads_as_one_in_the_diff(ops: Operations, signed_in: SignIn) -> None:
    request_id = ask(ops, CHANGE)
    erin = signed_in("erin.change")
    form = form_of(erin.get(f"/approvals/{request_id}").text, request_id, "edit")
    flattened = form["description"].replace("\r\n", " ")
    done = erin.post(f"/approvals/{request_id}/edit", data={**form, "description": flattened})
    diff = part(done.text, "diff", "table")
    assert '"Requested in chat: open a change request for payments-api to restart pods\\n\\n\\n\\n\\n' in diff
    assert '"Requested in chat: open a change request for payments-api to restart pods     ' in diff


def test_optional_choices_left_unset_stay_absent(ops: Operations) -> None:
    schema = ops.governance.registry.get("itsm_update_incident").json_schema()
    args = {"number": "INC0010050", "priority": 2}
    state = next(f for f in forms.fields(schema, args) if f.name == "state")
    assert state.kind == "select" and state.options[0] == "" and state.value == ""
    shown = {f.name: f.value for f in forms.fields(schema, args)}
    assert forms.parse(schema, shown, args) == args
    assert forms.parse(schema, {**shown, "priority": "3"}, args) == {**args, "priority": 3}
    assert forms.parse(schema, {**shown, "state": "on_hold"}, args) == {**args, "state": "on_hold"}


def test_an_optional_boolean_is_a_choice_that_may_stay_unset() -> None:
    schema = {
        "type": "object",
        "properties": {
            "urgent": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
            "note": {"type": "string"},
        },
        "required": ["note"],
    }
    [urgent, _] = forms.fields(schema, {"note": "x"})
    assert urgent.kind == "select" and urgent.options == ("", "true", "false")
    assert forms.parse(schema, {"urgent": "", "note": "x"}, {"note": "x"}) == {"note": "x"}
    assert forms.parse(schema, {"urgent": "false", "note": "x"}, {"note": "x"}) == {
        "note": "x",
        "urgent": False,
    }


# --- #5: hidden characters are marked -------------------------------------------------------------


def test_hidden_characters_are_marked_where_the_page_shows_arguments_and_text(
    ops: Operations, signed_in: SignIn
) -> None:
    hostile = (
        "open a change request for payments-api to restart pods \u202eenilno peek \u200bx\u200d \x1b[8mhidden"
    )
    request_id = ask(ops, hostile)
    request = ops.approval(request_id).request
    erin = signed_in("erin.change")
    page = erin.get(f"/approvals/{request_id}").text
    for hidden in ("\u202e", "\u200b", "\u200d", "\x1b"):
        assert hidden not in page, repr(hidden)
    assert "<U+202E>enilno peek <U+200B>x<U+200D>" in part(page, "readable-args", "dl")
    assert "<U+202E>" in part(page, "request-text", "blockquote")
    canonical = part(page, "canonical-json", "pre")
    real = canonical.replace("<U+202E>", "\u202e").replace("<U+200B>", "\u200b").replace("<U+200D>", "\u200d")
    assert hashlib.sha256(real.encode()).hexdigest() == request.args_digest  # the digest is the real bytes'
    thread = erin.get(f"/threads/{request.thread_id}").text
    assert "\u202e" not in thread and "<U+202E>" in html.unescape(thread)


# --- #7: buttons only where a vote would count ----------------------------------------------------


def test_approve_and_edit_are_offered_only_while_the_approval_would_count(
    ops: Operations, signed_in: SignIn
) -> None:
    request_id = ask(ops, ORDER)
    grace = signed_in("grace.procure")
    stale = grace.get(f"/approvals/{request_id}").text
    assert 'id="approve"' in stale and 'id="edit-approve"' in stale
    ops.vote(request_id, voter="leo.procure2", approve=True, channel="api")

    page = grace.get(f"/approvals/{request_id}").text
    assert 'id="approve"' not in page and 'id="edit-approve"' not in page and 'id="reject"' in page
    queue = grace.get("/").text
    assert request_id not in queue[queue.index('id="mine-h"') : queue.index('id="others-h"')]
    late = grace.post(f"/approvals/{request_id}/approve", data=form_of(stale, request_id, "approve"))
    assert late.status_code == 409 and "Your vote was not recorded" in late.text
    assert 'data-testid="still-needed"' in late.text  # the request's page, saying what is still needed


# --- #9: refusals stay on the request's page, and browsers get pages ------------------------------


def test_a_refused_decision_polls_the_requests_own_address(ops: Operations, signed_in: SignIn) -> None:
    request_id = ask(ops, MONITORS)
    grace = signed_in("grace.procure")
    page = grace.get(f"/approvals/{request_id}").text
    ops.vote(request_id, voter="leo.procure2", approve=False, reason="use the framework deal", channel="api")
    refused = grace.post(f"/approvals/{request_id}/approve", data=form_of(page, request_id, "approve"))
    assert refused.status_code == 409 and refused.url.path.endswith("/approve")
    assert f'data-poll="/approvals/{request_id}?live=1"' in refused.text
    assert f'data-page="/approvals/{request_id}"' in refused.text
    assert grace.get(f"/approvals/{request_id}?live=1").status_code == 200


def test_browsers_get_problem_pages_and_api_callers_problem_json(ops: Operations, signed_in: SignIn) -> None:
    request_id = ask(ops, MONITORS)
    grace = signed_in("grace.procure")
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    for url, status in (
        (f"/approvals/{request_id}/approve", 405),
        ("/approvals/", 404),
        ("/favicon.ico", 404),
    ):
        page = grace.get(url, headers=browser)
        assert page.status_code == status and page.headers["content-type"].startswith("text/html"), url
        assert f"{status} ·" in page.text and 'data-testid="signed-in-as"' in page.text
    api = grace.get("/v1/nothing-here", headers=browser)
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
    assert grace.get("/favicon.ico").headers["content-type"] == "application/problem+json"


# --- #10: a notice confirms only the person's own vote --------------------------------------------


def test_the_notice_comes_from_the_persons_own_vote_not_the_address(
    ops: Operations, signed_in: SignIn
) -> None:
    request_id = ask(ops, ORDER)
    heidi = signed_in("heidi.finance")
    for done in ("approved", "vetoed", "rejected", "edited"):
        forged = heidi.get(f"/approvals/{request_id}?done={done}").text
        assert 'data-testid="notice"' not in forged, done
    page = heidi.get(f"/approvals/{request_id}").text
    voted = heidi.post(f"/approvals/{request_id}/approve", data=form_of(page, request_id, "approve"))
    assert voted.url.path == f"/approvals/{request_id}" and not voted.url.query
    assert "Your approval was recorded" in part(voted.text, "notice", "p")
    assert 'data-testid="notice"' not in signed_in("mia.audit").get(f"/approvals/{request_id}").text


def test_a_vote_an_edit_replaced_says_it_no_longer_counts(ops: Operations, signed_in: SignIn) -> None:
    request_id = ask(ops, ORDER)
    ops.vote(request_id, voter="heidi.finance", approve=True, channel="api")
    request = ops.approval(request_id).request
    ops.vote(
        request_id, voter="grace.procure", approve=True, channel="api", edited_args=fewer(request.args, 21)
    )
    page = signed_in("heidi.finance").get(f"/approvals/{request_id}").text
    assert "does not count for the arguments shown now" in part(page, "notice", "p")


# --- #12: the queue's fragment changes only with the queue ----------------------------------------


def test_a_waiting_time_is_shown_to_the_minute_so_the_live_fragment_does_not_tick() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    shown = [since(now - timedelta(seconds=s), now) for s in (0, 5, 59, 61, 3_700)]

    assert shown == ["under 1 min", "under 1 min", "under 1 min", "1 min", "1 h 1 min"]
    assert until(now + timedelta(seconds=45), now) == "in 45 s"  # a veto window's seconds still count


def test_the_queue_fragment_is_the_same_until_the_queue_changes(ops: Operations, signed_in: SignIn) -> None:
    request_id = ask(ops, MONITORS)
    grace = signed_in("grace.procure")
    first, second = (grace.get("/", params={"live": "1"}).text for _ in range(2))
    assert first == second and "Updated" not in first
    state = re.search(r'data-state="([^"]+)"', first)
    assert state is not None and request_id in state.group(1)
    ops.vote(request_id, voter="leo.procure2", approve=True, channel="api")
    assert f'data-state="{state.group(1)}"' not in grace.get("/", params={"live": "1"}).text


# --- #13: thread links survive any thread name ----------------------------------------------------


def test_a_thread_named_with_slash_hash_and_space_opens_from_its_link(
    ops: Operations, signed_in: SignIn
) -> None:
    request_id = ask(ops, ORDER, thread="berlin/q4 #1?x")
    grace = signed_in("grace.procure")
    page = grace.get(f"/approvals/{request_id}").text
    link = re.search(r'<a href="(/threads/[^"]+)">', page)
    assert link is not None and link.group(1) == "/threads/berlin%2Fq4%20%231%3Fx"
    thread = grace.get(link.group(1))
    assert thread.status_code == 200 and "berlin/q4 #1?x" in html.unescape(thread.text)
    assert ORDER in thread.text


# --- #14: a refused vote says why -----------------------------------------------------------------


def test_a_refused_vote_shows_its_reason_in_the_history_and_not_its_comment(
    ops: Operations, signed_in: SignIn
) -> None:
    request_id = ask(ops, MONITORS)
    grace = signed_in("grace.procure")
    page = grace.get(f"/approvals/{request_id}").text
    ops.vote(request_id, voter="leo.procure2", approve=False, reason="use the framework deal", channel="api")
    grace.post(
        f"/approvals/{request_id}/approve", data={**form_of(page, request_id, "approve"), "comment": "fine"}
    )
    history = part(grace.get(f"/approvals/{request_id}").text, "history", "ol")
    refused = next(line for line in history.split("</li>") if "refused" in line)
    assert "(RequestClosed)" in refused and "is already rejected" in refused
    assert "fine by me" not in refused and "“fine”" not in refused


# --- #15: one-line summaries state what the call does ---------------------------------------------


def test_summaries_state_the_adjustments_kind_and_sign_and_the_orders_lines() -> None:
    stock = {"sku": "SSD-1TB-NVME", "warehouse": "BER-2", "reason": "counted"}
    assert summary("inventory_adjust_stock", {**stock, "delta": 40, "kind": "cycle_count"}) == (
        "Cycle count +40 × SSD-1TB-NVME at BER-2"
    )
    assert summary("inventory_adjust_stock", {**stock, "delta": -3, "kind": "write_off"}) == (
        "Write off -3 × SSD-1TB-NVME at BER-2"
    )
    order = {"supplier_id": "SUP-001", "total_amount": 41334.5, "cost_centre": "CC-IT-OPS"}
    lines = [{"sku": "CBL-USBC-1M", "quantity": 1}, {"sku": "LAP-14-PRO", "quantity": 30}]
    assert summary("procurement_create_purchase_order", {**order, "lines": lines}) == (
        "Order 1 × CBL-USBC-1M (+1 more line) from SUP-001 for 41,334.50 EUR on CC-IT-OPS"
    )
    many = [{"sku": "LAP-14-PRO", "quantity": 1_234_567}, *lines]
    assert "Order 1,234,567 × LAP-14-PRO (+2 more lines)" in summary(
        "procurement_create_purchase_order", {**order, "lines": many}
    )
