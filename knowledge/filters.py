"""Chroma-style ``where`` filters evaluated in-process, so lexical hits obey the same filters as dense ones.

Supported: ``{"key": value}``, ``{"key": {"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte"|"$in"|"$nin": value}}``,
``{"$and": [...]}``, ``{"$or": [...]}``; several keys in one mapping must all match.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

_COMPARE: Mapping[str, Callable[[Any, Any], bool]] = {
    "$eq": operator.eq,
    "$ne": operator.ne,
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
    "$in": lambda value, options: value in options,
    "$nin": lambda value, options: value not in options,
}


def matches(metadata: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    """Whether ``metadata`` satisfies ``where``; raises ``ValueError`` for an unsupported operator."""
    return all(_clause(metadata, key, condition) for key, condition in where.items())


def _clause(metadata: Mapping[str, Any], key: str, condition: Any) -> bool:
    if key == "$and":
        return all(matches(metadata, part) for part in condition)
    if key == "$or":
        return any(matches(metadata, part) for part in condition)
    if key.startswith("$"):
        raise ValueError(f"unsupported filter operator {key!r}")
    if not isinstance(condition, Mapping):
        condition = {"$eq": condition}
    return all(_compare(metadata.get(key), op, value) for op, value in condition.items())


def _compare(actual: Any, op: str, expected: Any) -> bool:
    compare = _COMPARE.get(op)
    if compare is None:
        raise ValueError(f"unsupported filter operator {op!r}")
    if actual is None:
        return op in ("$ne", "$nin")
    try:
        return compare(actual, expected)
    except TypeError:
        return False
