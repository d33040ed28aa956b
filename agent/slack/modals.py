"""The modals a card opens: Reject and Veto (ask the reason), Edit (one input per argument, from its
schema).

``private_metadata`` holds the approval id and the channel to answer in; Slack keeps it server-side and
returns it with the submission. What runs is decided by the operations service, which re-reads the
request and checks the voter like any other vote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agent.slack.cards import cut, plain

REJECT_VIEW, EDIT_VIEW, VETO_VIEW = "reject_reason", "edit_args", "veto_reason"
REASON_BLOCK = "reason"
VALUE = "value"
_INPUT_CHARS = 3000  # Slack's longest plain_text_input


def metadata(approval_id: str, channel: str | None) -> str:
    return json.dumps({"approval_id": approval_id, "channel": channel})


def read_metadata(view: Mapping[str, Any]) -> tuple[str, str | None]:
    found = json.loads(view.get("private_metadata") or "{}")
    return str(found.get("approval_id", "")), found.get("channel")


def reject_modal(approval_id: str, words: str, channel: str | None) -> dict[str, Any]:
    return _reason_modal(REJECT_VIEW, "Reject", f"Reject {approval_id}: {words}", approval_id, channel)


def veto_modal(approval_id: str, words: str, channel: str | None) -> dict[str, Any]:
    """Asks why the call must not run; submitting it vetoes the call (if its window is still open)."""
    about = f"Veto {approval_id}: {words}. It will not run."
    return _reason_modal(VETO_VIEW, "Veto", about, approval_id, channel)


def _reason_modal(
    callback_id: str, verb: str, about: str, approval_id: str, channel: str | None
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": metadata(approval_id, channel),
        "title": plain(verb, limit=24),
        "submit": plain(verb, limit=24),
        "close": plain("Cancel", limit=24),
        "blocks": [
            {"type": "section", "text": plain(about)},
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": plain("Why? (the requester and the agent are told)", limit=2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": VALUE,
                    "multiline": True,
                    "max_length": _INPUT_CHARS,
                },
            },
        ],
    }


def reason_of(view: Mapping[str, Any]) -> str:
    return str(_value(view, REASON_BLOCK) or "").strip()


def edit_modal(
    approval_id: str, words: str, schema: Mapping[str, Any], args: Mapping[str, Any], channel: str | None
) -> dict[str, Any]:
    """One input per argument of the tool's schema, filled with the arguments as they would execute:
    scalars as text or number inputs, lists and objects as JSON."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": plain(f"Edit and approve {approval_id}: {words}")}
    ]
    for name, spec in list(properties.items())[:90]:
        blocks.append(_input(name, spec, args.get(name), optional=name not in required))
    return {
        "type": "modal",
        "callback_id": EDIT_VIEW,
        "private_metadata": metadata(approval_id, channel),
        "title": plain("Edit and approve", limit=24),
        "submit": plain("Approve edited", limit=24),
        "close": plain("Cancel", limit=24),
        "blocks": blocks,
    }


def edited_args(view: Mapping[str, Any], schema: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The arguments a submitted edit modal holds, and per field what cannot be read (block id → why)."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    args: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, spec in properties.items():
        raw = _value(view, name)
        if raw is None or raw == "":
            continue
        try:
            args[name] = _parse(raw, _kind(spec))
        except ValueError as exc:
            errors[name] = str(exc)
    return args, errors


def problems_by_field(problems: list[str], *, fields: Mapping[str, Any], other: str) -> dict[str, str]:
    """Validation problems (``lines.0.quantity: …``) under the input of the field they concern (its
    block id); the rest under ``other``. Slack shows each under its input."""
    found: dict[str, list[str]] = {}
    for problem in problems:
        field = problem.split(".", 1)[0].split(":", 1)[0]
        found.setdefault(field if field in fields else other, []).append(problem)
    return {block: "; ".join(listed)[:2000] for block, listed in found.items()}


def _input(name: str, spec: Mapping[str, Any], current: Any, *, optional: bool) -> dict[str, Any]:
    kind = _kind(spec)
    label = plain(f"{name} ({kind})", limit=2000)
    element: dict[str, Any]
    if kind in ("integer", "number"):
        element = {"type": "number_input", "action_id": VALUE, "is_decimal_allowed": kind == "number"}
    else:
        element = {"type": "plain_text_input", "action_id": VALUE, "multiline": kind in ("array", "object")}
    if current is not None:
        shown = current if kind == "string" else json.dumps(current, ensure_ascii=False)
        element["initial_value"] = cut(str(shown), _INPUT_CHARS)
    made: dict[str, Any] = {
        "type": "input",
        "block_id": name[:255],
        "label": label,
        "element": element,
        "optional": optional,
    }
    description = spec.get("description")
    if isinstance(description, str) and description:
        made["hint"] = plain(description, limit=2000)
    return made


def _kind(spec: Mapping[str, Any]) -> str:
    """The JSON type of a property (the first non-null of an ``anyOf``)."""
    if "type" in spec:
        return str(spec["type"])
    for option in spec.get("anyOf", ()):
        if option.get("type") not in (None, "null"):
            return str(option.get("type"))
    return "object" if "$ref" in spec else "string"


def _parse(raw: str, kind: str) -> Any:
    if kind == "string":
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON for a {kind}: {exc.msg}") from exc


def _value(view: Mapping[str, Any], block: str) -> str | None:
    entry = view.get("state", {}).get("values", {}).get(block, {}).get(VALUE, {})
    value = entry.get("value")
    return None if value is None else str(value)
