"""Rich rendering for people at a terminal: every string shown as it is.

The CLI prints through :class:`LiteralConsole` only: no string it is given is read as markup or emoji
codes, and hidden characters are shown (:func:`agent.text.visible`), so text from a person, a model, a
backend or a configuration file can neither hide part of itself nor crash a command (``[/]``). Styling
is built as rich ``Text``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agent.text import visible

if TYPE_CHECKING:
    from governance.decision import Decision, Tier
    from governance.directory import Directory

TIER_STYLE = {"auto": "green", "notify": "cyan", "approve": "yellow", "deny": "bold red"}


class LiteralConsole(Console):
    """A rich console that shows every string literally (see the module's docstring)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(markup=False, emoji=False, **options)

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(visible(text), **options)


def tier_label(tier: Tier | str) -> Text:
    name = tier if isinstance(tier, str) else tier.value
    return literal(name, TIER_STYLE.get(name, "bold red"))


def resolve_targets(targets: tuple[str, ...], directory: Directory) -> list[str]:
    """Notify targets as people can read them: ``role:x`` becomes the names of everyone holding x."""
    resolved = []
    for target in targets:
        kind, _, name = target.partition(":")
        if kind == "role":
            people = ", ".join(person.id for person in directory.people_with_role(name)) or "nobody"
            resolved.append(f"{target} ({people})")
        else:
            resolved.append(target)
    return resolved


def decision_table(decision: Decision, directory: Directory) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("tool", decision.tool)
    table.add_row("tier", tier_label(decision.tier))
    table.add_row("rules", ", ".join(decision.rule_ids) or "(none matched)")
    for reason in decision.reasons:
        table.add_row("reason", reason)
    for requirement in decision.approvals:
        eligible = sorted({p.id for role in requirement.roles for p in directory.people_with_role(role)})
        table.add_row(
            "needs approval",
            f"{requirement.count} × {' or '.join(requirement.roles)} (rule {requirement.rule_id}; "
            f"eligible: {', '.join(eligible) or 'nobody'})",
        )
    if decision.notify:
        table.add_row("notify", "; ".join(resolve_targets(decision.notify, directory)))
    for error in decision.condition_errors:
        table.add_row("fail closed", literal(error, "red"))
    table.add_row("policy", decision.policy_version)
    table.add_row("args digest", decision.args_digest[:16] + "…")
    return table


def print_decision(
    console: Console, decision: Decision, directory: Directory, *, title: str = "Decision"
) -> None:
    border = TIER_STYLE[decision.tier.value].split()[-1]
    console.print(Panel(decision_table(decision, directory), title=title, border_style=border, expand=False))


def literal(text: object, style: str = "") -> Text:
    """Text from a person, a model or a backend, shown exactly: no markup, nothing hidden."""
    return Text(visible(text), style=style)


def safe(text: object) -> str:
    """``text`` for interpolation into a markup string: escaped, nothing hidden."""
    return escape(visible(text))
