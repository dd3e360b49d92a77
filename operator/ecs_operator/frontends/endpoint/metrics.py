"""The ECS endpoint's Prometheus metrics, served at GET /metrics on its own port (per replica: it
is stateless, each replica counts what it served).

Requests by ECS action and error code, and their latency by action. The action is a label only
when it is one the endpoint serves (an unknown X-Amz-Target is `unknown`: a client must not be
able to mint label values); error codes are ECS's, a fixed set. The endpoint's own Kubernetes API
requests and watches are counted by the same helpers as the operator's (controller/metrics.py),
in the same registry.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

from ... import api

REQUESTS = Counter("ecs_operator_endpoint_requests_total",
                   "ECS API requests served, by action and ECS error code (none: answered 200)",
                   ["action", "error_code"])
DURATION = Histogram("ecs_operator_endpoint_request_duration_seconds",
                     "Seconds to serve an ECS API request, by action", ["action"],
                     buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
OK = "none"
UNKNOWN = "unknown"
_counters: dict[tuple[str, str], Any] = {}
_durations: dict[str, Any] = {}


def observe(what: str, status: int, seconds: float) -> None:
    """One request: `what` as the server logs it, "Action" or "Action ErrorCode" ("-" before the
    action is known)."""
    action, _, code = what.partition(" ")
    if action not in api.ACTIONS:
        action = UNKNOWN
    code = code or (OK if status == 200 else str(status))
    key = (action, code)
    counter = _counters.get(key)
    if counter is None:
        counter = _counters[key] = REQUESTS.labels(action, code)
    counter.inc()
    duration = _durations.get(action)
    if duration is None:
        duration = _durations[action] = DURATION.labels(action)
    duration.observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus's text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
