"""Runbooks and past incidents: a Chroma store, idempotent ingestion and hybrid retrieval with citations.

``open_store`` opens the store (embedded ``PersistentClient`` or a Chroma server); ``ingest_paths`` and
``ingest_incidents`` fill it (re-ingesting unchanged documents embeds nothing); ``Retriever`` searches it,
fusing dense (Chroma) and BM25 (``bm25s``) rankings per source document, each ``Hit`` carrying
``Citation``\\ s with stable ids. Importing this package never imports torch: the bundled MiniLM model
loads on the first embedding call.
"""

from knowledge.chunking import ChunkingConfig, chunk_document
from knowledge.documents import KINDS, Chunk, Document, Kind
from knowledge.embeddings import Embedder, MiniLMEmbedder, OpenAIEmbedder, Vectors
from knowledge.errors import CorpusError, KnowledgeError, StoreMismatch
from knowledge.fusion import FusionConfig, weighted_rrf
from knowledge.ingest import (
    FileProblem,
    IngestProgress,
    IngestSummary,
    ProgressCallback,
    ingest_incidents,
    ingest_paths,
)
from knowledge.lexical import Tokenizer
from knowledge.retrieval import MODES, Citation, Hit, Mode, Passage, Retriever
from knowledge.store import COLLECTIONS, KnowledgeStore, open_store

__all__ = [
    "COLLECTIONS",
    "KINDS",
    "MODES",
    "Chunk",
    "ChunkingConfig",
    "Citation",
    "CorpusError",
    "Document",
    "Embedder",
    "FileProblem",
    "FusionConfig",
    "Hit",
    "IngestProgress",
    "IngestSummary",
    "Kind",
    "KnowledgeError",
    "KnowledgeStore",
    "MiniLMEmbedder",
    "Mode",
    "OpenAIEmbedder",
    "Passage",
    "ProgressCallback",
    "Retriever",
    "StoreMismatch",
    "Tokenizer",
    "Vectors",
    "chunk_document",
    "ingest_incidents",
    "ingest_paths",
    "open_store",
    "weighted_rrf",
]
