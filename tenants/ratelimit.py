"""Per-tenant and per-key RPM/TPM limits: a sliding-window log, in Redis for a fleet or in process.

Every request is logged with its cost (1 for RPM, estimated tokens for TPM) and counts for
exactly 60 seconds, so no 60-second span ever admits more than the limit (a fixed window
would admit twice the limit across a minute boundary). With REDIS_URL one Lua script checks
and counts all of a request's limits in one round trip, all or nothing. When Redis cannot be
reached the same algorithm runs in process (per replica) until Redis answers again.

Headers follow OpenAI: `remaining` counts after this request; `reset` is the time until the
oldest request in the window stops counting, i.e. until `remaining` next grows.
"""
from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Coroutine

from django.conf import settings

from infra.errors import GatewayError
from infra.sharedredis import NO_REDIS, shared_redis
from providers.types import Request, Usage

from .principal import Principal

WINDOW_MS = 60_000
PREFIX = "gw:rl:"
LOCAL = "rate limits count in this process"  # what serving without Redis means here, for the log

# KEYS: log1, total1, log2, total2, ...  ARGV: now_ms, window_ms, request_id, limit1, cost1, limit2, cost2, ...
# Returns {retry_ms (0 = admitted), used1, reset_ms1, used2, reset_ms2, ...}.
CHECK_LUA = """
local now, window, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local n = #KEYS / 2
local used, retry = {}, 0
local function weight(member) return tonumber(string.match(member, '^(%d+):')) end
for i = 1, n do
  local log, total = KEYS[2 * i - 1], KEYS[2 * i]
  local sum = tonumber(redis.call('GET', total) or '0')
  local gone = redis.call('ZRANGEBYSCORE', log, '-inf', now - window)
  if #gone > 0 then
    for _, m in ipairs(gone) do sum = sum - weight(m) end
    redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
    redis.call('SET', total, sum, 'KEEPTTL')
  end
  used[i] = sum
  local limit, cost = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  if sum + cost > limit then
    local wait, need, freed = window, sum + cost - limit, 0
    if cost <= limit then
      local entries = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
      for j = 1, #entries, 2 do
        freed = freed + weight(entries[j])
        if freed >= need then wait = tonumber(entries[j + 1]) + window - now; break end
      end
    end
    retry = math.max(retry, wait)
  end
end
local out = {retry}
for i = 1, n do
  local log, total, cost = KEYS[2 * i - 1], KEYS[2 * i], tonumber(ARGV[3 + 2 * i])
  if retry == 0 then
    redis.call('ZADD', log, now, cost .. ':' .. id)
    used[i] = redis.call('INCRBY', total, cost)
    redis.call('PEXPIRE', log, window)
    redis.call('PEXPIRE', total, window)
  end
  local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
  out[2 * i] = used[i]
  out[2 * i + 1] = (#oldest > 0) and (tonumber(oldest[2]) + window - now) or 0
end
return out
"""

# KEYS: log1, total1, ...  ARGV: old member, new member, cost delta.
SETTLE_LUA = """
for i = 1, #KEYS / 2 do
  local log, total = KEYS[2 * i - 1], KEYS[2 * i]
  local score = redis.call('ZSCORE', log, ARGV[1])
  if score then
    redis.call('ZREM', log, ARGV[1])
    redis.call('ZADD', log, score, ARGV[2])
    redis.call('INCRBY', total, ARGV[3])
  end
end
return 1
"""



@dataclass(frozen=True, slots=True)
class Limit:
    key: str  # storage key, e.g. "{t:7}:tpm" (limit_key)
    kind: str  # "requests" | "tokens"
    scope: str  # "tenant" | "key"
    limit: int
    cost: int


@dataclass(frozen=True, slots=True)
class Verdict:
    retry_ms: int  # 0: admitted and counted
    used: tuple[int, ...]  # per limit; after this request when admitted
    reset_ms: tuple[int, ...]  # per limit: until the oldest counted request leaves the window


class _Log:
    __slots__ = ("entries", "total", "by_id")

    def __init__(self) -> None:
        self.entries: deque[list] = deque()  # [time_ms, cost, request_id], oldest first
        self.total = 0
        self.by_id: dict[str, list] = {}

    def expire(self, now_ms: int) -> None:
        while self.entries and self.entries[0][0] <= now_ms - WINDOW_MS:
            entry = self.entries.popleft()
            self.total -= entry[1]
            self.by_id.pop(entry[2], None)

    def wait_ms(self, need: int, now_ms: int) -> int:
        freed = 0
        for at, cost, _ in self.entries:
            freed += cost
            if freed >= need:
                return at + WINDOW_MS - now_ms
        return WINDOW_MS


class MemoryBackend:
    """The same sliding-window log as CHECK_LUA, in this process."""

    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}
        self._lock = threading.Lock()

    def check(self, limits: list[Limit], request_id: str, now_ms: int) -> Verdict:
        with self._lock:
            logs = [self._logs.setdefault(limit.key, _Log()) for limit in limits]
            retry = 0
            for limit, entry_log in zip(limits, logs):
                entry_log.expire(now_ms)
                if entry_log.total + limit.cost > limit.limit:
                    need = entry_log.total + limit.cost - limit.limit
                    wait = entry_log.wait_ms(need, now_ms) if limit.cost <= limit.limit else WINDOW_MS
                    retry = max(retry, wait)
            if retry == 0:
                for limit, entry_log in zip(limits, logs):
                    entry = [now_ms, limit.cost, request_id]
                    entry_log.entries.append(entry)
                    entry_log.by_id[request_id] = entry
                    entry_log.total += limit.cost
            resets = tuple(lg.entries[0][0] + WINDOW_MS - now_ms if lg.entries else 0 for lg in logs)
            return Verdict(retry, tuple(lg.total for lg in logs), resets)

    def settle(self, keys: list[str], request_id: str, delta: int) -> None:
        with self._lock:
            for key in keys:
                entry_log = self._logs.get(key)
                entry = entry_log.by_id.get(request_id) if entry_log else None
                if entry is not None:
                    entry[1] += delta
                    entry_log.total += delta


class RedisBackend:
    """CHECK_LUA and SETTLE_LUA in Redis, each in the next pipeline; their futures answer NO_REDIS without it."""

    @staticmethod
    def _keys(keys: list[str]) -> list[str]:
        return [name for key in keys for name in (PREFIX + key, PREFIX + key + ":sum")]

    def submit_check(self, limits: list[Limit], request_id: str, now_ms: int) -> asyncio.Future:
        """Queue the check for the next pipeline; its future gets CHECK_LUA's raw answer, or NO_REDIS."""
        args: list = [now_ms, WINDOW_MS, request_id]
        for limit in limits:
            args += [limit.limit, limit.cost]
        return shared_redis.script(CHECK_LUA, self._keys([lim.key for lim in limits]), args, fallback=LOCAL)

    async def check(self, limits: list[Limit], request_id: str, now_ms: int) -> Verdict | None:
        """The verdict, or None without Redis."""
        out = await self.submit_check(limits, request_id, now_ms)
        return None if out is NO_REDIS else _verdict(out)

    def post_settle(self, keys: list[str], request_id: str, old_cost: int, new_cost: int) -> asyncio.Future:
        """Queue the correction for the next bookkeeping pipeline; nothing needs to wait for it.

        Without Redis it is lost, and harmless: the entry stops counting with the window."""
        args = [f"{old_cost}:{request_id}", f"{new_cost}:{request_id}", new_cost - old_cost]
        return shared_redis.script(SETTLE_LUA, self._keys(keys), args, fallback=LOCAL, later=True)

    async def settle(self, keys: list[str], request_id: str, old_cost: int, new_cost: int) -> None:
        await self.post_settle(keys, request_id, old_cost, new_cost)


memory = MemoryBackend()
redis_backend = RedisBackend()


@dataclass(slots=True)
class Ticket:
    """An admitted request: its headers, and what settle() needs to correct the token count."""

    request_id: str
    headers: dict[str, str] = field(default_factory=dict)
    token_keys: list[str] = field(default_factory=list)
    estimate: int = 0  # tokens counted for it so far
    shared: bool = False  # counted in Redis (else in this process)


def duration(ms: int) -> str:
    """OpenAI's reset format: "20ms", "6s", "1m0s"."""
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    minutes, seconds = divmod(math.ceil(ms / 1000), 60)
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def estimate_tokens(req: Request) -> int:
    """Prompt tokens as OpenAI estimates them for its own limits, plus the most the answer may use."""
    return req.prompt_size().estimate() + req.output_ceiling(settings.GATEWAY["TPM_DEFAULT_MAX_TOKENS"])


def limit_key(tenant_id: int) -> str:
    """The stem of a tenant's limit keys, its keys' included: "{t:7}". The braces are a Redis Cluster hash tag,
    so every key one script touches lies in one slot (and on one node)."""
    return f"{{t:{tenant_id}}}"


def limits_for(principal: Principal, req: Request) -> list[Limit]:
    """Every limit that applies: tenant and key, requests and tokens (tokens counted only when needed)."""
    tenant = limit_key(principal.tenant_id)
    key = f"{tenant}:k:{principal.key_id}"
    wanted = [
        (f"{tenant}:rpm", "requests", "tenant", principal.rpm_limit),
        (f"{key}:rpm", "requests", "key", principal.key_rpm_limit),
        (f"{tenant}:tpm", "tokens", "tenant", principal.tpm_limit),
        (f"{key}:tpm", "tokens", "key", principal.key_tpm_limit),
    ]
    wanted = [row for row in wanted if row[3] is not None]
    tokens_cost = estimate_tokens(req) if any(row[1] == "tokens" for row in wanted) else 0
    return [Limit(k, kind, scope, value, 1 if kind == "requests" else tokens_cost) for k, kind, scope, value in wanted]


def headers_for(limits: list[Limit], verdict: Verdict) -> dict[str, str]:
    """The tightest limit of each kind speaks for it."""
    headers: dict[str, str] = {}
    for kind in ("requests", "tokens"):
        rows = [(max(lim.limit - used, 0), lim.limit, reset)
                for lim, used, reset in zip(limits, verdict.used, verdict.reset_ms) if lim.kind == kind]
        if rows:
            remaining, limit, reset = min(rows)
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(remaining)
            headers[f"x-ratelimit-reset-{kind}"] = duration(reset)
    return headers


def refusal(limits: list[Limit], verdict: Verdict) -> GatewayError:
    """429 naming the limit that was hit, with Retry-After in whole seconds."""
    retry_s = max(1, math.ceil(verdict.retry_ms / 1000))
    over = next(lim for lim, used in zip(limits, verdict.used) if used + lim.cost > lim.limit)
    if over.cost > over.limit:
        message = f"This request ({over.cost} {over.kind}) exceeds this {over.scope}'s limit of {over.limit} {over.kind} per minute."
    else:
        message = (f"Rate limit reached for {over.kind} per minute on this {over.scope} "
                   f"(limit {over.limit}). Try again in {retry_s}s.")
    headers = headers_for(limits, verdict) | {"Retry-After": str(retry_s)}
    return GatewayError(429, "rate_limit_error", message, code="rate_limit_exceeded", headers=headers)


def _verdict(out: list) -> Verdict:
    out = [int(x) for x in out]
    return Verdict(out[0], tuple(out[1::2]), tuple(out[2::2]))


async def _check(limits: list[Limit], request_id: str, now_ms: int, started: asyncio.Future) -> tuple[Verdict, bool]:
    out = await started
    if out is NO_REDIS:
        return memory.check(limits, request_id, now_ms), False
    return _verdict(out), True


def acquire(principal: Principal, req: Request, request_id: str) -> Coroutine[Any, Any, Ticket]:
    """Count the request against its limits, or raise a 429 GatewayError (nothing counted); await the result.

    The Redis check is queued before this returns, so a check and a budget reservation started one
    after the other share one pipeline without a task each (completions.admission.admit)."""
    limits = limits_for(principal, req)
    now_ms = int(time.time() * 1000)
    return _acquired(limits, request_id, now_ms, redis_backend.submit_check(limits, request_id, now_ms) if limits else None)


async def _acquired(limits: list[Limit], request_id: str, now_ms: int, started: asyncio.Future | None) -> Ticket:
    if not limits:
        return Ticket(request_id)
    verdict, shared = await _check(limits, request_id, now_ms, started)
    if verdict.retry_ms:
        raise refusal(limits, verdict)
    token_limits = [lim for lim in limits if lim.kind == "tokens"]
    estimate = token_limits[0].cost if token_limits else 0
    return Ticket(request_id, headers_for(limits, verdict), [lim.key for lim in token_limits], estimate, shared)


def settle(ticket: Ticket, usage: Usage | None) -> None:
    """Replace the token estimate by the real usage (None: the provider gave none; keep the estimate)."""
    if usage is not None:
        _correct(ticket, usage.total_tokens)


def refund(ticket: Ticket) -> None:
    """No provider tokens were spent (an error, a cache hit): count none."""
    _correct(ticket, 0)


def _correct(ticket: Ticket, actual: int) -> None:
    """Queue the correction (in Redis: with the next bookkeeping pipeline, no task per request)."""
    if not ticket.token_keys or actual == ticket.estimate:
        return
    estimate, ticket.estimate = ticket.estimate, actual
    if not ticket.shared:
        memory.settle(ticket.token_keys, ticket.request_id, actual - estimate)
        return
    redis_backend.post_settle(ticket.token_keys, ticket.request_id, estimate, actual)
