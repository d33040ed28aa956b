"""Chunking and reading: real OpenShift runbooks, front matter, size bounds, text and JSONL files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from knowledge import ChunkingConfig, CorpusError, chunk_document
from knowledge.documents import Document
from knowledge.sources import discover, read_documents
from tests.knowledge.conftest import OPENSHIFT, copy_runbooks

FENCE = re.compile(r"^ {0,3}```", re.MULTILINE)


def runbook(root: Path, name: str) -> Document:
    [document] = read_documents(root / name, root, "runbook", "rbs")
    return document


def fenced_blocks(text: str) -> list[str]:
    return re.findall(r"^```.*?^```", text, flags=re.MULTILINE | re.DOTALL)


def test_real_runbook_keeps_title_and_section_paths(tmp_path: Path) -> None:
    root = copy_runbooks(tmp_path)
    document = runbook(root, "cluster-kube-apiserver-operator/KubeAPIErrorBudgetBurn.md")
    chunks = chunk_document(document)

    assert document.title == "KubeAPIErrorBudgetBurn"
    assert document.source == "cluster-kube-apiserver-operator/KubeAPIErrorBudgetBurn.md"
    sections = [chunk.section for chunk in chunks]
    assert sections[0] == "Meaning"
    assert "Mitigation > Restart the kubelet (after upgrade)" in sections
    assert "Mitigation > Determine the source of the error or slow requests" in sections
    # "# error" inside a fenced sh block is a shell comment, not a heading.
    assert not any(s.endswith(("error", "resource-scoped latency")) for s in sections)
    assert all(chunk.document.title == "KubeAPIErrorBudgetBurn" for chunk in chunks)


def test_code_blocks_are_never_split(tmp_path: Path) -> None:
    root = copy_runbooks(tmp_path)
    for name in (
        "cluster-kube-apiserver-operator/KubeAPIErrorBudgetBurn.md",
        "cluster-etcd-operator/etcdMembersDown.md",
    ):
        document = runbook(root, name)
        chunks = chunk_document(document, ChunkingConfig(max_chars=400, min_chars=100))
        assert all(len(FENCE.findall(chunk.text)) % 2 == 0 for chunk in chunks)
        joined = "\n".join(chunk.text for chunk in chunks)
        for block in fenced_blocks(document.text):
            assert any(block in chunk.text for chunk in chunks), block[:60]
        assert fenced_blocks(joined) == fenced_blocks(document.text)


def test_long_sections_split_on_paragraphs_within_the_cap(tmp_path: Path) -> None:
    config = ChunkingConfig(max_chars=600, min_chars=150)
    document = runbook(copy_runbooks(tmp_path), "cluster-kube-apiserver-operator/KubeAPIErrorBudgetBurn.md")
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
    root = copy_runbooks(tmp_path, ["cluster-etcd-operator/etcdMembersDown.md"])
    (root / ".git").mkdir()
    (root / ".git" / "notes.md").write_text("# hidden")
    (root / "LICENSE").write_text("Apache")
    (root / "a.txt").write_text("text")

    found_root, files = discover(root)
    assert found_root == root.resolve()
    assert [f.relative_to(found_root).as_posix() for f in files] == [
        "a.txt",
        "cluster-etcd-operator/etcdMembersDown.md",
    ]


def test_the_dev_corpus_chunks_without_errors() -> None:
    root, files = discover(OPENSHIFT)
    chunks = [c for f in files for d in read_documents(f, root, "runbook", "rbs") for c in chunk_document(d)]
    assert len(files) == 271
    assert all(c.text.strip() for c in chunks)
    assert len({c.chunk_id for c in chunks}) == len({c.citation_id for c in chunks}) == len(chunks)
