"""The people directory: the seeded organisation, lookups, and load errors that name the person."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from governance.decision import Actor
from governance.directory import DirectoryError, UnknownPerson, load_directory

SEEDED_ROLES = {
    "alice.requester": {"requester"},
    "bob.requester": {"requester"},
    "carol.desk": {"service_desk"},
    "dave.incident": {"incident_manager"},
    "erin.change": {"change_manager"},
    "frank.warehouse": {"warehouse_manager"},
    "grace.procure": {"procurement_manager"},
    "heidi.finance": {"finance_controller"},
    "ivan.ops": {"service_desk", "requester"},
    "judy.cio": {"requester"},
    "ken.warehouse2": {"warehouse_manager"},
    "leo.procure2": {"procurement_manager"},
    "mia.audit": {"auditor"},
}


def test_shipped_directory_holds_the_seeded_people() -> None:
    directory = load_directory()
    assert {person.id: set(person.roles) for person in directory} == SEEDED_ROLES
    assert directory.get("alice.requester").manager == "grace.procure"
    assert directory.get("ivan.ops").manager == "dave.incident"
    assert directory.get("erin.change").manager == "judy.cio"
    assert directory.get("judy.cio").manager is None
    assert directory.get("alice.requester").slack_user_id == "U0ALICE01"


def test_lookups() -> None:
    directory = load_directory()
    assert [person.id for person in directory.people_with_role("warehouse_manager")] == [
        "frank.warehouse",
        "ken.warehouse2",
    ]
    assert directory.roles == {role for roles in SEEDED_ROLES.values() for role in roles}
    assert directory.actor("ivan.ops") == Actor(id="ivan.ops", roles=frozenset({"service_desk", "requester"}))
    assert directory.by_slack_user("U0HEIDI01").id == "heidi.finance"
    assert directory.people_with_role("astronaut") == ()


def test_unknown_person_is_a_typed_key_error() -> None:
    directory = load_directory()
    with pytest.raises(UnknownPerson) as caught:
        directory.get("mallory")
    assert isinstance(caught.value, KeyError)
    assert caught.value.person_id == "mallory"
    assert str(caught.value) == "no person 'mallory' in the directory"
    with pytest.raises(UnknownPerson):
        directory.by_slack_user("U0NOBODY1")


def _write(tmp_path: Path, people: list[dict[str, object]]) -> Path:
    path = tmp_path / "directory.yaml"
    path.write_text(yaml.safe_dump({"people": people}), encoding="utf-8")
    return path


def _person(person_id: str, **fields: object) -> dict[str, object]:
    return {"id": person_id, "display_name": person_id.title(), "roles": ["requester"], **fields}


@pytest.mark.parametrize(
    ("people", "expected"),
    [
        ([_person("amy"), _person("amy")], ["person 'amy': duplicate id"]),
        ([_person("amy", manager="zed")], ["person 'amy': unknown manager 'zed'"]),
        ([_person("amy", manager="amy")], ["person 'amy': management chain loops back to them"]),
        (
            [_person("amy", manager="bea"), _person("bea", manager="cat"), _person("cat", manager="amy")],
            [f"person '{name}': management chain loops back to them" for name in ("amy", "bea", "cat")],
        ),
        (
            [_person("amy", slack_user_id="U01"), _person("bea", slack_user_id="U01")],
            ["person 'bea': slack_user_id 'U01' also used by 'amy'"],
        ),
        ([_person("amy", title="boss")], ["person 'amy': field 'title': Extra inputs are not permitted"]),
    ],
)
def test_load_errors_name_the_person(
    tmp_path: Path, people: list[dict[str, object]], expected: list[str]
) -> None:
    with pytest.raises(DirectoryError) as caught:
        load_directory(_write(tmp_path, people))
    assert list(caught.value.problems) == expected


def test_a_person_below_a_cycle_is_not_blamed_for_it(tmp_path: Path) -> None:
    people = [_person("amy", manager="bea"), _person("bea", manager="amy"), _person("cy", manager="amy")]
    with pytest.raises(DirectoryError) as caught:
        load_directory(_write(tmp_path, people))
    assert [problem.split(":")[0] for problem in caught.value.problems] == ["person 'amy'", "person 'bea'"]


def test_unreadable_or_shapeless_files(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError, match="cannot read directory"):
        load_directory(tmp_path / "missing.yaml")
    path = tmp_path / "directory.yaml"
    path.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(DirectoryError, match="expected a mapping with a `people` list"):
        load_directory(path)
