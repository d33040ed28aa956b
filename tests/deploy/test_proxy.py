"""``deploy/haproxy.cfg`` in front of two ``opslayer serve`` processes (Debian's haproxy, 127.0.0.1).

Pins what the proxy is there for: requests reach both processes; past OPSLAYER_PROXY_MAXCONN in flight a
process gets no more, the rest wait in the proxy's queue and are still all served; a process that stops
loses no request, the next ones go to the other; a process that comes back at a new address (a recreated
container) is found there by name, from the DNS, without restarting the proxy, which starts even while a
name is not known yet. Read from the proxy's own Prometheus metrics and from the API's answers. Only the
addresses (and the DNS server, a local stand-in) differ from the file the compose deployment runs.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer
from prometheus_client.parser import text_string_to_metric_families

from evals.bench_service import (
    ASKER,
    PROXY_CONFIG,
    QUESTION,
    Proxy,
    create_token,
    proxy_config,
    proxying,
    service_env,
    serving_many,
)
from evals.openai_stub import free_port, running_stub

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Behind:
    proxy: Proxy
    servers: list[subprocess.Popen[bytes]]
    token: str

    def ask(self) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.post(
            f"{self.proxy.base}/v1/threads", json={"message": QUESTION}, headers=headers, timeout=60
        )

    def metric(self, name: str, **labels: str) -> float:
        return metric(httpx.get(self.proxy.metrics, timeout=10).text, name, **labels)


@pytest.fixture
def behind_proxy(tmp_path: Path, systems_template: Path) -> Iterator[Behind]:
    """Two servers on one embedded home, a model answering in 100 ms, the proxy with 1 request a process."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(systems_template, home / "systems.db")
    with ExitStack() as stack:
        model = stack.enter_context(running_stub(delay_s=0.1))
        env = service_env(home, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=model)
        servers = stack.enter_context(serving_many(env, 2, "--no-access-log"))
        proxy = stack.enter_context(proxying(list(servers), tmp_path / "proxy", maxconn=1))
        yield Behind(proxy=proxy, servers=list(servers.values()), token=create_token(env, ASKER))


@dataclass
class Names(BaseResolver):  # type: ignore[misc]  # dnslib has no type hints
    """A stand-in DNS server's records: IPv4 addresses by name; any other name does not exist."""

    addresses: dict[str, str] = field(default_factory=dict)

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".")
        if name not in self.addresses:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.A:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(self.addresses[name]), ttl=1))
        return reply


@contextmanager
def dns_server(names: Names) -> Iterator[str]:
    """``names`` served over UDP on a free port of 127.0.0.1; yields ``host:port``."""
    port = free_port()
    server = DNSServer(names, address="127.0.0.1", port=port, logger=DNSLogger("-request,-reply,-recv,-send"))
    server.start_thread()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of the Prometheus sample ``name{labels…}`` in ``text``."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    raise AssertionError(f"no sample {name} {labels} in the proxy's metrics")


def test_requests_reach_both_processes_and_queue_past_the_limit(behind_proxy: Behind) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:  # 8 turns of at least 0.2 s at once, 2 places
        replies = list(pool.map(lambda _: behind_proxy.ask(), range(8)))

    assert [reply.status_code for reply in replies] == [201] * 8, [r.text for r in replies]
    assert all(reply.json()["answer"].startswith("Stock: ") for reply in replies)  # the read, answered
    for server in ("api-1", "api-2"):
        assert behind_proxy.metric("haproxy_server_sessions_total", proxy="opslayer", server=server) >= 1
        assert behind_proxy.metric("haproxy_server_max_sessions", proxy="opslayer", server=server) == 1
    assert behind_proxy.metric("haproxy_backend_max_queue", proxy="opslayer") >= 1


def test_a_stopped_process_loses_no_request(behind_proxy: Behind) -> None:
    assert behind_proxy.ask().status_code == 201
    served_before = behind_proxy.metric("haproxy_server_sessions_total", proxy="opslayer", server="api-2")
    stopped = behind_proxy.servers[0]
    stopped.send_signal(signal.SIGTERM)
    stopped.wait(timeout=30)

    replies = [behind_proxy.ask() for _ in range(4)]  # before the health check has noticed, and after

    assert [reply.status_code for reply in replies] == [201] * 4, [r.text for r in replies]
    served = behind_proxy.metric("haproxy_server_sessions_total", proxy="opslayer", server="api-2")
    assert served - served_before == 4


def test_a_process_back_at_a_new_address_is_found_by_name_without_restarting_the_proxy(
    tmp_path: Path, systems_template: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(systems_template, home / "systems.db")
    port = free_port()
    names = Names({"api-1": "127.0.0.1"})  # api-2 is not known yet: the proxy starts all the same
    with ExitStack() as stack:
        dns = stack.enter_context(dns_server(names))
        model = stack.enter_context(running_stub(delay_s=0.0))
        env = service_env(home, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=model)
        first = stack.enter_context(serving_many(env, 1, "--no-access-log", port=port))
        proxy = stack.enter_context(
            proxying([f"http://api-1:{port}", f"http://api-2:{port}"], tmp_path, dns=dns)
        )
        asking = Behind(proxy=proxy, servers=list(first.values()), token=create_token(env, ASKER))
        assert _answered_within(asking, 30).status_code == 201

        moved = stack.enter_context(serving_many(env, 1, "--no-access-log", host="127.0.0.2", port=port))
        names.addresses["api-1"] = "127.0.0.2"  # recreated: same name, new address
        for process in first.values():
            process.terminate()
            process.wait(timeout=30)

        assert _answered_within(asking, 30).status_code == 201
        assert all(process.poll() is None for process in moved.values())


def _answered_within(behind: Behind, seconds: float) -> httpx.Response:
    """The first answer through the proxy that is not a 503 (no process reachable), within ``seconds``."""
    deadline = time.monotonic() + seconds
    while (reply := behind.ask()).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.25)
    return reply


def test_the_local_config_changes_only_the_addresses() -> None:
    deployed, local = PROXY_CONFIG.read_text(), proxy_config(["127.0.0.1:1", "127.0.0.1:2"])

    def without_servers(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.lstrip().startswith("server ")]

    assert without_servers(deployed) == without_servers(local)
    assert re.findall(r"^\s+server (\S+) (\S+)$", local, re.M) == [
        ("api-1", "127.0.0.1:1"),
        ("api-2", "127.0.0.1:2"),
    ]


def test_the_compose_proxy_runs_this_file_in_front_of_the_api_services() -> None:
    services = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]
    proxy = services["proxy"]
    [mount] = proxy["volumes"]
    servers = re.findall(r"^\s+server (\S+) (\S+)$", PROXY_CONFIG.read_text(), re.M)

    assert mount.split(":")[0] == "./haproxy.cfg"
    assert servers == [(name, f"{name}:8080") for name in ("api-1", "api-2")]
    assert all(services[name]["command"][-1] == "8080" for name, _ in servers)
    assert set(proxy["depends_on"]) == {name for name, _ in servers}
