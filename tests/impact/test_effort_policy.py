"""``effort_minutes`` in the policy: checked against the catalogue, and outside the policy version."""

from __future__ import annotations

import pytest

from governance.policy import PolicyError
from tests.governance.support import parse

HEADER = """
label: test
defaults: {unmatched_tool: deny}
"""


def test_effort_is_read_per_tool() -> None:
    policy = parse(
        HEADER + "effort_minutes: {itsm_create_incident: 8, procurement_create_purchase_order: 20.5}"
    )
    assert policy.effort_minutes == {"itsm_create_incident": 8.0, "procurement_create_purchase_order": 20.5}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "effort_minutes: {itsm_make_coffee: 3}",
            "effort_minutes: field 'itsm_make_coffee': not a tool of the catalogue",
        ),
        (
            "effort_minutes: {itsm_create_incident: -1}",
            "itsm_create_incident: -1.0 is not between 0 and 10080",
        ),
        ("effort_minutes: {itsm_create_incident: lots}", "effort_minutes.itsm_create_incident"),
    ],
)
def test_bad_effort_is_named(body: str, expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse(HEADER + body)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_effort_does_not_change_the_policy_version() -> None:
    without = parse(HEADER)
    with_effort = parse(HEADER + "effort_minutes: {itsm_create_incident: 8}")
    assert with_effort.version == without.version
