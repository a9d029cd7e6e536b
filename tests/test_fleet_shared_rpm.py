"""An RPM limit of N holds across three replicas behind HAProxy: exactly N requests in the minute get through.

The limit is counted in Redis by one Lua call per request (README "Rate limits"), so which replica
HAProxy picks does not matter.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import chat_body, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 12


def test_an_rpm_limit_lets_exactly_n_through_across_three_replicas(mock_provider, start_fleet):
    tenant = make_tenant("acme", rpm_limit=LIMIT)
    warm = make_tenant("warm")
    fleet = start_fleet()
    with httpx.Client(base_url=fleet.url, timeout=30) as http:
        for replica in fleet.replicas.values():  # tokenizer loaded and pools open on each, as in steady state
            assert http.post(f"{replica.url}/v1/chat/completions", json=chat_body(), headers=warm.headers).status_code == 200

        def send(i: int) -> tuple[int, str]:
            response = http.post("/v1/chat/completions", json=chat_body(text=f"hi {i}"), headers=tenant.headers)
            return response.status_code, response.headers["x-gateway-replica"]

        with ThreadPoolExecutor(max_workers=9) as pool:  # all sent well within one minute
            answers = list(pool.map(send, range(3 * LIMIT)))
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == LIMIT
    assert statuses.count(429) == 2 * LIMIT
    assert {replica for _, replica in answers} == set(fleet.replicas)  # every replica took its share
