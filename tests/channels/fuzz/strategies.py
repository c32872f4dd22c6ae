"""Hypothesis strategies shared by the channel fuzz tests: JSON values of any shape, and
request bodies that are almost right (the interesting ones)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

text = st.text(max_size=40)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def nested(depth: int, open_: str = "[", close: str = "]") -> bytes:
    """JSON nested ``depth`` deep: under the 64 KB cap, far over Python's recursion limit."""
    return (open_ * depth + close * depth).encode()


# bytes: raw junk, JSON of any shape, or a body that is almost right
def bodies(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[bytes]:
    almost = st.fixed_dictionaries(
        {}, optional={name: st.one_of(strategy, json_values) for name, strategy in
                      fields.items()},
    ).map(dumps)
    return st.one_of(
        st.binary(max_size=300),
        json_values.map(dumps),
        almost,
        almost.map(lambda b: b[: max(1, len(b) // 2)]),  # cut short
    )
