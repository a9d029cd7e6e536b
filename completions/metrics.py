"""The API's own metrics: requests by outcome, tokens, cost, latency, cache results, refusals, open streams."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from infra.metrics import LLM_BUCKETS

REQUESTS = Counter(
    "gateway_requests", "Requests to the pipeline's endpoints (chat completions, embeddings), by outcome.",
    ["tenant", "model", "provider", "status_class", "cache"],
)
TOKENS = Counter(
    "gateway_tokens",
    "Tokens processed by providers (cache hits excluded); cached, cache_write and reasoning are parts of prompt and completion.",
    ["tenant", "model", "provider", "type"],
)
COST = Counter("gateway_cost_usd", "Cost of provider calls in USD.", ["tenant", "model", "provider"])
UNPRICED = Counter(
    "gateway_unpriced_requests", "Provider calls billed at $0 because their route has no price set.", ["model"],
)
REQUEST_SECONDS = Histogram(
    "gateway_request_duration_seconds", "Time from request to the last byte of the answer.",
    ["model", "provider", "cache"], buckets=LLM_BUCKETS,
)
TTFT_SECONDS = Histogram(
    "gateway_time_to_first_token_seconds", "Time from request to the first streamed token.",
    ["model", "provider"], buckets=LLM_BUCKETS,
)
RATE_LIMITED = Counter("gateway_rate_limited_requests", "Requests refused by a rate limit.", ["tenant"])
BUDGET_BLOCKED = Counter("gateway_budget_blocked_requests", "Requests refused by a hard budget.", ["tenant"])
CACHE = Counter("gateway_cache_requests", "Answered requests by response-cache result.", ["tenant", "model", "result"])
OPEN_STREAMS = Gauge("gateway_open_streams", "Streams being relayed now.", multiprocess_mode="livesum")
