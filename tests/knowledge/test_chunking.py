"""Chunking and reading: runbooks with nested headings and shell comments in code, front matter, size
bounds, text and JSONL files; and every runbook of the OpenShift dev corpus, where it is present."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from knowledge import ChunkingConfig, CorpusError, chunk_document
from knowledge.documents import Document
from knowledge.sources import discover, read_documents
from tests.knowledge.conftest import OPENSHIFT, needs_openshift

FENCE = re.compile(r"^ {0,3}```", re.MULTILINE)

# Written after the OpenShift runbooks' shape: a title, nested headings, fenced shell code whose
# "# comment" lines are not headings, a Diagnosis section longer than a chunk, a code block longer
# than the smaller caps below.
BURN = "payments/PaymentsApiErrorBudgetBurn.md"
BURN_RUNBOOK = r"""# PaymentsApiErrorBudgetBurn

## Meaning

This alert fires when payments-api spends its monthly error budget too fast: too many requests fail
with a 5xx status, or take longer than the latency objective of 300 ms. How urgent it is depends on
the `long` and `short` windows in the alert's labels:

* Critical
  * `long`: 1h and `short`: 5m: at this rate the budget is gone in about two days. Fix it now.
  * `long`: 6h and `short`: 30m: gone in about five days. Find the cause today.
* Warning
  * `long`: 1d and `short`: 2h: gone in about ten days. Look at it within two working days.
  * `long`: 3d and `short`: 6h: gone by the end of the 30-day window. It can wait for office hours.

## Impact

Card payments at checkout fail or time out for some customers. Each failed payment is retried by the
web shop up to three times, so an error budget burn also adds load on payments-db and its pool. Orders
are not lost: a failed payment leaves the order open for the customer to pay again.

## Diagnosis

Start with the recording rules below, after setting their range to the `long` window of the active
alert. The first gives the share of failed requests, the second the share of slow ones per route; the
larger of the two is what burns the budget.

```sh
# error
sum(rate(http_requests_total{job="payments-api",code=~"5.."}[1h]))
  / sum(rate(http_requests_total{job="payments-api"}[1h]))
# resource-scoped latency
sum by (route) (rate(http_request_duration_seconds_bucket{job="payments-api",le="0.3"}[1h]))
  / sum by (route) (rate(http_request_duration_seconds_count{job="payments-api"}[1h]))
```

If errors dominate, look at the status codes: 502 and 504 come from the load balancer in front of the
pods and usually mean pods restarting or not ready, while 500 comes from the application itself and is
in its log with a stack trace. Compare the start of the burn with the last deploy and the last change
to the payment provider's settings.

If latency dominates, find the slow routes first. A single slow route (for example the refund route)
points at its own database queries; all routes slow at once points at the database, the connection
pool or the payment provider, which answers every card authorisation.

Check the pool while you are there: when every connection is busy, requests queue in the application
and time out without ever reaching the database, which looks like latency in these rules but shows as
idle database sessions on payments-db.

Note the start time, the routes and the status codes in the incident: the next shift needs them if the
burn comes back after the mitigation below.

## Mitigation

### Determine the source of the error or slow requests

Read the pods' recent log lines for the failing route, and the events of the deployment:

```sh
# recent errors, newest last
kubectl -n payments logs deploy/payments-api --since=30m | grep -E ' (5[0-9]{2}) ' | tail -50
# restarts and readiness
kubectl -n payments get pods -l app=payments-api -o wide
kubectl -n payments describe deploy/payments-api | sed -n '/Events/,$p'
# the slowest routes over the last hour (p99 per route)
promtool query instant http://prometheus.internal \
  'topk(5, histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket[1h]))))'
```

### Restart the payments-api pods (after a deploy)

If the burn started with a deploy and the pods are not ready, restart them one at a time so that the
load balancer always has a healthy pod to send card payments to. Wait for each new pod to report ready
before you restart the next one.

### Roll back the release

If restarting does not help, roll back to the previous release with the standard rollback change and
tell the payments team in their channel before you start. Keep the failing release's image: the
developers need it to reproduce the fault.
"""


def runbook(root: Path, name: str) -> Document:
    [document] = read_documents(root / name, root, "runbook", "rbs")
    return document


def burn_runbook(root: Path) -> Document:
    (root / BURN).parent.mkdir(parents=True, exist_ok=True)
    (root / BURN).write_text(BURN_RUNBOOK)
    return runbook(root, BURN)


def fenced_blocks(text: str) -> list[str]:
    return re.findall(r"^```.*?^```", text, flags=re.MULTILINE | re.DOTALL)


def assert_code_blocks_are_whole(document: Document, config: ChunkingConfig) -> None:
    chunks = chunk_document(document, config)
    assert all(len(FENCE.findall(chunk.text)) % 2 == 0 for chunk in chunks), document.source
    joined = "\n".join(chunk.text for chunk in chunks)
    for block in fenced_blocks(document.text):
        assert any(block in chunk.text for chunk in chunks), (document.source, block[:60])
    assert fenced_blocks(joined) == fenced_blocks(document.text), document.source


def test_a_runbook_keeps_title_and_section_paths(tmp_path: Path) -> None:
    document = burn_runbook(tmp_path)
    chunks = chunk_document(document)

    assert document.title == "PaymentsApiErrorBudgetBurn"
    assert document.source == BURN
    sections = [chunk.section for chunk in chunks]
    assert sections[0] == "Meaning"
    assert "Mitigation > Restart the payments-api pods (after a deploy)" in sections
    assert "Mitigation > Determine the source of the error or slow requests" in sections
    # "# error" inside a fenced sh block is a shell comment, not a heading.
    assert not any(s.endswith(("error", "resource-scoped latency", "newest last")) for s in sections)
    assert all(chunk.document.title == "PaymentsApiErrorBudgetBurn" for chunk in chunks)


def test_code_blocks_are_never_split(tmp_path: Path) -> None:
    document = burn_runbook(tmp_path)
    assert max(len(block) for block in fenced_blocks(document.text)) > 400

    assert_code_blocks_are_whole(document, ChunkingConfig(max_chars=400, min_chars=100))


def test_long_sections_split_on_paragraphs_within_the_cap(tmp_path: Path) -> None:
    config = ChunkingConfig(max_chars=600, min_chars=150)
    document = burn_runbook(tmp_path)
    chunks = chunk_document(document, config)

    for chunk in chunks:
        assert len(chunk.text) <= config.max_chars or len(fenced_blocks(chunk.text)) == 1
    diagnosis = [chunk for chunk in chunks if chunk.section == "Diagnosis"]
    assert len(diagnosis) > 1
    assert [c.anchor for c in diagnosis] == ["diagnosis"] + [
        f"diagnosis--{i}" for i in range(2, len(diagnosis) + 1)
    ]
    original = re.sub(r"\s+", " ", document.text)
    assert all(re.sub(r"\s+", " ", c.text).strip() in original for c in diagnosis)


def test_tiny_sections_are_merged_with_their_neighbours(tmp_path: Path) -> None:
    (tmp_path / "vpn.md").write_text(
        "# VPN down\n\n## Symptoms\n\nUsers cannot connect.\n\n"
        "## Checks\n\n### Gateway\n\nPing vpn-gw-01.\n\n"
        "### Certificates\n\n" + "Check the certificate chain on the gateway and the expiry date. " * 8 + "\n"
    )
    chunks = chunk_document(runbook(tmp_path, "vpn.md"))

    assert len(chunks) == 1
    assert chunks[0].section == "Symptoms; Checks > Gateway; Checks > Certificates"
    assert chunks[0].anchor == "symptoms"
    assert "### Gateway\nPing vpn-gw-01." in chunks[0].text


def test_front_matter_becomes_metadata(tmp_path: Path) -> None:
    (tmp_path / "disk.md").write_text(
        "---\ntitle: Disk full on a database host\nservice: payments-db\ntags: [storage, database]\n"
        "severity: 2\n---\n# Disk full\n\n## Diagnosis\n\nRun `df -h` on the host.\n"
    )
    document = runbook(tmp_path, "disk.md")

    assert document.title == "Disk full on a database host"
    assert document.metadata == {
        "title": "Disk full on a database host",
        "service": "payments-db",
        "tags": "storage, database",
        "severity": 2,
    }
    assert "---" not in document.text
    [chunk] = chunk_document(document)
    assert chunk.section == "Diagnosis"
    assert chunk.citation_id == "rb:rbs/disk.md#diagnosis"


def test_anchors_are_github_slugs_unique_per_document(tmp_path: Path) -> None:
    body = "Some text that is long enough to stand on its own as a passage of the runbook. " * 4
    (tmp_path / "steps.md").write_text(
        f"# Steps\n\n## Step 1: Check the pool!\n\n{body}\n\n## Notes\n\n{body}\n\n## Notes\n\n{body}\n"
    )
    anchors = [chunk.anchor for chunk in chunk_document(runbook(tmp_path, "steps.md"))]
    assert anchors == ["step-1-check-the-pool", "notes", "notes-1"]


def test_plain_text_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("Printer jam on floor 3\n\nOpen tray 2 and remove the paper.\n")
    (tmp_path / "past.jsonl").write_text(
        '{"id": "PI-1", "title": "Scanner outage", "text": "Scanners lost Wi-Fi.",'
        ' "metadata": {"site": "BER-2"}}\n'
        "\n"
        '{"text": "No id: named by its line."}\n'
    )
    [text] = read_documents(tmp_path / "notes.txt", tmp_path, "runbook", "notes")
    first, second = read_documents(tmp_path / "past.jsonl", tmp_path, "incident", "export")

    assert (text.title, text.doc_id, text.source) == (
        "Printer jam on floor 3",
        "runbook:notes/notes.txt",
        "notes.txt",
    )
    assert (first.doc_id, first.title, first.metadata) == (
        "incident:export/past.jsonl/PI-1",
        "Scanner outage",
        {"site": "BER-2"},
    )
    assert first.source == "past.jsonl"
    assert second.key == "export/past.jsonl/3"
    assert chunk_document(first)[0].citation_id == "inc:export/past.jsonl/PI-1"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"text": "ok"}\n{"text": \n', "line 2: invalid JSON"),
        (b'{"title": "no text"}\n', 'line 1: expected an object with a "text" string'),
        (b'{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', "line 2: id 'a' appears twice"),
    ],
)
def test_malformed_jsonl_names_file_and_line(tmp_path: Path, content: bytes, problem: str) -> None:
    (tmp_path / "bad.jsonl").write_bytes(content)
    with pytest.raises(CorpusError, match=re.escape(problem)) as caught:
        read_documents(tmp_path / "bad.jsonl", tmp_path, "incident", "export")
    assert caught.value.path.endswith("bad.jsonl")


def test_discovery_is_recursive_sorted_and_skips_hidden_and_other_files(tmp_path: Path) -> None:
    root = tmp_path
    burn_runbook(root)
    (root / ".git").mkdir()
    (root / ".git" / "notes.md").write_text("# hidden")
    (root / "LICENSE").write_text("Apache")
    (root / "a.txt").write_text("text")

    found_root, files = discover(root)
    assert found_root == root.resolve()
    assert [f.relative_to(found_root).as_posix() for f in files] == [
        "a.txt",
        BURN,
    ]


# --- the OpenShift dev corpus (../shared) -------------------------------------------------------------


@needs_openshift
def test_a_real_runbook_keeps_title_and_section_paths() -> None:
    document = runbook(OPENSHIFT, "cluster-kube-apiserver-operator/KubeAPIErrorBudgetBurn.md")
    chunks = chunk_document(document)

    assert document.title == "KubeAPIErrorBudgetBurn"
    assert document.source == "cluster-kube-apiserver-operator/KubeAPIErrorBudgetBurn.md"
    sections = [chunk.section for chunk in chunks]
    assert sections[0] == "Meaning"
    assert "Mitigation > Restart the kubelet (after upgrade)" in sections
    assert "Mitigation > Determine the source of the error or slow requests" in sections
    # "# error" inside a fenced sh block is a shell comment, not a heading.
    assert not any(s.endswith(("error", "resource-scoped latency")) for s in sections)


@needs_openshift
def test_the_dev_corpus_chunks_without_errors() -> None:
    root, files = discover(OPENSHIFT)
    documents = [d for f in files for d in read_documents(f, root, "runbook", "rbs")]
    chunks = [c for d in documents for c in chunk_document(d)]
    assert len(files) == 271
    assert all(c.text.strip() for c in chunks)
    assert len({c.chunk_id for c in chunks}) == len({c.citation_id for c in chunks}) == len(chunks)
    # One runbook closes a block with two backticks (GuestVCPUQueueHighCritical): its fences do not pair.
    paired = [d for d in documents if len(FENCE.findall(d.text)) % 2 == 0]
    assert len(paired) == len(documents) - 1
    for document in paired:
        assert_code_blocks_are_whole(document, ChunkingConfig(max_chars=400, min_chars=100))
