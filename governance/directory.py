"""The people directory: who exists, which roles they hold, how to reach them, who they report to.

Policy roles and ``user:`` notify targets are checked against it at load; approvals check an
approver's roles against it. The shipped ``directory.yaml`` holds the seeded demo organisation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from governance.decision import Actor

DEFAULT_DIRECTORY_PATH = Path(__file__).with_name("directory.yaml")
"""The seeded demo organisation shipped with opslayer."""

_PERSON_ID = r"^[a-z][a-z0-9._-]{0,63}$"


class DirectoryError(ValueError):
    """A directory that cannot be used; ``problems`` names the person each problem is about."""

    def __init__(self, problems: list[str], *, source: str = "directory") -> None:
        self.problems = tuple(problems)
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n{listing}")


class UnknownPerson(KeyError):
    """No person with this id (or Slack user id) in the directory."""

    def __init__(self, person_id: str) -> None:
        super().__init__(person_id)
        self.person_id = person_id

    def __str__(self) -> str:
        return f"no person {self.person_id!r} in the directory"


class Person(BaseModel):
    """One person, as the directory file describes them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_PERSON_ID)
    display_name: str = Field(min_length=1)
    roles: frozenset[str] = frozenset()
    slack_user_id: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,20}$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    manager: str | None = None


@dataclass(frozen=True, kw_only=True)
class Directory:
    """Lookups over a validated set of people."""

    people: Mapping[str, Person]
    _by_slack: Mapping[str, Person] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_slack = {p.slack_user_id: p for p in self.people.values() if p.slack_user_id}
        object.__setattr__(self, "_by_slack", by_slack)

    def get(self, person_id: str) -> Person:
        try:
            return self.people[person_id]
        except KeyError:
            raise UnknownPerson(person_id) from None

    def by_slack_user(self, slack_user_id: str) -> Person:
        try:
            return self._by_slack[slack_user_id]
        except KeyError:
            raise UnknownPerson(slack_user_id) from None

    def people_with_role(self, role: str) -> tuple[Person, ...]:
        return tuple(person for _, person in sorted(self.people.items()) if role in person.roles)

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(role for person in self.people.values() for role in person.roles)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self.people)

    def actor(self, person_id: str) -> Actor:
        person = self.get(person_id)
        return Actor(id=person.id, roles=person.roles)

    def __iter__(self) -> Iterator[Person]:
        return iter(person for _, person in sorted(self.people.items()))


def load_directory(path: Path | None = None) -> Directory:
    """Load and validate a directory file; ``None`` loads the shipped demo directory."""
    import yaml  # here: reading the queue or the trail needs no YAML

    source = path or DEFAULT_DIRECTORY_PATH
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DirectoryError([f"cannot read directory: {exc}"], source=str(source)) from exc
    entries = document.get("people") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise DirectoryError(["expected a mapping with a `people` list"], source=str(source))
    return directory_from_entries(entries, source=str(source))


def directory_from_entries(entries: list[Any], *, source: str = "directory") -> Directory:
    """Validate person entries (mappings as in ``directory.yaml``) into a :class:`Directory`."""
    people: dict[str, Person] = {}
    problems: list[str] = []
    for index, entry in enumerate(entries):
        person = _person(entry, index, problems)
        if person is None:
            continue
        if person.id in people:
            problems.append(f"person {person.id!r}: duplicate id")
        people.setdefault(person.id, person)
    problems += _unique_slack_ids(people) + _manager_problems(people)
    if problems:
        raise DirectoryError(problems, source=source)
    return Directory(people=people)


def _person(entry: Any, index: int, problems: list[str]) -> Person | None:
    try:
        return Person.model_validate(entry)
    except ValidationError as exc:
        name = entry.get("id") if isinstance(entry, dict) else None
        owner = f"person {name!r}" if isinstance(name, str) else f"people[{index}]"
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            problems.append(f"{owner}: field {where!r}: {error['msg']}")
        return None


def _unique_slack_ids(people: Mapping[str, Person]) -> list[str]:
    owners: dict[str, str] = {}
    problems = []
    for person in people.values():
        if person.slack_user_id is None:
            continue
        if person.slack_user_id in owners:
            first = owners[person.slack_user_id]
            problems.append(
                f"person {person.id!r}: slack_user_id {person.slack_user_id!r} also used by {first!r}"
            )
        owners.setdefault(person.slack_user_id, person.id)
    return problems


def _manager_problems(people: Mapping[str, Person]) -> list[str]:
    problems = []
    for person in people.values():
        if person.manager is not None and person.manager not in people:
            problems.append(f"person {person.id!r}: unknown manager {person.manager!r}")
        elif _in_cycle(person.id, people):
            problems.append(f"person {person.id!r}: management chain loops back to them")
    return problems


def _in_cycle(person_id: str, people: Mapping[str, Person]) -> bool:
    seen = {person_id}
    current = people[person_id].manager
    while current is not None and current in people:
        if current in seen:
            return current == person_id
        seen.add(current)
        current = people[current].manager
    return False
