"""The work queue on SQLite and PostgreSQL: idempotent enqueue, leases nobody shares, takeover of an
expired lease, only the current holder finishes an item, retries back off and end dead, news that
arrives during a lease is kept."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from governance.work import WorkQueue, WorkState
from tests.pg.engines import OpenEngine

LEASE = timedelta(seconds=30)
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(open_engine: OpenEngine, clock: Clock) -> WorkQueue:
    return WorkQueue(open_engine(), clock=clock, max_attempts=3)


def test_enqueue_is_idempotent_per_kind_and_subject(queue: WorkQueue, clock: Clock) -> None:
    first = queue.enqueue("resume", "t-1", due_at=T0 + timedelta(minutes=5))
    again = queue.enqueue("resume", "t-1", due_at=T0 + timedelta(minutes=1))
    queue.enqueue("publish-head", "t-1")

    assert again.id == first.id and again.due_at == T0 + timedelta(minutes=1)  # the earlier time wins
    assert [(i.kind, i.subject) for i in queue.pending()] == [("publish-head", "t-1"), ("resume", "t-1")]
    assert queue.lease("w1", limit=10, lease_for=LEASE)[0].kind == "publish-head"  # only that one is due


def test_a_leased_item_is_not_leased_again_until_its_lease_runs_out(queue: WorkQueue, clock: Clock) -> None:
    queue.enqueue("resume", "t-1")
    [item] = queue.lease("w1", limit=10, lease_for=LEASE)

    assert queue.lease("w2", limit=10, lease_for=LEASE) == []
    assert [i.leased_by for i in queue.leased()] == ["w1"] and queue.pending() == []
    clock.advance(seconds=31)  # w1 died: its lease runs out
    [taken] = queue.lease("w2", limit=10, lease_for=LEASE)

    assert (taken.id, taken.leased_by, taken.attempts) == (item.id, "w2", 2)
    assert not queue.complete(item, "w1")  # the old holder can no longer finish it
    assert queue.retry(item, "w1", "late") is None and queue.renew(item, "w1", lease_for=LEASE) is None
    assert queue.complete(taken, "w2")
    got = queue.get("resume", "t-1")
    assert got is not None and got.state is WorkState.DONE and queue.leased() == []


def test_renewing_keeps_the_lease(queue: WorkQueue, clock: Clock) -> None:
    queue.enqueue("resume", "t-1")
    [item] = queue.lease("w1", limit=1, lease_for=LEASE)
    clock.advance(seconds=20)
    renewed = queue.renew(item, "w1", lease_for=LEASE)
    clock.advance(seconds=20)

    assert renewed is not None and queue.lease("w2", limit=1, lease_for=LEASE) == []
    assert queue.complete(item, "w1")


def test_the_same_worker_id_with_an_older_lease_cannot_finish(queue: WorkQueue, clock: Clock) -> None:
    """A worker restarted under the same name must not finish what its previous life leased."""
    queue.enqueue("resume", "t-1")
    [old] = queue.lease("w1", limit=1, lease_for=LEASE)
    clock.advance(seconds=31)
    [new] = queue.lease("w1", limit=1, lease_for=LEASE)

    assert not queue.complete(old, "w1") and queue.complete(new, "w1")


def test_enqueue_during_a_lease_runs_the_item_again(queue: WorkQueue, clock: Clock) -> None:
    """A vote that arrives while the thread is being resumed is not lost when the resume completes."""
    queue.enqueue("resume", "t-1")
    [item] = queue.lease("w1", limit=1, lease_for=LEASE)
    queue.enqueue("resume", "t-1")
    assert queue.lease("w2", limit=1, lease_for=LEASE) == []  # still w1's

    assert queue.complete(item, "w1")
    [again] = queue.lease("w2", limit=1, lease_for=LEASE)
    assert again.id == item.id and again.attempts == 1
    assert queue.complete(again, "w2") and queue.pending() == []


def test_a_finished_item_is_reopened_by_enqueue(queue: WorkQueue) -> None:
    queue.enqueue("resume", "t-1")
    [item] = queue.lease("w1", limit=1, lease_for=LEASE)
    queue.complete(item, "w1")

    reopened = queue.enqueue("resume", "t-1")

    assert (reopened.state, reopened.attempts) == (WorkState.PENDING, 0)
    assert [i.id for i in queue.lease("w1", limit=1, lease_for=LEASE)] == [item.id]


def test_retries_back_off_and_end_dead_with_the_last_error(queue: WorkQueue, clock: Clock) -> None:
    queue.enqueue("resume", "t-1")
    waits = []
    for attempt in range(1, 4):
        [item] = queue.lease("w1", limit=1, lease_for=LEASE)
        after = queue.retry(item, "w1", f"planner down ({attempt})")
        assert after is not None
        if after.state is WorkState.DEAD:
            break
        waits.append(after.due_at - clock.now)
        assert queue.lease("w1", limit=1, lease_for=LEASE) == []  # not due yet
        clock.advance(seconds=after.due_at.timestamp() - clock.now.timestamp())

    assert waits == [timedelta(seconds=1), timedelta(seconds=2)]
    assert after is not None and after.state is WorkState.DEAD and after.attempts == 3
    [dead] = queue.dead()
    assert dead.last_error == "planner down (3)" and queue.pending() == [] and queue.leased() == []
    assert queue.enqueue("resume", "t-1").state is WorkState.PENDING  # enqueueing again re-opens it


def test_give_up_makes_an_item_dead_at_once(queue: WorkQueue) -> None:
    queue.enqueue("resume", "t-1")
    [item] = queue.lease("w1", limit=1, lease_for=LEASE)

    after = queue.give_up(item, "w1", "bad thread id")

    assert after is not None and after.state is WorkState.DEAD and after.last_error == "bad thread id"


def test_an_item_whose_workers_keep_dying_goes_dead(queue: WorkQueue, clock: Clock) -> None:
    queue.enqueue("resume", "t-1")
    for _ in range(3):  # max_attempts
        assert len(queue.lease("w1", limit=1, lease_for=LEASE)) == 1
        clock.advance(seconds=31)

    assert queue.lease("w2", limit=1, lease_for=LEASE) == []
    [dead] = queue.dead()
    assert dead.last_error is not None and "lease ran out 3 times" in dead.last_error


def test_naive_times_are_refused(queue: WorkQueue) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        queue.enqueue("resume", "t-1", due_at=datetime(2026, 12, 1, 9, 0))


def test_workers_leasing_at_once_never_get_the_same_item(open_engine: OpenEngine, clock: Clock) -> None:
    """Eight workers, each on its own engine (as separate processes would be), lease 60 items at once."""
    first = WorkQueue(open_engine(), clock=clock)
    for n in range(60):
        first.enqueue("resume", f"t-{n}")
    queues = [first] + [WorkQueue(open_engine(), clock=clock) for _ in range(7)]
    start = threading.Barrier(len(queues), timeout=60)
    got: dict[str, list[int]] = {}

    def work(index: int, queue: WorkQueue) -> None:
        start.wait()
        mine = got.setdefault(f"w{index}", [])
        while batch := queue.lease(f"w{index}", limit=3, lease_for=LEASE):
            mine.extend(item.id for item in batch)

    threads = [threading.Thread(target=work, args=(i, q)) for i, q in enumerate(queues)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    leased = [item_id for ids in got.values() for item_id in ids]
    assert sorted(leased) == sorted(set(leased)) and len(leased) == 60
    assert len(first.leased()) == 60 and first.pending() == []
