"""Showing text that came from a person, a model or a backend exactly as it is, on every front end.

An approver must see what will run: characters a terminal or a browser would act on or hide — C0/C1
controls (ANSI escapes start with ESC), zero-width characters, and bidirectional overrides that reorder
what is shown — are shown as ``<U+XXXX>``. Newlines and tabs stay. Digests are computed on the real
text, never on this.
"""

from __future__ import annotations

import re

_HIDDEN = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


def visible(text: object) -> str:
    """``text`` with every control, zero-width and bidi character shown as ``<U+XXXX>``."""
    return _HIDDEN.sub(lambda m: f"<U+{ord(m.group()):04X}>", str(text))
