"""Rich rendering for people at a terminal: every string shown as it is.

The CLI prints through :class:`LiteralConsole` only: no string it is given is read as markup or emoji
codes, and hidden characters are shown (:func:`agent.text.visible`), so text from a person, a model, a
backend or a configuration file can neither hide part of itself nor crash a command (``[/]``). Styling
is built as rich ``Text``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.markup import escape
from rich.measure import Measurement
from rich.panel import Panel
from rich.segment import Segment
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


def whole_column(table: Table, header: str, values: Iterable[object], **options: Any) -> None:
    """A column never cut or folded, as wide as its longest value: ids, thread ids, person ids and tool
    names are copied into other commands (a value spanning lines is measured by its longest line)."""
    width = max((cell_len(line) for v in values for line in visible(v).split("\n")), default=0)
    table.add_column(header, no_wrap=True, min_width=max(width, 1), **options)


def folded_column(table: Table, header: str, **options: Any) -> None:
    """A column that folds to fit, never narrower than the longest word of its header (never dropped)."""
    options.setdefault("min_width", max(len(word) for word in header.split()))
    table.add_column(header, overflow="fold", **options)


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` whole. Its whole columns keep their width and the others fold, never below their
    ``min_width``; when even that does not fit the console, the table is printed wider (a terminal wraps
    the lines, a pipe keeps them): a column is never cropped or dropped, as rich would."""
    console.print(_Whole(table), crop=False)


class _Whole:
    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        table, columns = self.table, self.table.columns
        natural = [
            max(Measurement.get(console, options, cell).maximum for cell in (c.header, *c.cells))
            for c in columns
        ]
        floor = [
            max(n, c.min_width or 1) if c.no_wrap else (c.min_width or 1)
            for n, c in zip(natural, columns, strict=True)
        ]
        padding = table.padding[1] + table.padding[3]
        chrome = padding * len(columns) + (
            (2 if table.show_edge else 0) + len(columns) - 1 if table.box else 0
        )
        if sum(natural) + chrome > options.max_width:  # rich would shrink any column, even to nothing
            spare = options.max_width - chrome - sum(floor)
            widths = _share(floor, [max(n, f) for n, f in zip(natural, floor, strict=True)], spare)
            for column, width in zip(columns, widths, strict=True):
                column.width = width
            options = options.update_width(max(options.max_width, sum(widths) + chrome))
        yield from console.render(table, options)


def _share(floor: list[int], want: list[int], spare: int) -> list[int]:
    """``floor`` widened towards ``want`` with ``spare`` columns, the narrowest wants first."""
    widths = list(floor)
    hungry = sorted(
        (i for i, (f, w) in enumerate(zip(floor, want, strict=True)) if w > f),
        key=lambda i: want[i] - floor[i],
    )
    for left, i in zip(range(len(hungry), 0, -1), hungry, strict=True):
        give = min(want[i] - floor[i], max(spare, 0) // left)
        widths[i] += give
        spare -= give
    return widths
