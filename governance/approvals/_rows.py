"""Approval storage: the SQLAlchemy tables, request ids, rows to and from values, and the reads and writes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import ColumnElement

from governance.approvals._nudges import approval_nudges
from governance.approvals._values import ApprovalRequest, ApprovalStatus, Vote, _canonical, _iso
from governance.decision import Actor, ApprovalRequirement

_PREFIX = "APR-"

_metadata = MetaData()

approval_requests = Table(
    "approval_requests",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("thread_id", String(255), nullable=False),
    Column("tool_call_id", String(255), nullable=False),
    Column("tool", String(128), nullable=False),
    Column("args", Text, nullable=False),
    Column("args_digest", String(64), nullable=False),
    Column("requirements", Text, nullable=False),
    Column("requester", String(255), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("rule_ids", Text, nullable=False),
    Column("notify", Text, nullable=False),
    Column("policy_version", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text, nullable=False),
    # ISO-8601 UTC text of fixed width: compares correctly as text on every engine.
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("decided_at", String(40), nullable=True),
    Column("version", Integer, nullable=False),
    Column("stage", String(64), nullable=False),
    Column("proposed_digest", String(64), nullable=False),
    Column("consumed_by", String(128), nullable=True),
    Column("exceeded_limits", Text, nullable=False),
    UniqueConstraint("thread_id", "tool_call_id", "stage", name="uq_approval_requests_call_stage"),
    Index("ix_approval_requests_due", "status", "expires_at"),
    Index("ix_approval_requests_thread", "thread_id"),
    Index("ix_approval_requests_queue", "status", "created_at", "id"),
)

approval_votes = Table(
    "approval_votes",
    _metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(32), ForeignKey("approval_requests.id"), nullable=False),
    Column("approver", String(255), nullable=False),
    Column("roles", Text, nullable=False),
    Column("approve", Boolean, nullable=False),
    Column("at", String(40), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("comment", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("args_digest", String(64), nullable=False),
    Column("edited", Boolean, nullable=False),
    # Second line of defence behind the version check: one vote per person per set of arguments.
    UniqueConstraint("request_id", "approver", "args_digest", name="uq_approval_votes_once"),
    Index("ix_approval_votes_request", "request_id"),
)

_JOINED = select(
    approval_requests, *(column.label(f"vote_{column.name}") for column in approval_votes.c)
).select_from(
    approval_requests.outerjoin(approval_votes, approval_votes.c.request_id == approval_requests.c.id)
)

_MUTABLE = (
    "args",
    "args_digest",
    "requirements",
    "reasons",
    "rule_ids",
    "notify",
    "policy_version",
    "exceeded_limits",
    "status",
    "status_reason",
    "decided_at",
    "version",
)


def _request_id(thread_id: str, tool_call_id: str, stage: str, salt: int) -> str:
    """Short, stable, typable: ``APR-`` + 8 hex of the call's identity (salted only on a collision)."""
    identity = json.dumps([thread_id, tool_call_id, stage, salt]).encode()
    return _PREFIX + hashlib.sha256(identity).hexdigest()[:8].upper()


def _normalise_id(request_id: str) -> str:
    text = request_id.strip().upper()
    return text if text.startswith(_PREFIX) else _PREFIX + text


def _request_row(request: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "thread_id": request.thread_id,
        "tool_call_id": request.tool_call_id,
        "tool": request.tool,
        "args": _canonical(request.args),
        "args_digest": request.args_digest,
        "requirements": _canonical([requirement.to_dict() for requirement in request.requirements]),
        "requester": request.requester,
        "channel": request.channel,
        "reasons": _canonical(list(request.reasons)),
        "rule_ids": _canonical(list(request.rule_ids)),
        "notify": _canonical(list(request.notify)),
        "policy_version": request.policy_version,
        "status": request.status.value,
        "status_reason": request.status_reason,
        "created_at": _iso(request.created_at),
        "expires_at": _iso(request.expires_at),
        "decided_at": None if request.decided_at is None else _iso(request.decided_at),
        "version": request.version,
        "stage": request.stage,
        "proposed_digest": request.proposed_digest,
        "consumed_by": request.consumed_by,
        "exceeded_limits": _canonical(list(request.exceeded_limits)),
    }


def _request_from_row(row: Row[Any], votes: Sequence[Vote]) -> ApprovalRequest:
    return ApprovalRequest(
        id=row.id,
        thread_id=row.thread_id,
        tool_call_id=row.tool_call_id,
        tool=row.tool,
        args=json.loads(row.args),
        args_digest=row.args_digest,
        requirements=tuple(_requirement(item) for item in json.loads(row.requirements)),
        requester=row.requester,
        channel=row.channel,
        reasons=tuple(json.loads(row.reasons)),
        rule_ids=tuple(json.loads(row.rule_ids)),
        notify=tuple(json.loads(row.notify)),
        policy_version=row.policy_version,
        status=ApprovalStatus(row.status),
        status_reason=row.status_reason,
        created_at=datetime.fromisoformat(row.created_at),
        expires_at=datetime.fromisoformat(row.expires_at),
        decided_at=None if row.decided_at is None else datetime.fromisoformat(row.decided_at),
        version=row.version,
        votes=tuple(votes),
        stage=row.stage,
        proposed_digest=row.proposed_digest,
        consumed_by=row.consumed_by,
        exceeded_limits=tuple(json.loads(row.exceeded_limits)),
    )


def _requirement(item: Mapping[str, Any]) -> ApprovalRequirement:
    return ApprovalRequirement(roles=tuple(item["roles"]), count=int(item["count"]), rule_id=item["rule_id"])


def _vote_row(request_id: str, vote: Vote) -> dict[str, Any]:
    return {**vote.to_dict(), "request_id": request_id, "roles": _canonical(list(vote.roles))}


def _vote_from_row(row: Row[Any]) -> Vote:
    """A vote from a row of :data:`_JOINED` (vote columns prefixed ``vote_``)."""
    return Vote(
        approver=row.vote_approver,
        roles=tuple(json.loads(row.vote_roles)),
        approve=bool(row.vote_approve),
        at=datetime.fromisoformat(row.vote_at),
        channel=row.vote_channel,
        comment=row.vote_comment,
        reason=row.vote_reason,
        args_digest=row.vote_args_digest,
        edited=bool(row.vote_edited),
    )


def _insert_request(engine: Engine, request: ApprovalRequest) -> bool:
    """Store a new request; False if its id or its tool call is already taken."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(approval_requests).values(_request_row(request)))
    except IntegrityError:
        return False
    return True


def _write(engine: Engine, before: ApprovalRequest, after: ApprovalRequest, cast: Vote | None) -> bool:
    """Write ``after`` only if nobody changed the request since ``before`` was read."""
    row = _request_row(after)
    guard = update(approval_requests).where(
        approval_requests.c.id == before.id, approval_requests.c.version == before.version
    )
    with engine.begin() as conn:
        if conn.execute(guard.values({name: row[name] for name in _MUTABLE})).rowcount != 1:
            return False
        if cast is not None:
            conn.execute(insert(approval_votes).values(_vote_row(after.id, cast)))
    return True


def _consume(engine: Engine, request_id: str, execution_key: str, args_digest: str) -> bool:
    """Mark an approved request as used by ``execution_key``; True if it is now (or already was).

    One guarded UPDATE: of two executions racing for one approval, exactly one gets it.
    """
    table = approval_requests.c
    claim = (
        update(approval_requests)
        .where(
            table.id == request_id,
            table.status == ApprovalStatus.APPROVED.value,
            table.args_digest == args_digest,
            (table.consumed_by.is_(None)) | (table.consumed_by == execution_key),
        )
        .values(consumed_by=execution_key)
    )
    with engine.begin() as conn:
        return bool(conn.execute(claim).rowcount == 1)


def _concerning(person: Actor, *, own: bool) -> ColumnElement[bool]:
    """Requests that may concern ``person`` (see :meth:`ApprovalStore.list`); ``own`` adds theirs.

    A role or person id is found in the stored JSON as its canonical JSON string, quotes included, so
    ``"ops"`` never matches a role ``ops-lead``; LIKE's wildcards in it are escaped.
    """
    columns = approval_requests.c
    named = [
        columns.requirements.contains(_canonical(role), autoescape=True) for role in sorted(person.roles)
    ]
    told = select(approval_nudges.c.request_id).where(
        approval_nudges.c.people.contains(json.dumps(person.id), autoescape=True)
    )
    reach = or_(*named, columns.id.in_(told))
    if not own:
        return and_(reach, columns.requester != person.id)
    voted = select(approval_votes.c.request_id).where(approval_votes.c.approver == person.id)
    return or_(reach, columns.requester == person.id, columns.id.in_(voted))


def _read_requests(engine: Engine, *conditions: Any, limit: int | None = None) -> list[ApprovalRequest]:
    """Requests with their votes, oldest first (the first ``limit`` of them), read in one statement.

    One statement is one snapshot on every engine, so a request row and its votes always agree
    (two queries could see a vote committed between them next to the row from before it).
    """
    oldest_first = (approval_requests.c.created_at, approval_requests.c.id)
    if limit is not None:
        page = select(approval_requests.c.id).where(*conditions).order_by(*oldest_first).limit(limit)
        conditions = (approval_requests.c.id.in_(page),)
    with engine.connect() as conn:
        rows = conn.execute(_JOINED.where(*conditions).order_by(*oldest_first, approval_votes.c.seq)).all()
    grouped: dict[str, tuple[Row[Any], list[Vote]]] = {}
    for row in rows:
        _, votes = grouped.setdefault(row.id, (row, []))
        if row.vote_seq is not None:
            votes.append(_vote_from_row(row))
    return [_request_from_row(row, votes) for row, votes in grouped.values()]
