"""The local control plane is real Kubernetes: scheduler, garbage collector, admission, kwok."""

from __future__ import annotations

import uuid

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ecs_operator.devcluster.nodes import NODE_GROUP_LABEL
from tests.helpers import wait_for

pytestmark = pytest.mark.controlplane


def pod(name: str, group: str, host_port: int | None = None, containers: int = 1) -> dict:
    ports = [{"containerPort": 8080, "hostPort": host_port}] if host_port else []
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {NODE_GROUP_LABEL: group},
            "containers": [
                {"name": f"c{i}", "image": "nginx:1.27", "resources": {"requests": {"cpu": "500m"}},
                 "ports": ports if i == 0 else []}
                for i in range(containers)
            ],
        },
    }


def test_pod_with_cpu_request_and_host_port_runs_on_a_kwok_node(kube, namespace, node_group):
    nodes = node_group(count=2)
    group = nodes[0].rsplit("-node-", 1)[0]
    kube.core.create_namespaced_pod(namespace, pod("web", group, host_port=443))
    running = wait_for(lambda: (p := kube.core.read_namespaced_pod("web", namespace)).status.phase == "Running"
                       and p, what="pod Running")
    assert running.spec.node_name in nodes  # bound by the real scheduler to one of the group's nodes
    assert running.status.container_statuses[0].state.running is not None
    assert running.status.pod_ip  # kwok assigned an address from its pod range


def test_second_pod_wanting_the_same_host_port_stays_pending_with_the_schedulers_reason(
        kube, namespace, node_group):
    nodes = node_group(count=1)
    group = nodes[0].rsplit("-node-", 1)[0]
    kube.core.create_namespaced_pod(namespace, pod("first", group, host_port=443))
    wait_for(lambda: kube.core.read_namespaced_pod("first", namespace).status.phase == "Running",
             what="first pod Running")
    kube.core.create_namespaced_pod(namespace, pod("second", group, host_port=443))

    def unschedulable():
        p = kube.core.read_namespaced_pod("second", namespace)
        return next((c for c in p.status.conditions or [] if c.type == "PodScheduled" and c.status == "False"),
                    None)

    condition = wait_for(unschedulable, what="PodScheduled=False on the second pod")
    assert condition.reason == "Unschedulable"
    assert "free ports" in condition.message  # "node(s) didn't have free ports for the requested pod ports"
    assert kube.core.read_namespaced_pod("second", namespace).status.phase == "Pending"


def test_deleting_an_owner_removes_its_child_through_the_garbage_collector(kube, namespace):
    owner = kube.core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    kube.core.create_namespaced_config_map(namespace, {"metadata": {
        "name": "child",
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                             "uid": owner.metadata.uid}],
    }})
    kube.core.delete_namespaced_config_map("owner", namespace)

    def child_gone():
        try:
            kube.core.read_namespaced_config_map("child", namespace)
        except ApiException as err:
            return err.status == 404
        return False

    assert wait_for(child_gone, what="the garbage collector to delete the child")


def test_custom_resource_violating_its_schema_is_rejected_with_the_field_named(kube, namespace):
    ext = client.ApiextensionsV1Api(kube.api)
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {"type": "object", "properties": {
                    "cpu": {"type": "integer", "minimum": 0, "maximum": 10240}}}},
            }}}],
        },
    }
    ext.create_custom_resource_definition(crd)
    try:
        wait_for(lambda: any(c.type == "Established" and c.status == "True"
                             for c in ext.read_custom_resource_definition(f"widgets.{group}").status.conditions or []),
                 what="CRD established")
        custom = client.CustomObjectsApi(kube.api)
        body = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"cpu": 99999}}
        with pytest.raises(ApiException) as err:
            custom.create_namespaced_custom_object(group, "v1", namespace, "widgets", body)
        assert err.value.status == 422
        assert "spec.cpu" in err.value.body and "10240" in err.value.body
    finally:
        ext.delete_custom_resource_definition(f"widgets.{group}")


def test_container_exit_stage_terminates_the_chosen_container_with_the_chosen_code(
        kube, namespace, node_group):
    nodes = node_group(count=1)
    group = nodes[0].rsplit("-node-", 1)[0]
    kube.core.create_namespaced_pod(namespace, pod("task", group, containers=2))
    wait_for(lambda: kube.core.read_namespaced_pod("task", namespace).status.phase == "Running",
             what="pod Running")
    kube.core.patch_namespaced_pod("task", namespace, {"metadata": {"annotations": {
        "exit.kwok.ecs-operator.dev/c1": "137"}}})

    def c1_terminated():
        p = kube.core.read_namespaced_pod("task", namespace)
        states = {s.name: s.state for s in p.status.container_statuses}
        return states["c1"].terminated and p

    p = wait_for(c1_terminated, what="c1 terminated")
    states = {s.name: s.state for s in p.status.container_statuses}
    assert states["c1"].terminated.exit_code == 137
    assert states["c1"].terminated.reason == "Error"
    assert states["c0"].running is not None  # the other container keeps running
    assert p.status.phase == "Running"

    # The last container's exit ends the pod as a kubelet would with restartPolicy Never.
    kube.core.patch_namespaced_pod("task", namespace, {"metadata": {"annotations": {
        "exit.kwok.ecs-operator.dev/c0": "0"}}})
    p = wait_for(lambda: (q := kube.core.read_namespaced_pod("task", namespace)).status.phase == "Failed" and q,
                 what="pod Failed")
    states = {s.name: s.state for s in p.status.container_statuses}
    assert states["c0"].terminated.exit_code == 0 and states["c0"].terminated.reason == "Completed"
    assert states["c1"].terminated.exit_code == 137  # earlier exits are kept
