"""The HTML report is self-contained, escapes what came from the trail, and shows the figures the JSON
holds; `opslayer report` writes it, prints it as JSON, and names bad options."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.cli.app import app
from agent.operations.report import render_html, report_data
from governance.audit import AuditLog, EventKind
from governance.impact import Impact, compute_impact
from governance.store import sqlite_engine
from tests.impact.trail import DAY1, DAY2, EFFORT, EXPECTED, FakeClock, build_trail

GENERATED = datetime(2026, 12, 3, tzinfo=UTC)
HOSTILE_TOOL = 'itsm_<script>alert("x")</script>'
HOSTILE_MONITOR = "</script><img src=x onerror=alert(1)>"


class _Page(HTMLParser):
    """What a browser would load: every src/href, the embedded data, the figure cards."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []
        self.data: str | None = None
        self.cards: dict[str, str] = {}
        self.rows: dict[str, list[list[str]]] = {}  # table slice → rows of cell texts
        self._in: str | None = None
        self._slice: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        self.links += [value or "" for name, value in attrs if name in ("src", "href")]
        if tag == "table":
            self._slice = found.get("data-slice")
        elif tag == "tr" and self._slice is not None:
            self.rows.setdefault(self._slice, []).append([])
        elif tag == "td" and self._slice is not None:
            self.rows[self._slice][-1].append("")
            self._in = "cell"
        if tag == "script" and found.get("id") == "impact-data":
            self._in = "data"
        elif tag == "b" and (found.get("id") or "").startswith("fig-"):
            self._in = str(found["id"])[4:]

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._slice = None
        if tag == "td":
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "cell" and self._slice is not None:
            self.rows[self._slice][-1][-1] += data
            return
        if self._in == "data":
            self.data = data
        elif self._in is not None:
            self.cards[self._in] = data
        self._in = None


def _page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _trail(path: Path, *, hostile: bool = False) -> AuditLog:
    clock = FakeClock(DAY1)
    audit = AuditLog(sqlite_engine(path), clock=clock)
    build_trail(audit, clock)
    if hostile:
        clock.at(DAY2)
        audit.append(EventKind.DECISION, {"stage": "plan", "tool": HOSTILE_TOOL, "tier": "deny"})
        audit.append(EventKind.MONITOR_TRIPPED, {"monitor_id": HOSTILE_MONITOR})
    return audit


def _impact(audit: AuditLog) -> Impact:
    return compute_impact(audit, effort_minutes=EFFORT, review_minutes=5.0)


def test_the_report_is_self_contained_with_inline_charts(tmp_path: Path) -> None:
    html = render_html(_impact(_trail(tmp_path / "g.db")), generated_at=GENERATED, policy_version="p@1")
    page = _page(html)
    assert page.links, "the charts are images"
    assert all(link.startswith("data:image/svg+xml;base64,") for link in page.links)
    assert "link" not in page.tags
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", html)
    assert len(page.links) == 4  # tiers, share, minutes saved, time to decision


def test_the_cards_show_what_the_json_holds(tmp_path: Path) -> None:
    impact = _impact(_trail(tmp_path / "g.db"))
    page = _page(render_html(impact, generated_at=GENERATED, policy_version="p@1"))
    assert page.data is not None
    assert json.loads(page.data) == report_data(impact, generated_at=GENERATED, policy_version="p@1")
    assert page.cards["calls"] == str(EXPECTED["calls"])
    assert page.cards["requests"] == str(EXPECTED["requests"])
    assert page.cards["share"] == "75.0%"
    assert page.cards["saved"] == "33"
    assert page.cards["p50"] == "30m"
    assert page.cards["monitors"] == "2"
    shown = {row[0]: row for row in page.rows["tool"] if row}
    data = json.loads(page.data)
    assert sorted(shown) == sorted(row["tool"] for row in data["tools"])
    for row in data["tools"]:
        cells = shown[row["tool"]]
        assert cells[1] == str(row["calls"])  # tool, calls, then the tiers
        assert cells[2:6] == [str(row["by_tier"][tier]) for tier in ("auto", "notify", "approve", "deny")]
        assert cells[-1] == f"{row['minutes_saved']:,.0f}"


def test_hostile_tool_and_monitor_names_are_shown_not_run(tmp_path: Path) -> None:
    impact = _impact(_trail(tmp_path / "g.db", hostile=True))
    html = render_html(impact, generated_at=GENERATED, policy_version="p@1")
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    page = _page(html)
    assert [tag for tag in page.tags if tag == "script"] == ["script"]  # only the data block
    data: dict[str, Any] = json.loads(page.data or "")
    assert HOSTILE_TOOL in [row["tool"] for row in data["tools"]]
    assert data["monitors"][0]["monitor"] in (HOSTILE_MONITOR, "refusals-per-thread")


def test_an_empty_range_renders_without_charts(tmp_path: Path) -> None:
    empty = compute_impact(AuditLog(sqlite_engine(tmp_path / "g.db")))
    html = render_html(empty, generated_at=GENERATED, policy_version="p@1")
    assert "No events in this range." in html
    assert _page(html).cards["share"] == "–"


@pytest.fixture
def home_with_trail(cli: CliRunner, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    _trail(home / "governance.db")
    return home


def test_cli_json_has_the_figures(cli: CliRunner, home_with_trail: Path) -> None:
    result = cli.invoke(app, ["report", "--since", "2026-11-30", "--until", "2026-12-03", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["totals"]["calls"] == EXPECTED["calls"]
    assert data["totals"]["minutes_saved"] != 0  # the shipped policy's effort figures, not the test's
    assert data["since"] == "2026-11-30T00:00:00+00:00"
    assert data["policy_version"].startswith("2026-11 baseline@sha256:")


def test_cli_writes_the_html_and_prints_its_path(
    cli: CliRunner, home_with_trail: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "impact.html"
    result = cli.invoke(app, ["report", "--since", "2026-11-30", "--period", "week", "--html", str(target)])
    assert result.exit_code == 0, result.output
    assert str(target) in result.stdout.replace("\n", "")
    assert "2026-W49" in target.read_text()


def test_cli_prints_a_summary(cli: CliRunner, home_with_trail: Path) -> None:
    result = cli.invoke(app, ["report", "--since", "2026-11-30"])
    assert result.exit_code == 0, result.output
    assert "75.0%" in result.stdout
    assert "30m / 4h 0m" in result.stdout
    assert "By tool" in result.stdout


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--since", "last tuesday"], "--since 'last tuesday' is not a date"),
        (["--since", "2026-12-02", "--until", "2026-12-01"], "before it starts"),
        (["--period", "month"], "month"),
    ],
)
def test_cli_names_bad_options(
    cli: CliRunner, home_with_trail: Path, options: list[str], message: str
) -> None:
    result = cli.invoke(app, ["report", *options])
    assert result.exit_code == 2
    assert message in result.output
