"""Canonical JSON: the one serialisation behind every digest and hash of governance.

Approvals are bound to the digest of the arguments, the audit chain hashes the stored payload text,
and the policy version is the digest of the policy: all three must agree on what "the same value" is.
The canonical form is compact UTF-8 JSON with sorted keys (orjson's output, fast on the ``decide`` hot
path). It is strict: NaN and infinity are refused (``ValueError``: orjson would quietly write
``null``, so ``NaN`` and ``None`` would share a digest) and so is anything JSON cannot hold
(``TypeError``). Integers beyond 64 bits, which orjson cannot write, are written by the standard
library instead: the one case whose float formatting may differ, and always the same for one value.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import orjson

# orjson would write datetimes and dataclasses its own way; JSON has neither, so they are refused.
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value``; see the module docstring for what is refused."""
    return canonical_bytes(value).decode()


def canonical_bytes(value: Any) -> bytes:
    try:
        text = orjson.dumps(value, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        if not _has_big_int(value):
            raise TypeError(f"not JSON: {exc}") from exc
        # ensure_ascii=False as orjson; allow_nan=False refuses NaN on this path by itself.
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
    if b"null" in text and _has_non_finite(value):  # orjson writes NaN and infinity as null
        raise ValueError("not JSON: NaN or infinity")
    return text


def digest(value: Any) -> str:
    """sha256 hex of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(item) for item in value)
    return False


def _has_big_int(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return not -(2**63) <= value < 2**64
    if isinstance(value, dict):
        return any(_has_big_int(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_big_int(item) for item in value)
    return False
