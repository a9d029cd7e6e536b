"""Response cache for deterministic requests, per tenant, with one upstream call per key at a time.

Entries live in Redis when REDIS_URL is set (shared by every replica), else in the process's
Django cache. A miss claims its key: identical requests in this process wait on an asyncio
future, those on other replicas on a Redis lock (SET NX PX) and poll for the entry, each for
at most CACHE_WAIT_SECONDS before they call the provider themselves.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any, AsyncIterator

import orjson
from django.conf import settings
from django.core.cache import cache as local_cache

from infra.hotsettings import hot
from infra.sharedredis import NO_REDIS, shared_redis
from providers.bigstrings import Hollow
from providers.routing import StreamAnswer
from providers.types import ChatChunk, ChatRequest, ChunkChoice, Request, Usage
from tenants.principal import Principal

from .endpoint import StreamRenderer
from .streaming import StreamResult

PREFIX = "gw:cache:"
LOCK = PREFIX + "lock:"
POLL_SECONDS = 0.05
# Fields that change how an answer is delivered or attributed, never the answer itself.
EXCLUDED = frozenset({"stream", "stream_options", "user"})


def ttl_for(principal: Principal) -> int:
    """The tenant's TTL, else the global one; 0 turns caching off."""
    ttl = principal.cache_ttl_seconds
    return hot.GATEWAY["CACHE_TTL"] if ttl is None else ttl


def cacheable(req: ChatRequest) -> bool:
    """Only answers that should not vary between calls."""
    if req.n not in (None, 1):
        return False
    if req.temperature == 0:
        return True
    return req.seed is not None and settings.GATEWAY["CACHE_SEED_DETERMINISTIC"]


def _canonical(value: Any) -> Any:
    """1.0 and 1 mean the same to a provider; make them one key."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def cache_key(tenant_id: int, req: Request) -> str:
    """Digest of the tenant and every field that can change the answer, in canonical JSON."""
    fields = {k: v for k, v in req.raw.items() if k not in EXCLUDED}
    blob = orjson.dumps({"tenant": tenant_id, "request": _canonical(fields)}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True, slots=True)
class Hit:
    """A stored answer: the provider that gave it and its body (a chat.completion, or an endpoint's own shape)."""

    provider: str
    response: dict

    @classmethod
    def load(cls, raw: bytes) -> "Hit":
        data = orjson.loads(raw)
        return cls(data["provider"], data["response"])

    @property
    def usage(self) -> Usage:
        usage = self.response.get("usage") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
        reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)
        return Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0),
                     cached_tokens=cached, reasoning_tokens=reasoning)

    def payload(self) -> dict:
        """The stored answer with a fresh id and creation time (where its shape has them: a chat.completion does)."""
        if "id" not in self.response:
            return self.response
        return self.response | {"id": _new_id(), "created": int(time.time())}

    async def stream(self, renderer: StreamRenderer, include_usage: bool) -> AsyncIterator[bytes]:
        """Replay as the endpoint's stream: role, content, finish reason per choice; usage when asked; its end."""
        cid, created, model = _new_id(), int(time.time()), self.response.get("model", "")

        def chunk(choices: tuple[ChunkChoice, ...], usage: Usage | None = None) -> bytes:
            built = ChatChunk(cid, model, created, choices, usage)
            return renderer.usage(built) if usage is not None else (renderer.chunk(built) or b"")

        for choice in self.response.get("choices", ()):
            index, message = choice.get("index", 0), choice.get("message") or {}
            yield chunk((ChunkChoice(index, {"role": "assistant", "content": ""}),))
            if message.get("content"):
                yield chunk((ChunkChoice(index, {"content": message["content"]}),))
            if message.get("tool_calls"):
                calls = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
                yield chunk((ChunkChoice(index, {"tool_calls": calls}),))
            yield chunk((ChunkChoice(index, {}, choice.get("finish_reason")),))
        if include_usage:
            yield chunk((), self.usage)
        yield renderer.done()


def _new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


class StreamRecorder:
    """Stands in for a stream's parser to keep its chunks, so the whole answer can be stored."""

    def __init__(self, answer: StreamAnswer):
        self.chunks: list[ChatChunk] = list(answer.first_chunks)
        self._parser = answer.parser
        answer.parser = self

    def feed(self, event) -> list[ChatChunk]:
        chunks = self._parser.feed(event)
        self.chunks.extend(chunks)
        return chunks

    def finish(self) -> list[ChatChunk]:
        chunks = self._parser.finish()
        self.chunks.extend(chunks)
        return chunks

    def response(self, usage: Usage) -> dict:
        """The chat.completion body the chunks add up to."""
        choices: dict[int, dict] = {}
        for chunk in self.chunks:
            for part in chunk.choices:
                choice = choices.setdefault(part.index, {"content": [], "calls": {}, "finish_reason": None})
                if isinstance(part.delta.get("content"), str):
                    choice["content"].append(part.delta["content"])
                for call in part.delta.get("tool_calls") or ():
                    _merge_call(choice["calls"], call)
                choice["finish_reason"] = part.finish_reason or choice["finish_reason"]
        first = self.chunks[0]
        return {
            "id": first.id,
            "object": "chat.completion",
            "created": first.created,
            "model": first.model,
            "choices": [_choice(index, choices[index]) for index in sorted(choices)],
            "usage": usage.to_openai(),
        }


def _merge_call(calls: dict[int, dict], fragment: dict) -> None:
    call = calls.setdefault(fragment.get("index", len(calls)), {"function": {"name": "", "arguments": ""}})
    for name in ("id", "type"):
        if fragment.get(name):
            call[name] = fragment[name]
    function = fragment.get("function") or {}
    call["function"]["name"] += function.get("name") or ""
    call["function"]["arguments"] += function.get("arguments") or ""


def _choice(index: int, parts: dict) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": "".join(parts["content"]) or None}
    if parts["calls"]:
        message["tool_calls"] = [parts["calls"][i] for i in sorted(parts["calls"])]
    return {"index": index, "message": message, "finish_reason": parts["finish_reason"], "logprobs": None}


OFF = "the response cache is off"  # what serving without Redis means here, for the log


def _entry(key: str) -> str:
    """An entry's Redis key; the braces (a Redis Cluster hash tag) keep it in its lock's slot, for MGET."""
    return f"{PREFIX}{{{key}}}"


def _lock_key(key: str) -> str:
    return f"{LOCK}{{{key}}}"


async def _get(key: str) -> bytes | None:
    if not settings.REDIS_URL:
        return local_cache.get(PREFIX + key)
    raw = await shared_redis.command(b"GET", _entry(key), fallback=OFF)
    return None if raw is NO_REDIS else raw


async def _set(key: str, raw: bytes, ttl: int) -> None:
    if not settings.REDIS_URL:
        local_cache.set(PREFIX + key, raw, ttl)
        return
    await shared_redis.command(b"SET", _entry(key), raw, b"EX", ttl, fallback=OFF)


async def _lock(key: str) -> bool | None:
    """Claim the key across replicas: True ours, False another replica's, None no Redis."""
    if not settings.REDIS_URL:
        return None
    wait_ms = max(int(settings.GATEWAY["CACHE_WAIT_SECONDS"] * 1000), 1)
    reply = await shared_redis.command(b"SET", _lock_key(key), b"1", b"NX", b"PX", wait_ms, fallback=OFF)
    return None if reply is NO_REDIS else reply is not None  # nil: the key was taken


async def _poll(key: str) -> bytes | None:
    """Wait for another replica's answer while its lock stands, up to CACHE_WAIT_SECONDS."""
    deadline = time.monotonic() + settings.GATEWAY["CACHE_WAIT_SECONDS"]
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        reply = await shared_redis.command(b"MGET", _entry(key), _lock_key(key), fallback=OFF)
        if reply is NO_REDIS:
            return None
        raw, lock = reply
        if raw is not None or lock is None:
            return raw
    return None


class _Flight:
    """The one in-process upstream call for a key; twins await its future."""

    def __init__(self, key: str):
        self.key = key
        self.future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.deadline = time.monotonic() + settings.GATEWAY["CACHE_WAIT_SECONDS"]
        _flights[key] = self

    def alive(self) -> bool:
        # A future from another event loop (tests) or a caller that vanished is dead.
        loop_ok = self.future.get_loop() is asyncio.get_running_loop()
        return loop_ok and not self.future.done() and time.monotonic() < self.deadline

    async def wait(self) -> bytes | None:
        try:
            return await asyncio.wait_for(asyncio.shield(self.future), self.deadline - time.monotonic())
        except asyncio.TimeoutError:
            return None

    def land(self, raw: bytes | None) -> None:
        if not self.future.done():
            self.future.set_result(raw)
        if _flights.get(self.key) is self:
            del _flights[self.key]


_flights: dict[str, _Flight] = {}
_FLIGHTS_MAX = 10_000


def _prune() -> None:
    """Forget flights whose caller vanished (a cancelled request never lands its flight)."""
    if len(_flights) >= _FLIGHTS_MAX:
        now = time.monotonic()
        for key in [k for k, f in _flights.items() if f.deadline < now or f.future.done()]:
            del _flights[key]


class Slot:
    """A miss's duty: store the answer (or give up) and wake identical requests waiting on it."""

    def __init__(self, key: str | None = None, ttl: int = 0, flight: _Flight | None = None, locked: bool = False):
        self.key, self.ttl, self.flight, self.locked = key, ttl, flight, locked
        self.recorder: StreamRecorder | None = None

    async def fill(self, provider: str, response: dict, hollow: Hollow | None = None) -> None:
        """Store the answer; `hollow` splices back the big strings its markers stand for (providers/bigstrings.py)."""
        if self.key is None:
            return
        raw = orjson.dumps({"provider": provider, "response": response})
        if hollow is not None:
            raw = hollow.splice(raw)
        if self.flight:
            self.flight.land(raw)
        await _set(self.key, raw, self.ttl)
        await self._unlock()

    async def release(self) -> None:
        """No answer to store (error, no-store, broken stream): let waiters go their own way."""
        if self.flight:
            self.flight.land(None)
        await self._unlock()

    def watch(self, answer: StreamAnswer) -> None:
        """Record a stream's chunks so its end can fill the cache."""
        if self.key is not None:
            self.recorder = StreamRecorder(answer)

    async def close_stream(self, provider: str, result: StreamResult) -> None:
        """Store a stream that ended normally; give up the slot otherwise."""
        if self.recorder and self.recorder.chunks and not result.error_type and not result.disconnected:
            await self.fill(provider, self.recorder.response(result.usage))
        else:
            await self.release()

    async def _unlock(self) -> None:
        if not self.locked:
            return
        self.locked = False
        await shared_redis.command(b"DEL", _lock_key(self.key), fallback=OFF)


NO_SLOT = Slot()


async def _claim(key: str, ttl: int) -> tuple[Hit | None, Slot]:
    """Become the one caller that fills `key`, or wait for the one that does."""
    flight = _flights.get(key)
    if flight is not None and flight.alive():
        raw = await flight.wait()
        return (Hit.load(raw), NO_SLOT) if raw is not None else (None, Slot(key, ttl))
    _prune()
    flight = _Flight(key)
    locked = await _lock(key)
    slot = Slot(key, ttl, flight, bool(locked))
    raw = None
    try:
        if locked is False:  # another replica is calling the provider
            raw = await _poll(key)
        elif locked:  # a replica may have stored its answer and unlocked between our lookup and our claim
            raw = await _get(key)
    except BaseException:  # a cancel (the client left): wake the waiters and give the lock back
        await asyncio.shield(slot.release())
        raise
    if raw is None:
        return None, slot
    flight.land(raw)
    await slot.release()
    return Hit.load(raw), NO_SLOT


def may_answer(principal: Principal, req: Request, cache_control: str) -> bool:
    """Whether lookup() may find a stored answer for this request, which its endpoint calls cacheable."""
    return ttl_for(principal) > 0 and "no-cache" not in cache_control


async def lookup(principal: Principal, req: Request, cache_control: str) -> tuple[Hit | None, Slot]:
    """A stored answer, or the slot this request fills; honours Cache-Control no-cache/no-store.

    Only for a request its endpoint calls cacheable (Endpoint.cacheable; chat's is `cacheable` here)."""
    ttl = ttl_for(principal)
    if ttl <= 0:
        return None, NO_SLOT
    key = cache_key(principal.tenant_id, req)
    store = "no-store" not in cache_control
    if "no-cache" in cache_control:
        return None, Slot(key, ttl) if store else NO_SLOT
    raw = await _get(key)
    if raw is not None:
        return Hit.load(raw), NO_SLOT
    if not store:
        return None, NO_SLOT
    return await _claim(key, ttl)
