"""A throwaway PostgreSQL server for a test session, and a fresh database for each test.

The server is built from the PostgreSQL server binaries (``initdb``, ``pg_ctl``, ``postgres``) in
``--pg-bin DIR``, else next to the ``pg_ctl`` on PATH, else in the newest ``/usr/lib/postgresql/*/bin``;
without them (or without the psycopg driver) :func:`throwaway_server` raises :class:`Unavailable` naming
what is missing, and the tests on PostgreSQL are skipped with that reason. The cluster lives in a
temporary folder, listens on 127.0.0.1 (its unix socket stays in that folder), runs without fsync, and
is stopped (``pg_ctl stop -m immediate``) and deleted at the end of the session, also after a failure.
PostgreSQL refuses to run as root, so as root its commands run as the ``postgres`` user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import make_url

from governance.store import engine_from_url

_BINARIES = ("initdb", "pg_ctl", "postgres")
_SERVER_USER = "postgres"
# Superuser postgres, no password (the server is for this session only); no fsync of the new files.
_INITDB_OPTIONS = ("-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
_ZONE = "Pacific/Chatham"  # UTC+12:45, or +13:45 in summer
_START_ATTEMPTS = 3  # the free port found may be taken by someone else before the server binds it


class Unavailable(Exception):
    """PostgreSQL cannot run here; the message says what is missing."""


@contextmanager
def throwaway_server(pg_bin: str | None) -> Iterator[str]:
    """Start a server; yield the URL of its ``postgres`` database (superuser ``postgres``, no password).

    Raises :class:`Unavailable` naming what is missing when no server can be started here.
    """
    if importlib.util.find_spec("psycopg") is None:
        raise Unavailable("the PostgreSQL driver psycopg is not installed (pip install 'psycopg[binary]')")
    bin_dir = _bin_dir(pg_bin)
    run_as = _run_as()
    cluster = _Cluster(bin_dir, run_as, _base_dir(run_as))
    try:
        yield cluster.start()
    finally:
        cluster.close()


class Databases:
    """Creates a database per test and drops it at the end of the next test (or of the session).

    Not at once: the test's connections have just been closed, and DROP DATABASE sleeps 100 ms for
    any server process still exiting. One test later they are gone, and the drop is cheap.
    """

    def __init__(self, server_url: str) -> None:
        self._server_url = make_url(server_url)
        self._engine = engine_from_url(server_url)
        self._admin = self._engine.execution_options(isolation_level="AUTOCOMMIT")  # no DDL in a transaction
        self._done: list[str] = []

    def create(self) -> str:
        """The URL of a new, empty database."""
        name = f"test_{uuid.uuid4().hex[:16]}"
        self._run(f"CREATE DATABASE {name}")
        return self._server_url.set(database=name).render_as_string(hide_password=False)

    def done(self, url: str) -> None:
        """``url``'s database is no longer used: drop it later (its connections must be closed)."""
        self._drop_done()
        self._done.append(str(make_url(url).database))

    def close(self) -> None:
        self._drop_done()
        self._engine.dispose()

    def _drop_done(self) -> None:
        while self._done:
            self._run(f"DROP DATABASE {self._done.pop()} WITH (FORCE)")

    def _run(self, statement: str) -> None:
        with self._admin.connect() as conn:
            conn.exec_driver_sql(statement)


def _bin_dir(explicit: str | None) -> Path:
    if explicit is not None:
        candidates = [Path(explicit)]
    else:
        pg_ctl = shutil.which("pg_ctl")
        candidates = [] if pg_ctl is None else [Path(pg_ctl).resolve().parent]
        candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    if not candidates:
        raise Unavailable(
            f"no PostgreSQL server binaries ({', '.join(_BINARIES)}): no pg_ctl on PATH and no "
            "/usr/lib/postgresql/*/bin; install PostgreSQL or pass --pg-bin DIR"
        )
    lacking = {
        path: [name for name in _BINARIES if not os.access(path / name, os.X_OK)] for path in candidates
    }
    for path, names in lacking.items():
        if not names:
            return path
    raise Unavailable("; ".join(f"{', '.join(names)} not found in {path}" for path, names in lacking.items()))


def _version(bin_dir: Path) -> list[int]:
    return [int(part) for part in re.findall(r"\d+", bin_dir.parent.name)]


def _run_as() -> pwd.struct_passwd | None:
    """The user to run the server as: None for the current one, ``postgres`` when that is root."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(_SERVER_USER)
    except KeyError:
        raise Unavailable(
            f"running as root, which PostgreSQL refuses, and there is no {_SERVER_USER!r} user to run it as"
        ) from None
    if _runuser() is None:
        raise Unavailable("running as root, which PostgreSQL refuses, and there is no runuser to switch user")
    return user


def _runuser() -> str | None:
    return shutil.which("runuser", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


def _base_dir(run_as: pwd.struct_passwd | None) -> Path:
    """Where the cluster goes: memory (/dev/shm) if there is some, else the temporary folder.

    Creating a database copies its template (~8 MB): ~15 ms in memory, ten times that on a disk.
    """
    candidates = [Path("/dev/shm"), Path(tempfile.gettempdir()).resolve()]
    for base in candidates:
        # The server user must be able to walk down to it (pytest's own temporary folders are 0700).
        reachable = run_as is None or all(p.stat().st_mode & stat.S_IXOTH for p in (base, *base.parents))
        if base.is_dir() and os.access(base, os.W_OK) and reachable:
            return base
    raise Unavailable(f"the {_SERVER_USER} user cannot reach {candidates[-1]}; set TMPDIR to a folder it can")


# Stops the server and deletes its folder once its stdin closes: when the session ends, or when the
# test process dies in any way (even SIGKILL), so no server outlives the tests.
_WATCHDOG = """
import shutil, subprocess, sys
sys.stdin.buffer.read()
subprocess.run(sys.argv[2:], capture_output=True, timeout=60)
shutil.rmtree(sys.argv[1], ignore_errors=True)
"""


class _Cluster:
    """A cluster in a new folder under ``base``; :meth:`close` stops it and deletes the folder."""

    def __init__(self, bin_dir: Path, run_as: pwd.struct_passwd | None, base: Path) -> None:
        self._bin_dir = bin_dir
        self._run_as = run_as
        self.root = Path(tempfile.mkdtemp(prefix="opslayer-pg-", dir=base))
        self._data = self.root / "data"
        self._log = self.root / "server.log"
        stop = self._command("pg_ctl", "-D", self._data, "-m", "immediate", "-s", "stop")
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self.root), *map(str, stop)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal must not stop it before it cleaned up
        )
        if run_as is not None:
            os.chown(self.root, run_as.pw_uid, run_as.pw_gid)

    def start(self) -> str:
        """Create the cluster, start it on a free port, wait until it accepts connections; its URL."""
        self._run("initdb", "-D", self._data, *_INITDB_OPTIONS)
        for _ in range(_START_ATTEMPTS):
            port = _free_port()
            options = f"-F -p {port} -k {shlex.quote(str(self.root))} -c listen_addresses=127.0.0.1"
            # A time zone far from UTC, so that nothing passes only because the server's clock says UTC.
            options += f" -c TimeZone={_ZONE}"
            started = self._run(
                "pg_ctl", "-D", self._data, "-l", self._log, "-o", options, "-w", "-s", "start", check=False
            )
            if started.returncode == 0:
                return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        log = self._log.read_text(errors="replace")[-2000:] if self._log.exists() else "(no log)"
        raise RuntimeError(f"PostgreSQL did not start in {_START_ATTEMPTS} attempts; its log ends:\n{log}")

    def close(self) -> None:
        assert self._watchdog.stdin is not None
        self._watchdog.stdin.close()
        self._watchdog.wait(timeout=90)

    def _command(self, binary: str, *args: str | Path) -> list[str | Path]:
        command: list[str | Path] = [self._bin_dir / binary, *args]
        if self._run_as is not None:
            command = [str(_runuser()), "-u", self._run_as.pw_name, "--", *command]
        return command

    def _run(self, binary: str, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        # cwd: the server user may not be allowed into the caller's working directory.
        command = self._command(binary, *args)
        done = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=120, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{binary} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
