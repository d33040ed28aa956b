"""The impact report as one self-contained HTML file (and the same figures as JSON).

Charts are drawn by matplotlib as SVG and inlined as ``data:`` images, the styles are inline, and
nothing is fetched: the file can be mailed or opened offline. Every text that came from the trail
(tool names, monitor ids) is escaped by Jinja2's autoescape; chart labels keep only plain characters,
and an SVG shown through ``<img>`` cannot run anything. The figures are also embedded as JSON
(``<script type="application/json" id="impact-data">``), identical to what ``--json`` prints.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from governance.impact import TIERS, Figures, Impact

_TIER_COLOURS = {"auto": "#2e7d32", "notify": "#0277bd", "approve": "#ef6c00", "deny": "#c62828"}
_LABEL = re.compile(r"[^A-Za-z0-9_.:()\- ]")


def report_data(impact: Impact, *, generated_at: datetime, policy_version: str) -> dict[str, Any]:
    """What ``opslayer report --json`` prints and ``GET /v1/impact`` returns."""
    return {
        "generated_at": generated_at.isoformat(),
        "policy_version": policy_version,
        **impact.to_dict(),
    }


def write_html(impact: Impact, path: Path, *, generated_at: datetime, policy_version: str) -> Path:
    """Write the report to ``path`` (its folder created); return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        render_html(impact, generated_at=generated_at, policy_version=policy_version), encoding="utf-8"
    )
    return path


def render_html(impact: Impact, *, generated_at: datetime, policy_version: str) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    data = report_data(impact, generated_at=generated_at, policy_version=policy_version)
    return env.from_string(_TEMPLATE).render(
        impact=impact,
        generated_at=generated_at,
        policy_version=policy_version,
        figures=figures_html(impact),
        data_json=_script_json(data),
    )


def figures_html(impact: Impact) -> markupsafe.Markup:
    """The report's body, escaped: cards of the totals, the charts, the tables by period, system and
    tool, the monitors tripped and how they are counted. The review page's ``/impact`` shows it too
    (it holds no inline style: the page around it styles ``.cards``, ``.charts`` and ``.wide``)."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return markupsafe.Markup(
        env.from_string(FIGURES_TEMPLATE).render(
            impact=impact,
            totals=impact.totals,
            charts=charts(impact),
            tiers=TIERS,
            pct=percent,
            wait=duration,
            minutes=_minutes,
        )
    )


def charts(impact: Impact) -> list[tuple[str, str]]:
    """(title, data URI of an SVG) for each chart the figures allow."""
    if not impact.periods:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = [
        ("Calls by tier", _tiers_chart(plt, impact.periods)),
        ("Completed without a human decision", _share_chart(plt, impact.periods)),
    ]
    if impact.systems:
        out.append(("Minutes saved by system", _saved_chart(plt, impact.systems)))
    if any(figures.decision_p50_seconds is not None for _, figures in impact.periods):
        out.append(("Time to decision", _wait_chart(plt, impact.periods)))
    return out


def _tiers_chart(plt: Any, periods: Sequence[tuple[str, Figures]]) -> str:
    figure, axes = plt.subplots(figsize=(7, 3.2))
    names = [_label(name) for name, _ in periods]
    bottom = [0] * len(periods)
    for tier in TIERS:
        values = [figures.by_tier[tier] for _, figures in periods]
        axes.bar(names, values, bottom=bottom, label=tier, color=_TIER_COLOURS[tier])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set(ylabel="calls")
    axes.legend(loc="upper left", fontsize="small")
    return _svg(plt, figure, axes, rotate=len(periods) > 6)


def _share_chart(plt: Any, periods: Sequence[tuple[str, Figures]]) -> str:
    figure, axes = plt.subplots(figsize=(7, 3.2))
    names = [_label(name) for name, _ in periods]
    # a period with nothing completed has no share: a gap, not a zero
    shares = [math.nan if f.without_human_share is None else f.without_human_share * 100 for _, f in periods]
    axes.plot(names, shares, marker="o", color="#2e7d32")
    axes.set(ylabel="% of completed calls", ylim=(0, 105))
    return _svg(plt, figure, axes, rotate=len(periods) > 6)


def _saved_chart(plt: Any, systems: Sequence[tuple[str, Figures]]) -> str:
    figure, axes = plt.subplots(figsize=(7, 3.2))
    saved = [figures.minutes_saved for _, figures in systems]
    colours = ["#2e7d32" if value >= 0 else "#c62828" for value in saved]
    axes.bar([_label(name) for name, _ in systems], saved, color=colours)
    axes.set(ylabel="minutes")
    return _svg(plt, figure, axes, rotate=len(systems) > 6)


def _wait_chart(plt: Any, periods: Sequence[tuple[str, Figures]]) -> str:
    figure, axes = plt.subplots(figsize=(7, 3.2))
    names = [_label(name) for name, _ in periods]
    p50 = [(f.decision_p50_seconds or 0) / 60 for _, f in periods]
    p95 = [(f.decision_p95_seconds or 0) / 60 for _, f in periods]
    axes.plot(names, p50, marker="o", label="p50")
    axes.plot(names, p95, marker="s", label="p95")
    axes.set(ylabel="minutes to decide")
    axes.legend(loc="upper left", fontsize="small")
    return _svg(plt, figure, axes, rotate=len(periods) > 6)


def _svg(plt: Any, figure: Any, axes: Any, *, rotate: bool) -> str:
    if rotate:
        axes.tick_params(axis="x", labelrotation=45)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(figure)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _label(text: str) -> str:
    """A chart label: plain characters only, at most 40 (the tables show the full text, escaped)."""
    plain = _LABEL.sub("?", text)
    return plain if len(plain) <= 40 else plain[:39] + "…"


def _script_json(data: dict[str, Any]) -> str:
    """JSON safe inside ``<script>``: no ``<``, ``>`` or ``&`` that could end the element."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def percent(share: float | None) -> str:
    """A share as ``66.7%``; a dash when there was nothing to share."""
    return "–" if share is None else f"{share * 100:.1f}%"


def duration(seconds: float | None) -> str:
    """A wait as ``45s``, ``30m`` or ``4h 5m``; a dash for none."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60)}m"


def _minutes(value: float) -> str:
    return f"{value:,.0f}"


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>opslayer impact {{ impact.since.date() if impact.since else "" }}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;
color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .meta{color:#555;margin-top:0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr));gap:.8rem;margin:1.5rem 0}
.card{border:1px solid #ddd;border-radius:.5rem;padding:.7rem .9rem}
.card b{display:block;font-size:1.6rem} .card span{color:#555;font-size:.85rem}
.wide{overflow-x:auto;margin:.5rem 0 1.5rem}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #e5e5e5;padding:.3rem .4rem;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left;white-space:normal;overflow-wrap:anywhere;min-width:14rem}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(30rem,1fr));gap:1rem}
figure{margin:0} figcaption{font-weight:600;margin-bottom:.3rem} img{max-width:100%}
.note{color:#444;font-size:.9rem;max-width:60rem}
</style></head>
<body>
<h1>What opslayer did for you</h1>
<p class="meta">From {{ impact.since.isoformat() if impact.since else "the first event" }}
to {{ impact.until.isoformat() if impact.until else "now" }}, by {{ impact.period }}.
Policy {{ policy_version }}. Generated {{ generated_at.isoformat() }}.</p>

{{ figures }}
<script type="application/json" id="impact-data">{{ data_json | safe }}</script>
</body></html>
"""

FIGURES_TEMPLATE = """{% macro card(id, value, text) %}<div class="card"><b id="fig-{{ id }}">{{ value }}</b>
<span>{{ text }}</span></div>{% endmacro %}
<div class="cards">
{{ card("requests", totals.requests, "requests") }}
{{ card("calls", totals.calls, "tool calls decided") }}
{{ card("share", pct(totals.without_human_share), "completed without a human decision") }}
{{ card("saved", minutes(totals.minutes_saved), "human minutes saved (estimate)") }}
{{ card("approvals", totals.approvals_requested, "approvals asked (%d approved, %d rejected, %d expired)"
        | format(totals.approved, totals.rejected, totals.expired)) }}
{{ card("p50", wait(totals.decision_p50_seconds),
        "time to decision, p50 (p95 %s)" | format(wait(totals.decision_p95_seconds))) }}
{{ card("escalations", totals.escalations, "escalations (%d reminders)" | format(totals.reminders)) }}
{{ card("vetoes", totals.vetoes, "vetoes (%d veto windows)" | format(totals.veto_windows)) }}
{{ card("denials", totals.denials, "denials") }}
{{ card("monitors", totals.monitors_tripped, "monitors tripped") }}
{{ card("failed", totals.failed_executions, "failed executions") }}
</div>

{% if charts %}<div class="charts">
{% for title, uri in charts %}<figure><figcaption>{{ title }}</figcaption>
<img alt="{{ title }}" src="{{ uri }}"></figure>
{% endfor %}</div>{% else %}<p>No events in this range.</p>{% endif %}

{% macro table(title, key, rows, whole=False) %}
<h2>{{ title }}</h2>
<div class="wide"><table data-slice="{{ key }}"><thead><tr><th>{{ key }}</th>
{% if whole %}<th>requests</th>{% endif %}
<th>calls</th>
{% for tier in tiers %}<th>{{ tier }}</th>{% endfor %}<th>without a human</th><th>approvals</th>
<th>p50</th><th>p95</th><th>escalations</th><th>veto windows</th><th>vetoes</th><th>denials</th>
{% if whole %}<th>monitors</th>{% endif %}<th>failed</th>
<th>effort min</th><th>review min</th><th>saved min</th></tr></thead><tbody>
{% for name, f in rows %}<tr><td>{{ name }}</td>{% if whole %}<td>{{ f.requests }}</td>{% endif %}
<td>{{ f.calls }}</td>
{% for tier in tiers %}<td>{{ f.by_tier[tier] }}</td>{% endfor %}<td>{{ pct(f.without_human_share) }}</td>
<td>{{ f.approvals_requested }}</td><td>{{ wait(f.decision_p50_seconds) }}</td>
<td>{{ wait(f.decision_p95_seconds) }}</td>
<td>{{ f.escalations }}</td><td>{{ f.veto_windows }}</td><td>{{ f.vetoes }}</td><td>{{ f.denials }}</td>
{% if whole %}<td>{{ f.monitors_tripped }}</td>{% endif %}
<td>{{ f.failed_executions }}</td><td>{{ minutes(f.effort_minutes) }}</td>
<td>{{ minutes(f.review_minutes) }}</td>
<td>{{ minutes(f.minutes_saved) }}</td></tr>
{% endfor %}</tbody></table></div>
{% endmacro %}
{{ table("By " ~ impact.period, "period", impact.periods, whole=True) }}
{{ table("By system", "system", impact.systems) }}
{{ table("By tool", "tool", impact.tools) }}

{% if impact.monitors %}<h2>Monitors tripped</h2>
<table data-slice="monitor"><thead><tr><th>monitor</th><th>times</th></tr></thead><tbody>
{% for name, count in impact.monitors %}<tr><td>{{ name }}</td><td>{{ count }}</td></tr>{% endfor %}
</tbody></table>{% endif %}

<h2>How these are counted</h2>
<div class="note">
<p><b>Calls</b> are tool calls the model proposed, counted once at their first decision (re-checks before
execution are not new calls); <b>denials</b> include calls refused for invalid arguments.
<b>Completed without a human decision</b> is the share of completed executions that ran without an
approval (tiers auto and notify). <b>Time to decision</b> runs from an approval request to its approval
or rejection (nearest-rank percentiles); expired requests are counted but not timed. A notify call that
waits out a <b>veto window</b> is not an approval: it counts as a veto window (and a veto when someone stopped
it), and when it runs, as completed without a human decision.</p>
<p><b>Human minutes saved</b> is an estimate: each completed execution is worth the policy's
<code>effort_minutes</code> for its tool (what a person would spend doing it by hand; tools without a
figure count 0), less {{ impact.review_minutes_per_vote }} minutes for every approval vote cast
(<code>OPSLAYER_IMPACT_REVIEW_MINUTES</code>). A call that ran on its own saves its whole effort; an
approved call saves its effort less the time people spent deciding; a rejected one costs its votes.</p>
</div>
"""
