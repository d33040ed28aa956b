"""Block Kit as Slack accepts it and as people should read it.

Pins: an approval card stays inside Slack's limits (blocks, section/header/button text, action ids and
values) even for huge, hostile arguments; hostile text goes out as plain text (no mrkdwn, mention or
link is rendered) and escaped in the fallback; a step-up card has no Approve button; the README's card
(``docs/slack-card.json``) is exactly what the code renders (``OPSLAYER_WRITE_CARD=1`` rewrites it).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.slack import cards
from governance.approvals import ApprovalRequest, ApprovalStatus
from governance.decision import ApprovalRequirement

CARD_FILE = Path(__file__).parents[2] / "docs" / "slack-card.json"
HOSTILE = "<!channel> *bold* <https://evil.example|click me> & `code`"


def order_request(**changes: Any) -> ApprovalRequest:
    fields: dict[str, Any] = {
        "id": "APR-3F2A9C01",
        "thread_id": "slack-5b1e0c9a7d21",
        "tool_call_id": "call_order_3_2",
        "tool": "procurement_create_purchase_order",
        "args": {
            "cost_centre": "CC-IT-OPS",
            "lines": [{"quantity": 22, "sku": "LAP-14-PRO", "unit_price": 1377.5}],
            "supplier_id": "SUP-001",
            "total_amount": 30305.0,
        },
        "args_digest": "0" * 64,
        "requirements": (
            ApprovalRequirement(roles=("procurement_manager",), count=1, rule_id="big-po"),
            ApprovalRequirement(roles=("finance_controller",), count=1, rule_id="huge-po"),
        ),
        "requester": "alice.requester",
        "channel": "slack",
        "reasons": (
            "big-po: Purchase orders over 2,000 need a procurement manager's approval.",
            "huge-po: Purchase orders over 25,000 also need a finance controller's approval (two people).",
        ),
        "rule_ids": ("big-po", "huge-po"),
        "notify": (),
        "policy_version": "2026-11 baseline@sha256:0000000000000000",
        "status": ApprovalStatus.PENDING,
        "status_reason": "needs 1 more approver(s) holding procurement_manager (rule 'big-po'); "
        "needs 1 more approver(s) holding finance_controller (rule 'huge-po')",
        "created_at": datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
        "expires_at": datetime(2026, 12, 8, 9, 0, tzinfo=UTC),
        "decided_at": None,
        "version": 1,
    }
    return ApprovalRequest(**{**fields, **changes})


def facts(**changes: Any) -> cards.CardFacts:
    fields: dict[str, Any] = {
        "request_text": "order 22 laptops for the Berlin office",
        "requester_name": "Alice Andersen",
        "review_url": "https://ops.example.com/approvals/APR-3F2A9C01",
        "step_up_url": None,
    }
    return cards.CardFacts(**{**fields, **changes})


def assert_within_limits(message: dict[str, Any]) -> None:
    blocks = message["blocks"]
    assert 0 < len(blocks) <= cards.LIMITS["blocks"]
    assert len(message["text"]) <= cards.LIMITS["fallback_text"]
    for block in blocks:
        if block["type"] == "section":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= cards.LIMITS["section_text"]
        elif block["type"] == "header":
            assert len(block["text"]["text"]) <= cards.LIMITS["header_text"]
        elif block["type"] == "context":
            assert all(e["type"] == "plain_text" for e in block["elements"])
        elif block["type"] == "actions":
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= cards.LIMITS["button_text"]
                assert len(element["action_id"]) <= cards.LIMITS["action_id"]
                assert len(element.get("value", "")) <= cards.LIMITS["button_value"]
                # the approval id, and on deciding buttons the digest of the arguments shown
                assert element.get("value") in (None, "APR-3F2A9C01", f"APR-3F2A9C01:{'0' * 64}")


def test_the_readme_card_is_what_the_code_renders() -> None:
    rendered = cards.approval_card(order_request(), facts())
    assert_within_limits(rendered)
    text = json.dumps(rendered, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("OPSLAYER_WRITE_CARD") == "1":
        CARD_FILE.write_text(text, encoding="utf-8")
    assert CARD_FILE.read_text(encoding="utf-8") == text, "rerun with OPSLAYER_WRITE_CARD=1 to update"


def test_huge_hostile_arguments_stay_within_limits_and_literal() -> None:
    args = {
        "justification": HOSTILE * 400,
        "lines": [{"sku": f"SKU-{i}", "quantity": 1} for i in range(3000)],
    }
    request = order_request(args=args, reasons=tuple(f"rule-{i}: {HOSTILE}" for i in range(200)))
    card = cards.approval_card(request, facts(request_text=HOSTILE * 100, requester_name=HOSTILE))

    assert_within_limits(card)
    assert "&lt;!channel&gt;" in card["text"] and "<!channel>" not in card["text"]
    assert any(HOSTILE in b["text"]["text"] for b in card["blocks"] if b["type"] == "section")
    assert "Quantity: 3,000" in json.dumps(card)


def test_a_long_answer_is_split_and_cut_within_limits() -> None:
    reply = cards.reply("line\n" * 40000, [f"runbook.md — step ({i})" for i in range(500)], ["✓ ran"] * 500)
    assert_within_limits(reply)
    assert reply["blocks"][-1]["elements"][0]["text"].endswith("(cut)") or len(reply["blocks"]) == 50


def test_a_step_up_card_has_no_approve_button_only_the_link() -> None:
    link = "https://ops.example.com/slack/step-up/s3cr3t"
    card = cards.approval_card(order_request(), facts(step_up=True, step_up_url=link))
    [actions] = [b for b in card["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e.get("url")) for e in actions["elements"]] == [(cards.OPEN, link)]


def test_the_outcome_card_says_who_decided_and_has_no_buttons() -> None:
    from governance.approvals._values import Vote

    at = datetime(2026, 12, 7, 9, 5, tzinfo=UTC)
    votes = tuple(
        Vote(
            approver=who,
            roles=(role,),
            approve=True,
            at=at,
            channel="slack",
            comment=None,
            reason=None,
            args_digest="0" * 64,
        )
        for who, role in (("grace.procure", "procurement_manager"), ("heidi.finance", "finance_controller"))
    )
    card = cards.outcome_card(order_request(status=ApprovalStatus.APPROVED, votes=votes), facts())
    assert card["blocks"][0]["text"]["text"] == "Approved: Procurement: create purchase order"
    assert card["blocks"][1]["text"]["text"] == "Approved by grace.procure, heidi.finance."
    assert not [b for b in card["blocks"] if b["type"] == "actions"]


VETO_CARD_FILE = CARD_FILE.with_name("slack-veto-card.json")


def note_request(**changes: Any) -> ApprovalRequest:
    """A work note waiting out its 15-minute veto window (incident managers may veto)."""
    fields: dict[str, Any] = {
        "tool": "itsm_add_work_note",
        "args": {"incident_id": "INC0010047", "note": "the fix is deployed"},
        "requirements": (
            ApprovalRequirement(roles=("incident_manager",), count=0, rule_id="incident-edits-notify"),
        ),
        "reasons": ("incident-edits-notify: Incident managers are told when an incident record is changed.",),
        "rule_ids": ("incident-edits-notify",),
        "notify": ("role:incident_manager",),
        "status_reason": "veto window: runs at 2026-12-07T09:15:00+00:00 unless someone holding "
        "incident_manager vetoes it",
        "expires_at": datetime(2026, 12, 7, 9, 15, tzinfo=UTC),
    }
    return order_request(**{**fields, **changes})


def test_the_readme_veto_card_is_what_the_code_renders() -> None:
    rendered = cards.veto_card(note_request(), facts(request_text="add a note to INC0010047: fix deployed"))
    assert_within_limits(rendered)
    assert rendered["blocks"][0]["text"]["text"] == "Runs at 09:15 UTC unless vetoed: Itsm: add work note"
    [actions] = [b for b in rendered["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]][:2] == [
        ("veto", "APR-3F2A9C01"),
        ("approve", f"APR-3F2A9C01:{'0' * 64}"),  # Run now approves the arguments the card shows
    ]
    text = json.dumps(rendered, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("OPSLAYER_WRITE_CARD") == "1":
        VETO_CARD_FILE.write_text(text, encoding="utf-8")
    assert VETO_CARD_FILE.read_text(encoding="utf-8") == text, "rerun with OPSLAYER_WRITE_CARD=1 to update"


def test_a_vetoed_card_says_who_vetoed_and_why_literally() -> None:
    from governance.approvals._values import Vote

    veto = Vote(
        approver="dave.incident",
        roles=("incident_manager",),
        approve=False,
        at=datetime(2026, 12, 7, 9, 5, tzinfo=UTC),
        channel="slack",
        comment=None,
        reason=HOSTILE,
        args_digest="0" * 64,
    )
    card = cards.outcome_card(note_request(status=ApprovalStatus.REJECTED, votes=(veto,)), facts())
    assert_within_limits(card)
    assert card["blocks"][0]["text"]["text"] == "Vetoed: Itsm: add work note"
    assert card["blocks"][1]["text"]["text"] == f"Vetoed by dave.incident: {HOSTILE}. It will not run."
    assert "&lt;!channel&gt;" in card["text"] and "<!channel>" not in card["text"]
    assert not [b for b in card["blocks"] if b["type"] == "actions"]
