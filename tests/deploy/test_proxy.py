"""``deploy/haproxy.cfg`` in front of two ``opslayer serve`` processes (Debian's haproxy, 127.0.0.1).

Pins what the proxy is there for: requests reach both processes; past OPSLAYER_PROXY_MAXCONN in flight a
process gets no more, the rest wait in the proxy's queue and are still all served; a process that stops
loses no request, the next ones go to the other. Read from the proxy's own Prometheus metrics and from
the API's answers. Only the addresses differ from the file the compose deployment runs.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
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
from evals.openai_stub import running_stub

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
