"""A NUL character (U+0000) in a tool's arguments is refused by argument validation, for every tool.

Pins: a string holding a NUL at any depth (a top-level text, a line's SKU, a list item, a key) is
refused with ``InvalidArguments`` naming each such field's path, as JSON text or as a mapping, before
any other problem; a problem never holds a NUL itself; newlines and tabs stay accepted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_catalogue import VALID
from tools.catalogue import build_catalogue
from tools.errors import InvalidArguments
from tools.registry import ToolRegistry
from tools.spec import canonical_args

NUL = "\x00"
REFUSED = "a NUL character (U+0000) is not accepted"
PO = "procurement_create_purchase_order"


@pytest.fixture(scope="module")
def registry() -> ToolRegistry:
    return ToolRegistry(build_catalogue())


def _refused(registry: ToolRegistry, tool: str, args: Any) -> list[str]:
    with pytest.raises(InvalidArguments) as refused:
        registry.get(tool).parse_args(args)
    assert NUL not in str(refused.value)
    return refused.value.problems


def _string_paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_paths(item, (*path, index))


def _with_nul(args: Any, path: tuple[str | int, ...]) -> Any:
    copy = json.loads(json.dumps(args))
    *parents, last = path
    target = copy
    for part in parents:
        target = target[part]
    target[last] = target[last][:2] + NUL + target[last][2:]
    return copy


CASES = [(tool, path) for tool, args in VALID.items() for path in _string_paths(args)]


@pytest.mark.parametrize(
    ("tool", "path"), CASES, ids=[f"{tool}:{'.'.join(map(str, path))}" for tool, path in CASES]
)
def test_a_nul_in_any_string_argument_of_any_tool_is_refused_naming_the_field(
    registry: ToolRegistry, tool: str, path: tuple[str | int, ...]
) -> None:
    args = _with_nul(VALID[tool], path)
    where = ".".join(map(str, path))

    assert _refused(registry, tool, args) == [f"{where}: {REFUSED}"]
    assert _refused(registry, tool, json.dumps(args)) == [f"{where}: {REFUSED}"]  # as a model sends it


def test_nuls_in_nested_lines_are_each_named_with_their_path_before_anything_else(
    registry: ToolRegistry,
) -> None:
    lines = [
        {"sku": "SSD-1TB-NVME", "quantity": 10, "unit_price": 77.42},
        {"sku": f"MON-22{NUL}-FHD", "quantity": 0, "unit_price": 119.0},
    ]
    args = {
        "cost_centre": "CC-IT-OPS",
        "lines": lines,
        "justification": f"Spare monitors{NUL} for the Berlin office",
    }

    assert _refused(registry, "procurement_create_requisition", args) == [
        f"lines.1.sku: {REFUSED}",
        f"justification: {REFUSED}",
    ]  # the quantity of 0 is told once the NULs are gone


def test_a_nul_in_a_list_item_or_a_key_is_named_and_the_key_shown_visibly(registry: ToolRegistry) -> None:
    listed = {**VALID["itsm_add_work_note"], "text": ["first", f"sec{NUL}ond"]}
    keyed = {**VALID["itsm_add_work_note"], f"te{NUL}xt": "hidden"}

    assert _refused(registry, "itsm_add_work_note", listed) == [f"text.1: {REFUSED}"]
    assert _refused(registry, "itsm_add_work_note", keyed) == [f"te<U+0000>xt: {REFUSED}"]


def test_newlines_and_tabs_stay_accepted(registry: ToolRegistry) -> None:
    text = "Checked pool metrics:\n\tnode-1 ok\n\tnode-2 ok\r\nNo action needed."
    args = {"number": "INC0010047", "text": text}

    parsed = registry.get("itsm_add_work_note").parse_args(json.dumps(args))

    assert canonical_args(parsed) == args
