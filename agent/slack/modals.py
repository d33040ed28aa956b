"""The modals a card opens: Reject and Veto (ask the reason), Edit (one input per argument, from its
schema).

``private_metadata`` holds the approval id, the channel to answer in and the args digest of the
arguments the card (or the edit modal) showed; Slack keeps it server-side and returns it with the
submission. What runs is decided by the operations service, which re-reads the request, refuses the
vote if its arguments are no longer the ones shown, and checks the voter like any other vote.

An argument Slack cannot show whole in an input (longer than an input holds, or with characters Slack
would not show) is not editable here: the edit keeps its value as it is, and the modal says so and
points to the review page. A value cut or altered for showing is never sent back as the argument.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from agent.slack.cards import OPEN, button, plain
from agent.text import visible

REJECT_VIEW, EDIT_VIEW, VETO_VIEW = "reject_reason", "edit_args", "veto_reason"
REASON_BLOCK = "reason"
KEPT_BLOCK = "kept_as_is"  # the note naming the arguments this modal does not edit
VALUE = "value"
_INPUT_CHARS = 3000  # Slack's longest plain_text_input


@dataclass(frozen=True, kw_only=True)
class Metadata:
    """What a modal was opened for. ``digest``: the args digest shown (None: a modal opened before
    modals carried one, or a card without one)."""

    approval_id: str
    channel: str | None
    digest: str | None = None


def metadata(approval_id: str, channel: str | None, digest: str | None = None) -> str:
    return json.dumps({"approval_id": approval_id, "channel": channel, "digest": digest})


def read_metadata(view: Mapping[str, Any]) -> Metadata:
    found = json.loads(view.get("private_metadata") or "{}")
    digest = found.get("digest")
    return Metadata(
        approval_id=str(found.get("approval_id", "")),
        channel=found.get("channel"),
        digest=str(digest) if digest else None,
    )


def reject_modal(approval_id: str, words: str, channel: str | None, digest: str | None) -> dict[str, Any]:
    """Asks why; ``digest``: of the arguments the card showed (the rejection is refused if they changed)."""
    about = f"Reject {approval_id}: {words}"
    return _reason_modal(REJECT_VIEW, "Reject", about, metadata(approval_id, channel, digest))


def veto_modal(approval_id: str, words: str, channel: str | None) -> dict[str, Any]:
    """Asks why the call must not run; submitting it vetoes the call (if its window is still open)."""
    about = f"Veto {approval_id}: {words}. It will not run."
    return _reason_modal(VETO_VIEW, "Veto", about, metadata(approval_id, channel))


def _reason_modal(callback_id: str, verb: str, about: str, private_metadata: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": private_metadata,
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
    approval_id: str,
    words: str,
    schema: Mapping[str, Any],
    args: Mapping[str, Any],
    *,
    channel: str | None,
    digest: str,
    review_url: str | None,
) -> dict[str, Any]:
    """One input per argument of the tool's schema, filled with the arguments as they would execute
    (``digest`` is theirs): scalars as text or number inputs, lists and objects as JSON. Arguments
    Slack cannot show whole get no input but a note: the edit keeps them as they are."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    kept = kept_as_is(schema, args)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": plain(f"Edit and approve {approval_id}: {words}")}
    ]
    for name, spec in list(properties.items())[:90]:
        if name not in kept:
            blocks.append(_input(name, spec, args.get(name), optional=name not in required))
    if kept:
        blocks.append(_kept_note(kept, review_url))
    return {
        "type": "modal",
        "callback_id": EDIT_VIEW,
        "private_metadata": metadata(approval_id, channel, digest),
        "title": plain("Edit and approve", limit=24),
        "submit": plain("Approve edited", limit=24),
        "close": plain("Cancel", limit=24),
        "blocks": blocks,
    }


def kept_as_is(schema: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, str]:
    """The arguments an input cannot show whole, and why: the edit modal leaves them out and the
    submission keeps their values (name → why)."""
    kept: dict[str, str] = {}
    for name, spec in schema.get("properties", {}).items():
        current = args.get(name)
        if current is None:
            continue
        shown = _shown(current, _kind(spec))
        if len(shown) > _INPUT_CHARS:
            kept[name] = f"{len(shown):,} characters, and a Slack input holds at most {_INPUT_CHARS:,}"
        elif visible(shown) != shown:
            kept[name] = "it holds control, zero-width or bidi characters that a Slack input would hide"
    return kept


def _kept_note(kept: Mapping[str, str], review_url: str | None) -> dict[str, Any]:
    where = (
        "edit them on the review page"
        if review_url is None
        else f"edit them on the review page: {review_url}"
    )
    reasons = "; ".join(f"{name} ({why})" for name, why in kept.items())
    text = f"Not editable in Slack, kept exactly as they are: {reasons}. To change them, {where}."
    note: dict[str, Any] = {"type": "section", "block_id": KEPT_BLOCK, "text": plain(text)}
    if review_url is not None:
        note["accessory"] = button("Open in review page", OPEN, url=review_url)
    return note


def edited_args(
    view: Mapping[str, Any], schema: Mapping[str, Any], original: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The arguments a submitted edit modal holds, and per field what cannot be read (block id → why).
    The arguments the modal left out as not shown whole (:func:`kept_as_is`) keep their ``original``
    values, whatever the submission says."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    kept = kept_as_is(schema, original)
    args: dict[str, Any] = {name: original[name] for name in kept}
    errors: dict[str, str] = {}
    for name, spec in properties.items():
        if name in kept:
            continue
        raw = _value(view, name)
        if raw is None or raw == "":
            continue
        try:
            args[name] = _parse(raw, _kind(spec))
        except ValueError as exc:
            errors[name] = str(exc)
    return args, errors


def problems_by_field(problems: list[str], *, fields: Collection[str], other: str) -> dict[str, str]:
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
        lines = kind in ("array", "object") or (isinstance(current, str) and "\n" in current)
        element = {"type": "plain_text_input", "action_id": VALUE, "multiline": lines}
    if current is not None:  # shown whole: kept_as_is left out what an input cannot hold
        element["initial_value"] = _shown(current, kind)
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


def _shown(current: Any, kind: str) -> str:
    """The text an input is filled with: a string as it is, anything else as JSON."""
    return (
        current if kind == "string" and isinstance(current, str) else json.dumps(current, ensure_ascii=False)
    )


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


def input_blocks(view: Mapping[str, Any]) -> list[str]:
    """The block ids of a modal's inputs, in order (where Slack can show an error)."""
    return [str(block["block_id"]) for block in view.get("blocks", ()) if block.get("type") == "input"]


def _value(view: Mapping[str, Any], block: str) -> str | None:
    entry = view.get("state", {}).get("values", {}).get(block, {}).get(VALUE, {})
    value = entry.get("value")
    return None if value is None else str(value)
