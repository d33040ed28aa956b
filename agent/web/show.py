"""How values read on the page: a request in one line, amounts, ages, statuses (words and a symbol,
never colour alone), text with its hidden characters marked. Plain text only: the templates escape
whatever these return."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from agent.offline.answers import describe
from agent.text import visible

STATUS_SYMBOLS = {
    "pending": "○",
    "approved": "✓",
    "rejected": "✗",
    "expired": "⊘",
    "started": "○",
    "completed": "✓",
    "failed": "✗",
}


def summary(tool: str, args: Mapping[str, Any]) -> str:
    """The call in words ("order 22 × LAP-14-PRO from SUP-001 for 30,305.00 on CC-IT-OPS")."""
    worded = _WORDED.get(tool)
    text = worded(args) if worded is not None else describe(tool, args)
    return text[:1].upper() + text[1:]


def _adjustment(args: Mapping[str, Any]) -> str:
    """A stock adjustment with its kind and sign: "cycle count +40 × SSD-1TB-NVME at BER-2"."""
    delta = args.get("delta")
    change = f"{delta:+,}" if isinstance(delta, int) and not isinstance(delta, bool) else str(delta)
    kind = str(args.get("kind") or "adjustment").replace("_", " ")
    return f"{kind} {change} × {args.get('sku')} at {args.get('warehouse')}"


def _order(args: Mapping[str, Any]) -> str:
    """A purchase order with its first line and how many more: "order 1 × CBL-USBC-1M (+1 more line)…"."""
    lines = args.get("lines")
    lines = lines if isinstance(lines, list) else []
    first = lines[0] if lines and isinstance(lines[0], Mapping) else {}
    more = len(lines) - 1
    extra = f" (+{more} more line{'s' if more > 1 else ''})" if more > 0 else ""
    total = args.get("total_amount")
    money = f"{total:,.2f} EUR" if isinstance(total, int | float) else "an unknown amount"
    return (
        f"order {number(first.get('quantity'))} × {first.get('sku')}{extra} from {args.get('supplier_id')} "
        f"for {money} on {args.get('cost_centre')}"
    )


_WORDED: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "inventory_adjust_stock": _adjustment,
    "procurement_create_purchase_order": _order,
}


def literal(value: Any) -> str:
    """A value as JSON with its hidden characters marked: strings quoted, line breaks as ``\\n``, so two
    values that differ only in whitespace read differently."""
    return visible(json.dumps(value, ensure_ascii=False))


def segment(value: Any) -> str:
    """``value`` as one URL path segment (``/``, ``#``, ``?`` and spaces encoded)."""
    return quote(str(value), safe="")


def amount(args: Mapping[str, Any]) -> str:
    """The money or the quantity a call moves, "" when it moves neither."""
    if isinstance(args.get("total_amount"), int | float):
        return f"{args['total_amount']:,.2f} EUR"
    for key in ("quantity", "delta"):
        if isinstance(args.get(key), int):
            return f"{abs(args[key]):,} units"
    lines = args.get("lines")
    if isinstance(lines, list):
        units = sum(line.get("quantity", 0) for line in lines if isinstance(line, Mapping))
        return f"{units:,} units"
    return ""


def number(value: Any) -> str:
    """10,000 and 30,305.50: whole numbers without decimals, others with two."""
    if not isinstance(value, int | float):
        return str(value)
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def span(delta: timedelta) -> str:
    """A duration in the largest unit that matters: "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def since(moment: datetime, now: datetime) -> str:
    """How long something has waited, to the minute: the live views poll every few seconds and redraw
    (and announce) only what changed, so a waiting time must not tick every second."""
    waited = now - moment
    return "under 1 min" if waited < timedelta(minutes=1) else span(waited)


def until(moment: datetime, now: datetime) -> str:
    return f"in {span(moment - now)}" if moment > now else f"{span(now - moment)} ago"


def when(moment: datetime | str | None) -> str:
    """UTC, to the second: "2026-12-07 08:15:02 UTC"."""
    if moment is None:
        return ""
    at = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def clock(moment: datetime) -> str:
    """The time of day in UTC: "14:05 UTC" (when a veto window ends)."""
    return moment.astimezone(UTC).strftime("%H:%M UTC")


def status_label(status: str) -> str:
    return f"{STATUS_SYMBOLS.get(status, '•')} {status}"


def system(tool: str) -> str:
    return tool.split("_", 1)[0]


FILTERS: dict[str, Callable[..., Any]] = {
    "summary": summary,
    "amount": amount,
    "number": number,
    "since": since,
    "until": until,
    "when": when,
    "clock": clock,
    "status_label": status_label,
    "system": system,
    "visible": visible,
    "literal": literal,
    "segment": segment,
}
