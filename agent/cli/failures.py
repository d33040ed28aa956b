"""How the CLI fails: one line on stderr naming the problem, exit 2 (1 for a failed check).

Every error a command can meet from the layers below is mapped here, once; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from agent.cli.render import visible

errors = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` (literally: no markup is read from it) and exit with ``code``."""
    line = Text("error: ", style="bold red")
    line.append(visible(message))
    errors.print(line, highlight=False)
    raise typer.Exit(code)


@contextmanager
def failing() -> Iterator[None]:
    """Turn the errors people can act on into one line and exit 2."""
    from agent.run.errors import OpslayerError
    from governance.approvals import ApprovalError
    from governance.directory import DirectoryError, UnknownPerson
    from governance.executions import ExecutionError, ExecutionInProgress
    from governance.policy import PolicyError
    from governance.store import SchemaOutdated
    from tools.errors import OpsError

    try:
        yield
    except ExecutionInProgress as exc:
        from agent.cli.executions import stuck_hint

        fail(stuck_hint(exc))
    except (OpslayerError, ApprovalError, UnknownPerson, OpsError, ExecutionError, SchemaOutdated) as exc:
        fail(str(exc))
    except (PolicyError, DirectoryError) as exc:
        fail(f"{exc} (see `opslayer policy check`)")
    except ValidationError as exc:  # settings from the environment
        fail(f"configuration: {exc.errors()[0].get('loc')}: {exc.errors()[0].get('msg')}")
    except UnicodeDecodeError as exc:
        fail(f"a configuration file is not UTF-8 text: {exc.reason} at byte {exc.start}")
    except OSError as exc:  # an unusable OPSLAYER_HOME: a file, read-only, missing permissions
        fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
