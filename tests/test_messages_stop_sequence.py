"""Which stop sequence an anthropic provider stopped at reaches a /v1/messages client, whole and streamed."""
import orjson

from completions import messages
from providers.adapters import anthropic
from providers.types import ChatRequest, SSEEvent, Target


def target() -> Target:
    return Target(provider="claude", kind="anthropic", base_url="http://127.0.0.1:9", api_key="", timeout=5,
                  upstream_model="claude-x", public_model="claude")


def test_a_whole_answer_names_the_stop_sequence():
    body = {"id": "msg_1", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "1, 2"}],
            "stop_reason": "stop_sequence", "stop_sequence": ", 3", "usage": {"input_tokens": 5, "output_tokens": 4}}
    answer = anthropic.parse_response(200, orjson.dumps(body), target())
    rendered = messages.answer(answer.to_openai())
    assert (rendered["stop_reason"], rendered["stop_sequence"]) == ("stop_sequence", ", 3")
    assert answer.choices[0].finish_reason == "stop"  # chat clients see OpenAI's reason


def test_a_stream_names_it_in_message_delta():
    parser, renderer = anthropic.StreamParser(target()), messages.MessagesStream(ChatRequest("claude", (), stream=True))
    events = [
        {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 5, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "1, 2"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence": ", 3"},
         "usage": {"output_tokens": 4}},
        {"type": "message_stop"},
    ]
    out, usage = b"", None
    for event in events:
        for chunk in parser.feed(SSEEvent(orjson.dumps(event).decode(), event["type"])):
            if chunk.choices:
                out += renderer.chunk(chunk) or b""
            else:
                usage = chunk
    out += renderer.usage(usage) + renderer.done()
    frames = [orjson.loads(f.split(b"data: ", 1)[1]) for f in out.split(b"\n\n") if f]
    delta = next(f for f in frames if f["type"] == "message_delta")
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": ", 3"}
    assert delta["usage"]["output_tokens"] == 4 and frames[-1]["type"] == "message_stop"
