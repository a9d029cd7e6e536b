-- POST one embeddings body (OpenAI SDK's default base64, one input) with chat.lua's key and summary line.
-- Cache-Control: no-store: every request looks the cache up and misses (embeddings are cacheable), and
-- nothing is stored, so the bench does not fill Redis with vectors.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "chat.lua")
wrk.headers["Cache-Control"] = "no-store"
wrk.body = '{"model":"' .. (os.getenv("BENCH_MODEL") or "bench-model") .. '","encoding_format":"base64",' ..
  '"input":"The quick brown fox jumps over the lazy dog."}'
