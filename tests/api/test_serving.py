"""`opslayer serve --workers 2` on Linux: each server process listens on a socket of its own.

Pins: the two processes each own a listening socket on the port (not one shared queue, which hands a
burst of connections to whichever process wakes first); forty clients' connections reach both; a process
killed with SIGKILL is restarted by the supervisor with a socket of its own, and the port keeps
answering; an address another program holds is refused with a message naming it. Read from
``/proc`` (what the kernel says), so Linux only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from evals.openai_stub import free_port

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads the kernel's sockets from /proc")

ROOT = Path(__file__).resolve().parents[2]
LISTEN, ESTABLISHED = "0A", "01"  # TCP states as /proc/net/tcp writes them


def test_each_process_listens_on_its_own_socket_and_connections_reach_both(tmp_path: Path) -> None:
    port = free_port()
    with _serving(tmp_path, port) as parent:
        servers = _wait_for_servers(parent, port)
        with ExitStack() as clients:
            for _ in range(40):  # forty keep-alive clients, as many connections
                client = clients.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}"))
                assert client.get("/healthz").status_code == 200
            held = {pid: len(_sockets_of(pid) & _sockets(port, ESTABLISHED)) for pid in servers}

        os.kill(servers[0], signal.SIGKILL)
        restarted = _wait_for_servers(parent, port, without=servers[0])

        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    assert sorted(held.values())[0] >= 1 and sum(held.values()) == 40, held
    assert servers[1] in restarted and servers[0] not in restarted


def test_an_address_another_program_holds_is_refused_naming_it(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "agent", "serve", "--port", str(port), "--workers", "2"],
            cwd=ROOT,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr + done.stdout


@contextmanager
def _serving(home: Path, port: int) -> Iterator[int]:
    server = subprocess.Popen(
        [sys.executable, "-m", "agent", "serve", "--port", str(port), "--workers", "2", "--no-access-log"],
        cwd=ROOT,
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield server.pid
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSLAYER_", "OPENAI_"))}
    return env | {"OPSLAYER_HOME": str(home / "home"), "OPSLAYER_GROUNDING": "false"}


def _wait_for_servers(parent: int, port: int, *, without: int | None = None) -> list[int]:
    """The parent's two server processes, once each holds a listening socket on ``port``."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        servers = [pid for pid in _children(parent) if pid != without]
        listening = _sockets(port, LISTEN)
        if len(servers) == 2 and all(_sockets_of(pid) & listening for pid in servers):
            assert len(listening) == 2  # one each, nothing shared
            return servers
        time.sleep(0.2)
    raise AssertionError(f"two server processes did not listen on {port} within 90 s")


def _children(parent: int) -> list[int]:
    """The server processes uvicorn's supervisor started (not multiprocessing's resource tracker)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in command:
            found.append(int(entry))
    return sorted(found)


def _sockets(port: int, state: str) -> set[int]:
    """Inodes of the IPv4 TCP sockets on local ``port`` in ``state``."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    fields = [line.split() for line in lines]
    return {int(f[9]) for f in fields if int(f[1].split(":")[1], 16) == port and f[3] == state}


def _sockets_of(pid: int) -> set[int]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes
