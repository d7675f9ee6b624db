"""loads_decoding reads what orjson would, with each b64_json string decoded, or declines."""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends import b64_answer


def loads_decoding(body: bytes) -> Any:
    return b64_answer.loads_decoding(body, min_bytes=0)


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
B64 = base64.b64encode(PNG).decode()


def decoded(answer: Any) -> Any:
    """What orjson reads, with every string under b64_json base64-decoded (the reference)."""
    if isinstance(answer, dict):
        return {
            key: base64.b64decode(value, validate=True)
            if key == "b64_json" and isinstance(value, str)
            else decoded(value)
            for key, value in answer.items()
        }
    if isinstance(answer, list):
        return [decoded(item) for item in answer]
    return answer


OPENAI = {
    "created": 1713833628,
    "data": [{"b64_json": B64}, {"url": "https://example.com/a.png"}, {"b64_json": B64[:-8]}],
    "usage": {"input_tokens": 8, "output_tokens": 272, "total_tokens": 280},
}


@pytest.mark.parametrize("indent", [None, 2])
def test_an_openai_answer_compact_or_pretty_printed(indent: int | None) -> None:
    body = json.dumps(OPENAI, indent=indent).encode()
    assert loads_decoding(body) == decoded(OPENAI)


def test_b64_json_as_a_value_or_with_a_non_string_value_is_parsed_as_json() -> None:
    answer = {"type": "b64_json", "data": [{"b64_json": None}, {"b64_json": B64}], "n": 1}
    assert loads_decoding(json.dumps(answer).encode()) == decoded(answer)


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": [{"b64_json": "iVBORw0KGgo\\/AAA"}]}',  # escaped slash (PHP's encoder)
        b'{"data": [{"b64_json": "iVBORw0KGgo\\nAAA"}]}',  # line-wrapped base64
        b'{"data": [{"b64_json": "not base64!"}]}',
        b'{"data": [{"b64_json": "QUJD"}]',  # cut short
        b'{"data": [{"b64_json": "QUJD"}], "x": NaN}',  # orjson refuses it
        b'{"data": [{"b64_json": "QUJD}]}',  # the value never ends
        b'{"data": []}',
        b"<html>502</html>",
        b"",
    ],
)
def test_what_it_cannot_read_exactly_is_left_to_the_ordinary_parse(body: bytes) -> None:
    assert loads_decoding(body) is None


def test_a_key_that_only_ends_in_b64_json_is_not_cut() -> None:
    # The key is `x"b64_json`: its quote before b64_json is escaped.
    body = b'{"x\\"b64_json": "QUJD", "data": [{"b64_json": "' + B64.encode() + b'"}]}'
    assert loads_decoding(body) == {'x"b64_json': "QUJD", "data": [{"b64_json": PNG}]}


def test_a_small_answer_is_left_to_the_ordinary_parse() -> None:
    body = json.dumps(OPENAI).encode()
    assert b64_answer.loads_decoding(body, min_bytes=len(body) + 1) is None
    assert b64_answer.loads_decoding(body, min_bytes=len(body)) == decoded(OPENAI)


def test_strings_like_the_tokens_stay_strings() -> None:
    answer = {"data": [{"b64_json": B64}], "note": "\u0000" + "0" * 19}
    assert loads_decoding(json.dumps(answer).encode()) == decoded(answer)


def test_an_answer_nested_deeper_than_pythons_recursion_limit() -> None:
    depth = 1020  # orjson reads up to 1024 levels
    body = b'{"b64_json": "QUJD", "a": ' + b"[" * depth + b"]" * depth + b"}"
    read = loads_decoding(body)
    assert read is not None and read["b64_json"] == b"ABC"
    node = read["a"]
    for _ in range(depth - 1):
        [node] = node
    assert node == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["b64_json", "data", "url", 'b64_json"']), children)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(JSON, st.lists(st.binary(max_size=12), max_size=3), st.sampled_from([None, 1]))
def test_it_reads_what_orjson_reads(shape: Any, images: list[bytes], indent: int | None) -> None:
    answer = {"shape": shape, "data": [{"b64_json": base64.b64encode(i).decode()} for i in images]}
    body = json.dumps(answer, indent=indent).encode()
    read = loads_decoding(body)
    if read is not None:
        assert read == decoded(orjson.loads(body))
    if images:  # plain base64 values, and nothing escaped or odd around them: always read
        plain = {"data": answer["data"], "n": len(images)}
        assert loads_decoding(json.dumps(plain, indent=indent).encode()) == decoded(plain)
