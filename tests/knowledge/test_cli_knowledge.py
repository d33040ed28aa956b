"""`opslayer ingest` and `opslayer search` through typer's runner on a temporary OPSLAYER_HOME."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from agent.cli.knowledge import ingest, search
from knowledge import MiniLMEmbedder, open_store
from tests.knowledge.conftest import SHIPPED, copy_runbooks

app = typer.Typer()
app.command()(ingest)
app.command()(search)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPSLAYER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPSLAYER_CHROMA_URL", raising=False)
    monkeypatch.delenv("OPSLAYER_EMBEDDING_BACKEND", raising=False)
    return tmp_path / "home"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return copy_runbooks(tmp_path / "runbooks", ["it-ops/vpn-down.md", "it-ops/disk-full.md"])


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_ingest_then_search(home: Path, corpus: Path, tmp_path: Path) -> None:
    code, out, _ = run("ingest", str(corpus))
    assert code == 0, out
    assert "added" in out and "chunks/s" in out

    code, out, _ = run("ingest", str(corpus), "--json")
    assert code == 0
    summary = json.loads(out)
    assert (summary["added"], summary["unchanged"], summary["chunks"]) == (0, 2, 0)

    code, out, _ = run("search", "no space left on the host", "--k", "1", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["query"] == "no space left on the host"
    [hit] = result["hits"]
    assert hit["doc_id"] == "runbook:runbooks/it-ops/disk-full.md"
    assert hit["source"] == "it-ops/disk-full.md"
    assert set(hit["citation"]) == {"id", "source", "section", "snippet"}
    assert hit["citation"]["id"].startswith("rb:runbooks/it-ops/disk-full.md#")
    assert {"text", "score", "citation", "chunk_id"} <= set(hit["passages"][0])

    code, out, _ = run("search", "no space left on the host")
    assert code == 0
    assert "rb:runbooks/it-ops/disk-full.md" in out

    queries = tmp_path / "queries.txt"
    queries.write_text("remote staff cannot connect to the VPN\n  \n/var/log is full\n")
    code, out, _ = run("search", "--batch", str(queries), "--k", "2")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    # Output line N answers input line N; the blank line says so instead of being dropped.
    assert [line["query"] for line in lines] == [
        "remote staff cannot connect to the VPN",
        "",
        "/var/log is full",
    ]
    assert lines[1] == {"query": "", "hits": [], "error": "empty query"}
    assert lines[0]["hits"][0]["doc_id"] == "runbook:runbooks/it-ops/vpn-down.md"
    assert lines[2]["hits"][0]["doc_id"] == "runbook:runbooks/it-ops/disk-full.md"
    assert len(lines[0]["hits"]) == len(lines[2]["hits"]) == 2


def test_ingest_from_itsm_and_search_incidents(home: Path) -> None:
    code, out, _ = run("ingest", "--from-itsm", "--json")
    assert code == 0, out
    assert json.loads(out)["added"] == 36

    code, out, _ = run(
        "search", "card payments failing at checkout", "--kind", "incident", "--k", "3", "--json"
    )
    assert code == 0
    hits = json.loads(out)["hits"]
    assert all(hit["kind"] == "incident" and hit["citation"]["id"].startswith("inc:INC") for hit in hits)
    assert "incident:INC0010003" in [hit["doc_id"] for hit in hits]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ingest",), "give PATH... or --from-itsm"),
        (("ingest", "{missing}"), "{missing}: no such file or directory"),
        (("ingest", "{corpus}", "{missing}"), "{missing}: no such file or directory"),
        (("search",), "give a QUERY or --batch FILE"),
        (("search", ""), "empty query"),
        (("search", "  "), "empty query"),
        (("search", "anything"), "no knowledge store at"),
    ],
)
def test_errors_exit_2_naming_the_problem_and_write_nothing(
    home: Path, corpus: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    paths = {"missing": str(tmp_path / "nowhere"), "corpus": str(corpus)}
    code, _, err = run(*(arg.format(**paths) for arg in args))

    assert code == 2
    assert message.format(**paths) in " ".join(err.split())
    assert not (home / "knowledge").exists() or _manifest_is_empty(home)


def _manifest_is_empty(home: Path) -> bool:
    store = open_store(home / "knowledge", embedder=MiniLMEmbedder())
    return store.manifest() == {} and store.count() == 0


def test_openai_embeddings_without_a_key_exit_2(
    home: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSLAYER_EMBEDDING_BACKEND", "openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPSLAYER_OPENAI_API_KEY", raising=False)

    code, _, err = run("ingest", str(corpus))

    assert code == 2
    assert "needs OPENAI_API_KEY" in err


def test_search_refuses_a_blank_query_even_with_a_store(home: Path, corpus: Path) -> None:
    assert run("ingest", str(corpus))[0] == 0

    code, out, err = run("search", "   ", "--json")

    assert (code, out) == (2, "")
    assert "empty query" in err


def test_the_shipped_corpus_is_named_in_the_help_and_ingests(home: Path) -> None:
    code, out, _ = run("ingest", "--help")
    assert code == 0
    assert "knowledge/corpus" in out

    code, out, err = run("ingest", str(SHIPPED), "--json")

    assert code == 0, err
    runbooks = sorted(p.relative_to(SHIPPED).as_posix() for p in (SHIPPED / "runbooks").rglob("*.md"))
    assert json.loads(out)["added"] == len(runbooks)
    store = open_store(home / "knowledge", embedder=MiniLMEmbedder())
    assert sorted(entry.file for entry in store.manifest().values()) == runbooks


def test_a_bad_file_fails_in_one_line_naming_it_and_writes_nothing(home: Path, corpus: Path) -> None:
    bad = corpus / "a-folder-with-a-rather-long-name-to-make-the-line-long" / "latin1.md"
    bad.parent.mkdir()
    bad.write_bytes("# Caf\xe9\n\nno UTF-8".encode("latin-1"))

    code, _, err = run("ingest", str(corpus))

    assert code == 2
    assert err.splitlines() == [
        f"error: {bad}: not UTF-8 text (invalid continuation byte at byte 5)",
    ]
    assert _manifest_is_empty(home)


def test_keep_going_ingests_the_good_files_lists_the_bad_and_exits_1(
    home: Path, corpus: Path, tmp_path: Path
) -> None:
    bad = corpus / "latin1.md"
    bad.write_bytes("# Caf\xe9\n\nno UTF-8".encode("latin-1"))
    missing = tmp_path / "nowhere"

    code, out, err = run("ingest", str(corpus), str(missing), "--keep-going", "--json")

    assert code == 1
    summary = json.loads(out)
    assert summary["added"] == 2
    assert summary["failed"] == [
        {"path": str(missing), "problem": "no such file or directory"},
        {"path": str(bad), "problem": "not UTF-8 text (invalid continuation byte at byte 5)"},
    ]
    assert err.splitlines() == [
        f"error: {missing}: no such file or directory",
        f"error: {bad}: not UTF-8 text (invalid continuation byte at byte 5)",
        "error: 2 path(s) could not be ingested (listed above); the rest were",
    ]
    code, out, _ = run("search", "no space left on the host", "--k", "1", "--json")
    assert json.loads(out)["hits"][0]["source"] == "it-ops/disk-full.md"
