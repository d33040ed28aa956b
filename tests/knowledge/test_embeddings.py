"""Embedders: the bundled model (normalised, lazy), the OpenAI-compatible endpoint through respx, and
a store that refuses vectors from a second model."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np
import pytest
import respx
from pydantic import SecretStr

from knowledge import Embedder, MiniLMEmbedder, OpenAIEmbedder, StoreMismatch, Vectors, open_store

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_cli_and_knowledge_does_not_import_torch() -> None:
    code = (
        "import agent.cli.app, agent.cli.knowledge, knowledge.store, knowledge.retrieval, knowledge.ingest; "
        "import sys; assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_minilm_vectors_are_normalised_and_semantic(model: MiniLMEmbedder) -> None:
    vectors = model.embed_documents(["the disk is full", "no space left on the volume", "order 40 laptops"])

    assert isinstance(model, Embedder)
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > unrelated + 0.2
    assert model.embed_queries([]).shape == (0, 384)


@respx.mock(base_url="https://llm.example/v1")
def test_openai_embedder_batches_orders_and_normalises(respx_mock: respx.MockRouter) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["input"]
        # Rows deliberately out of order: the client must sort them by "index".
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), 0.0, 2.0]}
            for i, t in enumerate(inputs)
        ]
        return httpx.Response(200, json={"object": "list", "model": "m", "data": data[::-1]})

    route = respx_mock.post("/embeddings").mock(side_effect=reply)
    embedder = OpenAIEmbedder(
        model="text-embedding-3-small",
        api_key=SecretStr("sk-test"),
        client=httpx.Client(),
        base_url="https://llm.example/v1/",
        batch_size=2,
    )

    vectors = embedder.embed_documents(["a", "bbbb", "cc"])

    assert route.call_count == 2
    first = route.calls[0].request
    assert first.headers["authorization"] == "Bearer sk-test"
    assert json.loads(first.content) == {
        "model": "text-embedding-3-small",
        "input": ["a", "bbbb"],
        "encoding_format": "float",
    }
    assert embedder.name == "openai:text-embedding-3-small"
    assert np.allclose(vectors[1], np.array([4.0, 0.0, 2.0]) / np.sqrt(20))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


@respx.mock
def test_openai_embedder_errors_surface_as_http_errors() -> None:
    respx.post("https://api.openai.com/v1/embeddings").mock(
        return_value=httpx.Response(401, json={"error": {}})
    )
    embedder = OpenAIEmbedder(model="m", api_key=SecretStr("bad"), client=httpx.Client())
    with pytest.raises(httpx.HTTPStatusError):
        embedder.embed_queries(["x"])


class _OtherModel:
    name = "openai:text-embedding-3-small"

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        return np.ones((len(texts), 8), dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.embed_documents(texts)


def test_a_store_refuses_another_embedding_model(tmp_path: Path) -> None:
    open_store(tmp_path / "knowledge", embedder=MiniLMEmbedder())
    with pytest.raises(StoreMismatch, match="all-MiniLM-L6-v2"):
        open_store(tmp_path / "knowledge", embedder=_OtherModel())
