"""One canonical JSON for every digest and hash: strict, key-order free, and the same text everywhere."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.canonical import canonical_json, digest
from governance.decision import args_digest

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@given(JSON)
def test_the_text_is_json_of_the_same_value_and_the_digest_is_its_hash(value: object) -> None:
    text = canonical_json(value)
    assert json.loads(text) == value
    assert digest(value) == args_digest(value)  # type: ignore[arg-type]
    assert canonical_json(json.loads(text)) == text  # stable through a round trip (what is stored)


def test_key_order_and_spacing_do_not_change_it() -> None:
    assert canonical_json({"b": 1, "a": [1, {"y": 2, "x": "é"}]}) == '{"a":[1,{"x":"é","y":2}],"b":1}'


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {"x": [float("-inf")]}])
def test_nan_and_infinity_are_refused_not_written_as_null(bad: object) -> None:
    with pytest.raises(ValueError, match="NaN or infinity"):
        digest(bad)
    assert digest({"x": None}) != ""  # null itself is fine


def test_values_json_cannot_hold_are_refused() -> None:
    with pytest.raises(TypeError, match="not JSON"):
        canonical_json({"x": object()})
