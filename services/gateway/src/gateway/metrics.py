"""The gateway's own Prometheus metrics (the shared HTTP metrics cover every request)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BACKEND_REQUEST_DURATION = Histogram(
    "wallet_gateway_backend_request_duration_seconds",
    "Time a shard or the coordinator took to answer the gateway",
    ["backend"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BACKEND_UNAVAILABLE = Counter(
    "wallet_gateway_backend_unavailable_total",
    "Backend calls that got no usable answer (connection refused, timeout, bare 5xx)",
    ["backend"],
)
RATE_LIMITED = Counter(
    "wallet_gateway_rate_limited_total", "Requests refused by the per-caller token bucket"
)
AUTH_FAILURES = Counter(
    "wallet_gateway_auth_failures_total", "Requests refused for a missing or invalid bearer token"
)
INTEGRITY_CONSISTENT = Gauge(
    "wallet_integrity_consistent",
    "Outcome of the last integrity check (1 consistent, 0 not); set by GET /v1/admin/integrity",
)
# 0 until a check ran: the outcome gauge above reads 0 then too, which means "not checked yet",
# not "inconsistent" (the alert rule joins the two).
INTEGRITY_CHECKED = Gauge(
    "wallet_integrity_checked_timestamp_seconds",
    "Unix time of the last integrity check this gateway ran (0: none yet)",
)
AUDIT_RECORDS_DROPPED = Counter(
    "wallet_gateway_audit_records_dropped_total",
    "Audit records of refused requests dropped because the shipping queue was full",
)
