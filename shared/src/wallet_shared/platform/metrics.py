"""Prometheus metrics, one module-level constant each, shared by every service.

Names follow `wallet_*_total` (counters) and `*_seconds` (histograms); the Grafana dashboard and
alert rules in `deploy/` query exactly these.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "wallet_http_requests_total", "HTTP requests served", ["service", "route", "method", "status"]
)
HTTP_REQUEST_DURATION = Histogram(
    "wallet_http_request_duration_seconds",
    "Time to serve an HTTP request",
    ["service", "route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TRANSFERS = Counter(
    "wallet_transfers_total", "Transfers that reached a final status", ["status", "failure_code"]
)
TRANSFER_DURATION = Histogram(
    "wallet_transfer_duration_seconds",
    "Time from a transfer's creation to its final status",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
OUTBOX_PUBLISHED = Counter(
    "wallet_outbox_published_total", "Messages the outbox relay published", ["service"]
)
OUTBOX_PARKED = Counter(
    "wallet_outbox_parked_total",
    "Messages Kafka refused for good (e.g. too large), moved to the outbox_parked table",
    ["service"],
)
OUTBOX_BACKLOG = Gauge(
    "wallet_outbox_backlog", "Messages waiting in the outbox at the last relay pass", ["service"]
)
CONSUMER_MESSAGES = Counter(
    "wallet_consumer_messages_total",
    "Messages consumed, by outcome (handled, retried, dead_lettered)",
    ["service", "topic", "outcome"],
)
DEAD_LETTERS = Counter(
    "wallet_dead_letters_total", "Messages sent to a dead-letter topic", ["service", "topic"]
)
LEDGER_POSTINGS = Counter(
    "wallet_ledger_postings_total", "Journal transactions posted", ["shard", "type"]
)
LOOP_UP = Gauge(
    "wallet_loop_up",
    "1 while a background loop's task runs, 0 once it stopped or died",
    ["service", "loop"],
)
LOOP_HEARTBEAT = Gauge(
    "wallet_loop_heartbeat_timestamp_seconds",
    "Unix time of a background loop's last pass (silent for long: the loop is stuck)",
    ["service", "loop"],
)
WEBHOOK_DELIVERIES = Counter(
    "wallet_webhook_deliveries_total",
    "Webhook deliveries that reached a final status (delivered, failed)",
    ["status"],
)
WEBHOOK_ATTEMPTS = Counter(
    "wallet_webhook_attempts_total",
    "Webhook delivery attempts, by outcome (ok, http_error, timeout, refused_address, error)",
    ["outcome"],
)
WEBHOOK_PENDING = Gauge("wallet_webhook_deliveries_pending", "Webhook deliveries not final yet")
WEBHOOK_OLDEST_PENDING = Gauge(
    "wallet_webhook_oldest_pending_seconds", "Age of the oldest webhook delivery not final yet"
)
RISK_FLAGS = Counter("wallet_risk_flags_total", "Risk flags raised, by rule", ["rule"])
AUDIT_RECORDS = Counter(
    "wallet_audit_records_total", "Audit records written, by action", ["service", "action"]
)

# --- state, sampled off the money path (wallet_shared.platform.monitoring) ------------------------------
# Events above are counted where they happen; the gauges below describe state and are read by a
# sampler loop every few seconds (database queries) or at scrape time (in-memory), so that no
# request pays for them.
CONSUMER_LAG = Gauge(
    "wallet_consumer_lag_messages",
    "Messages in a partition not yet handled by this consumer group (high-water mark minus the "
    "offset committed or fetched)",
    ["service", "topic", "partition"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "wallet_outbox_oldest_age_seconds",
    "Age of the oldest message waiting in the outbox (0 when it is empty)",
    ["service"],
)
DB_POOL_SIZE = Gauge(
    "wallet_db_pool_max_connections", "Largest size of the service's connection pool", ["service"]
)
DB_POOL_IN_USE = Gauge(
    "wallet_db_pool_connections_in_use", "Pool connections lent out right now", ["service"]
)
DB_POOL_WAITING = Gauge(
    "wallet_db_pool_waiting_acquires",
    "Tasks waiting for a pool connection right now (above zero: the pool is exhausted)",
    ["service"],
)
DEAD_LETTERS_UNREPLAYED = Gauge(
    "wallet_dead_letters_unreplayed",
    "Dead letters stored and never replayed, by the topic they came from",
    ["service", "topic"],
)
SAGAS_IN_FLIGHT = Gauge(
    "wallet_sagas_in_flight", "Transfer sagas not final yet, by phase", ["phase"]
)
SAGA_OLDEST_AGE = Gauge(
    "wallet_saga_oldest_age_seconds",
    "Age of the oldest saga not final yet, by phase (0 when there is none)",
    ["phase"],
)
SAGA_PAST_DEADLINE = Gauge(
    "wallet_saga_past_deadline_seconds",
    "How long the saga furthest past its deadline has been, by phase (0 when none is)",
    ["phase"],
)
