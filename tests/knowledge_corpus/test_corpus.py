"""The shipped demo corpus: every runbook is well-formed and every benchmark query points at real files.

Fast and model-free: it reads the Markdown and JSONL directly, so a broken runbook fails here with its
path named rather than as a puzzling drop in retrieval figures.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import knowledge
from tools.local.seed_people import SEED_CIS, SEED_USERS

CORPUS = Path(knowledge.__file__).parent / "corpus"
RUNBOOKS = sorted((CORPUS / "runbooks").rglob("*.md"))
SECTIONS = {
    "runbook": ["Summary", "Symptoms", "Diagnosis", "Mitigation", "Escalation", "Related"],
    "sop": ["Summary", "When to use", "Procedure", "Approvals", "Escalation", "Related"],
}
PEOPLE = {user_id for user_id, _, _ in SEED_USERS}
SERVICES = {ci.name for ci in SEED_CIS if ci.ci_class == "service"}
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _split(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path.name}: no YAML front matter"
    front, _, body = text[4:].partition("\n---\n")
    data = yaml.safe_load(front)
    assert isinstance(data, dict), f"{path.name}: front matter is not a mapping"
    return data, body


def _headings(body: str) -> list[tuple[int, str]]:
    """(level, text) of every ATX heading outside fenced code blocks."""
    headings, fenced = [], False
    for line in body.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := re.match(r"^(#{1,6}) (.+)$", line)):
            headings.append((len(match.group(1)), match.group(2).strip()))
    assert not fenced, "unclosed code fence"
    return headings


def _queries() -> list[dict[str, Any]]:
    lines = (CORPUS / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_corpus_has_at_least_25_runbooks_in_every_area() -> None:
    assert len(RUNBOOKS) >= 25
    areas = {path.relative_to(CORPUS / "runbooks").parts[0] for path in RUNBOOKS}
    assert areas == {"it-ops", "inventory", "procurement", "change"}


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_front_matter_names_the_seeded_world(path: Path) -> None:
    front, _ = _split(path)
    assert isinstance(front.get("title"), str) and front["title"].strip()
    assert front.get("kind") in SECTIONS
    assert front.get("owner") in PEOPLE
    assert front.get("services") and set(front["services"]) <= SERVICES
    assert isinstance(front.get("tags"), list) and all(isinstance(tag, str) for tag in front["tags"])


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_runbook_has_its_title_and_required_sections_in_order(path: Path) -> None:
    front, body = _split(path)
    headings = _headings(body)
    assert headings[0] == (1, front["title"]), "the H1 must repeat the front matter title"
    sections = [text for level, text in headings if level == 2]
    assert sections == SECTIONS[front["kind"]]


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_related_links_point_at_runbooks_in_the_corpus(path: Path) -> None:
    _, body = _split(path)
    related = body.split("## Related", 1)[1]
    links = re.findall(r"\(([\w/.-]+\.md)\)", related)
    assert links, "Related lists no runbook"
    for link in links:
        assert (CORPUS / "runbooks" / link).is_file(), link


def test_titles_are_unique() -> None:
    titles = [_split(path)[0]["title"] for path in RUNBOOKS]
    assert len(titles) == len(set(titles))


def test_queries_cover_both_splits_and_point_at_existing_runbooks() -> None:
    queries = _queries()
    assert len(queries) >= 40
    assert {query["split"] for query in queries} == {"dev", "test"}
    for query in queries:
        assert set(query) == {"query", "expected", "split"}
        assert query["query"].strip() and query["expected"]
        for expected in query["expected"]:
            assert expected.startswith("runbooks/") and (CORPUS / expected).is_file(), expected


def test_queries_are_unique_and_every_runbook_is_expected_somewhere() -> None:
    queries = _queries()
    assert len({query["query"] for query in queries}) == len(queries)
    expected = {path for query in queries for path in query["expected"]}
    assert expected == {path.relative_to(CORPUS).as_posix() for path in RUNBOOKS}


def test_splits_are_balanced() -> None:
    splits = [query["split"] for query in _queries()]
    assert abs(splits.count("dev") - splits.count("test")) <= len(splits) // 5
