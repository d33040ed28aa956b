"""Weighted reciprocal rank fusion, the BM25 tokenizer and in-process metadata filters."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge import FusionConfig, Tokenizer, weighted_rrf
from knowledge.documents import readable_title
from knowledge.filters import matches
from knowledge.lexical import LexicalIndex


def test_rrf_adds_weighted_reciprocal_ranks() -> None:
    fused = weighted_rrf({"dense": ["a", "b", "c"], "bm25": ["c", "a"]}, {"dense": 1.0, "bm25": 1.0}, k=60)

    assert list(fused) == ["a", "c", "b"]
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)


def test_rrf_weights_decide_disagreements() -> None:
    rankings = {"dense": ["d1", "d2"], "bm25": ["d2", "d1"]}

    assert list(weighted_rrf(rankings, {"dense": 2.0, "bm25": 1.0}, k=10)) == ["d1", "d2"]
    assert list(weighted_rrf(rankings, {"dense": 1.0, "bm25": 2.0}, k=10)) == ["d2", "d1"]
    # Equal weights: a tie, broken by first appearance (deterministic).
    assert list(weighted_rrf(rankings, {"dense": 1.0, "bm25": 1.0}, k=10)) == ["d1", "d2"]


def test_small_k_favours_top_ranks_over_agreement() -> None:
    # "x" is first in one list only; "y" is third in both.
    rankings = {"dense": ["x", "a", "y"], "bm25": ["b", "c", "y"]}
    weights = {"dense": 1.0, "bm25": 1.0}

    assert next(iter(weighted_rrf(rankings, weights, k=0))) == "x"
    assert next(iter(weighted_rrf(rankings, weights, k=60))) == "y"


def test_a_zero_weight_ignores_that_list() -> None:
    fused = weighted_rrf({"dense": ["a"], "bm25": ["b"]}, {"dense": 1.0, "bm25": 0.0}, k=60)
    assert fused["b"] == 0.0
    assert next(iter(fused)) == "a"


def test_fusion_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="weights"):
        FusionConfig(dense_weight=0, bm25_weight=0)
    with pytest.raises(ValueError, match="passages"):
        FusionConfig(passages=0)


def test_tokenizer_splits_alert_names_and_drops_stopwords() -> None:
    tokenize = Tokenizer()

    assert tokenize("KubeAPIErrorBudgetBurn is firing") == [
        "kubeapierrorbudgetburn",
        "kube",
        "api",
        "error",
        "budget",
        "burn",
        "firing",
    ]
    assert tokenize("payments-api 502s on pay-app-01, HTTP") == [
        "payments",
        "api",
        "502s",
        "pay",
        "app",
        "01",
        "http",
    ]
    assert tokenize("etcdMembersDown") == ["etcdmembersdown", "etcd", "members", "down"]


def test_readable_title_spells_out_identifiers_only() -> None:
    assert readable_title("KubeNodeNotReady") == "Kube Node Not Ready (KubeNodeNotReady)"
    assert readable_title("Disk full on a database host") == "Disk full on a database host"
    assert readable_title("VPN") == "VPN"


def test_lexical_index_scores_masks_and_ignores_unknown_words() -> None:
    index = LexicalIndex(
        ["disk full on the database host", "certificate expiry on the gateway", "disk latency"],
        tokenizer=Tokenizer(),
    )

    assert [row for row, _ in index.top("disk full", 3)] == [0, 2]
    assert index.top("disk", 3, mask=np.array([False, True, True]))[0][0] == 2
    assert index.top("zebra", 3) == []
    assert index.top("the", 3) == []


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"service": "payments-api"}, True),
        ({"service": "vpn-gateway"}, False),
        ({"priority": {"$lte": 2}}, True),
        ({"priority": {"$gt": 2}}, False),
        ({"service": {"$in": ["payments-api", "checkout-web"]}}, True),
        ({"service": {"$nin": ["payments-api"]}}, False),
        ({"$or": [{"service": "x"}, {"priority": 1}]}, True),
        ({"$and": [{"service": "payments-api"}, {"priority": 2}]}, False),
        ({"service": "payments-api", "priority": 1}, True),
        ({"missing": {"$ne": "x"}}, True),
        ({"missing": "x"}, False),
    ],
)
def test_metadata_filters(where: dict[str, object], expected: bool) -> None:
    assert matches({"service": "payments-api", "priority": 1}, where) is expected


def test_unknown_filter_operator_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"\$regex"):
        matches({"a": "b"}, {"a": {"$regex": "b"}})
