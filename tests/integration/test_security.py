"""Security by default: Pod Security levels, cluster policies, tenants, and the operator's own Pod."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from ecs_operator.devcluster.build import build_helm
from tests.helpers import wait_for
from tests.integration.test_reconcilers import Ecs

pytestmark = pytest.mark.controlplane

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ecs(kube, namespace, operator_process) -> Ecs:
    return Ecs(kube, namespace)


def enforce(kube, namespace: str, level: str) -> None:
    kube.core.patch_namespace(namespace, {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/enforce-version": "latest"}}})


def cluster_with_policy(ecs: Ecs, node_group: Any, policy: dict[str, Any]) -> str:
    name = f"c{uuid.uuid4().hex[:8]}"
    node_group(cluster=name, count=1)
    ecs.create("ecsclusters", "ECSCluster", name, {"policy": policy})
    return name


WEB = {"family": "web", "containerDefinitions": [
    {"name": "web", "image": "nginx", "cpu": 256, "memory": 128, "portMappings": [{"containerPort": 8080}],
     "linuxParameters": {"capabilities": {"add": ["NET_BIND_SERVICE"]}}}]}


def test_tasks_pass_pod_security_baseline_by_default(ecs, kube, node_group):
    enforce(kube, ecs.namespace, "baseline")
    cluster = cluster_with_policy(ecs, node_group, {})
    ecs.task_definition(WEB)
    ecs.run_task("base", cluster, "web")
    ecs.wait_task("base", "RUNNING")  # admitted by the apiserver's Pod Security admission


def test_restricted_namespaces_need_a_restricted_cluster_policy(ecs, kube, node_group):
    enforce(kube, ecs.namespace, "restricted")
    lenient = cluster_with_policy(ecs, node_group, {})
    strict = cluster_with_policy(ecs, node_group, {"podSecurity": "restricted"})
    ecs.task_definition(WEB | {"containerDefinitions": [WEB["containerDefinitions"][0] | {"user": "1000"}]})
    ecs.run_task("strict", strict, "web")
    ecs.wait_task("strict", "RUNNING")
    pod = ecs.kube.core.read_namespaced_pod("strict-0", ecs.namespace)
    assert pod.spec.security_context.run_as_non_root is True
    assert pod.spec.containers[0].security_context.capabilities.drop == ["ALL"]

    ecs.run_task("lenient", lenient, "web")
    status = wait_for(lambda: (s := ecs.get("ecstasks", "lenient").get("status", {})).get("failures") and s,
                      what="the refusal recorded")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "PodRefused" and "violates PodSecurity" in ready["message"]
    event = wait_for(lambda: next((e for e in ecs.kube.core.list_namespaced_event(ecs.namespace).items
                                   if e.reason == "PodRefused"), None), what="a PodRefused Event")
    assert event.type == "Warning"


@pytest.mark.parametrize(("change", "field", "policy"), [
    ({"privileged": True}, "containerDefinitions[0].privileged", "allowPrivileged"),
    ({"linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"]}}},
     "containerDefinitions[0].linuxParameters.capabilities.add", "allowedCapabilities"),
    ({"mountPoints": [{"sourceVolume": "host", "containerPath": "/host"}]}, "volumes[0].host.sourcePath",
     "allowHostPath"),
], ids=["privileged", "capability", "hostPath"])
def test_host_access_is_refused_unless_the_cluster_allows_it(ecs, node_group, change, field, policy):
    closed = cluster_with_policy(ecs, node_group, {})
    opened = cluster_with_policy(ecs, node_group, {policy: ["SYS_ADMIN"] if policy == "allowedCapabilities" else True})
    definition: dict[str, Any] = {"family": "hostly",
                                  "containerDefinitions": [{"name": "app", "image": "app", "memory": 64, **change}]}
    if "mountPoints" in change:
        definition["volumes"] = [{"name": "host", "host": {"sourcePath": "/var/log"}}]
    ecs.task_definition(definition)
    ecs.run_task("refused", closed, "hostly")
    status = wait_for(lambda: (s := ecs.get("ecstasks", "refused").get("status", {})).get("failures") and s,
                      what="refusal")
    assert field in status["failures"][0]["detail"] and policy in status["failures"][0]["detail"]
    assert ecs.kube.core.list_namespaced_pod(ecs.namespace, label_selector="ecs.compat.dev/task=refused").items == []
    ecs.run_task("allowed", opened, "hostly")
    ecs.wait_task("allowed", "RUNNING")


def test_static_host_ports_can_be_refused_by_policy(ecs, node_group):
    cluster = cluster_with_policy(ecs, node_group, {"allowHostPorts": False})
    ecs.task_definition({"family": "lb", "containerDefinitions": [
        {"name": "lb", "image": "nginx", "memory": 64, "portMappings": [{"containerPort": 80, "hostPort": 80}]}]})
    ecs.run_task("lb", cluster, "lb")
    status = wait_for(lambda: (s := ecs.get("ecstasks", "lb").get("status", {})).get("failures") and s,
                      what="refusal")
    assert "portMappings[0].hostPort" in status["failures"][0]["detail"]


def test_a_task_cannot_use_another_namespaces_cluster_or_task_definition(ecs, kube, node_group):
    other = f"t-{uuid.uuid4().hex[:10]}"
    kube.core.create_namespace({"metadata": {"name": other}})
    try:
        theirs = Ecs(kube, other)
        cluster = theirs.cluster(1, node_group)
        theirs.task_definition({"family": "private", "containerDefinitions": [
            {"name": "a", "image": "a", "memory": 64}]})
        ecs.run_task("borrow", cluster, "private")  # names that exist only in the other namespace
        status = wait_for(lambda: (s := ecs.get("ecstasks", "borrow").get("status", {})).get("conditions") and s,
                          what="refusal")
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["reason"] == "Unresolved" and f"not found in namespace {ecs.namespace}" in ready["message"]
        assert ecs.kube.core.list_namespaced_pod(ecs.namespace).items == []
        assert ecs.kube.core.list_namespaced_pod(other).items == []
    finally:
        kube.core.delete_namespace(other)


def test_the_operators_own_pod_passes_pod_security_restricted(kube, namespace):
    import subprocess

    rendered = subprocess.run([str(build_helm()), "template", "ecs", str(REPO / "charts" / "ecs-operator"),
                               "--namespace", namespace], capture_output=True, text=True, check=True).stdout
    deployment = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment")
    enforce(kube, namespace, "restricted")
    template = deployment["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "operator", **template["metadata"]},
           "spec": template["spec"] | {"serviceAccountName": "default"}}
    accepted = client.CoreV1Api(kube.api).create_namespaced_pod(namespace, pod, dry_run="All")
    assert accepted.spec.containers[0].security_context.read_only_root_filesystem is True
