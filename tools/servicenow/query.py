"""ServiceNow encoded queries (``sysparm_query``) and the query parameters every read sends.

An encoded query joins conditions with ``^`` (AND) and ``^OR`` (OR, which binds tighter), e.g.
``short_descriptionLIKEpool^ORdescriptionLIKEpool^state=2^ORDERBYDESCopened_at``. Values are not
quoted, so a value containing ``^`` could smuggle in conditions: :func:`literal` refuses one.
"""

from __future__ import annotations

from collections.abc import Iterable

from tools.errors import InvalidArguments


def query_params(conditions: Iterable[str], fields: str, limit: int | None = None) -> dict[str, str]:
    """Raw values (codes, UTC dates), dot-walked ``fields``, no reference links."""
    params = {
        "sysparm_query": "^".join(conditions),
        "sysparm_fields": fields,
        "sysparm_display_value": "false",
        "sysparm_exclude_reference_link": "true",
    }
    return params | ({"sysparm_limit": str(limit)} if limit is not None else {})


def literal(value: str) -> str:
    """``value`` for an encoded query, where ``^`` would start another condition."""
    if "^" in value:
        raise InvalidArguments(
            "servicenow query", [f"{value!r} contains '^', which ServiceNow queries cannot carry"]
        )
    return value


def text_conditions(text: str | None, fields: tuple[str, ...]) -> list[str]:
    """Every word must appear in one of ``fields``; ServiceNow binds ``^OR`` tighter than ``^``."""
    words = (text or "").replace("^", " ").split()
    return ["^OR".join(f"{field}LIKE{word}" for field in fields) for word in words]
