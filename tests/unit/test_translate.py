"""The ECS → Pod translation (`task_pod`), one table row per mapping rule.

Each row is a task definition (plus, where the rule needs them, the run-task request, the
cluster and the task's identity), a path into the Pod manifest, and what must be there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ecs_operator.ecs.errors import InvalidInput
from ecs_operator.ecs.models import ClusterSpec, TaskSpec
from ecs_operator.ecs.normalize import parse_task_definition
from ecs_operator.ecs.translate import ClusterRef, TaskRef, task_pod

REPO = Path(__file__).resolve().parents[2]
UID = "6f1c3f4e-8a0e-4d55-9a8e-0c1d2e3f4a5b"
REVISION = 4
MISSING = "<missing>"

CLUSTER = "ecs.compat.dev/cluster"
GROUP = "ecs.compat.dev/group"
HOSTNAME = "kubernetes.io/hostname"

SPEC = ("spec",)
C0 = ("spec", "containers", 0)
C1 = ("spec", "containers", 1)
I0 = ("spec", "initContainers", 0)
AFFINITY = ("spec", "affinity")
ANNOTATIONS = ("metadata", "annotations")
LABELS = ("metadata", "labels")


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


def c(name: str = "web", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "nginx:1.27", "memory": 128, **fields}


def bare(name: str = "web", **fields: Any) -> dict[str, Any]:
    """A container with no resources at all (the task sets memory)."""
    return {"name": name, "image": "nginx:1.27", **fields}


def td(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"family": "web", "containerDefinitions": list(containers) or [c()], **fields}


def translate(definition: dict[str, Any], spec: dict[str, Any] | None = None, cluster: dict[str, Any] | None = None,
              task: dict[str, Any] | None = None) -> dict[str, Any]:
    parsed = parse_task_definition(definition).definition
    run = TaskSpec.model_validate({"taskDefinition": parsed.family, **(spec or {})})
    cluster_fields = dict(cluster or {})
    cluster_name = cluster_fields.pop("name", "default")
    ref = ClusterRef(cluster_name, ClusterSpec.model_validate(cluster_fields))
    identity = TaskRef(**{"name": "web-task", "namespace": "team-a", "uid": UID, "index": 0, **(task or {})})
    return task_pod(parsed, REVISION, run, ref, identity)


def dig(manifest: Any, path: tuple[Any, ...]) -> Any:
    """The value at `path` (keys, list indexes, or a function to apply), or MISSING."""
    value = manifest
    for part in path:
        if callable(part):
            value = part(value)
        elif isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return MISSING
            value = value[part]
        else:
            if not isinstance(value, dict) or part not in value:
                return MISSING
            value = value[part]
    return value


EXIT = "exit.kwok.ecs-operator.dev/"
FAIL_START = "fail-start.kwok.ecs-operator.dev/"


def facility_annotations(items: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in items.items() if ".kwok." in k}


def row(rule: str, definition: dict[str, Any], path: tuple[Any, ...], expected: Any, *,
        spec: dict[str, Any] | None = None, cluster: dict[str, Any] | None = None,
        task: dict[str, Any] | None = None) -> Any:
    return pytest.param(definition, path, expected, spec, cluster, task, id=rule)


def healthy_sidecar() -> dict[str, Any]:
    return td(c("app", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
              c("db", healthCheck={"command": ["CMD-SHELL", "pg_isready -U postgres"], "interval": 10, "retries": 3,
                                   "startPeriod": 25}))


MAPPING = [
    # --- cpu: a relative share → requests.cpu = ceil(units*1000/1024) m, never a limit
    row("cpu-512-is-500m", td(c(cpu=512)), (*C0, "resources", "requests", "cpu"), "500m"),
    row("cpu-128-is-125m", td(c(cpu=128)), (*C0, "resources", "requests", "cpu"), "125m"),
    row("cpu-1-is-1m", td(c(cpu=1)), (*C0, "resources", "requests", "cpu"), "1m"),
    row("cpu-1024-is-1000m", td(c(cpu=1024)), (*C0, "resources", "requests", "cpu"), "1000m"),
    row("cpu-100-rounds-up", td(c(cpu=100)), (*C0, "resources", "requests", "cpu"), "98m"),
    row("cpu-has-no-limit", td(c(cpu=512)), (*C0, "resources", "limits"), {"memory": "128Mi"}),
    row("cpu-0-no-request", td(c(cpu=0)), (*C0, "resources", "requests"), {"memory": "128Mi"}),
    row("cpu-absent-no-request", td(c()), (*C0, "resources", "requests"), {"memory": "128Mi"}),
    # --- memory: hard limit → limits.memory; memoryReservation (else memory) → requests.memory
    row("memory-is-limit", td(c(memory=256)), (*C0, "resources", "limits", "memory"), "256Mi"),
    row("memory-is-request-without-reservation", td(c(memory=256)), (*C0, "resources", "requests", "memory"),
        "256Mi"),
    row("memoryReservation-is-request", td(c(memory=512, memoryReservation=128)), (*C0, "resources"),
        {"requests": {"memory": "128Mi"}, "limits": {"memory": "512Mi"}}),
    row("memoryReservation-only-has-no-limit", td(c(memory=None, memoryReservation=64)), (*C0, "resources"),
        {"requests": {"memory": "64Mi"}}),
    row("no-resources-when-task-sets-memory", td(bare(), memory="512"), (*C0, "resources"), MISSING),
    # --- task-level cpu/memory: the task's hard limits, pod-level resources
    row("task-cpu-memory-strings", td(bare(), cpu="1 vCPU", memory="2 GB"), (*SPEC, "resources"),
        {"limits": {"cpu": "1000m", "memory": "2048Mi"}}),
    row("task-cpu-memory-units", td(bare(), cpu="512", memory="1024"), (*SPEC, "resources"),
        {"limits": {"cpu": "500m", "memory": "1024Mi"}}),
    row("task-memory-only", td(bare(), memory="0.5GB"), (*SPEC, "resources"), {"limits": {"memory": "512Mi"}}),
    row("no-task-resources", td(), (*SPEC, "resources"), MISSING),
    # --- ports
    row("portMapping-tcp-default", td(c(portMappings=[{"containerPort": 80}])), (*C0, "ports"),
        [{"containerPort": 80, "protocol": "TCP"}]),
    row("portMapping-udp", td(c(portMappings=[{"containerPort": 53, "protocol": "udp"}])), (*C0, "ports"),
        [{"containerPort": 53, "protocol": "UDP"}]),
    row("hostPort-static", td(c(portMappings=[{"containerPort": 80, "hostPort": 8080}])), (*C0, "ports"),
        [{"containerPort": 80, "protocol": "TCP", "hostPort": 8080}]),
    row("hostPort-0-dynamic", td(c(portMappings=[{"containerPort": 80, "hostPort": 0}])), (*C0, "ports"),
        [{"containerPort": 80, "protocol": "TCP"}]),
    row("hostPort-absent-dynamic", td(c(portMappings=[{"containerPort": 80}])), (*C0, "ports", 0, "hostPort"),
        MISSING),
    row("port-name-kept", td(c(portMappings=[{"containerPort": 80, "name": "http"}])), (*C0, "ports", 0, "name"),
        "http"),
    row("no-ports", td(), (*C0, "ports"), MISSING),
    # awsvpc: the task has its own network interface (here: the Pod IP); hostPort == containerPort
    # there reserves no instance port, so two such tasks can share an instance.
    row("awsvpc-hostPort-is-not-a-node-port",
        td(c(portMappings=[{"containerPort": 80, "hostPort": 80}]), networkMode="awsvpc"), (*C0, "ports"),
        [{"containerPort": 80, "protocol": "TCP"}]),
    # --- network mode host (allowed by the cluster)
    row("host-network", td(c(portMappings=[{"containerPort": 80}]), networkMode="host"), (*SPEC, "hostNetwork"),
        True, cluster={"policy": {"allowHostNetwork": True}}),
    row("host-network-dns", td(networkMode="host"), (*SPEC, "dnsPolicy"), "ClusterFirstWithHostNet",
        cluster={"policy": {"allowHostNetwork": True}}),
    row("host-network-hostPort-is-containerPort", td(c(portMappings=[{"containerPort": 80}]), networkMode="host"),
        (*C0, "ports"), [{"containerPort": 80, "protocol": "TCP", "hostPort": 80}],
        cluster={"policy": {"allowHostNetwork": True}}),
    row("bridge-no-host-network", td(), (*SPEC, "hostNetwork"), MISSING),
    # --- links → hostAliases on 127.0.0.1 (one Pod is one network namespace)
    row("links-name-and-alias", td(c("web", links=["db:database"]), c("db")), (*SPEC, "hostAliases"),
        [{"ip": "127.0.0.1", "hostnames": ["database", "db"]}]),
    row("links-name-only", td(c("web", links=["db"]), c("db")), (*SPEC, "hostAliases"),
        [{"ip": "127.0.0.1", "hostnames": ["db"]}]),
    row("links-alias-lowercased", td(c("web", links=["db:Database"]), c("db")), (*SPEC, "hostAliases", 0,
                                                                                  "hostnames"), ["database", "db"]),
    row("extraHosts", td(c(extraHosts=[{"hostname": "registry.local", "ipAddress": "10.0.0.5"}])),
        (*SPEC, "hostAliases"), [{"ip": "10.0.0.5", "hostnames": ["registry.local"]}]),
    row("no-links-no-hostAliases", td(), (*SPEC, "hostAliases"), MISSING),
    # --- essential, restart policy
    row("essential-annotation", td(c("a"), c("b", essential=False), c("c", essential=True)),
        (*ANNOTATIONS, "ecs.compat.dev/essential-containers"), "a,c"),
    row("essential-annotation-kube-names", td(c("Web_1")), (*ANNOTATIONS, "ecs.compat.dev/essential-containers"),
        "web-1"),
    row("renamed-container", td(c("Web_1")), (*C0, "name"), "web-1"),
    row("renamed-container-annotation", td(c("Web_1")), (*ANNOTATIONS, "ecs.compat.dev/container-names"),
        '{"web-1": "Web_1"}'),
    row("restartPolicy-never", td(), (*SPEC, "restartPolicy"), "Never"),
    # --- container fields
    row("image", td(c(image="registry.example/app@sha256:" + "a" * 64)), (*C0, "image"),
        "registry.example/app@sha256:" + "a" * 64),
    row("environment", td(c(environment=[{"name": "A", "value": "1"}, {"name": "B", "value": ""}])), (*C0, "env"),
        [{"name": "A", "value": "1"}, {"name": "B", "value": ""}]),
    row("environment-last-wins", td(c(environment=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}])),
        (*C0, "env"), [{"name": "A", "value": "2"}]),
    row("command-is-args", td(c(command=["nginx", "-g", "daemon off;"])), (*C0, "args"),
        ["nginx", "-g", "daemon off;"]),
    row("entryPoint-is-command", td(c(entryPoint=["/docker-entrypoint.sh"])), (*C0, "command"),
        ["/docker-entrypoint.sh"]),
    row("command-without-entryPoint", td(c(command=["run"])), (*C0, "command"), MISSING),
    row("workingDirectory", td(c(workingDirectory="/srv/app")), (*C0, "workingDir"), "/srv/app"),
    row("user-uid", td(c(user="1000")), (*C0, "securityContext"), {"runAsUser": 1000}),
    row("user-uid-gid", td(c(user="1000:2000")), (*C0, "securityContext"), {"runAsUser": 1000, "runAsGroup": 2000}),
    row("readonlyRootFilesystem", td(c(readonlyRootFilesystem=True)), (*C0, "securityContext"),
        {"readOnlyRootFilesystem": True}),
    row("readonlyRootFilesystem-false", td(c(readonlyRootFilesystem=False)), (*C0, "securityContext"), MISSING),
    # --- stopTimeout → terminationGracePeriodSeconds (ECS default 30 s per container)
    row("stopTimeout", td(c(stopTimeout=10)), (*SPEC, "terminationGracePeriodSeconds"), 10),
    row("stopTimeout-default", td(), (*SPEC, "terminationGracePeriodSeconds"), 30),
    row("stopTimeout-longest", td(c("a", stopTimeout=10), c("b", stopTimeout=90)),
        (*SPEC, "terminationGracePeriodSeconds"), 90),
    row("stopTimeout-unset-container-keeps-default", td(c("a", stopTimeout=5), c("b")),
        (*SPEC, "terminationGracePeriodSeconds"), 30),
    # --- dependsOn
    row("dependsOn-complete-is-init-container",
        td(c("app", dependsOn=[{"containerName": "migrate", "condition": "COMPLETE"}]), c("migrate", essential=False)),
        (*SPEC, "initContainers", names), ["migrate"]),
    row("dependsOn-complete-main-containers",
        td(c("app", dependsOn=[{"containerName": "migrate", "condition": "COMPLETE"}]), c("migrate", essential=False)),
        (*SPEC, "containers", names), ["app"]),
    row("dependsOn-success-is-init-container",
        td(c("app", dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}]), c("migrate", essential=False)),
        (*I0, "name"), "migrate"),
    row("dependsOn-success-init-runs-to-completion",
        td(c("app", dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}]), c("migrate", essential=False)),
        (*I0, "restartPolicy"), MISSING),
    row("dependsOn-healthy-is-native-sidecar", healthy_sidecar(), (*I0, "name"), "db"),
    row("dependsOn-healthy-sidecar-restartPolicy", healthy_sidecar(), (*I0, "restartPolicy"), "Always"),
    row("dependsOn-healthy-startupProbe", healthy_sidecar(), (*I0, "startupProbe"),
        {"exec": {"command": ["/bin/sh", "-c", "pg_isready -U postgres"]}, "periodSeconds": 10, "timeoutSeconds": 5,
         "failureThreshold": 6, "successThreshold": 1}),
    row("dependsOn-healthy-main-container", healthy_sidecar(), (*SPEC, "containers", names), ["app"]),
    row("dependsOn-start-orders-containers",
        td(c("web", dependsOn=[{"containerName": "log", "condition": "START"}]), c("log")),
        (*SPEC, "containers", names), ["log", "web"]),
    row("dependsOn-start-no-init", td(c("web", dependsOn=[{"containerName": "log", "condition": "START"}]), c("log")),
        (*SPEC, "initContainers"), MISSING),
    row("links-order-containers", td(c("web", links=["db"]), c("db")), (*SPEC, "containers", names), ["db", "web"]),
    # --- healthCheck → readinessProbe
    row("healthCheck-cmd", td(c(healthCheck={"command": ["CMD", "curl", "-f", "http://localhost/"]})),
        (*C0, "readinessProbe"),
        {"exec": {"command": ["curl", "-f", "http://localhost/"]}, "periodSeconds": 30, "timeoutSeconds": 5,
         "failureThreshold": 3, "successThreshold": 1}),
    row("healthCheck-cmd-shell", td(c(healthCheck={"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]})),
        (*C0, "readinessProbe", "exec", "command"), ["/bin/sh", "-c", "curl -f http://localhost/ || exit 1"]),
    row("healthCheck-timings", td(c(healthCheck={"command": ["CMD", "true"], "interval": 10, "timeout": 3,
                                                 "retries": 5})),
        (*C0, "readinessProbe"),
        {"exec": {"command": ["true"]}, "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 5,
         "successThreshold": 1}),
    row("no-healthCheck-no-probe", td(), (*C0, "readinessProbe"), MISSING),
    # --- volumes
    row("volume-scratch-is-emptyDir", td(volumes=[{"name": "data"}]), (*SPEC, "volumes"),
        [{"name": "data", "emptyDir": {}}]),
    row("volume-host-without-path-is-emptyDir", td(volumes=[{"name": "data", "host": {}}]), (*SPEC, "volumes"),
        [{"name": "data", "emptyDir": {}}]),
    row("volume-docker-volume-is-emptyDir", td(volumes=[{"name": "data", "dockerVolumeConfiguration": {}}]),
        (*SPEC, "volumes"), [{"name": "data", "emptyDir": {}}]),
    row("volume-name-made-valid", td(volumes=[{"name": "My_Data"}]), (*SPEC, "volumes", 0, "name"), "my-data"),
    row("volume-hostPath-allowed", td(volumes=[{"name": "logs", "host": {"sourcePath": "/var/log"}}]),
        (*SPEC, "volumes"), [{"name": "logs", "hostPath": {"path": "/var/log"}}],
        cluster={"policy": {"allowHostPath": True}}),
    row("mountPoints", td(c(mountPoints=[{"sourceVolume": "data", "containerPath": "/data"},
                                         {"sourceVolume": "conf", "containerPath": "/etc/app", "readOnly": True}]),
                          volumes=[{"name": "data"}, {"name": "conf"}]),
        (*C0, "volumeMounts"),
        [{"name": "data", "mountPath": "/data"}, {"name": "conf", "mountPath": "/etc/app", "readOnly": True}]),
    row("volumesFrom", td(c("a", mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}]),
                          c("b", volumesFrom=[{"sourceContainer": "a"}]), volumes=[{"name": "data"}]),
        (*C1, "volumeMounts"), [{"name": "data", "mountPath": "/data"}]),
    row("volumesFrom-readOnly", td(c("a", mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}]),
                                   c("b", volumesFrom=[{"sourceContainer": "a", "readOnly": True}]),
                                   volumes=[{"name": "data"}]),
        (*C1, "volumeMounts"), [{"name": "data", "mountPath": "/data", "readOnly": True}]),
    # --- placement
    row("nodeSelector-default", td(), (*SPEC, "nodeSelector"), {CLUSTER: "default"}),
    row("nodeSelector-cluster-name", td(), (*SPEC, "nodeSelector"), {CLUSTER: "prod"}, cluster={"name": "prod"}),
    row("nodeSelector-cluster-spec", td(), (*SPEC, "nodeSelector"), {"pool": "ecs"},
        cluster={"nodeSelector": {"pool": "ecs"}}),
    row("memberOf-task-definition",
        td(placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.instance-type == t3.large"}]),
        AFFINITY, {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In",
                                   "values": ["t3.large"]}]}]}}}),
    row("memberOf-run-task-and-definition-both-hold",
        td(placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}]),
        (*AFFINITY, "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"),
        [{"matchExpressions": [
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1a"]}]}],
        spec={"placementConstraints": [{"type": "memberOf",
                                        "expression": "attribute:ecs.availability-zone == us-east-1a"}]}),
    row("distinctInstance", td(), AFFINITY,
        {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {CLUSTER: "default", GROUP: "web-group"}}, "topologyKey": HOSTNAME}]}},
        spec={"group": "web-group", "placementConstraints": [{"type": "distinctInstance"}]}),
    row("spread-instanceId", td(), (*SPEC, "topologySpreadConstraints"),
        [{"maxSkew": 1, "topologyKey": HOSTNAME, "whenUnsatisfiable": "ScheduleAnyway",
          "labelSelector": {"matchLabels": {CLUSTER: "default", GROUP: "web-group"}}}],
        spec={"group": "web-group", "placementStrategy": [{"type": "spread", "field": "instanceId"}]}),
    row("spread-host", td(), (*SPEC, "topologySpreadConstraints", 0, "topologyKey"), HOSTNAME,
        spec={"placementStrategy": [{"type": "spread", "field": "host"}]}),
    row("spread-availability-zone", td(), (*SPEC, "topologySpreadConstraints", 0, "topologyKey"),
        "topology.kubernetes.io/zone",
        spec={"placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}]}),
    row("spread-is-best-effort", td(), (*SPEC, "topologySpreadConstraints", 0, "whenUnsatisfiable"),
        "ScheduleAnyway", spec={"placementStrategy": [{"type": "spread", "field": "instanceId"}]}),
    row("binpack", td(), AFFINITY,
        {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {CLUSTER: "default"}},
                                                "topologyKey": HOSTNAME}}]}},
        spec={"placementStrategy": [{"type": "binpack", "field": "memory"}]}),
    row("random-no-affinity", td(), AFFINITY, MISSING, spec={"placementStrategy": [{"type": "random"}]}),
    row("random-no-spread", td(), (*SPEC, "topologySpreadConstraints"), MISSING,
        spec={"placementStrategy": [{"type": "random"}]}),
    # --- security
    row("seccomp-runtime-default", td(), (*SPEC, "securityContext"), {"seccompProfile": {"type": "RuntimeDefault"}}),
    row("baseline-no-container-securityContext", td(), (*C0, "securityContext"), MISSING),
    row("privileged-allowed", td(c(privileged=True)), (*C0, "securityContext"), {"privileged": True},
        cluster={"policy": {"allowPrivileged": True}}),
    row("capability-docker-default-needs-no-permission",
        td(c(linuxParameters={"capabilities": {"add": ["CHOWN"]}})), (*C0, "securityContext", "capabilities"),
        {"add": ["CHOWN"]}),
    row("capability-allowed-by-cluster", td(c(linuxParameters={"capabilities": {"add": ["CAP_NET_ADMIN"]}})),
        (*C0, "securityContext", "capabilities"), {"add": ["NET_ADMIN"]},
        cluster={"policy": {"allowedCapabilities": ["NET_ADMIN"]}}),
    row("capability-drop", td(c(linuxParameters={"capabilities": {"drop": ["NET_RAW"]}})),
        (*C0, "securityContext", "capabilities"), {"drop": ["NET_RAW"]}),
    row("restricted-container", td(), (*C0, "securityContext"),
        {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        cluster={"policy": {"podSecurity": "restricted"}}),
    row("restricted-pod", td(), (*SPEC, "securityContext"),
        {"seccompProfile": {"type": "RuntimeDefault"}, "runAsNonRoot": True},
        cluster={"policy": {"podSecurity": "restricted"}}),
    row("restricted-net-bind-service", td(c(linuxParameters={"capabilities": {"add": ["NET_BIND_SERVICE"]}})),
        (*C0, "securityContext", "capabilities"), {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
        cluster={"policy": {"podSecurity": "restricted"}}),
    row("pidMode-task", td(pidMode="task"), (*SPEC, "shareProcessNamespace"), True),
    row("no-service-links", td(), (*SPEC, "enableServiceLinks"), False),
    row("no-service-account-token", td(), (*SPEC, "automountServiceAccountToken"), False),
    # --- run-task overrides
    row("override-command", td(c(command=["serve"])), (*C0, "args"), ["migrate", "--dry-run"],
        spec={"overrides": {"containerOverrides": [{"name": "web", "command": ["migrate", "--dry-run"]}]}}),
    row("override-environment-merges",
        td(c(environment=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])), (*C0, "env"),
        [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
        spec={"overrides": {"containerOverrides": [{"name": "web", "environment": [
            {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}}),
    row("override-cpu", td(c(cpu=256)), (*C0, "resources", "requests", "cpu"), "1000m",
        spec={"overrides": {"containerOverrides": [{"name": "web", "cpu": 1024}]}}),
    row("override-memory", td(c(memory=128)), (*C0, "resources"),
        {"requests": {"memory": "512Mi"}, "limits": {"memory": "512Mi"}},
        spec={"overrides": {"containerOverrides": [{"name": "web", "memory": 512}]}}),
    row("override-memoryReservation", td(c(memory=512)), (*C0, "resources", "requests", "memory"), "256Mi",
        spec={"overrides": {"containerOverrides": [{"name": "web", "memoryReservation": 256}]}}),
    row("override-one-container-only", td(c("a", command=["a"]), c("b", command=["b"])),
        (*SPEC, "containers", lambda cs: [x["args"] for x in cs]), [["a"], ["override"]],
        spec={"overrides": {"containerOverrides": [{"name": "b", "command": ["override"]}]}}),
    row("override-task-cpu-memory", td(bare(), cpu="256", memory="512"), (*SPEC, "resources"),
        {"limits": {"cpu": "2000m", "memory": "4096Mi"}},
        spec={"overrides": {"cpu": "2 vCPU", "memory": "4 GB"}}),
    # --- identity, labels, annotations
    row("apiVersion-kind", td(), (lambda pod: (pod["apiVersion"], pod["kind"]),), ("v1", "Pod")),
    row("pod-name-task-index", td(), ("metadata", "name"), "web-task-0"),
    row("pod-name-task-index-3", td(), ("metadata", "name"), "batch-3", task={"name": "batch", "index": 3}),
    row("namespace", td(), ("metadata", "namespace"), "team-a"),
    row("labels", td(), LABELS,
        {"app.kubernetes.io/managed-by": "ecs-operator", CLUSTER: "prod", "ecs.compat.dev/family": "web",
         "ecs.compat.dev/revision": str(REVISION), "ecs.compat.dev/task": "batch", "ecs.compat.dev/task-index": "2",
         GROUP: "web-group"},
        spec={"group": "web-group"}, cluster={"name": "prod"}, task={"name": "batch", "index": 2}),
    row("label-default-group-is-valid-label", td(), (*LABELS, GROUP),
        lambda value: re.fullmatch(r"family-web-[0-9a-f]{10}", value) is not None),
    row("task-arn", td(), (*ANNOTATIONS, "ecs.compat.dev/task-arn",
                           lambda arn: re.fullmatch(r"arn:aws:ecs:us-east-1:000000000000:task/prod/[0-9a-f]{32}", arn)
                           is not None), True, cluster={"name": "prod"}),
    row("task-id-32-hex", td(), (*ANNOTATIONS, "ecs.compat.dev/task-id",
                                 lambda tid: re.fullmatch(r"[0-9a-f]{32}", tid) is not None), True),
    # --- the dev cluster's kwok test facility: dockerLabels keyed for this container → Pod annotations
    row("kwok-fail-start-label", td(c(dockerLabels={f"{FAIL_START}web": "3"})), (*ANNOTATIONS, f"{FAIL_START}web"),
        "3"),
    row("kwok-exit-label", td(c(dockerLabels={f"{EXIT}web": "137"})), (*ANNOTATIONS, f"{EXIT}web"), "137"),
    row("kwok-labels-per-container",
        td(c("app", dockerLabels={f"{EXIT}app": "0"}), c("db", dockerLabels={f"{FAIL_START}db": "1"})),
        (*ANNOTATIONS, facility_annotations), {f"{EXIT}app": "0", f"{FAIL_START}db": "1"}),
    row("kwok-label-kube-name", td(c("Web_1", dockerLabels={f"{FAIL_START}Web_1": "2"})),
        (*ANNOTATIONS, facility_annotations), {f"{FAIL_START}web-1": "2"}),
    row("kwok-label-kube-spelling-accepted", td(c("Web_1", dockerLabels={f"{EXIT}web-1": "2"})),
        (*ANNOTATIONS, facility_annotations), {f"{EXIT}web-1": "2"}),
    row("kwok-label-integer-value", td(c(dockerLabels={f"{FAIL_START}web": 7})), (*ANNOTATIONS, f"{FAIL_START}web"),
        "7"),
    row("kwok-label-of-another-container-unused", td(c("app", dockerLabels={f"{EXIT}db": "1"}), c("db")),
        (*ANNOTATIONS, facility_annotations), {}),
    row("kwok-other-labels-unused",
        td(c(dockerLabels={"com.example.team": "web", f"{EXIT}web": "1", "exit.kwok.example/web": "1"})),
        (*ANNOTATIONS, facility_annotations), {f"{EXIT}web": "1"}),
    row("kwok-label-not-on-labels", td(c(dockerLabels={f"{EXIT}web": "1"})), (*LABELS, facility_annotations), {}),
    row("no-dockerLabels-no-facility", td(), (*ANNOTATIONS, facility_annotations), {}),
    row("kwok-label-is-init-container-too",
        td(c("app", dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}]),
           c("migrate", essential=False, dockerLabels={f"{FAIL_START}migrate": "1"})),
        (*ANNOTATIONS, f"{FAIL_START}migrate"), "1"),
]


@pytest.mark.parametrize(("definition", "path", "expected", "spec", "cluster", "task"), MAPPING)
def test_task_pod_mapping(definition: dict[str, Any], path: tuple[Any, ...], expected: Any,
                          spec: dict[str, Any] | None, cluster: dict[str, Any] | None,
                          task: dict[str, Any] | None) -> None:
    pod = translate(definition, spec, cluster, task)
    value = dig(pod, path)
    if callable(expected):
        assert expected(value), value
    else:
        assert value == expected


def refused(rule: str, definition: dict[str, Any], message: str, *, spec: dict[str, Any] | None = None,
            cluster: dict[str, Any] | None = None) -> Any:
    return pytest.param(definition, spec, cluster, message, id=rule)


REFUSED = [
    refused("host-network-not-allowed", td(networkMode="host"),
            "networkMode: host networking is not allowed on cluster default (ECSCluster spec.policy.allowHostNetwork)"),
    refused("hostPath-not-allowed", td(volumes=[{"name": "logs", "host": {"sourcePath": "/var/log"}}]),
            "volumes[0].host.sourcePath: host paths are not allowed on cluster default "
            "(ECSCluster spec.policy.allowHostPath)"),
    refused("static-hostPort-not-allowed", td(c(portMappings=[{"containerPort": 80, "hostPort": 8080}])),
            "containerDefinitions[0].portMappings[0].hostPort: static host ports are not allowed on cluster default",
            cluster={"policy": {"allowHostPorts": False}}),
    refused("privileged-not-allowed", td(c(privileged=True)),
            "containerDefinitions[0].privileged: privileged containers are not allowed on cluster default "
            "(ECSCluster spec.policy.allowPrivileged)"),
    refused("privileged-never-under-restricted", td(c(privileged=True)),
            "containerDefinitions[0].privileged: privileged containers are not allowed on cluster default",
            cluster={"policy": {"allowPrivileged": True, "podSecurity": "restricted"}}),
    refused("capability-not-allowed", td(c("a"), c("b", linuxParameters={"capabilities": {"add": ["NET_ADMIN"]}})),
            "containerDefinitions[1].linuxParameters.capabilities.add: NET_ADMIN not allowed on cluster default "
            "(ECSCluster spec.policy.allowedCapabilities)"),
    refused("capability-restricted", td(c(linuxParameters={"capabilities": {"add": ["CHOWN"]}})),
            "containerDefinitions[0].linuxParameters.capabilities.add: CHOWN not allowed on cluster default",
            cluster={"policy": {"podSecurity": "restricted"}}),
    refused("root-under-restricted", td(c(user="0")),
            "containerDefinitions[0].user: cluster default runs restricted Pods, which cannot run as root",
            cluster={"policy": {"podSecurity": "restricted"}}),
    refused("pidMode-host-not-allowed", td(pidMode="host"),
            "pidMode: host namespaces are not allowed on cluster default (ECSCluster spec.policy.allowHostNamespaces)"),
    refused("ipcMode-host-not-allowed", td(ipcMode="host"), "ipcMode: host namespaces are not allowed"),
    refused("override-unknown-container", td(),
            "overrides.containerOverrides[0].name: no container named 'nope' in web",
            spec={"overrides": {"containerOverrides": [{"name": "nope", "command": ["x"]}]}}),
    refused("override-breaks-memory-rule", td(c(memory=512, memoryReservation=256)),
            "overrides → taskDefinition.containerDefinitions[0].memoryReservation: must not exceed memory (256 > 128)",
            spec={"overrides": {"containerOverrides": [{"name": "web", "memory": 128}]}}),
    refused("override-task-cpu-below-containers", td(c(cpu=1024), cpu="1 vCPU"),
            "overrides → taskDefinition.cpu: the containers' cpu (1024 units) exceeds the task's (512)",
            spec={"overrides": {"cpu": "512"}}),
    refused("memberOf-regex", td(placementConstraints=[{"type": "memberOf",
                                                        "expression": "attribute:ecs.instance-type =~ t2.*"}]),
            "taskDefinition.placementConstraints[0].expression: attribute:ecs.instance-type =~: regular expressions "
            "cannot be expressed as node affinity"),
    refused("memberOf-task-group", td(), "placementConstraints[0].expression: subject 'task:group' is not supported",
            spec={"placementConstraints": [{"type": "memberOf", "expression": "task:group == service:web"}]}),
    refused("spread-unknown-field", td(),
            "placementStrategy[0].field: spread takes instanceId, host or attribute:<name>, not 'cpu'",
            spec={"placementStrategy": [{"type": "spread", "field": "cpu"}]}),
    refused("sidecar-cannot-wait",
            td(c("app", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
               c("db", healthCheck={"command": ["CMD", "true"]},
                 dependsOn=[{"containerName": "log", "condition": "START"}]), c("log")),
            "containerDefinitions[1].dependsOn[0]: 'db' must start before the other containers (others wait for it), "
            "so it cannot wait for 'log'"),
    refused("kwok-label-not-an-exit-code", td(c(dockerLabels={f"{FAIL_START}web": "boom"})),
            "containerDefinitions[0].dockerLabels['fail-start.kwok.ecs-operator.dev/web']: the kwok test facility "
            "takes an exit code (0-255), not 'boom'"),
    refused("kwok-label-exit-code-too-big", td(c("a"), c("b", dockerLabels={f"{EXIT}b": "256"})),
            "containerDefinitions[1].dockerLabels['exit.kwok.ecs-operator.dev/b']: the kwok test facility takes an "
            "exit code (0-255), not '256'"),
    refused("kwok-label-negative", td(c(dockerLabels={f"{EXIT}web": "-1"})),
            "the kwok test facility takes an exit code (0-255), not '-1'"),
    refused("extraHosts-incomplete", td(c(extraHosts=[{"hostname": "registry.local"}])),
            "containerDefinitions[0].extraHosts[0]: needs a hostname (DNS name) and an ipAddress"),
]


@pytest.mark.parametrize(("definition", "spec", "cluster", "message"), REFUSED)
def test_task_pod_refuses(definition: dict[str, Any], spec: dict[str, Any] | None, cluster: dict[str, Any] | None,
                          message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        translate(definition, spec, cluster)
    assert any(message in problem for problem in caught.value.problems), caught.value.problems


def test_every_refusal_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        translate(td(c(privileged=True), networkMode="host"))
    assert [p.split(":")[0] for p in caught.value.problems] == ["containerDefinitions[0].privileged", "networkMode"]


def test_task_id_is_stable_for_the_same_uid_and_index() -> None:
    first = translate(td(), task={"index": 1})["metadata"]["annotations"]
    again = translate(td(), task={"index": 1})["metadata"]["annotations"]
    other_index = translate(td(), task={"index": 2})["metadata"]["annotations"]
    other_uid = translate(td(), task={"index": 1, "uid": "0b5a2d2e-3c1f-4f53-8d0a-6e7f8a9b0c1d"})
    assert first["ecs.compat.dev/task-id"] == again["ecs.compat.dev/task-id"]
    assert first["ecs.compat.dev/task-arn"] == again["ecs.compat.dev/task-arn"]
    assert first["ecs.compat.dev/task-id"] != other_index["ecs.compat.dev/task-id"]
    assert first["ecs.compat.dev/task-id"] != other_uid["metadata"]["annotations"]["ecs.compat.dev/task-id"]
    assert first["ecs.compat.dev/task-arn"].endswith("/" + first["ecs.compat.dev/task-id"])


def test_translation_is_deterministic() -> None:
    definition = td(c("web", links=["db:database"], portMappings=[{"containerPort": 80, "hostPort": 80}]),
                    c("db", memoryReservation=64), volumes=[{"name": "data"}])
    assert json.dumps(translate(definition)) == json.dumps(translate(definition))


def test_overrides_do_not_change_the_registered_definition() -> None:
    parsed = parse_task_definition(td(c(command=["serve"]))).definition
    spec = TaskSpec.model_validate({"taskDefinition": "web", "overrides": {"containerOverrides": [
        {"name": "web", "command": ["other"]}]}})
    pod = task_pod(parsed, 1, spec, ClusterRef("default", ClusterSpec()), TaskRef("t", "ns", UID))
    assert pod["spec"]["containers"][0]["args"] == ["other"]
    assert parsed.containerDefinitions[0].command == ["serve"]


@pytest.mark.parametrize("labels", [
    {f"{FAIL_START}web": "1"}, {f"{EXIT}web": "1", "com.example.team": "web"}, {f"{EXIT}db": "1"},
    {"com.example.team": "web"}, {},
])
def test_dockerLabels_are_used_never_ignored(labels: dict[str, str]) -> None:
    definition = parse_task_definition(td(c(dockerLabels=labels), c("db"))).definition
    assert "containerDefinitions[0].dockerLabels" not in definition.ignored_fields()


def test_kwok_facility_labels_survive_overrides() -> None:
    pod = translate(td(c(dockerLabels={f"{FAIL_START}web": "3"})),
                    spec={"overrides": {"containerOverrides": [{"name": "web", "command": ["x"]}]}})
    assert pod["metadata"]["annotations"][f"{FAIL_START}web"] == "3"


# --------------------------------------------------------------------------- the seed example (2014 preview shape)


@pytest.fixture(scope="module")
def seed_pod() -> dict[str, Any]:
    document = json.loads((REPO / "examples" / "seed-three-tier.json").read_text())
    normalized = parse_task_definition(document)
    assert normalized.version == "9a56714245e7e603127"
    spec = TaskSpec(taskDefinition=normalized.definition.family)
    return task_pod(normalized.definition, 1, spec, ClusterRef("default", ClusterSpec()),
                    TaskRef("application-name", "default", UID))


def by_name(pod: dict[str, Any], name: str) -> dict[str, Any]:
    return next(x for x in pod["spec"]["containers"] if x["name"] == name)


SEED: list[tuple[str, Callable[[dict[str, Any]], Any], Any]] = [
    ("containers-in-link-order", lambda pod: names(pod["spec"]["containers"]), ["database", "web", "load-balancer"]),
    ("lb-hostPort-443-to-9443", lambda pod: by_name(pod, "load-balancer")["ports"],
     [{"containerPort": 9443, "protocol": "TCP", "hostPort": 443}]),
    ("web-dynamic-port", lambda pod: by_name(pod, "web")["ports"], [{"containerPort": 8080, "protocol": "TCP"}]),
    ("links-resolve", lambda pod: pod["spec"]["hostAliases"],
     [{"ip": "127.0.0.1", "hostnames": ["database", "db", "web"]}]),
    ("lb-resources", lambda pod: by_name(pod, "load-balancer")["resources"],
     {"requests": {"cpu": "125m", "memory": "128Mi"}, "limits": {"memory": "128Mi"}}),
    ("web-resources", lambda pod: by_name(pod, "web")["resources"],
     {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}),
    ("database-resources", lambda pod: by_name(pod, "database")["resources"],
     {"requests": {"cpu": "250m", "memory": "768Mi"}, "limits": {"memory": "1024Mi"}}),
    ("database-env", lambda pod: by_name(pod, "database")["env"],
     [{"name": "MYSQL_ROOT_PASSWORD", "value": "example"}]),
    ("all-essential", lambda pod: pod["metadata"]["annotations"]["ecs.compat.dev/essential-containers"],
     "load-balancer,web,database"),
    ("family-label", lambda pod: pod["metadata"]["labels"]["ecs.compat.dev/family"], "application-name"),
    ("no-task-level-limits", lambda pod: "resources" in pod["spec"], False),
]


@pytest.mark.parametrize(("view", "expected"), [row[1:] for row in SEED], ids=[row[0] for row in SEED])
def test_seed_example_translates(seed_pod: dict[str, Any], view: Callable[[dict[str, Any]], Any],
                                 expected: Any) -> None:
    assert view(seed_pod) == expected
