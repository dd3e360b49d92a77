"""The Helm chart on the real apiserver, and the operator running with exactly the chart's RBAC."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import urllib3
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


OPERATOR = f"{RELEASE}-ecs-operator"
ENDPOINT = f"{RELEASE}-ecs-operator-endpoint"
USER_ROLES = ("ecs-full-access", "ecs-read-only")
ECS_KINDS = ["ecsclusters", "ecstaskdefinitions", "ecstasks", "ecsservices"]


def named(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name)


@pytest.mark.parametrize("values", [[], ["--set", "watchNamespaces={team-a,team-b}"],
                                    ["--set", "watchNamespaces={team-*}"],
                                    ["--set", "endpoint.tls.secretName=ecs-endpoint-tls",
                                     "--set", "endpoint.credentialsNamespace="],
                                    ["--set", "endpoint.enabled=false", "--set", "userClusterRoles.create=false"]],
                         ids=["all", "listed", "glob", "endpoint-tls", "no-endpoint"])
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
    deployment = named(documents, "Deployment", OPERATOR)
    # two replicas, one leading (a Lease in the release namespace): a rolling update is safe
    assert deployment["spec"]["replicas"] == 2 and "strategy" not in deployment["spec"]
    operator_container = hardened(deployment)
    assert "--leader-elect" in operator_container["args"]
    env = {e["name"]: e for e in operator_container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["ECS_LEADER_ELECTION_ID"]["value"] == OPERATOR
    on_leases = [(d["kind"], d["metadata"].get("namespace"), r) for d in documents
                 if d["kind"] in ("ClusterRole", "Role") for r in d["rules"] if "leases" in r["resources"]]
    leases = {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"]}
    assert on_leases == [("Role", AUDITED_NAMESPACE, leases | {"verbs": ["create"]}),
                         ("Role", AUDITED_NAMESPACE, leases | {"resourceNames": [OPERATOR],
                                                               "verbs": ["get", "update"]})]
    rules = [r for d in documents if d["kind"] in ("ClusterRole", "Role") for r in d["rules"]]
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in rules)  # no wildcards
    assert not any({"escalate", "bind", "impersonate"} & set(r["verbs"]) for r in rules)
    # Secrets: get by name only, and by the operator only: the Secrets task definitions' AWS
    # references name (docs/mapping.md), checked before a task's Pod is created. The endpoint's
    # access keys are ECSAccessKeys, read by the endpoint alone, in the credentials namespace.
    assert all(set(r["verbs"]) == {"get"} for r in rules if "secrets" in r["resources"])
    on_secrets = [d for d in documents if d["kind"] in ("ClusterRole", "Role") and d["metadata"]["name"] != OPERATOR
                  if any("secrets" in r["resources"] for r in d["rules"])]
    assert not on_secrets
    on_keys = [d for d in documents if d["kind"] in ("ClusterRole", "Role")
               if any("ecsaccesskeys" in r["resources"] for r in d["rules"])]
    if "endpoint.enabled=false" in values:
        assert not on_keys and not any(d["metadata"]["name"].startswith(ENDPOINT) for d in documents)
        assert not any(d["metadata"]["name"] in USER_ROLES for d in documents)
        return
    assert [(d["kind"], d["metadata"]["namespace"], d["rules"]) for d in on_keys] == [
        ("Role", AUDITED_NAMESPACE, [{"apiGroups": ["ecs.compat.dev"], "resources": ["ecsaccesskeys"],
                                     "verbs": ["get"]}])]
    endpoint = named(documents, "Deployment", ENDPOINT)
    assert endpoint["spec"]["replicas"] == 2
    container = hardened(endpoint)
    assert container["args"][:2] == ["api", "--listen=0.0.0.0:5373"]
    assert f"--credentials-namespace={AUDITED_NAMESPACE}" in container["args"]
    scheme = "HTTPS" if "endpoint.tls.secretName=ecs-endpoint-tls" in values else "HTTP"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "ecs", "scheme": scheme}
    service = named(documents, "Service", ENDPOINT)
    assert service["spec"]["selector"] == endpoint["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["port"] == (443 if scheme == "HTTPS" else 80)
    # neither Deployment selects the other's Pods
    for one, other in ((deployment, endpoint), (endpoint, deployment)):
        labels = other["spec"]["template"]["metadata"]["labels"]
        assert not one["spec"]["selector"]["matchLabels"].items() <= labels.items()
    full, read = (named(documents, "ClusterRole", name)["rules"] for name in USER_ROLES)
    assert full == [{"apiGroups": [API_GROUP], "resources": ECS_KINDS,
                     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]
    assert read == [{"apiGroups": [API_GROUP], "resources": ECS_KINDS, "verbs": ["get", "list", "watch"]}]


def hardened(deployment: dict[str, Any]) -> dict[str, Any]:
    """The Deployment's one container, after checking the hardening both Deployments share."""
    pod = deployment["spec"]["template"]["spec"]
    container: dict[str, Any] = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    return container


def granted(documents: list[dict[str, Any]], service_account: str) -> set[tuple[str, str, str]]:
    """(group, resource, verb) the chart grants that service account, through its bindings."""
    def role(kind: str, name: str, namespace: str | None) -> tuple[str, str, str | None]:
        return kind, name, namespace if kind == "Role" else None

    bound = {role(d["roleRef"]["kind"], d["roleRef"]["name"], d["metadata"].get("namespace"))
             for d in documents if d["kind"] in ("ClusterRoleBinding", "RoleBinding")
             for subject in d["subjects"] if subject["kind"] == "ServiceAccount" and subject["name"] == service_account}
    return {(group, resource, verb)
            for d in documents if role(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) in bound
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
    service_account = OPERATOR
    config = token_kubeconfig(kube, service_account, tmp_path / "kubeconfig")
    audit_log = kube.kubeconfig.parent / "logs" / "audit.log"

    log = (tmp_path / "operator.log").open("wb")
    # As the chart runs it: with leader election, its Lease in the release namespace (the Role there)
    operator = start_operator(config, log, "--namespace", namespace, "--leader-elect", ECS_STOPPED_TASK_RETENTION="2",
                              ECS_CLUSTER_STATUS_INTERVAL="0.5", ECS_INACTIVE_SERVICE_RETENTION="1",
                              POD_NAMESPACE=AUDITED_NAMESPACE, ECS_LEADER_ELECTION_ID=OPERATOR)
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
        # AWS references (docs/mapping.md): the operator gets the Secret, ServiceAccount and claim they
        # name before it creates a Pod; none exists here, so the task fails to start.
        create("ecstaskdefinitions", "ECSTaskDefinition", "refs", {
            "family": "refs", "taskRoleArn": "arn:aws:iam::123456789012:role/app",
            "volumes": [{"name": "shared", "efsVolumeConfiguration": {"fileSystemId": "fs-12345678"}}],
            "containerDefinitions": [{"name": "web", "image": "nginx", "memory": 64, "secrets": [
                {"name": "PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/db/password"}]}]})
        create("ecstasks", "ECSTask", "refs", {"cluster": cluster, "taskDefinition": "refs"})
        wait_for(lambda: task("refs").get("stopCode") == "TaskFailedToStart", what="refs TaskFailedToStart")
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
    unused = granted(documents, service_account) - calls
    assert not unused, f"granted but never used: {sorted(unused)}"
    assert "Traceback" not in (tmp_path / "operator.log").read_text()


# Granted ahead of the code that uses it (none now).
ENDPOINT_PENDING_GRANTS: set[tuple[str, str, str]] = set()


def test_endpoint_runs_with_exactly_the_charts_rbac(helm, kube, kubectl, crds_installed, system_namespace,
                                                    operator_process, namespace, node_group, tmp_path):
    """`ecs-operator api` with the endpoint's ServiceAccount token and the chart's RBAC, driven by
    boto3 through every kind of call a tenant bound to ecs-full-access makes: the audit log shows
    each grant used and nothing denied."""
    import boto3
    from botocore.config import Config

    from ecs_operator.api.access_keys import create_access_key
    from tests.conftest import free_port, start_endpoint

    if not kube.local:
        pytest.skip("reads the local control plane's audit log")
    documents = render(helm)  # default values: the operator cluster-wide, the endpoint, the user roles
    rbac = [d for d in documents if d["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                                                  "RoleBinding")]
    applied = kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    assert applied.returncode == 0, applied.stderr
    config = token_kubeconfig(kube, ENDPOINT, tmp_path / "kubeconfig")
    audit_log = kube.kubeconfig.parent / "logs" / "audit.log"

    tenant = f"alice-{uuid.uuid4().hex[:6]}"
    rbac_api = client.RbacAuthorizationV1Api(kube.api)
    rbac_api.create_namespaced_role_binding(namespace, {
        "metadata": {"name": f"{tenant}-ecs"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ecs-full-access"},
        "subjects": [{"kind": "User", "name": tenant, "apiGroup": "rbac.authorization.k8s.io"}]})
    key = create_access_key(kube.core, tenant, [], namespace, AUDITED_NAMESPACE)
    cluster = f"ep{uuid.uuid4().hex[:6]}"
    node_group(cluster=cluster, count=2)

    log = tmp_path / "endpoint.log"
    proc = start_endpoint(config, log, port := free_port(), "--credentials-namespace", AUDITED_NAMESPACE)
    ecs = boto3.client("ecs", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                       aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key,
                       config=Config(retries={"mode": "standard", "max_attempts": 2}))
    fast = {"Delay": 0.5, "MaxAttempts": 120}
    try:
        ecs.create_cluster(clusterName=cluster)
        assert ecs.describe_clusters(clusters=[cluster], include=["TAGS", "STATISTICS"])["clusters"]
        assert any(arn.endswith(f"/{cluster}") for arn in ecs.list_clusters()["clusterArns"])
        ecs.tag_resource(resourceArn=ecs.describe_clusters(clusters=[cluster])["clusters"][0]["clusterArn"],
                         tags=[{"key": "team", "value": "a"}])
        family = ecs.register_task_definition(family="app", containerDefinitions=[
            {"name": "web", "image": "nginx", "memory": 64, "essential": True}])["taskDefinition"]
        assert ecs.describe_task_definition(taskDefinition="app:1")["taskDefinition"]["family"] == "app"
        assert ecs.list_task_definitions()["taskDefinitionArns"] == [family["taskDefinitionArn"]]
        assert ecs.list_task_definition_families()["families"] == ["app"]
        ecs.tag_resource(resourceArn=family["taskDefinitionArn"], tags=[{"key": "team", "value": "a"}])
        task = ecs.run_task(cluster=cluster, taskDefinition="app")["tasks"][0]["taskArn"]
        ecs.get_waiter("tasks_running").wait(cluster=cluster, tasks=[task], WaiterConfig=fast)
        assert ecs.list_tasks(cluster=cluster)["taskArns"] == [task]
        # the task metadata endpoint v4, as the task's container reads it (pods list)
        pod = next(p for p in kube.core.list_namespaced_pod(namespace).items
                   if p.metadata.annotations.get("ecs.compat.dev/task-arn") == task)
        uri = next(e.value for e in pod.spec.containers[0].env if e.name == "ECS_CONTAINER_METADATA_URI_V4")
        path = uri.split("/", 3)[3]
        answer = urllib3.request("GET", f"http://127.0.0.1:{port}/{path}/task", retries=False)
        assert answer.status == 200 and json.loads(answer.data)["TaskARN"] == task
        ecs.tag_resource(resourceArn=task, tags=[{"key": "team", "value": "a"}])
        assert ecs.list_tags_for_resource(resourceArn=task)["tags"] == [{"key": "team", "value": "a"}]
        ecs.untag_resource(resourceArn=task, tagKeys=["team"])
        instances = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
        assert len(ecs.describe_container_instances(cluster=cluster, containerInstances=instances)[
            "containerInstances"]) == 2
        ecs.update_container_instances_state(cluster=cluster, containerInstances=instances[:1], status="DRAINING")
        ecs.update_container_instances_state(cluster=cluster, containerInstances=instances[:1], status="ACTIVE")
        ecs.stop_task(cluster=cluster, task=task, reason="done")
        ecs.get_waiter("tasks_stopped").wait(cluster=cluster, tasks=[task], WaiterConfig=fast)
        # a service: created, scaled to 0, deleted; created again under the same name (the
        # INACTIVE one's object is deleted first)
        ecs.create_service(cluster=cluster, serviceName="svc", taskDefinition="app", desiredCount=1)
        ecs.get_waiter("services_stable").wait(cluster=cluster, services=["svc"], WaiterConfig=fast)
        assert len(ecs.list_services(cluster=cluster)["serviceArns"]) == 1
        ecs.list_service_deployments(cluster=cluster, service="svc")
        ecs.update_service(cluster=cluster, service="svc", desiredCount=0)
        ecs.delete_service(cluster=cluster, service="svc")

        def service_status() -> str:
            return str(ecs.describe_services(cluster=cluster, services=["svc"])["services"][0]["status"])

        wait_for(lambda: service_status() == "INACTIVE", interval=0.3, what="svc INACTIVE")
        ecs.create_service(cluster=cluster, serviceName="svc", taskDefinition="app", desiredCount=0)
        ecs.delete_service(cluster=cluster, service="svc")
        wait_for(lambda: service_status() == "INACTIVE", interval=0.3, what="svc INACTIVE again")
        ecs.deregister_task_definition(taskDefinition="app:1")
        ecs.delete_task_definitions(taskDefinitions=["app:1"])

        def cluster_deleted() -> bool:
            try:
                ecs.delete_cluster(cluster=cluster)
                return True
            except ecs.exceptions.ClusterContainsTasksException:
                return False

        wait_for(cluster_deleted, what="the cluster deleted (its stopped task no longer live)")
    finally:
        stop_operator(proc)

    endpoint_sa = f"system:serviceaccount:{AUDITED_NAMESPACE}:{ENDPOINT}"
    calls, forbidden = used(audit_log, endpoint_sa)
    assert not forbidden, f"denied by the chart's RBAC: {forbidden}"
    unused = granted(documents, ENDPOINT) - calls - ENDPOINT_PENDING_GRANTS
    assert not unused, f"granted but never used: {sorted(unused)}"
    assert not calls - granted(documents, ENDPOINT), "used without a grant (and not denied?)"
    assert "Traceback" not in log.read_text() and " 500 " not in log.read_text()


def test_access_keys_are_readable_by_the_endpoint_only(helm, kube, kubectl, system_namespace, namespace):
    """The access keys (ECSAccessKeys): `get` by the endpoint's ServiceAccount, nothing for the
    operator's (the chart's default values: its rules cluster-wide, Secrets included) nor for a
    tenant bound to ecs-full-access, asked of the API server (SubjectAccessReview) and tried
    (impersonated reads: 403)."""
    from ecs_operator.api.access_keys import PLURAL, create_access_key, resource_name

    rbac = [d for d in render(helm) if d["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                                                     "RoleBinding")]
    applied = kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    assert applied.returncode == 0, applied.stderr
    tenant = f"bob-{uuid.uuid4().hex[:6]}"
    client.RbacAuthorizationV1Api(kube.api).create_namespaced_role_binding(namespace, {
        "metadata": {"name": f"{tenant}-ecs"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ecs-full-access"},
        "subjects": [{"kind": "User", "name": tenant, "apiGroup": "rbac.authorization.k8s.io"}]})
    key = create_access_key(kube.core, tenant, [], namespace, AUDITED_NAMESPACE)
    review = client.AuthorizationV1Api(kube.api)

    reasons: list[str] = []

    def allowed(user: str, groups: list[str], verb: str) -> bool:
        status = review.create_subject_access_review({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": groups, "resourceAttributes": {
                "namespace": AUDITED_NAMESPACE, "verb": verb, "group": "ecs.compat.dev", "resource": PLURAL,
                "name": resource_name(key.access_key_id) if verb == "get" else None}}}).status
        reasons.append(f"{user} {verb}: {status.reason}")
        return bool(status.allowed)

    operator_sa = f"system:serviceaccount:{AUDITED_NAMESPACE}:{OPERATOR}"
    endpoint_sa = f"system:serviceaccount:{AUDITED_NAMESPACE}:{ENDPOINT}"
    sa_groups = ["system:serviceaccounts", f"system:serviceaccounts:{AUDITED_NAMESPACE}", "system:authenticated"]
    for user, groups in ((operator_sa, sa_groups), (tenant, ["system:authenticated"])):
        for verb in ("get", "list", "watch"):
            assert not allowed(user, groups, verb), f"{user} may {verb} the access keys ({reasons[-1]})"
    assert allowed(endpoint_sa, sa_groups, "get") and not allowed(endpoint_sa, sa_groups, "list")
    for user in (operator_sa, tenant):
        impersonating = client.ApiClient(kube.api.configuration)
        impersonating.set_default_header("Impersonate-User", user)
        as_user = client.CustomObjectsApi(impersonating)
        with pytest.raises(ApiException) as denied:
            as_user.get_namespaced_custom_object("ecs.compat.dev", "v1alpha1", AUDITED_NAMESPACE, PLURAL,
                                                 resource_name(key.access_key_id))
        assert denied.value.status == 403, f"{user} read an access key"
        with pytest.raises(ApiException) as denied:
            as_user.list_namespaced_custom_object("ecs.compat.dev", "v1alpha1", AUDITED_NAMESPACE, PLURAL)
        assert denied.value.status == 403, f"{user} listed the access keys"

