"""``opslayer serve --workers N``: the API in N processes, each with its own listening socket on Linux.

uvicorn's supervisor binds one socket and shares it: every process then accepts from one queue, and a
burst of new connections goes to whichever process wakes first (splits of 48 to 2 and 50 to 0 were seen
with 50 keep-alive clients), so one process queues turns while the other idles. On Linux each process here
binds its own socket to the address with ``SO_REUSEPORT``; the kernel spreads new connections over their
queues by a hash of the client's address and port. uvicorn's supervisor still starts, watches, restarts
and stops the processes: it hands each one a stand-in for the socket (:class:`_OwnSocket`) that becomes
that process's own socket when the process unpacks it, so a restarted process binds its own too.

Elsewhere (macOS does not spread connections over such sockets) the shared socket is kept.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any, cast

import uvicorn
from uvicorn.supervisors import Multiprocess

log = logging.getLogger("uvicorn.error")
REUSE_PORT = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def run_processes(app: str, *, processes: int, host: str, port: int, **options: Any) -> None:
    """Serve the app factory ``app`` (``module:function``) in ``processes`` processes."""
    if not REUSE_PORT:
        uvicorn.run(app, factory=True, workers=processes, host=host, port=port, **options)
        return
    config = uvicorn.Config(app, factory=True, workers=processes, host=host, port=port, **options)
    try:
        # Held, never listened on: fails now if the address is taken, and fixes the port when 0 was asked.
        reserved = bind_reusing_port(host, port)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", host, port, exc)
        raise SystemExit(1) from exc
    with reserved:
        port = reserved.getsockname()[1]
        log.info("Uvicorn running on http://%s:%d, one socket per process (Press CTRL+C to quit)", host, port)
        stand_in = cast(socket.socket, _OwnSocket(host, port))  # becomes a socket in each process
        Multiprocess(config, sockets=[stand_in]).run()


def bind_reusing_port(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (not yet listening)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class _OwnSocket:
    """What the supervisor passes to each process it starts; unpacked there, a socket of its own."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return bind_reusing_port, (self.host, self.port)
