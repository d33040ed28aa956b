"""Loading policies: every problem is reported at once, naming the rule (limit, window) id and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.compiled import compile_policy
from governance.loader import load_policy
from governance.policy import PolicyError
from tests.governance.support import CATALOGUE, PEOPLE, ROLES, parse

HEADER = """
label: test
defaults: {unmatched_tool: deny}
"""


def problems(body: str) -> tuple[str, ...]:
    with pytest.raises(PolicyError) as caught:
        parse(HEADER + body)
    return caught.value.problems


def rule(**fields: str) -> str:
    base = {"id": "big-po", "tools": "[procurement_create_purchase_order]", "tier": "auto"}
    lines = "\n".join(f"    {key}: {value}" for key, value in (base | fields).items())
    return "rules:\n  -\n" + lines + "\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            rule(tier="approv"),
            "rule 'big-po': field 'tier': 'approv' is not one of auto, notify, approve, deny",
        ),
        (rule(colour="red"), "rule 'big-po': field 'colour': unknown field"),
        (
            rule(side_effects="[writes]"),
            "rule 'big-po': field 'side_effects[0]': 'writes' is not one of read, write, financial",
        ),
        (
            rule(tools="[procurement_pay_*]"),
            "rule 'big-po': field 'tools': pattern 'procurement_pay_*' matches no tool in the catalogue",
        ),
        (
            rule(side_effects="[read]"),
            "rule 'big-po': field 'side_effects': no tool matched by `tools` has these side effects",
        ),
        (rule(tier="approve"), "rule 'big-po': field 'approvers': required when tier is approve"),
        (rule(tier="notify"), "rule 'big-po': field 'notify': required when tier is notify"),
        (
            rule(notify='["role:ceo"]', tier="notify"),
            "rule 'big-po': field 'notify': unknown role 'ceo' (not in the people directory)",
        ),
        (
            rule(notify='["user:mallory"]', tier="notify"),
            "rule 'big-po': field 'notify': unknown user 'mallory' (not in the people directory)",
        ),
        (
            rule(notify='["ops"]', tier="notify"),
            "rule 'big-po': field 'notify': target 'ops' must be role:<role>, user:<id> or #channel",
        ),
        (
            rule(tier="approve", approvers="{roles: [ceo]}"),
            "rule 'big-po': field 'approvers[0].roles': unknown role 'ceo' (not in the people directory)",
        ),
        (
            rule(tier="approve", approvers="{roles: [procurement_manager], count: 0}"),
            "rule 'big-po': field 'approvers[0].count': Input should be greater than or equal to 1",
        ),
        (
            rule(approvers="{roles: [procurement_manager]}"),
            "rule 'big-po': field 'approvers': only used when tier is approve, not auto",
        ),
        (
            rule(notify='["#ops"]'),
            "rule 'big-po': field 'notify': only used when tier is notify or approve, not auto",
        ),
        (rule(during="[xmas]"), "rule 'big-po': field 'during': unknown window 'xmas'"),
        (
            rule(when='"arg.total_amount > 1"'),
            "rule 'big-po': field 'when': CEL does not compile: unknown variable 'arg' "
            "(known: args, facts, actor, now, context, usage)",
        ),
        (rule(when="\"usage['nope'] > 1.0\""), "rule 'big-po': field 'when': usage['nope'] names no limit"),
        (
            rule(id="'bad id!'"),
            "rule 'bad id!': field 'id': String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$'",
        ),
    ],
)
def test_each_rule_problem_names_the_rule_and_the_field(body: str, expected: str) -> None:
    assert problems(body) == (expected,)


def test_cel_syntax_errors_quote_cel() -> None:
    (problem,) = problems(rule(when='"args.total_amount >"'))
    assert problem.startswith("rule 'big-po': field 'when': CEL does not compile: Failed to parse expression")
    assert "Syntax error" in problem


LIMIT = """
limits:
  - id: budget
    tools: [procurement_create_purchase_order]
    sum: args.total_amount
    window: 24h
    max: 10000
    exceeded_tier: approve
    approvers: {roles: [procurement_manager]}
"""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("exceeded_tier: approve", "exceeded_tier: auto"),
            "limit 'budget': field 'exceeded_tier': auto would never stop anything; "
            "use notify, approve or deny",
        ),
        (
            ("window: 24h", "window: 24x"),
            "limit 'budget': field 'window': '24x' is not a duration like 30m, 24h or 7d",
        ),
        (
            ("sum: args.total_amount", "count: true\n    sum: args.total_amount"),
            "limit 'budget': field 'sum': give exactly one of `sum` (a CEL number) and `count: true`",
        ),
        (
            ("sum: args.total_amount", "sum: args.total_amount +"),
            "limit 'budget': field 'sum': CEL does not compile",
        ),
        (
            ("max: 10000", "max: -1"),
            "limit 'budget': field 'max': Input should be greater than or equal to 0",
        ),
        (("per: actor", "per: actor"), None),
    ],
)
def test_limit_problems_name_the_limit_and_the_field(change: tuple[str, str], expected: str | None) -> None:
    body = LIMIT.replace(*change)
    if expected is None:
        parse(HEADER + body)
        return
    assert any(problem.startswith(expected) for problem in problems(body))


def test_windows_must_end_after_they_start_and_be_timezone_aware() -> None:
    body = """
windows:
  - {id: backwards, start: "2026-12-18T00:00:00Z", end: "2026-12-18T00:00:00Z"}
  - {id: naive, start: "2026-12-18T00:00:00", end: "2026-12-19T00:00:00Z"}
"""
    assert problems(body) == (
        "window 'naive': field 'start': Input should have timezone info",
        "window 'backwards': field 'end': must be after start",
    )


def test_duplicate_ids_across_windows_rules_and_limits() -> None:
    body = (
        """
windows:
  - {id: budget, start: "2026-12-18T00:00:00Z", end: "2026-12-19T00:00:00Z"}
"""
        + rule(id="budget")
        + LIMIT
    )
    assert problems(body) == (
        "rule 'budget': field 'id': duplicate id (also used by window 'budget')",
        "limit 'budget': field 'id': duplicate id (also used by window 'budget')",
    )


@pytest.mark.parametrize(
    ("defaults", "expected"),
    [
        (
            "{unknown_tool: approve, unmatched_tool: approve}",
            [
                "defaults: field 'unknown_tool': must be deny: a tool outside the catalogue cannot run",
                "defaults: field 'approvers': required when unmatched_tool is approve",
            ],
        ),
        (
            "{unmatched_tool: auto}",
            [
                "defaults: field 'unmatched_tool': auto would run every call no rule covers; "
                "use notify, approve or deny"
            ],
        ),
        ("{unmatched_tool: notify}", ["defaults: field 'notify': required when unmatched_tool is notify"]),
        ("{}", []),
    ],
)
def test_defaults_problems(defaults: str, expected: list[str]) -> None:
    text = f"label: x\ndefaults: {defaults}\n"
    if not expected:
        assert parse(text).defaults.unmatched_tool == "deny"  # fail closed when not said
        return
    with pytest.raises(PolicyError) as caught:
        parse(text)
    assert list(caught.value.problems) == expected


def test_every_problem_is_reported_at_once() -> None:
    body = (
        rule(tier="approv")
        + """
  - id: second
    tools: [nothing_*]
    tier: approve
    when: "args.x >"
"""
        + LIMIT.replace("exceeded_tier: approve", "exceeded_tier: auto")
    )
    found = problems(body)
    assert found[0] == "rule 'big-po': field 'tier': 'approv' is not one of auto, notify, approve, deny"
    assert [problem.split(":")[0:2] for problem in found[1:]] == [
        ["rule 'second'", " field 'tools'"],
        ["rule 'second'", " field 'when'"],
        ["rule 'second'", " field 'approvers'"],
        ["limit 'budget'", " field 'exceeded_tier'"],
        ["limit 'budget'", " field 'approvers'"],
    ]


def test_missing_label_and_unknown_top_level_key() -> None:
    with pytest.raises(PolicyError) as caught:
        parse("rulez: []\n")
    assert caught.value.problems == ("field 'label': required", "field 'rulez': unknown field")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("label: x\nrules: [\n", "line 3, column 1: YAML syntax error"),
        ("label: x\nlabel: y\n", "line 2, column 1: YAML syntax error: duplicate key 'label'"),
        ("- a\n- b\n", "a policy must be a YAML mapping, got a list"),
        ("", "a policy must be a YAML mapping, got an empty document"),
    ],
)
def test_yaml_problems_name_the_line(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse(text)
    assert caught.value.problems[0].startswith(expected)


def test_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("label: x\nrules: [\n", encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path, catalogue=CATALOGUE, roles=ROLES, people=PEOPLE)
    assert str(caught.value).startswith(f"{path}: 1 problem(s):\n  - line 3, column 1: YAML syntax error")
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "missing.yaml", catalogue=CATALOGUE, roles=ROLES, people=PEOPLE)


# -- versions ---------------------------------------------------------------------------------------

ONE = """
label: v
defaults: {unknown_tool: deny, unmatched_tool: approve, approvers: {roles: [change_manager]}}
rules:
  - {id: reads, tools: ["*_get_*"], tier: auto, reason: fine}
"""
SAME_CONTENT = """
# the same policy, written differently
rules:
  - reason: fine
    tier: auto
    tools:
      - "*_get_*"
    id: reads
defaults:
  approvers:
    - roles: [change_manager]
      count: 1
  unmatched_tool: approve
label: 'v'
"""


def test_version_ignores_formatting_and_key_order() -> None:
    first, second = parse(ONE), parse(SAME_CONTENT)
    assert first.version == second.version
    assert first.digest == second.digest and len(first.digest) == 64
    assert first.version == f"v@sha256:{first.digest[:16]}"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("tier: auto", "tier: notify, notify: ['#ops']"),
        ("reason: fine", "reason: fine!"),
        ("label: v", "label: w"),
    ],
)
def test_version_changes_with_content(old: str, new: str) -> None:
    assert parse(ONE).version != parse(ONE.replace(old, new)).version


def test_window_times_are_normalised_to_utc_for_the_version() -> None:
    utc = HEADER + 'windows: [{id: w, start: "2026-12-18T00:00:00Z", end: "2027-01-04T00:00:00Z"}]\n'
    cet = HEADER + 'windows: [{id: w, start: "2026-12-18T01:00:00+01:00", end: "2027-01-04T00:00:00Z"}]\n'
    assert parse(utc).version == parse(cet).version


def test_compile_checks_the_catalogue_it_is_given() -> None:
    policy = parse(ONE)
    with pytest.raises(PolicyError, match="pattern '\\*_get_\\*' matches no tool"):
        compile_policy(policy, {"itsm_create_incident": CATALOGUE["itsm_create_incident"]})
