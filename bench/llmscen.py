"""The LLM-load scenarios of issue 18: what each sends, through which fake upstream, against which target.

Each scenario runs straight at its fake upstream (the baseline) and then through one gateway worker, in the
same run; bench/llmload.py runs them and prints each target beside both. The upstreams (bench/upstream.py):

- paced: 24 events per stream (21 content chunks, the finish and usage chunks, [DONE]), 5 ms apart;
- slow: 31 events a second apart (a 30 s stream), for thousands held open at once;
- big: a non-streamed answer whose content is 1 MB.
"""
from __future__ import annotations

from dataclasses import dataclass

SYSTEM = "You are a helpful assistant."
BIG_PROMPT_MESSAGES = 200
BIG_PROMPT_BYTES = 1_000_000


@dataclass(frozen=True)
class Upstream:
    name: str  # also the provider's and the model's name, prefixed llm-
    chunks: int
    interval_ms: float
    answer_bytes: int = 0


PACED = Upstream("paced", chunks=21, interval_ms=5.0)
SLOW = Upstream("slow", chunks=29, interval_ms=1000.0)
BIG = Upstream("big", chunks=1, interval_ms=0.0, answer_bytes=1_000_000)
UPSTREAMS = (PACED, SLOW, BIG)


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    target: str


SCENARIOS = {s.name: s for s in (
    Scenario("stream", "16 concurrent 24-event streams (5 ms apart), 320 a side",
             "added TTFT p50 <= 3 ms; whole stream <= 1.02x; every event forwarded as it arrives"),
    Scenario("cached", "a stream answered from the response cache, one at a time, 100 a side",
             "added TTFT p50 <= 2 ms"),
    Scenario("prompt", f"a {BIG_PROMPT_BYTES // 1000} KB request of {BIG_PROMPT_MESSAGES} messages, one at a time",
             "added p50 <= 5 ms"),
    Scenario("answer", "a 1 MB answer, one at a time", "copied at most once"),
    Scenario("cpu", "small chat requests, 64 concurrent (wrk), one worker", "<= 0.4 ms CPU per request"),
    Scenario("open", "N 30 s streams open at once through one worker (--open-streams, default 5,000)",
             "all complete; added TTFT p99 <= 20 ms; loop lag p99 <= 50 ms; <= 100 KB per open stream; "
             "back within 10 % of idle after"),
    Scenario("workers", "N workers against 1, 64 concurrent small requests (N = the cores)",
             ">= 0.9 x N times one worker's req/s"),
)}
DEFAULT = tuple(SCENARIOS)


def stream_body(model: str, temperature: float = 0.7) -> dict:
    return {"model": model, "stream": True, "temperature": temperature, "max_tokens": 64,
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Count to twenty."}]}


def big_prompt_body(model: str) -> dict:
    """BIG_PROMPT_MESSAGES messages, alternating user and assistant, BIG_PROMPT_BYTES of text in all."""
    each = BIG_PROMPT_BYTES // BIG_PROMPT_MESSAGES
    words = ("the quick brown fox jumps over the lazy dog " * (each // 44 + 1))[:each]
    messages = [{"role": "system", "content": SYSTEM}]
    messages += [{"role": "user" if i % 2 == 0 else "assistant", "content": words}
                 for i in range(BIG_PROMPT_MESSAGES - 1)]
    return {"model": model, "temperature": 0.7, "max_tokens": 16, "messages": messages}


def small_body(model: str) -> dict:
    return {"model": model, "temperature": 0.7, "max_tokens": 16,
            "messages": [{"role": "user", "content": "Say hello."}]}
