"""Pre-request token estimates: cheap, and the budget's bound never under the real count."""
from hypothesis import given, settings
from hypothesis import strategies as st

from providers import tokens
from providers.types import Message

texts = st.text(min_size=0, max_size=400)


def chat(*contents: str) -> tuple[Message, ...]:
    return tuple(Message(role="user", content=c) for c in contents)


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, min_size=1, max_size=4))
def test_the_upper_bound_is_never_below_the_real_count(contents):
    messages = chat(*contents)
    assert tokens.measure(messages).upper_bound() >= tokens.count_messages(messages)


def test_the_estimate_is_a_quarter_of_the_characters_plus_the_chat_overhead():
    messages = chat("x" * 41)
    assert tokens.measure(messages).estimate() == 11 + tokens.PER_REPLY + tokens.PER_MESSAGE


def test_content_parts_and_tool_calls_count():
    parts = Message(role="user", content=[{"type": "text", "text": "hello world"}])
    call = Message(role="assistant", content=None, tool_calls=({"id": "c1", "function": {"arguments": "{}"}},))
    size = tokens.measure((parts, call))
    assert size.chars > len("hello world")
    assert size.upper_bound() >= tokens.count_messages((parts, call))
