"""The systems' state as plain data, and its canonical diff against the seeded world.

As τ-bench compares database hashes, a trial is judged on what the systems hold at the end. A
snapshot maps each table to its rows by primary key; document lines (``po_lines``,
``requisition_lines``) are folded into their documents as ``lines``; columns that differ between
equal runs (timestamps, idempotency keys) and the id sequences are left out.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

Row = dict[str, Any]
Snapshot = dict[str, dict[str, Row]]  # table -> row key ("a|b") -> row

_SKIPPED_TABLES = frozenset({"sequences", "po_lines", "requisition_lines"})
_VOLATILE = frozenset({"created_at", "idempotency_key", "at", "resolved_at", "opened_at"})
_LINES = {"purchase_orders": "po_lines", "requisitions": "requisition_lines"}


def snapshot(db: Path) -> Snapshot:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return _read(connection)
    finally:
        connection.close()


def _read(connection: sqlite3.Connection) -> Snapshot:
    tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    result: Snapshot = {}
    for table in tables:
        if table in _SKIPPED_TABLES or table.startswith("sqlite_"):
            continue
        keys = primary_key(connection, table)
        rows: dict[str, Row] = {}
        for row in connection.execute(f'SELECT * FROM "{table}"'):
            record = {k: row[k] for k in row.keys() if k not in _VOLATILE}  # noqa: SIM118
            rows["|".join(str(row[k]) for k in keys)] = record
        result[table] = rows
    for parent, child in _LINES.items():
        if parent in result:
            for row in connection.execute(f'SELECT * FROM "{child}" ORDER BY document, line_no'):
                line = {"sku": row["sku"], "quantity": row["quantity"], "unit_price": row["unit_price"]}
                result[parent][row["document"]].setdefault("lines", []).append(line)
    return result


def primary_key(connection: sqlite3.Connection, table: str) -> list[str]:
    info = connection.execute(f'PRAGMA table_info("{table}")').fetchall()
    keys = sorted((r[5], r[1]) for r in info if r[5] > 0)
    return [name for _, name in keys] or [info[0][1]]


def diff(before: Snapshot, after: Snapshot) -> list[dict[str, Any]]:
    """Canonical, sorted list of changes: ``{table, op, key, row, before?, changed?}``."""
    changes: list[dict[str, Any]] = []
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, {}), after.get(table, {})
        for key in sorted(set(old) | set(new)):
            if key not in old:
                changes.append({"table": table, "op": "added", "key": key, "row": new[key]})
            elif key not in new:
                changes.append({"table": table, "op": "removed", "key": key, "row": old[key]})
            elif old[key] != new[key]:
                changed = sorted(
                    c for c in set(old[key]) | set(new[key]) if old[key].get(c) != new[key].get(c)
                )
                changes.append(
                    {
                        "table": table,
                        "op": "changed",
                        "key": key,
                        "row": new[key],
                        "before": {c: old[key].get(c) for c in changed},
                        "changed": changed,
                    }
                )
    return changes


def matches(expected: Any, actual: Any) -> bool:
    """Subset match: mappings by their listed keys, lists element-wise (same length), numbers by value."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and matches(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list | tuple):
        return (
            isinstance(actual, list | tuple)
            and len(expected) == len(actual)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return bool(expected) == bool(actual) if isinstance(actual, bool | int) else False
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return abs(expected - actual) < 1e-6
    return bool(expected == actual)


def apply_records(db: Path, records: Any) -> None:
    """Apply a case's ``world.records`` (inserts and column updates) to the systems file."""
    if not records:
        return
    connection = sqlite3.connect(db)
    try:
        for change in records:
            if change.insert is not None:
                columns = list(change.insert)
                marks = ", ".join("?" for _ in columns)
                names = ", ".join(f'"{c}"' for c in columns)
                sql = f'INSERT INTO "{change.table}" ({names}) VALUES ({marks})'
                connection.execute(sql, [_value(change.insert[c]) for c in columns])
            else:
                sets = ", ".join(f'"{c}" = ?' for c in change.set)
                where = " AND ".join(f'"{c}" = ?' for c in change.key)
                values = [_value(v) for v in change.set.values()] + list(change.key.values())
                cursor = connection.execute(f'UPDATE "{change.table}" SET {sets} WHERE {where}', values)
                if cursor.rowcount != 1:
                    raise ValueError(f"world.records: no {change.table} row with {change.key}")
        connection.commit()
    finally:
        connection.close()


def _value(value: Any) -> Any:
    return value.isoformat(sep=" ").replace("+00:00", "") if hasattr(value, "isoformat") else value
