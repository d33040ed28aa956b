"""How the CLI fails: one line on stderr naming the problem, exit 2 (1 for a failed check).

Every error a command can meet from the layers below is mapped here, once; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.text import Text

from agent.cli.render import LiteralConsole
from agent.text import visible

if TYPE_CHECKING:
    from agent.settings import Settings
    from governance.executions import ExecutionInProgress

errors = LiteralConsole(stderr=True)

MAX_EVENTS = 1_000_000  # the most rows `-n` asks for: a database counts in 64 bits, people in far less


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` (literally: no markup is read from it) and exit with ``code``."""
    line = Text("error: ", style="bold red")
    line.append(visible(message))
    errors.print(line, highlight=False, soft_wrap=True)  # one line, however long: scripts read it
    raise typer.Exit(code)


@contextmanager
def failing(*files: Path | None) -> Iterator[None]:
    """Turn the errors people can act on into one line and exit 2; anything else keeps its traceback.

    ``files``: configuration files the command reads besides those the settings name (``--policy``),
    so a file that is not UTF-8 text can be named."""
    try:
        yield
    except Exception as exc:  # the error classes are imported only when one happened: start-up stays fast
        _explain(exc, files)
        raise


def _explain(exc: Exception, files: tuple[Path | None, ...] = ()) -> None:
    """Exit with one line when ``exc`` is an error a person can act on; return otherwise."""
    from sqlalchemy.exc import DatabaseError

    from agent.run.errors import OpslayerError
    from governance.approvals import ApprovalError
    from governance.directory import DirectoryError, UnknownPerson
    from governance.executions import ExecutionError, ExecutionInProgress
    from governance.policy import PolicyError
    from governance.store import SchemaOutdated
    from tools.errors import OpsError

    if isinstance(exc, ExecutionInProgress):
        fail(stuck_hint(exc))
    if isinstance(
        exc, OpslayerError | ApprovalError | UnknownPerson | OpsError | ExecutionError | SchemaOutdated
    ):
        fail(str(exc))
    if isinstance(exc, PolicyError | DirectoryError):
        fail(f"{exc} (see `opslayer policy check`)")
    if isinstance(exc, ValidationError):  # settings from the environment
        fail(f"configuration: {exc.errors()[0].get('loc')}: {exc.errors()[0].get('msg')}")
    if isinstance(exc, UnicodeDecodeError):
        named = _settings_files(lambda s: (s.policy_file, s.directory_file), files)
        bad = ", ".join(str(path) for path in named if not _is_utf8(path)) or "a configuration file"
        fail(f"{bad} is not UTF-8 text: {exc.reason} at byte {exc.start}")
    if isinstance(exc, sqlite3.DatabaseError | DatabaseError):
        _database_problem(exc)
    if isinstance(exc, OSError):  # an unusable OPSLAYER_HOME: a file, read-only, missing permissions
        fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))


_SQLITE_HEADER = b"SQLite format 3\x00"


def _database_problem(exc: Exception) -> None:
    """Exit naming the damaged file or record when ``exc`` says the data is damaged; return otherwise."""
    text = str(getattr(exc, "orig", None) or exc)
    if "file is not a database" in text or "disk image is malformed" in text:
        named = _settings_files(lambda s: (s.governance_db, s.checkpoints_db, s.systems_db), ())
        damaged = [path for path in named if not _is_sqlite(path)]
        where = ", ".join(str(path) for path in damaged) or "a database of OPSLAYER_HOME"
        fail(f"{where}: {text}; move it away or restore it from a backup")
    if "malformed JSON" in text:  # a payload the database's JSON functions cannot read
        fail(f"an audit event's payload is not JSON ({text}): `opslayer audit verify` names the event")


def _settings_files(
    pick: Callable[[Settings], tuple[Path | None, ...]], extra: tuple[Path | None, ...]
) -> list[Path]:
    """The files ``pick`` names in the settings (if they load), then ``extra``; each once."""
    from agent.settings import Settings

    try:
        named: tuple[Path | None, ...] = pick(Settings())
    except ValidationError:
        named = ()
    return list(dict.fromkeys(path for path in (*named, *extra) if path is not None))


def _is_utf8(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return not path.is_file()  # a file that is missing is not the one that failed to decode
    return True


def _is_sqlite(path: Path) -> bool:
    """False for a file that exists and is not an SQLite database (an empty file becomes one)."""
    try:
        with path.open("rb") as file:
            head = file.read(len(_SQLITE_HEADER))
    except OSError:
        return True
    return head in (b"", _SQLITE_HEADER)


def load_settings() -> Settings:
    """The settings from the environment (and ``.env``); a bad value exits 2 naming the variable."""
    from agent.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "OPSLAYER_" + "_".join(str(part) for part in first.get("loc", ())).upper()
        message = str(first.get("msg"))
        if message.startswith("Value error, "):  # our validators' own words: "OPSLAYER_HOME is empty; …"
            fail(f"configuration: {name} {message.removeprefix('Value error, ')}")
        fail(f"configuration: {name}: {message}")


def stuck_hint(exc: ExecutionInProgress) -> str:
    """The error for a thread blocked by a ``started`` row: what happened and the commands that unblock it."""
    record = exc.record
    key = short_key(record.key)
    resume = f" with `opslayer chat --resume --thread {record.thread_id}`" if record.thread_id else ""
    return (
        f"{exc}. See it with `opslayer executions show {key}`; once the backend shows whether it took "
        f"effect, record that with `opslayer executions settle {key} --as YOU --completed --result TEXT` "
        f"(or --failed --reason TEXT), then resume the thread{resume}."
    )


def short_key(key: str) -> str:
    """A prefix long enough to be unique in practice; an ambiguous one is refused, never guessed."""
    return key[:16]


def json_object(text: str, *, option: str, example: str) -> dict[str, Any]:
    """``text`` parsed as a JSON object, or exit 2 naming ``option`` and what is wrong with it."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{option} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    if not isinstance(value, dict):
        fail(f"{option} must be a JSON object, e.g. '{example}'")
    return value
