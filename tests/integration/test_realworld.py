"""Real task definitions on the real control plane, and tasks whose AWS references name objects
that are not there.

The 53 definitions of ../shared/realworld/ that ECS registers are registered through the ECS API
layer and run (RunTask) on one permissive ECSCluster (the daemon agents need host paths, privileged
containers, host networking), once the objects the rules of docs/mapping.md name exist (Secrets,
ConfigMaps, PersistentVolumeClaims bound to volumes, ServiceAccounts). On instances that are plain
Linux/amd64 without GPUs each task is RUNNING, or held back with ECS's placement reason (GPU:
RESOURCE:GPU; Windows or ARM64: ATTRIBUTE; an instance type no instance has: the memberOf one).
Then GPU, Windows, ARM64 and the named instance types join the cluster, and every task is RUNNING,
every AWS reference resolved in its Pod as the rules say. All in one namespace, in parallel.

A task whose Secret, key, claim or pull secret is missing stops with TaskFailedToStart, a
ResourceInitializationError naming the object, an Event saying the same, and no Pod at all.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ecs_operator.api import Session, call
from ecs_operator.ecs.labels import API_GROUP, API_VERSION
from ecs_operator.ecs.models import TaskDefinition
from ecs_operator.ecs.normalize import parse_task_definition
from tests.helpers import wait_for
from tests.realworld import PERMISSIVE, REFUSED, assert_resolved, corpus, held_back_for, load, number, objects_for

pytestmark = pytest.mark.controlplane

CLUSTER = "rw"


def create_objects(kube, namespace: str, manifests: list[dict[str, Any]]) -> None:
    """Create what the rules name; each claim gets a volume bound to it (an administrator's RWX storage)."""
    core = kube.core
    for manifest in manifests:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        try:
            if kind == "Secret":
                core.create_namespaced_secret(namespace, manifest)
            elif kind == "ConfigMap":
                core.create_namespaced_config_map(namespace, manifest)
            elif kind == "ServiceAccount":
                core.create_namespaced_service_account(namespace, manifest)
            elif kind == "PersistentVolumeClaim":
                volume = f"{namespace}-{name}"[:253]
                core.create_persistent_volume({
                    "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": volume},
                    "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"],
                             "storageClassName": "", "persistentVolumeReclaimPolicy": "Retain",
                             "hostPath": {"path": f"/tmp/{volume}"},
                             "claimRef": {"namespace": namespace, "name": name}}})
                core.create_namespaced_persistent_volume_claim(namespace, {**manifest, "spec": {
                    **manifest["spec"], "volumeName": volume}})
        except ApiException as err:
            if err.status != 409:  # two definitions name the same object: the rules agree
                raise


def ecs_cluster(kube, namespace: str, name: str, spec: dict[str, Any]) -> None:
    client.CustomObjectsApi(kube.api).create_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, "ecsclusters",
        {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ECSCluster", "metadata": {"name": name}, "spec": spec})


def tasks_by_reference(kube, namespace: str, whole: bool = True) -> dict[str, dict[str, Any]]:
    """ECSTasks by the task definition they run: family:revision (or the family, `whole` False)."""
    items = client.CustomObjectsApi(kube.api).list_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, "ecstasks")["items"]
    return {o["spec"]["taskDefinition"] if whole else o["spec"]["taskDefinition"].partition(":")[0]: o
            for o in items}


def record(task: dict[str, Any]) -> dict[str, Any]:
    return ((task.get("status") or {}).get("tasks") or [{}])[0]


def test_real_definitions_run_once_the_objects_their_rules_name_exist(kube, namespace, operator_process, node_group):
    started = time.monotonic()
    definitions: dict[str, TaskDefinition] = {}
    documents: dict[str, Any] = {}
    for path in corpus():
        if number(path) not in REFUSED:
            documents[number(path)] = load(path)
            definitions[number(path)] = parse_task_definition(documents[number(path)]).definition
    assert len(definitions) == 53
    session = Session.from_kubeconfig(str(kube.kubeconfig), namespace=namespace)
    node_group(cluster=CLUSTER, count=6, cpu="128", memory="1Ti")
    ecs_cluster(kube, namespace, CLUSTER, PERMISSIVE.dump())
    for definition in definitions.values():
        create_objects(kube, namespace, objects_for(definition))

    with ThreadPoolExecutor(6) as pool:
        registered = list(pool.map(lambda n: call(session, "RegisterTaskDefinition", documents[n]), definitions))
        assert all(r["taskDefinition"]["status"] == "ACTIVE" for r in registered)
        # Two of them share a family (14 and 36): each runs its own revision.
        references = {f"{r['taskDefinition']['family']}:{r['taskDefinition']['revision']}": n
                      for n, r in zip(definitions, registered, strict=True)}
        answers = list(pool.map(lambda ref: call(session, "RunTask", {"cluster": CLUSTER, "taskDefinition": ref}),
                                references))
    assert all(a["tasks"] and not a["failures"] for a in answers), [a for a in answers if a["failures"]]
    expected = {n: held_back_for(d) for n, d in definitions.items()}
    print(f"\nrealworld: registered and started {len(definitions)} in {time.monotonic() - started:.1f} s")

    def outcome() -> dict[str, str]:
        found = {}
        for reference, task in tasks_by_reference(kube, namespace).items():
            rec = record(task)
            reasons = [f["reason"] for f in rec.get("failures", [])]
            found[references[reference]] = rec.get("lastStatus", "") if rec.get("lastStatus") != "PROVISIONING" \
                else (reasons[0] if reasons else "PROVISIONING")
        return found

    def settled() -> dict[str, str] | None:
        now = outcome()
        want = {n: reason or "RUNNING" for n, reason in expected.items()}
        return now if now == want else None

    try:
        wait_for(settled, timeout=120, interval=1.0, what="every task RUNNING or held back with ECS's reason")
    finally:
        print(f"realworld: outcome {outcome()}")
    held = {n: r for n, r in expected.items() if r}
    member_of = "MemberOf placement constraint unsatisfied."
    assert held == {"51": member_of, "52": member_of, "53": member_of, "54": "RESOURCE:GPU", "55": "RESOURCE:GPU",
                    "19": "ATTRIBUTE", "56": "ATTRIBUTE", "59": "ATTRIBUTE", "60": "ATTRIBUTE"}
    print(f"realworld: {len(expected) - len(held)} RUNNING, {len(held)} held back, "
          f"{time.monotonic() - started:.1f} s")

    # The instances they need join the cluster: every task is placed and runs.
    node_group(cluster=CLUSTER, name=f"gpu{namespace[-6:]}", count=1, gpus=4, instance_type="p3.8xlarge",
               cpu="32", memory="244Gi")
    node_group(cluster=CLUSTER, name=f"win{namespace[-6:]}", count=1, os="windows", cpu="16", memory="64Gi")
    node_group(cluster=CLUSTER, name=f"arm{namespace[-6:]}", count=1, arch="arm64", cpu="16", memory="64Gi")
    node_group(cluster=CLUSTER, name=f"vt1{namespace[-6:]}", count=1, instance_type="vt1.3xlarge", cpu="12",
               memory="24Gi")
    node_group(cluster=CLUSTER, name=f"dl1{namespace[-6:]}", count=1, instance_type="dl1.24xlarge", cpu="96",
               memory="768Gi")
    node_group(cluster=CLUSTER, name=f"inf{namespace[-6:]}", count=1, instance_type="inf1.xlarge", cpu="4",
               memory="8Gi")
    expected = {n: None for n in expected}
    try:
        wait_for(settled, timeout=120, interval=1.0, what="every task RUNNING")
    finally:
        print(f"realworld: outcome {outcome()}")
    pods = {p.metadata.name: kube.api.sanitize_for_serialization(p)
            for p in kube.core.list_namespaced_pod(namespace).items}
    nodes = {n.metadata.name: n.metadata.labels for n in kube.core.list_node().items}
    tasks = tasks_by_reference(kube, namespace)
    for reference, n in references.items():
        definition = definitions[n]
        pod = pods[record(tasks[reference])["podName"]]
        assert_resolved(definition, pod)
        labels = nodes[pod["spec"]["nodeName"]]
        for key, value in pod["spec"]["nodeSelector"].items():
            assert labels.get(key) == value, (n, key)
    print(f"realworld: all {len(definitions)} RUNNING with every reference resolved, "
          f"{time.monotonic() - started:.1f} s")


MISSING_CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    # family → (what the definition adds to its container / task, the words the stoppedReason must have)
    "no-secret": ({"secrets": [{"name": "DB_PASSWORD", "valueFrom":
                                "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf:password::"}]},
                  ["ResourceInitializationError: unable to pull secrets or registry auth", "unable to retrieve "
                   "secret from asm: Secret {ns}/prod-db-abcdef not found"]),
    "no-key": ({"secrets": [{"name": "API_KEY", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/app/key"}]},
               ["unable to retrieve secret from ssm: Secret {ns}/app-key has no key 'value'"]),
    "no-claim": ({"mountPoints": [{"sourceVolume": "shared", "containerPath": "/data"}],
                  "volumes": [{"name": "shared", "efsVolumeConfiguration": {"fileSystemId": "fs-0123abcd"}}]},
                 ["ResourceInitializationError: failed to mount volumes: PersistentVolumeClaim {ns}/fs-0123abcd "
                  "not found"]),
    "no-pull-secret": ({"repositoryCredentials": {"credentialsParameter":
                                                  "arn:aws:secretsmanager:us-east-1:123456789012:secret:registry-AbCdEf"}},
                       ["pull command failed: registry credentials Secret {ns}/registry-abcdef not found"]),
    "no-env-file": ({"environmentFiles": [{"value": "arn:aws:s3:::configs/app.env", "type": "s3"}]},
                    ["ResourceInitializationError: failed to download env files: ConfigMap {ns}/configs-app-env "
                     "not found"]),
}


def test_missing_objects_stop_the_task_before_any_container_runs(kube, namespace, operator_process, node_group):
    session = Session.from_kubeconfig(str(kube.kubeconfig), namespace=namespace)
    node_group(cluster="refs", count=1)
    ecs_cluster(kube, namespace, "refs", {})
    # app-key exists without the key the rule names
    kube.core.create_namespaced_secret(namespace, {"metadata": {"name": "app-key"}, "stringData": {"other": "x"}})
    seen_pods: set[str] = set()
    for family, (extra, _) in MISSING_CASES.items():
        volumes = extra.pop("volumes", None)
        body: dict[str, Any] = {"family": family, "containerDefinitions": [
            {"name": "app", "image": "nginx", "memory": 64, **extra}]}
        if volumes:
            body["volumes"] = volumes
        call(session, "RegisterTaskDefinition", body)
    with ThreadPoolExecutor(5) as pool:
        list(pool.map(lambda f: call(session, "RunTask", {"cluster": "refs", "taskDefinition": f}), MISSING_CASES))

    def stopped() -> dict[str, dict[str, Any]] | None:
        seen_pods.update(p.metadata.name for p in kube.core.list_namespaced_pod(namespace).items)
        found = {f: record(t) for f, t in tasks_by_reference(kube, namespace, whole=False).items()}
        return found if len(found) == len(MISSING_CASES) and all(
            r.get("lastStatus") == "STOPPED" for r in found.values()) else None

    records = wait_for(stopped, timeout=60, what="every task STOPPED")
    events = [e for e in kube.core.list_namespaced_event(namespace).items if e.reason == "TaskStopped"]
    for family, (_, words) in MISSING_CASES.items():
        rec = records[family]
        assert rec["stopCode"] == "TaskFailedToStart", rec
        assert "startedAt" not in rec and all(c["lastStatus"] == "STOPPED" and "exitCode" not in c
                                              for c in rec["containers"])
        for phrase in words:
            assert phrase.format(ns=namespace) in rec["stoppedReason"], rec["stoppedReason"]
        assert any(e.type == "Warning" and rec["stoppedReason"] in e.message for e in events), family
        described = call(session, "DescribeTasks", {"cluster": "refs", "tasks": [rec["taskArn"]]})["tasks"][0]
        assert described["stopCode"] == "TaskFailedToStart" and described["stoppedReason"] == rec["stoppedReason"]
    assert not seen_pods, f"Pods created for tasks whose objects are missing: {seen_pods}"
