"""Cache keys: canonical JSON of what can change the answer, per tenant; only deterministic requests."""
from __future__ import annotations

import pytest

from completions import cache
from completions.validation import parse_chat_request, parse_json


def request(raw: bytes):
    return parse_chat_request(parse_json(raw))


BASE = b'{"model": "m", "temperature": 0, "messages": [{"role": "user", "content": "hi"}]}'


def test_key_order_and_whitespace_do_not_matter():
    shuffled = b'{ "messages":[ {"content":"hi","role":"user"} ],\n "temperature":0.0,"model":"m" }'
    assert cache.cache_key(1, request(BASE)) == cache.cache_key(1, request(shuffled))


def test_delivery_fields_do_not_change_the_key():
    delivered = b'{"model": "m", "temperature": 0, "messages": [{"role": "user", "content": "hi"}], "stream": true, "stream_options": {"include_usage": true}, "user": "u-1"}'
    assert cache.cache_key(1, request(BASE)) == cache.cache_key(1, request(delivered))


@pytest.mark.parametrize("extra", [b'"max_tokens": 5', b'"top_p": 0.5', b'"stop": ["x"]', b'"seed": 1', b'"tools": [{"type": "function", "function": {"name": "f"}}]'])
def test_fields_that_change_the_answer_change_the_key(extra):
    other = BASE[:-1] + b", " + extra + b"}"
    assert cache.cache_key(1, request(BASE)) != cache.cache_key(1, request(other))


def test_tenants_get_different_keys():
    assert cache.cache_key(1, request(BASE)) != cache.cache_key(2, request(BASE))


def test_only_deterministic_requests_are_cacheable(settings):
    assert cache.cacheable(request(BASE))
    assert not cache.cacheable(request(b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'))
    assert not cache.cacheable(request(BASE[:-1] + b', "n": 2}'))
    assert cache.cacheable(request(BASE[:-1] + b', "n": 1}'))
    seeded = request(b'{"model": "m", "temperature": 0.7, "seed": 3, "messages": [{"role": "user", "content": "hi"}]}')
    settings.GATEWAY = {**settings.GATEWAY, "CACHE_SEED_DETERMINISTIC": False}
    assert not cache.cacheable(seeded)
    settings.GATEWAY = {**settings.GATEWAY, "CACHE_SEED_DETERMINISTIC": True}
    assert cache.cacheable(seeded)
