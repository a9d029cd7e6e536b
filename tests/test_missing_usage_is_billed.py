"""An answer that reports no usage is billed on the gateway's own count, marked estimated: never free."""
import orjson
import pytest
from asgiref.sync import sync_to_async

from providers import tokens
from providers.types import Message
from usage import ledger
from usage.models import UsageRecord

from .conftest import add_route, chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_an_answer_without_usage_is_billed_on_our_count(async_client, upstream, kind, stream):
    await sync_to_async(add_route)(upstream, kind, "chat")
    acme = await sync_to_async(make_tenant)("acme")
    upstream.send_usage = False
    upstream.reply = "four words of answer"
    body = chat_body("chat", text="count these words", stream=stream)
    response = await post_chat(async_client, acme, body)
    assert response.status_code == 200
    if stream:
        b"".join([part async for part in response.streaming_content])
    else:
        usage = orjson.loads(response.content)["usage"]  # the estimate, as a stream's last chunk carries it
        assert usage["completion_tokens"] == tokens.count_text("four words of answer")

    await sync_to_async(ledger.flush)()
    row = await UsageRecord.objects.aget(request_id=response["x-request-id"])
    assert row.tokens_estimated
    assert row.prompt_tokens == tokens.count_messages((Message("user", "count these words"),))
    assert row.completion_tokens == tokens.count_text("four words of answer")
    assert row.cost_usd > 0  # add_route's $1 / $2 per million
