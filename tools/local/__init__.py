"""The local reference systems: ITSM, inventory and procurement on one SQLite file.

The embedded default backend, seeded with realistic demo data and behaving like the real
systems do (state machines, validation errors, stock never negative, budgets enforced,
idempotent creates). ``open_local_systems`` is the entry point; the seed constants are exported
for tests and for other packages' fixtures.
"""

from tools.local.engine import local_engine
from tools.local.inventory import LocalInventory
from tools.local.itsm import LocalITSM
from tools.local.procurement import LocalProcurement
from tools.local.seed import SEED_INCIDENTS, SeedSummary
from tools.local.seed_people import SEED_CIS, SEED_MANAGERS, SEED_USERS
from tools.local.systems import add_budget, open_local_systems, reset_local_systems

__all__ = [
    "SEED_CIS",
    "SEED_INCIDENTS",
    "SEED_MANAGERS",
    "SEED_USERS",
    "LocalITSM",
    "LocalInventory",
    "LocalProcurement",
    "SeedSummary",
    "add_budget",
    "local_engine",
    "open_local_systems",
    "reset_local_systems",
]
