"""approval_satisfied: quorum per requirement, requester excluded, one person fills one slot only."""

from __future__ import annotations

import pytest

from governance.decision import ApprovalRequirement, approval_satisfied

PROCUREMENT = ApprovalRequirement(roles=("procurement_manager",), count=1, rule_id="big-po")
FINANCE = ApprovalRequirement(roles=("finance_controller",), count=1, rule_id="huge-po")
TWO_WAREHOUSE = ApprovalRequirement(roles=("warehouse_manager",), count=2, rule_id="write-off")
EITHER = ApprovalRequirement(roles=("finance_controller", "procurement_manager"), count=1, rule_id="either")

GRACE = ("grace.procure", frozenset({"procurement_manager"}))
LEO = ("leo.procure2", frozenset({"procurement_manager"}))
HEIDI = ("heidi.finance", frozenset({"finance_controller"}))
BOTH = ("olga.both", frozenset({"procurement_manager", "finance_controller"}))
FRANK = ("frank.warehouse", frozenset({"warehouse_manager"}))
KEN = ("ken.warehouse2", frozenset({"warehouse_manager"}))


@pytest.mark.parametrize(
    ("requirements", "votes", "satisfied"),
    [
        ([], [], True),
        ([PROCUREMENT], [], False),
        ([PROCUREMENT], [GRACE], True),
        ([PROCUREMENT], [HEIDI], False),
        ([PROCUREMENT, FINANCE], [GRACE], False),
        ([PROCUREMENT, FINANCE], [GRACE, HEIDI], True),
        ([PROCUREMENT, FINANCE], [BOTH], False),  # two-person rule
        ([PROCUREMENT, FINANCE], [BOTH, GRACE], True),  # BOTH must take the finance slot
        ([PROCUREMENT, FINANCE], [BOTH, HEIDI], True),
        ([TWO_WAREHOUSE], [FRANK], False),
        ([TWO_WAREHOUSE], [FRANK, FRANK], False),  # votes once
        ([TWO_WAREHOUSE], [FRANK, KEN], True),
        ([EITHER, PROCUREMENT], [GRACE, LEO], True),
        ([EITHER, PROCUREMENT], [GRACE], False),
    ],
)
def test_quorum(
    requirements: list[ApprovalRequirement], votes: list[tuple[str, frozenset[str]]], satisfied: bool
) -> None:
    assert approval_satisfied(requirements, votes, "alice.requester").satisfied is satisfied


def test_order_of_votes_does_not_matter_for_the_matching() -> None:
    # A greedy pass would give BOTH the procurement slot first and then find no finance controller.
    for votes in ([BOTH, GRACE], [GRACE, BOTH]):
        check = approval_satisfied([PROCUREMENT, FINANCE], votes, "alice.requester")
        assert check.satisfied
        assert check.assignments == (("grace.procure", "big-po"), ("olga.both", "huge-po"))


def test_the_requester_never_counts_and_is_told_so() -> None:
    check = approval_satisfied([PROCUREMENT], [GRACE], "grace.procure")
    assert not check.satisfied
    assert check.explanation == (
        "needs 1 more approver(s) holding procurement_manager (rule 'big-po'); "
        "grace.procure requested this call and cannot approve it"
    )
    assert approval_satisfied([PROCUREMENT], [GRACE, LEO], "grace.procure").satisfied


def test_explanations_say_what_is_missing_and_who_did_not_count() -> None:
    check = approval_satisfied([PROCUREMENT, FINANCE, TWO_WAREHOUSE], [GRACE, FRANK, HEIDI, KEN, LEO], "x")
    assert check.satisfied
    assert check.explanation.startswith("approved by frank.warehouse (rule 'write-off'), grace.procure")
    check = approval_satisfied([FINANCE], [GRACE], "x")
    assert check.explanation == (
        "needs 1 more approver(s) holding finance_controller (rule 'huge-po'); "
        "grace.procure holds none of the required roles"
    )
    assert approval_satisfied([], [], "x").explanation == "no approval required"
