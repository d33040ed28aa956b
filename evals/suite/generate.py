"""Writes the scenario folders under ``evals/scenarios`` (``python -m evals.suite.generate``).

The cases are data: this script only saves typing. It reads the seeded systems for the facts each
expectation depends on (stock levels, catalogue prices, committed budgets) so every expected final
state is exact, and writes one ``case.yaml`` per folder. Re-running it rewrites the folders it owns
(those it generated) and leaves hand-written cases alone. The families are in
``evals/suite/families``, one module per domain plus the injection suite.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import yaml

from evals.suite.building import GENERATED, Case, Seed
from evals.suite.case import SCENARIOS


def write(cases: list[Case], root: Path = SCENARIOS) -> int:
    counters: dict[str, int] = {}
    for case in cases:
        domain = case["domain"]
        counters[domain] = counters.get(domain, 0) + 1
        folder = root / domain / f"{counters[domain]:03d}-{case.pop('slug')}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in case.pop("files", {}).items():  # runbooks and policies the case names
            (folder / name).write_text(content, encoding="utf-8")
        text = yaml.safe_dump(case, sort_keys=False, allow_unicode=True, width=110)
        (folder / "case.yaml").write_text(GENERATED + text, encoding="utf-8")
    return sum(counters.values())


def generated_folders(root: Path = SCENARIOS) -> list[Path]:
    return [
        p.parent for p in root.glob("*/*/case.yaml") if p.read_text(encoding="utf-8").startswith(GENERATED)
    ]


def open_seed() -> tuple[Seed, Path]:
    from tools.local import reset_local_systems

    folder = Path(tempfile.mkdtemp(prefix="opslayer-seed-"))
    reset_local_systems(folder / "systems.db")
    return Seed(sqlite3.connect(folder / "systems.db")), folder


def main() -> None:
    from evals.suite import families

    seed, folder = open_seed()
    try:
        cases = families.all_cases(seed)
    finally:
        seed.db.close()
        shutil.rmtree(folder, ignore_errors=True)
    for old in generated_folders():
        shutil.rmtree(old)
    print(f"wrote {write(cases)} cases under {SCENARIOS}")


if __name__ == "__main__":
    main()
