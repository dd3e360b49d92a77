"""The operator's and the endpoint's Prometheus metrics: names, labels and what is counted."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import REGISTRY

from ecs_operator.controller import metrics
from ecs_operator.controller.kit import Backoff
from ecs_operator.controller.workqueue import WorkQueue, start_workers
from tests.helpers import wait_for


def sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


@pytest.mark.parametrize(("method", "path", "watch", "expected"), [
    ("GET", "/api/v1/pods", False, ("list", "pods")),
    ("GET", "/api/v1/pods", True, ("watch", "pods")),
    ("GET", "/api/v1/namespaces/t-1/pods", False, ("list", "pods")),
    ("POST", "/api/v1/namespaces/t-1/pods", False, ("create", "pods")),
    ("DELETE", "/api/v1/namespaces/t-1/pods/web-0", False, ("delete", "pods")),
    ("GET", "/api/v1/namespaces/t-1/secrets/db", False, ("get", "secrets")),
    ("GET", "/api/v1/nodes", False, ("list", "nodes")),
    ("PATCH", "/api/v1/nodes/n1", False, ("patch", "nodes")),
    ("GET", "/api/v1/namespaces", False, ("list", "namespaces")),
    ("GET", "/api/v1/namespaces/t-1", False, ("get", "namespaces")),
    ("PUT", "/apis/ecs.compat.dev/v1alpha1/namespaces/t-1/ecstasks/a/status", False, ("update", "ecstasks/status")),
    ("GET", "/apis/ecs.compat.dev/v1alpha1/ecstasks", True, ("watch", "ecstasks")),
    ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", False, ("create", "subjectaccessreviews")),
    ("GET", "/version", False, ("get", "other")),
])
def test_requests_are_labelled_by_verb_and_resource_never_by_name(method, path, watch, expected):
    assert metrics.request_kind(method, path, watch) == expected


def test_bind_addresses():
    assert metrics.parse_bind_address("0") is None
    assert metrics.parse_bind_address(":8081") == ("0.0.0.0", 8081)
    assert metrics.parse_bind_address("127.0.0.1:9") == ("127.0.0.1", 9)
    assert metrics.parse_bind_address("[::]:8081") == ("::", 8081)
    with pytest.raises(ValueError):
        metrics.parse_bind_address("localhost")


def test_a_named_queue_counts_adds_once_per_waiting_key_and_reports_its_depth():
    queue: WorkQueue[str] = WorkQueue("unit-depth")
    for _ in range(5):
        queue.add("a")
    queue.add("b", delay=60)
    assert sample("ecs_operator_workqueue_adds_total", name="unit-depth") == 2
    assert sample("ecs_operator_workqueue_depth", name="unit-depth") == 2
    assert queue.get() == "a"
    assert sample("ecs_operator_workqueue_queue_duration_seconds_count", name="unit-depth") == 1
    assert sample("ecs_operator_workqueue_depth", name="unit-depth") == 1


def test_reconciles_are_counted_by_result_and_failures_retried():
    queue: WorkQueue[str] = WorkQueue("unit-reconcile")
    seen: list[str] = []
    done = threading.Event()
    backoff: Backoff[str] = Backoff()

    def reconcile(key: str) -> float | None:
        seen.append(key)
        if key == "boom":
            raise RuntimeError("a bug")
        if key == "later":
            return backoff.next(key) * 0 + 60  # a backoff: counted as a retry of this queue
        if key == "last":
            done.set()
        return None

    start_workers(queue, reconcile, 1, "unit-reconcile")
    for key in ("ok", "boom", "later", "last"):
        queue.add(key)
    assert done.wait(10)
    wait_for(lambda: sample("ecs_operator_reconcile_total", resource="unit-reconcile", result="success") == 2,
             timeout=10)
    queue.stop()
    assert sample("ecs_operator_reconcile_total", resource="unit-reconcile", result="error") == 1
    assert sample("ecs_operator_reconcile_errors_total", resource="unit-reconcile") == 1
    assert sample("ecs_operator_reconcile_total", resource="unit-reconcile", result="requeue") == 1
    assert sample("ecs_operator_workqueue_retries_total", name="unit-reconcile") == 2  # the error and the backoff
    assert sample("ecs_operator_workqueue_work_duration_seconds_count", name="unit-reconcile") == 4
    assert sample("ecs_operator_reconcile_duration_seconds_count", resource="unit-reconcile") == 4


def test_the_leader_gauge_is_1_without_an_election_and_follows_set_leader():
    metrics.enable_operator_metrics()
    assert sample("ecs_operator_leader") == 1
    metrics.set_leader(False)
    try:
        assert sample("ecs_operator_leader") == 0
    finally:
        metrics.set_leader(True)


def test_endpoint_actions_are_bounded():
    from ecs_operator.frontends.endpoint import metrics as endpoint

    endpoint.observe("RunTask", 200, 0.01)
    endpoint.observe("NotAnAction UnsupportedFeatureException", 400, 0.01)
    endpoint.observe("- SerializationException", 413, 0.01)
    assert sample("ecs_operator_endpoint_requests_total", action="RunTask", error_code="none") >= 1
    assert sample("ecs_operator_endpoint_requests_total", action="unknown",
                  error_code="UnsupportedFeatureException") >= 1
    assert sample("ecs_operator_endpoint_requests_total", action="NotAnAction",
                  error_code="UnsupportedFeatureException") == 0
