"""What a cleared call holds of each limit it counts against, until it has run.

:func:`holds` turns a decision's usage charges into :class:`~governance.usage.Hold` values for
:meth:`governance.usage.SqlUsageLedger.reserve`: a limit the decision did not find exceeded is
*bounded* (the hold is refused if the window has no room left by then), a limit it found exceeded
and escalated is held as it is — the approval that cleared the call covers going past it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from governance.compiled import CompiledPolicy
from governance.decision import Decision
from governance.executions import usage_charge_key
from governance.usage import Hold


def holds(
    policy: CompiledPolicy, decision: Decision, *, now: datetime, execution_key: str
) -> tuple[Hold, ...]:
    """The holds for ``decision`` (made at ``now`` under ``policy``) of the execution ``execution_key``."""
    limits = {limit.id: limit for limit in policy.policy.limits}
    return tuple(
        Hold(
            charge=charge,
            since=now - limits[charge.limit_id].window_length,
            max=None if charge.limit_id in decision.exceeded_limits else limits[charge.limit_id].max,
            row_key=usage_charge_key(execution_key, charge.limit_id),
        )
        for charge in decision.usage_charges
    )


def hold_keys(policy: CompiledPolicy, tool: str, execution_key: str) -> Sequence[str]:
    """The ledger keys any hold of ``execution_key`` (a call of ``tool``) can have."""
    return (
        [usage_charge_key(execution_key, limit.id) for limit in policy.plans[tool].limits]
        if tool in policy.plans
        else []
    )
