"""A worker process for the SIGKILL tests: it leases work like any worker, then blocks until killed.

``python -m tests.worker.killed_worker WHEN MARKER`` (settings from the environment): with ``before``
it blocks as it starts resuming a thread, with ``after`` once the resume has run but before the lease
is completed; either way it writes MARKER first, so the test knows where it is.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from agent.operations import Operations
from agent.run.session import TurnResult
from agent.settings import Settings
from agent.worker import Worker


class BlockingOperations(Operations):
    def __init__(self, settings: Settings, *, when: str, marker: Path) -> None:
        super().__init__(settings)
        self.when = when
        self.marker = marker

    def resume(self, thread: str, **kwargs: Any) -> TurnResult:
        if self.when == "before":
            self._block()
        result = super().resume(thread, **kwargs)
        self._block()
        return result

    def _block(self) -> None:
        self.marker.write_text("blocked", encoding="utf-8")
        while True:
            time.sleep(60)


def main() -> None:
    when, marker = sys.argv[1], Path(sys.argv[2])
    settings = Settings(_env_file=None)
    operations = BlockingOperations(settings, when=when, marker=marker)
    Worker(settings, operations=operations, worker_id=f"doomed-{when}").run_once()
    raise SystemExit("the worker found nothing to do")


if __name__ == "__main__":
    main()
