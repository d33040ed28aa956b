"""The case families the generator writes, one module per domain plus the injection suite."""

from __future__ import annotations

from typing import Any

from evals.suite.families import conversations, injection, inventory, itsm, procurement


def all_cases(seed: Any) -> list[dict[str, Any]]:
    return [
        *itsm.cases(seed),
        *inventory.cases(seed),
        *procurement.cases(seed),
        *itsm.triage(),
        *injection.cases(seed),
        *conversations.cases(seed),  # last: new families never renumber the folders before them
    ]
