"""providers/bigstrings.py: a big answer's big strings relayed as received give the same JSON as parsing it whole,
and anything doubtful is parsed whole."""
from __future__ import annotations

import json
import random

import orjson
import pytest

from providers import bigstrings

WORDS = ["plain", "the \"quoted\"", "line\n", "tab\t", "caf\u00e9", "emoji \U0001F600", "back\\slash", "\u4e2d\u6587",
         "</script>", "\u2028", "ctrl\u0001"]


def answer(content: str, *, ascii_only: bool = False, **extra) -> bytes:
    payload = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "up",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}, **extra}
    if ascii_only:  # \uXXXX escapes everywhere, surrogate pairs included, as Python's json writes them
        return json.dumps(payload).encode()
    return orjson.dumps(payload)


def text(size: int, seed: int) -> str:
    rng = random.Random(seed)
    out, length = [], 0
    while length < size:
        out.append(rng.choice(WORDS))
        length += len(out[-1]) + 1
    return " ".join(out)


def relayed(body: bytes) -> bytes:
    """What the gateway sends: the skeleton parsed, the model replaced, rendered, spliced."""
    skeleton, hollow = bigstrings.cut(body)
    data = orjson.loads(skeleton)
    data["model"] = "public"
    rendered = orjson.dumps(data)
    return hollow.splice(rendered) if hollow else rendered


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ascii_only", [False, True], ids=["utf8", "escaped"])
def test_a_big_answer_is_relayed_as_the_same_json(seed, ascii_only):
    content = text(300_000 + seed * 7919, seed)
    body = answer(content, ascii_only=ascii_only)
    assert bigstrings.cut(body)[1] is not None
    out = orjson.loads(relayed(body))
    assert out["choices"][0]["message"]["content"] == content
    assert out["model"] == "public"
    assert out == {**orjson.loads(body), "model": "public"}


def test_every_big_string_and_only_those_is_left_as_received():
    args = json.dumps({"code": text(100_000, 1)})
    body = answer(text(200_000, 2), tools=None, system_fingerprint="fp_1", extra=[text(70_000, 3), "small"])
    body = body[:-1] + b',"args":' + orjson.dumps(args) + b"}"
    skeleton, hollow = bigstrings.cut(body)
    assert len(hollow.marks) == 3 and len(skeleton) < 1000
    assert orjson.loads(relayed(body)) == {**orjson.loads(body), "model": "public"}
    restored = hollow.restore(orjson.loads(skeleton))
    assert restored == orjson.loads(body)


@pytest.mark.parametrize("boundary", range(-8, 9))
def test_escapes_and_characters_across_a_piece_boundary(boundary):
    # Put an escape, a surrogate pair and a multi-byte character right where a 64 KB piece ends.
    head = "x" * (bigstrings.PIECE - 1 + boundary)
    for tail in ["\\\\\\\\n", "\U0001F600\U0001F600", "\u00e9\u00e9", "\n\n\"\"", "\\"]:
        content = head + tail + "y" * 300_000
        for ascii_only in (False, True):
            body = answer(content, ascii_only=ascii_only)
            assert bigstrings.cut(body)[1] is not None
            assert orjson.loads(relayed(body))["choices"][0]["message"]["content"] == content


def test_a_string_ending_in_a_backslash_is_still_the_same_json():
    content = "z" * 300_000 + "\\"
    body = answer(content)
    assert orjson.loads(relayed(body))["choices"][0]["message"]["content"] == content


@pytest.mark.parametrize("bad", [b"\n", b"\x01", b"\\q", b"\\u12G4", b"\xff\xfe", b"\xc3"], ids=repr)
def test_a_big_string_that_is_not_valid_json_is_parsed_whole(bad):
    body = answer("a" * 300_000).replace(b"aaaa", b"aa" + bad + b"a", 1)
    assert bigstrings.cut(body) == (body, None)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)  # so the ordinary parse refuses it as a malformed answer


def test_small_answers_and_answers_of_many_small_strings_are_parsed_whole():
    small = answer("a" * 100_000)
    assert bigstrings.cut(small) == (small, None)
    many = orjson.dumps({"logprobs": [{"token": "t", "bytes": "b"} for _ in range(60_000)], "c": "a" * 70_000})
    assert len(many) >= bigstrings.HOLLOW_FROM and bigstrings.cut(many) == (many, None)


def test_unpaired_quotes_are_parsed_whole():
    body = b'{"a":"' + b"b" * 300_000  # the big string never ends
    assert bigstrings.cut(body) == (body, None)


def test_a_provider_string_like_a_marker_is_left_alone():
    body = answer("a" * 300_000, note="gw-hollow-0000000000000000-0")
    out = orjson.loads(relayed(body))
    assert out["note"] == "gw-hollow-0000000000000000-0"
    assert out["choices"][0]["message"]["content"] == "a" * 300_000
