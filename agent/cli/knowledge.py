"""`opslayer ingest` and `opslayer search`: filling the knowledge store and searching it.

The knowledge package (chromadb, and torch once the model loads) is imported inside the commands, so
``opslayer --help`` and every other command start without it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.table import Table
from rich.text import Text

from agent.cli.failures import load_settings
from agent.cli.render import LiteralConsole, literal

if TYPE_CHECKING:
    from agent.settings import Settings
    from knowledge import Hit, IngestProgress, IngestSummary, KnowledgeStore, ProgressCallback

console = LiteralConsole()
errors = LiteralConsole(stderr=True)


class KindChoice(StrEnum):
    runbook = "runbook"
    incident = "incident"


class ModeChoice(StrEnum):
    hybrid = "hybrid"
    dense = "dense"
    bm25 = "bm25"


def _fail(message: str, code: int = 2) -> NoReturn:
    _error(message)
    raise typer.Exit(code)


def _error(message: str) -> None:
    """One line on stderr, never wrapped, so that scripts can read it."""
    errors.print(Text.assemble(("error: ", "bold red"), literal(message)), highlight=False, soft_wrap=True)


def _open_store(settings: Settings) -> KnowledgeStore:
    from agent.wiring import open_knowledge_store

    try:
        store: KnowledgeStore = open_knowledge_store(settings)
    except ValueError as exc:  # a missing setting, e.g. the API key of the OpenAI embedding backend
        _fail(str(exc))
    return store


@contextmanager
def _knowledge_errors() -> Iterator[None]:
    """Operator-facing failures of the store, the corpus or the embedding endpoint: message, exit 2."""
    import httpx

    from knowledge import KnowledgeError
    from tools.errors import BackendUnavailable, OpsError

    try:
        yield
    except (KnowledgeError, BackendUnavailable) as exc:
        _fail(str(exc))
    except httpx.HTTPError as exc:  # the embedding endpoint or the Chroma server, after connecting
        url = exc.request.url if isinstance(exc, httpx.RequestError | httpx.HTTPStatusError) else "?"
        _fail(f"request to {url} failed: {exc}")
    except OpsError as exc:
        _fail(f"ITSM backend failed: {exc}")


def ingest(
    paths: list[Path] | None = typer.Argument(
        None,
        help="Markdown, .txt or .jsonl files, or directories of them (searched recursively; files listed "
        "in a directory's .ingestignore are skipped). The shipped runbooks: knowledge/corpus.",
    ),
    kind: KindChoice = typer.Option(KindChoice.runbook, "--kind", help="What the files are."),
    prune: bool = typer.Option(
        False, "--prune", help="Remove documents whose files are gone from the given directories.", metavar=""
    ),
    keep_going: bool = typer.Option(
        False,
        "--keep-going",
        help="Ingest the good files when some cannot be read; list each bad one and exit 1 at the end.",
        metavar="",
    ),
    from_itsm: bool = typer.Option(
        False, "--from-itsm", help="Ingest resolved and closed incidents from the ITSM backend.", metavar=""
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON.", metavar=""),
) -> None:
    """Ingest runbooks or past incidents into the knowledge store; unchanged documents are skipped.

    Answers are grounded only after an ingest: opslayer ingest knowledge/corpus
    (the shipped runbooks), opslayer ingest --from-itsm (past incidents).
    A bad file stops the ingest with nothing written, unless --keep-going.
    """
    if bool(paths) == from_itsm:
        _fail("give PATH... or --from-itsm (one of the two)")
    settings = load_settings()
    with _knowledge_errors(), _progress_bar() as report:
        from knowledge import ingest_incidents, ingest_paths

        store = _open_store(settings)
        if from_itsm:
            from agent.wiring import open_systems

            summary = ingest_incidents(store, open_systems(settings).itsm, progress=report)
        else:
            summary = ingest_paths(
                store, paths or [], kind=kind.value, prune=prune, keep_going=keep_going, progress=report
            )
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        console.print(_summary_table(summary))
    for failure in summary.failed:
        _error(f"{failure.path}: {failure.problem}")
    if summary.failed:
        _fail(f"{len(summary.failed)} path(s) could not be ingested (listed above); the rest were", code=1)


@contextmanager
def _progress_bar() -> Iterator[ProgressCallback]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # No bar when stderr is not a terminal: a script reading stderr gets only the errors.
    with Progress(*columns, console=errors, transient=True, disable=not errors.is_terminal) as bar:
        tasks: dict[str, TaskID] = {}

        def report(event: IngestProgress) -> None:
            if event.stage not in tasks:
                tasks[event.stage] = bar.add_task(_STAGE_LABELS[event.stage], total=event.total)
            bar.update(tasks[event.stage], completed=event.done, total=event.total)

        yield report


_STAGE_LABELS = {"read": "reading files", "embed": "embedding chunks", "write": "writing to the store"}


def _summary_table(summary: IngestSummary) -> Table:
    table = Table(
        "added", "updated", "unchanged", "removed", "chunks", "seconds", "chunks/s", title="Ingested"
    )
    table.add_row(
        str(summary.added),
        str(summary.updated),
        str(summary.unchanged),
        str(summary.removed),
        str(summary.chunks),
        f"{summary.seconds:.2f}",
        f"{summary.chunks_per_s:.1f}",
    )
    return table


def search(
    query: str | None = typer.Argument(None, help="What to look for."),
    k: int = typer.Option(5, "--k", "-k", min=1, max=50, help="How many documents."),
    kind: KindChoice | None = typer.Option(None, "--kind", help="Only runbooks or only incidents."),
    mode: ModeChoice = typer.Option(ModeChoice.hybrid, "--mode", help="Retriever (hybrid fuses both)."),
    as_json: bool = typer.Option(False, "--json", help="Print the hits as JSON.", metavar=""),
    batch: Path | None = typer.Option(
        None, "--batch", help="File with one query per line ('-' for stdin); prints one JSON line per query."
    ),
) -> None:
    """Search runbooks and past incidents; every hit cites its source and section.

    With --batch, output line N answers input line N (a blank line: "error": "empty query").
    """
    if (query is None) == (batch is None):
        _fail("give a QUERY or --batch FILE (one of the two)")
    if query is not None and not query.strip():
        _fail("empty query: give the words to search for")
    queries = _batch_queries(batch) if batch is not None else [query or ""]
    settings = load_settings()
    if settings.chroma_url is None and not settings.knowledge_dir.exists():
        _fail(f"no knowledge store at {settings.knowledge_dir}; {_INGEST_HINT}")
    with _knowledge_errors():
        from knowledge import Retriever

        retriever = Retriever(_open_store(settings))
        if retriever.store.is_empty():
            errors.print(f"note: the knowledge store is empty; {_INGEST_HINT}", highlight=False)
        results = retriever.search_batch(queries, k=k, kind=kind.value if kind else None, mode=mode.value)
    if batch is not None:
        for text, hits in zip(queries, results, strict=True):
            typer.echo(json.dumps(_result(text, hits), ensure_ascii=False))
    elif as_json:
        typer.echo(json.dumps(_result(queries[0], results[0]), indent=2, ensure_ascii=False))
    else:
        _print_hits(queries[0], results[0])


_INGEST_HINT = "run `opslayer ingest knowledge/corpus` (or `opslayer ingest PATH...`) first"


def _batch_queries(batch: Path) -> list[str]:
    """One query per line, blank lines kept (as empty queries) so that outputs line up with inputs."""
    try:
        text = sys.stdin.read() if str(batch) == "-" else batch.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{batch}: cannot read the query file ({exc})")
    queries = [line.strip() for line in text.splitlines()]
    if not any(queries):
        _fail(f"{batch}: no queries (one per line)")
    return queries


def _result(query: str, hits: list[Hit]) -> dict[str, object]:
    if not query:
        return {"query": query, "hits": [], "error": "empty query"}
    return {"query": query, "hits": [hit.to_dict() for hit in hits]}


def _print_hits(query: str, hits: list[Hit]) -> None:
    if not hits:
        console.print(f"No runbooks or past incidents match {query!r}.")
        return
    for rank, hit in enumerate(hits, start=1):
        citation = hit.citation
        heading = Text.assemble(literal(f"{rank}. {hit.title}", "bold"), "  ", literal(citation.id, "cyan"))
        console.print(heading, soft_wrap=True)
        section = literal(f"{citation.section} — ", "dim") if citation.section else ""
        console.print(Text.assemble("   ", section, literal(citation.snippet)), highlight=False)
