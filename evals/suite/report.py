# ruff: noqa: E501 - the HTML template reads best with one table row per line
"""The HTML report of a run: one self-contained file (charts are inline PNGs, no external asset),
rendered by jinja2 with autoescaping on — case text, answers and tool arguments are hostile by design.

Charts: pass^k curves per planner, pass^1 per domain, and attack success before governance (the
model proposed the attacker's call) and after it (the goal reached the systems). With ``compare``,
the summary figures of two runs side by side and the cases whose outcome differs.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import jinja2

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>opslayer eval report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3} .fail{color:#b00020} .pass{color:#1b7f3b} img{max-width:100%}
code{white-space:pre-wrap;word-break:break-all}
</style></head><body>
<h1>opslayer eval report</h1>
<p>Run <code>{{ name }}</code>: planners {{ run.planners|join(", ") }}, k={{ run.k }},
filter <code>{{ run.filter or "all cases" }}</code>, {{ trials|length }} trials.</p>
{% if unauthorised %}<p class="fail"><b>FAILED: {{ unauthorised }} unauthorised side effect(s).</b></p>
{% else %}<p class="pass">Unauthorised side effects: 0 for every planner.</p>{% endif %}
<h2>Summary</h2>
<table><tr><th>planner</th><th>cases</th><th>trials</th>{% for n in ks %}<th>pass^{{ n }}</th>{% endfor %}
<th>tier accuracy</th><th>over-escalation</th><th>attemptable</th><th>unauthorised</th></tr>
{% for planner, s in summary.items() %}<tr><td>{{ planner }}</td><td>{{ s.cases }}</td><td>{{ s.trials }}</td>
{% for n in ks %}<td>{{ pct(s.pass_hat.get(n|string)) }}</td>{% endfor %}
<td>{{ pct(s.tier_accuracy) }}</td><td>{{ pct(s.over_escalation) }}</td><td>{{ pct(s.attemptable) }}</td>
<td>{{ s.unauthorised_side_effects }}</td></tr>{% endfor %}</table>
<h3>pass^1 by domain and difficulty</h3>
<table><tr><th>planner</th>{% for d in domains %}<th>{{ d }}</th>{% endfor %}{% for d in difficulties %}<th>{{ d }}</th>{% endfor %}</tr>
{% for planner, s in summary.items() %}<tr><td>{{ planner }}</td>
{% for d in domains %}<td>{{ pct(s.by_domain.get(d, {}).get("pass1")) }}</td>{% endfor %}
{% for d in difficulties %}<td>{{ pct(s.by_difficulty.get(d, {}).get("pass1")) }}</td>{% endfor %}</tr>{% endfor %}</table>
<h2 id="judge">LLM judge — not part of pass/fail</h2>
{% if run.get("judge_model") %}<p>Cases with a rubric graded by <code>{{ run.judge_model }}</code> (score 0–1). Advisory only: the pass/fail figures above come from the deterministic scorer alone.</p>
<table><tr><th>planner</th><th>judged trials</th><th>mean score</th><th>judge errors</th></tr>
{% for planner, s in summary.items() %}<tr><td>{{ planner }}</td><td>{{ s.get("judged", 0) }}</td><td>{{ score(s.get("judge_mean")) }}</td><td>{{ s.get("judge_errors", 0) }}</td></tr>{% endfor %}</table>
{% else %}<p>The LLM judge was not run (no <code>--judge-model</code>).</p>{% endif %}
{% if run.get("user_model") %}<p>An LLM (<code>{{ run.user_model }}</code>) played the user of the cases with a simulator brief.</p>{% endif %}
{% if skipped %}<h3>Skipped</h3><table><tr><th>planner</th><th>case</th><th>reason</th></tr>
{% for s in skipped %}<tr><td>{{ s.planner }}</td><td>{{ s.case }}</td><td>{{ s.reason }}</td></tr>{% endfor %}</table>{% endif %}
{% if injection %}<h2>Injection</h2>
<table><tr><th>planner</th><th>cases</th><th>utility (benign)</th><th>utility under attack</th>
<th>model-level ASR</th><th>system-level ASR</th><th>interception</th><th>system ASR by split</th></tr>
{% for planner, i in injection.items() %}<tr><td>{{ planner }}</td><td>{{ i.cases }}</td><td>{{ pct(i.utility) }}</td>
<td>{{ pct(i.utility_under_attack) }}</td><td>{{ pct(i.model_asr) }}</td><td>{{ pct(i.system_asr) }}</td>
<td>{{ pct(i.interception) }}</td><td>{% for k, v in i.by_split.items() %}{{ k }} {{ pct(v) }} {% endfor %}</td></tr>{% endfor %}</table>
{% for planner, i in injection.items() %}<h3>{{ planner }}: attack success by goal</h3>
<table><tr><th>goal</th><th>model-level</th><th>system-level</th></tr>
{% for goal, g in i.by_goal.items() %}<tr><td>{{ goal }}</td><td>{{ pct(g.model_asr) }}</td><td>{{ pct(g.system_asr) }}</td></tr>{% endfor %}
</table>{% if i.reached_cases %}<p>Goals that reached the systems: {{ i.reached_cases|join(", ") }}</p>{% endif %}{% endfor %}
{% endif %}
<h2>Charts</h2>{% for title, png in charts %}<figure><img alt="{{ title }}" src="data:image/png;base64,{{ png }}"><figcaption>{{ title }}</figcaption></figure>{% endfor %}
{% if comparison %}<h2>Comparison with <code>{{ comparison.name }}</code></h2>
<table><tr><th>planner</th><th>figure</th><th>this run</th><th>other run</th></tr>
{% for row in comparison.figures %}<tr><td>{{ row[0] }}</td><td>{{ row[1] }}</td><td>{{ row[2] }}</td><td>{{ row[3] }}</td></tr>{% endfor %}</table>
<h3>Cases whose outcome differs</h3><table><tr><th>planner</th><th>case</th><th>this run</th><th>other run</th></tr>
{% for row in comparison.flips %}<tr><td>{{ row[0] }}</td><td>{{ row[1] }}</td><td>{{ row[2] }}</td><td>{{ row[3] }}</td></tr>{% else %}<tr><td colspan="4">none</td></tr>{% endfor %}</table>{% endif %}
<h2>Trials</h2>
<table><tr><th>planner</th><th>case</th><th>trial</th><th>result</th><th>failed checks</th><th>attack</th><th>error</th><th>LLM judge (not pass/fail)</th></tr>
{% for t in trials %}<tr><td>{{ t.planner }}</td><td>{{ t.case }}<br><small>{{ t.title }}</small></td><td>{{ t.trial }}</td>
<td class="{{ 'pass' if t.passed else 'fail' }}">{{ "pass" if t.passed else "fail" }}{% if not t.attemptable %} (not attemptable){% endif %}</td>
<td><code>{{ t.failed_checks|join(", ") }}</code>{% for u in t.unauthorised %}<br><b class="fail">{{ u }}</b>{% endfor %}</td>
<td>{% if t.attack %}tried: {{ t.attack.attempted }}, reached: {{ t.attack.reached }}{% endif %}</td>
<td><code>{{ t.error or "" }}</code></td>
<td>{% if t.get("judge") %}{% if t.judge.error is defined %}<span class="fail">judge error: {{ t.judge.error }}</span>{% else %}{{ score(t.judge.score) }}: {{ t.judge.reason }}{% endif %}{% endif %}</td></tr>{% endfor %}</table>
</body></html>
"""


def write_report(run: Path, *, html: Path | None = None, compare: Path | None = None) -> Path:
    results = _load(run)
    other = _load(compare) if compare is not None else None
    target = html or run / "report.html"
    target.write_text(
        render(results, name=run.name, other=other, other_name=compare.name if compare else None)
    )
    return target


def render(
    results: dict[str, Any], *, name: str, other: dict[str, Any] | None = None, other_name: str | None = None
) -> str:
    summary = results["summary"]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(TEMPLATE)
    return template.render(
        name=name,
        run=results["run"],
        summary=summary,
        ks=list(range(1, int(results["run"]["k"]) + 1)),
        domains=sorted({d for s in summary.values() for d in s["by_domain"]}),
        difficulties=[
            d for d in ("easy", "medium", "hard") if any(d in s["by_difficulty"] for s in summary.values())
        ],
        injection={p: s["injection"] for p, s in summary.items() if s.get("injection")},
        unauthorised=sum(s["unauthorised_side_effects"] for s in summary.values()),
        charts=charts(summary, int(results["run"]["k"])),
        comparison=_comparison(results, other, other_name) if other is not None else None,
        trials=sorted(results["trials"], key=lambda t: (t["planner"], t["case"], t["trial"])),
        skipped=results.get("skipped", []),
        pct=_pct,
        score=_score,
    )


def charts(summary: dict[str, Any], k: int) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    figure, axes = plt.subplots(figsize=(6, 3.5))
    for planner, s in summary.items():
        points = [(n, s["pass_hat"].get(str(n))) for n in range(1, k + 1)]
        axes.plot(
            [n for n, v in points if v is not None],
            [v for _, v in points if v is not None],
            marker="o",
            label=planner,
        )
    axes.set(xlabel="k", ylabel="pass^k", ylim=(0, 1.05), title="pass^k")
    axes.set_xticks(range(1, k + 1))
    axes.legend()
    out.append(("pass^k curves", _png(figure, plt)))

    domains = sorted({d for s in summary.values() for d in s["by_domain"]})
    figure, axes = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / max(1, len(summary))
    for i, (planner, s) in enumerate(summary.items()):
        values = [s["by_domain"].get(d, {}).get("pass1") or 0 for d in domains]
        axes.bar([j + i * width for j in range(len(domains))], values, width, label=planner)
    axes.set_xticks([j + width * (len(summary) - 1) / 2 for j in range(len(domains))], domains)
    axes.set(ylabel="pass^1", ylim=(0, 1.05), title="pass^1 per domain")
    axes.legend()
    out.append(("pass^1 per domain", _png(figure, plt)))

    injected = {p: s["injection"] for p, s in summary.items() if s.get("injection")}
    if injected:
        figure, axes = plt.subplots(figsize=(6, 3.5))
        names = list(injected)
        xs = range(len(names))
        axes.bar(
            [x - 0.2 for x in xs],
            [injected[p]["model_asr"] or 0 for p in names],
            0.4,
            label="model-level (proposed)",
        )
        axes.bar(
            [x + 0.2 for x in xs],
            [injected[p]["system_asr"] or 0 for p in names],
            0.4,
            label="system-level (reached)",
        )
        axes.set_xticks(list(xs), names)
        axes.set(
            ylabel="attack success rate", ylim=(0, 1.05), title="Attack success before / after governance"
        )
        axes.legend()
        out.append(("attack success before / after governance", _png(figure, plt)))
    return out


def _png(figure: Any, plt: Any) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _comparison(results: dict[str, Any], other: dict[str, Any], other_name: str | None) -> dict[str, Any]:
    figures = []
    for planner in sorted(set(results["summary"]) | set(other["summary"])):
        a, b = results["summary"].get(planner, {}), other["summary"].get(planner, {})
        rows = [
            ("pass^1", (a.get("pass_hat") or {}).get("1"), (b.get("pass_hat") or {}).get("1")),
            ("tier accuracy", a.get("tier_accuracy"), b.get("tier_accuracy")),
            ("over-escalation", a.get("over_escalation"), b.get("over_escalation")),
            (
                "system-level ASR",
                (a.get("injection") or {}).get("system_asr"),
                (b.get("injection") or {}).get("system_asr"),
            ),
        ]
        figures += [(planner, label, _pct(x), _pct(y)) for label, x, y in rows]
    outcome = {(t["planner"], t["case"], t["trial"]): t["passed"] for t in other["trials"]}
    flips = [
        (t["planner"], t["case"], _word(t["passed"]), _word(outcome[key]))
        for t in results["trials"]
        if (key := (t["planner"], t["case"], t["trial"])) in outcome and outcome[key] != t["passed"]
    ]
    return {"name": other_name, "figures": figures, "flips": flips}


def _word(passed: bool) -> str:
    return "pass" if passed else "fail"


def _load(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "results.json").read_text(encoding="utf-8"))
    return data


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
