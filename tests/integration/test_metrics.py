"""/metrics of a real operator process during a scenario, and of the ECS endpoint after some calls:
the numbers are checked against what happened (the objects read back from the apiserver)."""

from __future__ import annotations

import urllib.request
import uuid
from typing import Any

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from ecs_operator.ecs.labels import API_GROUP, API_VERSION
from tests.conftest import free_port
from tests.helpers import start_operator, stop_operator, wait_for

pytestmark = pytest.mark.controlplane

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, metric: str, **labels: str) -> float:
    return samples.get((metric, frozenset(labels.items())), 0.0)


def matching(samples: Samples, metric: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every sample of `metric` whose labels include `labels`."""
    return {key: v for (n, key), v in samples.items() if n == metric and set(labels.items()) <= key}


WEB = {"name": "web", "image": "nginx:1.27", "memory": 32}
PORTED = {"name": "web", "image": "nginx:1.27", "memory": 32, "portMappings": [{"containerPort": 80, "hostPort": 8080}]}


def test_operator_metrics_match_what_happened(kube, crds_installed, node_group, tmp_path):
    namespace = f"m-{uuid.uuid4().hex[:8]}"  # served by this test's operator only (the shared one serves t-*)
    kube.core.create_namespace({"metadata": {"name": namespace}})
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    log = (tmp_path / "operator.log").open("wb")
    operator = start_operator(kube.kubeconfig, log, "--namespace", namespace,
                              "--metrics-bind-address", f"127.0.0.1:{port}",
                              ECS_SERVICE_HEALTHY_AFTER="1", ECS_SERVICE_STATUS_INTERVAL="0.5")
    custom = client.CustomObjectsApi(kube.api)

    def create(plural: str, kind: str, name: str, spec: dict[str, Any]) -> None:
        custom.create_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural, {
            "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind, "metadata": {"name": name}, "spec": spec})

    def listed(plural: str) -> list[dict[str, Any]]:
        return custom.list_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural)["items"]

    def records() -> list[dict[str, Any]]:
        return [r for task in listed("ecstasks") for r in (task.get("status") or {}).get("tasks") or []]

    try:
        before = wait_for(lambda: _try_scrape(url), what="the operator's /metrics")
        assert value(before, "ecs_operator_leader") == 1
        cluster = f"mc{uuid.uuid4().hex[:6]}"
        node_group(cluster=cluster, count=2)
        create("ecsclusters", "ECSCluster", cluster, {})
        create("ecstaskdefinitions", "ECSTaskDefinition", "app", {"family": "app", "containerDefinitions": [WEB]})
        create("ecstaskdefinitions", "ECSTaskDefinition", "ported",
               {"family": "ported", "containerDefinitions": [PORTED]})
        wait_for(lambda: all((d.get("status") or {}).get("latestRevision") for d in listed("ecstaskdefinitions"))
                 and len(listed("ecstaskdefinitions")) == 2, what="both task definitions registered")
        for i in range(3):
            create("ecstasks", "ECSTask", f"app-{i}", {"cluster": cluster, "taskDefinition": "app"})
        # Host port 8080 on two instances: the third copy cannot be placed (RESOURCE:PORTS).
        for i in range(3):
            create("ecstasks", "ECSTask", f"ported-{i}", {"cluster": cluster, "taskDefinition": "ported"})
        create("ecsservices", "ECSService", "svc", {"cluster": cluster, "taskDefinition": "app", "desiredCount": 2})

        def settled() -> bool:
            found = records()
            running = sum(r.get("lastStatus") == "RUNNING" for r in found)
            unplaced = [r for r in found if r.get("failures")]
            service = (listed("ecsservices")[0].get("status") or {})
            rollout = (service.get("deployments") or [{}])[0].get("rolloutState")
            return len(found) == 8 and running == 7 and len(unplaced) == 1 and rollout == "COMPLETED"

        wait_for(settled, timeout=120, what="7 tasks RUNNING, 1 unplaced, the service's rollout COMPLETED")
        found = records()
        unplaced = next(r for r in found if r.get("failures"))
        reasons = {f["reason"] for f in unplaced["failures"]}
        assert "RESOURCE:PORTS" in reasons

        # The domain gauges are computed from the caches when scraped: they follow the watch, a
        # moment behind the objects read above.
        by_status: dict[str, int] = {}
        for record in found:
            by_status[record["lastStatus"]] = by_status.get(record["lastStatus"], 0) + 1

        def tasks_match() -> Samples | None:
            now = scrape(url)
            gauges = {dict(k)["last_status"]: v for k, v in
                      matching(now, "ecs_operator_tasks", namespace=namespace, cluster=cluster).items()}
            return now if gauges == by_status else None

        after = wait_for(tasks_match, timeout=30, what=f"ecs_operator_tasks == {by_status}")
        assert by_status == {"RUNNING": 7, unplaced["lastStatus"]: 1}
        assert value(after, "ecs_operator_services", namespace=namespace, cluster=cluster, status="ACTIVE",
                     rollout_state="COMPLETED") == 1
        assert value(after, "ecs_operator_service_tasks", namespace=namespace, cluster=cluster, state="running") == 2
        assert value(after, "ecs_operator_container_instances", namespace=namespace, cluster=cluster,
                     status="ACTIVE") == 2
        assert value(after, "ecs_operator_container_instances", namespace=namespace, cluster=cluster,
                     status="DRAINING") == 0

        def grew(metric: str, **labels: str) -> float:
            return value(after, metric, **labels) - value(before, metric, **labels)

        # One placement failure, counted once per reason when first reported.
        for reason in reasons:
            assert grew("ecs_operator_placement_failures_total", reason=reason) == 1, reason
        # The API requests match the writes done: one Pod per task (8), created once each; the
        # service's two ECSTasks; a status write at least per task that reached a status.
        pods = kube.core.list_namespaced_pod(namespace).items
        assert len(pods) == 8
        assert grew("ecs_operator_kube_requests_total", verb="create", resource="pods", code="201") == 8
        assert grew("ecs_operator_kube_requests_total", verb="create", resource="ecstasks", code="201") == 2
        assert grew("ecs_operator_kube_requests_total", verb="update", resource="ecstasks/status", code="200") >= 8
        assert grew("ecs_operator_kube_requests_total", verb="update", resource="ecsservices/status",
                    code="200") >= 1
        assert grew("ecs_operator_kube_request_duration_seconds_count", verb="create", resource="pods") == 8
        # The generated client's calls are counted too (kopf's handlers: revision ConfigMaps).
        assert grew("ecs_operator_kube_requests_total", verb="create", resource="configmaps", code="201") == 2
        # Every ECSTask and the service were reconciled, through their work queues.
        assert grew("ecs_operator_reconcile_total", resource="ecstask", result="success") \
            + grew("ecs_operator_reconcile_total", resource="ecstask", result="requeue") >= 8
        assert grew("ecs_operator_reconcile_total", resource="ecsservice", result="success") >= 1
        assert grew("ecs_operator_reconcile_total", resource="ecstaskdefinition", result="success") >= 2
        assert grew("ecs_operator_workqueue_adds_total", name="ecstask") >= 8
        assert grew("ecs_operator_workqueue_work_duration_seconds_count", name="ecstask") >= 8
        assert grew("ecs_operator_workqueue_queue_duration_seconds_count", name="ecstask") >= 8
        assert value(after, "ecs_operator_reconcile_errors_total", resource="ecstask") == 0
        assert ("ecs_operator_workqueue_depth", frozenset({("name", "ecstask")})) in after
        assert grew("ecs_operator_watch_events_total", kind="pods", type="ADDED") >= 8
        assert value(after, "ecs_operator_cache_objects", kind="ecstasks") == 8
        assert value(after, "ecs_operator_cache_objects", kind="pods") == 8
        # No label holds a task's or a Pod's name.
        names = {t["metadata"]["name"] for t in listed("ecstasks")} | {p.metadata.name for p in pods}
        assert not names & {v for key in after for _, v in key[1]}
    finally:
        stop_operator(operator)
        log.close()
        kube.core.delete_namespace(namespace)
    assert "Traceback" not in (tmp_path / "operator.log").read_text()


def _try_scrape(url: str) -> Samples | None:
    try:
        return scrape(url)
    except OSError:
        return None


def test_endpoint_metrics_count_requests_by_action_and_error(endpoint, ecs_credentials):
    import boto3
    from botocore.exceptions import ClientError

    credentials = ecs_credentials()
    ecs = boto3.client("ecs", endpoint_url=endpoint.url, region_name="us-east-1",
                       aws_access_key_id=credentials.access_key_id,
                       aws_secret_access_key=credentials.secret_access_key)
    url = f"{endpoint.url}/metrics"
    before = scrape(url)
    for _ in range(3):
        ecs.list_clusters()
    with pytest.raises(ClientError):
        ecs.describe_services(cluster="nowhere", services=["x"])
    after = scrape(url)

    def grew(metric: str, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    assert grew("ecs_operator_endpoint_requests_total", action="ListClusters", error_code="none") == 3
    assert grew("ecs_operator_endpoint_request_duration_seconds_count", action="ListClusters") == 3
    errors = {dict(k)["error_code"]: v for k, v in
              matching(after, "ecs_operator_endpoint_requests_total", action="DescribeServices").items()}
    assert errors.get("ClusterNotFoundException", 0) - value(
        before, "ecs_operator_endpoint_requests_total", action="DescribeServices",
        error_code="ClusterNotFoundException") == 1
    # its own API requests (the caches' lists and watches, the access key's read) are counted too
    assert matching(after, "ecs_operator_kube_requests_total", verb="watch")
    assert "ecs_operator_leader" not in {name for name, _ in after}  # the endpoint leads nothing


def test_the_charts_dashboard_and_service_monitors_name_only_metrics_that_exist():
    """Every metric the Grafana dashboard queries is one the operator or the endpoint exports, and the
    ServiceMonitors select the Services that serve /metrics."""
    import re
    import subprocess
    from pathlib import Path

    import yaml
    from prometheus_client import REGISTRY

    from ecs_operator.controller import metrics
    from ecs_operator.devcluster.build import build_helm
    from ecs_operator.frontends.endpoint import metrics as _endpoint  # noqa: F401  (registers its metrics)

    chart = Path(__file__).resolve().parents[2] / "charts" / "ecs-operator"
    out = subprocess.run([str(build_helm()), "template", "ecs", str(chart), "--namespace", "ecs-system",
                          "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.dashboard.enabled=true"],
                         capture_output=True, text=True, check=True).stdout
    documents = [d for d in yaml.safe_load_all(out) if d]
    metrics.enable_operator_metrics()
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
    exported = {family.name + suffix for family in REGISTRY.collect()
                for suffix in suffixes.get(family.type, [""])} | {
        "ecs_operator_tasks", "ecs_operator_services", "ecs_operator_service_tasks",
        "ecs_operator_container_instances"}  # the domain gauges: only with the operator's caches
    dashboard = next(d for d in documents if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard"))
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    queried = set(re.findall(r"ecs_operator_[a-z_]+", dashboard["data"]["ecs-operator.json"]))
    assert queried and queried <= exported, queried - exported
    services = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Service"}
    monitors = [d for d in documents if d["kind"] == "ServiceMonitor"]
    assert len(monitors) == 2
    for monitor in monitors:
        selected = [s for s in services.values()
                    if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
        assert len(selected) == 1
        assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in selected[0]["spec"]["ports"]}
    operator = next(d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == "ecs-ecs-operator")
    container = operator["spec"]["template"]["spec"]["containers"][0]
    assert "--metrics-bind-address=:8081" in container["args"]
    assert {"name": "metrics", "containerPort": 8081} in container["ports"]
