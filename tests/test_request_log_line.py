"""Every request leaves exactly one JSON line on standard output: who, what, how it went."""
import json
import logging
import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async

from .conftest import add_route, chat_body, make_tenant, post_chat
from .live import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lines():
    """The request log's lines as parsed JSON."""
    captured: list[dict] = []

    class Keep(logging.Handler):
        def emit(self, record):
            captured.append(json.loads(record.getMessage()))

    logger = logging.getLogger("gateway.requests")
    handler = Keep()
    logger.addHandler(handler)
    yield captured
    logger.removeHandler(handler)


async def test_a_completion_logs_one_line_with_its_facts(async_client, acme, upstream, lines):
    await sync_to_async(add_route)(upstream, "openai", "chat", name="oa")
    upstream.cached_tokens, upstream.reasoning_tokens = 4, 2
    response = await post_chat(async_client, acme, chat_body("chat"))
    [line] = lines
    assert line["event"] == "request"
    assert line["request_id"] == response["x-request-id"]
    assert (line["tenant"], line["key_prefix"], line["model"], line["provider"]) == ("acme", acme.key.prefix, "chat", "oa")
    assert (line["status"], line["error_type"], line["cache"], line["streamed"]) == (200, "", "MISS", False)
    assert (line["prompt_tokens"], line["completion_tokens"]) == (upstream.prompt_tokens, upstream.completion_tokens)
    assert (line["cached_tokens"], line["cache_write_tokens"], line["reasoning_tokens"]) == (4, 0, 2)
    assert line["cost_usd"] == "0.000026000000"  # no cache prices on the route: cached tokens at the input price
    assert isinstance(line["latency_ms"], int) and line["latency_ms"] >= 0


async def test_a_stream_logs_one_line_when_it_ends(async_client, acme, upstream, lines):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    response = await post_chat(async_client, acme, chat_body("chat", stream=True))
    assert lines == []
    b"".join([part async for part in response.streaming_content])
    [line] = lines
    assert (line["status"], line["streamed"]) == (200, True)
    assert line["ttft_ms"] is not None and line["completion_tokens"] > 0


async def test_a_refused_request_logs_its_status_and_error(async_client, upstream, lines):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    tenant = await sync_to_async(make_tenant)("limited", rpm_limit=1)
    await post_chat(async_client, tenant, chat_body("chat"))
    refused = await post_chat(async_client, tenant, chat_body("chat"))
    assert refused.status_code == 429
    assert [(x["status"], x["error_type"]) for x in lines] == [(200, ""), (429, "rate_limit_error")]
    assert lines[1]["request_id"] == refused["x-request-id"]


async def test_a_cache_hit_is_logged_as_a_hit(async_client, acme, mock_provider, lines):
    await post_chat(async_client, acme, chat_body(temperature=0))
    hit = await post_chat(async_client, acme, chat_body(temperature=0))
    assert hit["x-cache"] == "HIT"
    assert [x["cache"] for x in lines] == ["MISS", "HIT"]
    assert lines[1]["cost_usd"] == "0"


def test_the_line_goes_to_standard_output_alone():
    code = (
        "import django; django.setup();"
        "from decimal import Decimal; from infra import logs;"
        "logs.write(logs.RequestLine('req_1', 'acme', 'gw-abc', 'm', 'p', 200, '', 1, 2, False, Decimal('0.5'),"
        " 10, None, 'MISS', False, False, ''))"
    )
    env = {"DJANGO_SETTINGS_MODULE": "gateway_project.settings", "DJANGO_SECRET_KEY": "x" * 50, "PATH": ""}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert json.loads(line)["cost_usd"] == "0.5"
