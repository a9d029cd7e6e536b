"""Shared infrastructure that knows no app: Redis access with fallback, the metrics registry, tracing,
logs, errors, environment helpers and settings read on the hot path (../shared/ARCHITECTURE.md, "Layers")."""
