"""Hypothesis strategies for the bridges' fuzz tests: a valid platform payload with fields
dropped, replaced by any JSON value, or mutated one level down, plus stray fields."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in valid.items():
        action = draw(st.sampled_from(["keep", "keep", "drop", "replace", "deeper"]))
        if action == "keep":
            out[key] = value
        elif action == "replace":
            out[key] = draw(JSON)
        elif action == "deeper" and isinstance(value, dict):
            out[key] = draw(mutated(value))
        elif action == "deeper" and isinstance(value, list) and value and isinstance(value[0], dict):
            out[key] = [draw(mutated(value[0]))]
        elif action != "drop":
            out[key] = value
    out.update(draw(st.dictionaries(st.text(max_size=10), JSON, max_size=2)))
    return out
