"""The Helm chart on the real apiserver, and the operator running with exactly the chart's RBAC."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ecs_operator.devcluster.build import build_helm
from ecs_operator.devcluster.controlplane import AUDITED_NAMESPACE
from ecs_operator.ecs.labels import API_GROUP, API_VERSION
from tests.helpers import start_operator, stop_operator, wait_for

pytestmark = pytest.mark.controlplane

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "ecs-operator"
RELEASE = "ecs"


@pytest.fixture(scope="module")
def helm() -> Path:
    return build_helm()


def render(helm: Path, *values: str) -> list[dict[str, Any]]:
    out = subprocess.run([str(helm), "template", RELEASE, str(CHART), "--namespace", AUDITED_NAMESPACE, *values],
                         capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module")
def system_namespace(kube) -> str:
    try:
        kube.core.create_namespace({"metadata": {"name": AUDITED_NAMESPACE}})
    except ApiException as err:
        if err.status != 409:
            raise
    return AUDITED_NAMESPACE


@pytest.mark.parametrize("values", [[], ["--set", "watchNamespaces={team-a,team-b}"],
                                    ["--set", "watchNamespaces={team-*}"]], ids=["all", "listed", "glob"])
def test_rendered_chart_is_accepted_by_the_apiserver(helm, kube, kubectl, crds_installed, system_namespace, values):
    documents = render(helm, *values)
    kinds = sorted(d["kind"] for d in documents)
    assert "Deployment" in kinds and "ClusterRole" in kinds
    for name in ("team-a", "team-b"):
        if any(d.get("metadata", {}).get("namespace") == name for d in documents):
            try:
                kube.core.create_namespace({"metadata": {"name": name}})
            except ApiException as err:
                if err.status != 409:
                    raise
    result = kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(documents))
    assert result.returncode == 0, result.stderr
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    rules = [r for d in documents if d["kind"] in ("ClusterRole", "Role") for r in d["rules"]]
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in rules)  # no wildcards
    assert not any(r["resources"] == ["secrets"] or {"escalate", "bind", "impersonate"} & set(r["verbs"])
                   for r in rules)


def granted(documents: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(group, resource, verb)
            for d in documents if d["kind"] in ("ClusterRole", "Role")
            for rule in d["rules"] for group in rule["apiGroups"] for resource in rule["resources"]
            for verb in rule["verbs"]}


def used(audit_log: Path, username: str) -> tuple[set[tuple[str, str, str]], list[str]]:
    calls, forbidden = set(), []
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        if event["user"]["username"] != username or "objectRef" not in event:
            continue
        ref = event["objectRef"]
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        calls.add((ref.get("apiGroup", ""), resource, event["verb"]))
        if event.get("responseStatus", {}).get("code") == 403:
            forbidden.append(f"{event['verb']} {resource} in {ref.get('namespace')}")
    return calls, forbidden


def token_kubeconfig(kube, service_account: str, path: Path) -> Path:
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    cluster = admin["clusters"][0]["cluster"]
    token = kube.core.create_namespaced_service_account_token(
        service_account, AUDITED_NAMESPACE, {"spec": {"expirationSeconds": 3600}}).status.token
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}],
    }))
    return path


def test_operator_runs_with_exactly_the_charts_rbac(helm, kube, kubectl, crds_installed, system_namespace,
                                                    node_group, tmp_path):
    if not kube.local:
        pytest.skip("reads the local control plane's audit log")
    namespace = f"rbac-{uuid.uuid4().hex[:8]}"
    kube.core.create_namespace({"metadata": {"name": namespace}})
    documents = render(helm, "--set", f"watchNamespaces={{{namespace}}}")
    rbac = [d for d in documents if d["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                                                  "RoleBinding")]
    applied = kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    assert applied.returncode == 0, applied.stderr
    service_account = next(d["metadata"]["name"] for d in documents if d["kind"] == "ServiceAccount")
    config = token_kubeconfig(kube, service_account, tmp_path / "kubeconfig")
    audit_log = kube.kubeconfig.parent / "logs" / "audit.log"

    log = (tmp_path / "operator.log").open("wb")
    operator = start_operator(config, log, "--namespace", namespace, ECS_STOPPED_TASK_RETENTION="2",
                              ECS_CLUSTER_STATUS_INTERVAL="0.5", ECS_INACTIVE_SERVICE_RETENTION="1")
    custom = client.CustomObjectsApi(kube.api)

    def create(plural: str, kind: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None = None):
        custom.create_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural, {
            "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": kind,
            "metadata": {"name": name, "labels": labels or {}}, "spec": spec})

    def task(name: str) -> dict[str, Any]:
        obj = custom.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "ecstasks", name)
        return ((obj.get("status") or {}).get("tasks") or [{}])[0]

    try:
        cluster = f"rb{uuid.uuid4().hex[:6]}"
        nodes = node_group(cluster=cluster, count=2)
        create("ecsclusters", "ECSCluster", cluster, {})
        create("ecstaskdefinitions", "ECSTaskDefinition", "app", {"family": "app", "containerDefinitions": [
            {"name": "web", "image": "nginx", "memory": 64, "portMappings": [{"containerPort": 80, "hostPort": 80}]}]})
        create("ecstasks", "ECSTask", "kept", {"cluster": cluster, "taskDefinition": "app"})
        create("ecstasks", "ECSTask", "brief", {"cluster": cluster, "taskDefinition": "app"},
               labels={f"{API_GROUP}/ephemeral": "true"})
        wait_for(lambda: task("kept").get("lastStatus") == "RUNNING", what="kept RUNNING")
        wait_for(lambda: task("brief").get("lastStatus") == "RUNNING", what="brief RUNNING")
        # drain and undrain an instance (node patch), an essential exit (pod delete), expiry (ecstask delete)
        custom.patch_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "ecsclusters", cluster,
                                              {"spec": {"drainingInstances": [nodes[0]]}})
        wait_for(lambda: kube.core.read_node(nodes[0]).spec.unschedulable, what="node cordoned")
        custom.patch_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "ecsclusters", cluster,
                                              {"spec": {"drainingInstances": None}})
        wait_for(lambda: not kube.core.read_node(nodes[0]).spec.unschedulable, what="node uncordoned")
        kube.core.patch_namespaced_pod("brief-0", namespace, {"metadata": {"annotations": {
            "exit.kwok.ecs-operator.dev/web": "1"}}})

        def brief_gone() -> bool:
            try:
                custom.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "ecstasks", "brief")
            except ApiException as err:
                return err.status == 404
            return False

        wait_for(brief_gone, what="the expired ephemeral task deleted")
        assert task("kept")["lastStatus"] == "RUNNING"
        # a service: its task created (ecstasks create), its status (ecsservices/status update), then
        # scaled to 0: its task stopped (ecstasks patch)
        create("ecsservices", "ECSService", "svc", {"cluster": cluster, "taskDefinition": "app", "desiredCount": 1})

        def service() -> dict[str, Any]:
            return custom.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "ecsservices",
                                                       "svc").get("status") or {}

        wait_for(lambda: service().get("runningCount") == 1, what="the service's task RUNNING")
        custom.patch_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "ecsservices", "svc",
                                              {"spec": {"desiredCount": 0}})
        wait_for(lambda: service().get("runningCount") == 0 and service().get("desiredCount") == 0,
                 what="the service scaled to 0")
        # DeleteService: INACTIVE, then the object goes (ecsservices delete)
        custom.patch_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "ecsservices", "svc", {
            "metadata": {"annotations": {f"{API_GROUP}/delete-requested": "2026-12-03T00:00:00Z"}}})

        def service_gone() -> bool:
            try:
                service()
            except ApiException as err:
                return err.status == 404
            return False

        wait_for(service_gone, what="the deleted service's object gone after its retention")
    finally:
        stop_operator(operator)
        log.close()
        kube.core.delete_namespace(namespace)

    calls, forbidden = used(audit_log, f"system:serviceaccount:{AUDITED_NAMESPACE}:{service_account}")
    assert not forbidden, f"denied by the chart's RBAC: {forbidden}"
    unused = granted(documents) - calls
    assert not unused, f"granted but never used: {sorted(unused)}"
    assert "Traceback" not in (tmp_path / "operator.log").read_text()
