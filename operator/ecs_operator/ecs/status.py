"""What the cluster reports, in ECS's words: Pods → Task status, nodes + Pods → container instances.

Pure functions over plain dicts (the JSON the apiserver returns), so the lifecycle rules are
unit-tested without a cluster. The reconcilers feed them and write what they return.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from . import arns
from .cql import ECS_ARCH, LABEL_ATTRIBUTES
from .labels import ANNOTATION_CONTAINER_NAMES, ANNOTATION_ESSENTIAL, ANNOTATION_PLATFORM

ESSENTIAL_EXITED = "Essential container in task exited"
# ECS's task lifecycle as this operator reports it, in order: a task only ever moves forward.
LIFECYCLE = ("PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED")
# Ports ECS reserves on every container instance by default (ssh, docker, the ECS agent).
RESERVED_PORTS = ("22", "2375", "2376", "51678", "51679", "51680")


@functools.lru_cache(maxsize=1024)  # a few distinct quantities, parsed at every Pod event
def _quantity(value: str | None) -> float:
    """A Kubernetes quantity as a number (cpu in cores, memory in bytes)."""
    if not value:
        return 0.0
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    if not m:
        return 0.0
    number, unit = float(m.group(1)), m.group(2)
    factors = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
               "Ti": 2**40}
    return number * factors.get(unit, 1)


def cpu_units(quantity: str | None) -> int:
    """Kubernetes CPU → ECS units, rounding down (1024 units = 1 core)."""
    return math.floor(round(_quantity(quantity) * 1000) * 1024 / 1000)


def memory_mib(quantity: str | None) -> int:
    return math.floor(_quantity(quantity) / 2**20)


# --------------------------------------------------------------------------- tasks


def ecs_container_names(pod: dict[str, Any]) -> dict[str, str]:
    """Kubernetes container name → ECS container name."""
    annotations = pod.get("metadata", {}).get("annotations") or {}
    renamed: dict[str, str] = json.loads(annotations.get(ANNOTATION_CONTAINER_NAMES, "{}"))
    spec = pod.get("spec", {})
    names = [c["name"] for c in spec.get("initContainers", []) + spec.get("containers", [])]
    return {n: renamed.get(n, n) for n in names}


def essential_containers(pod: dict[str, Any]) -> set[str]:
    annotations = pod.get("metadata", {}).get("annotations") or {}
    return {n for n in annotations.get(ANNOTATION_ESSENTIAL, "").split(",") if n}


@dataclass(frozen=True)
class ContainerState:
    name: str  # Kubernetes name
    last_status: str  # PENDING, RUNNING, STOPPED
    exit_code: int | None = None
    reason: str | None = None
    health: str | None = None  # HEALTHY, UNHEALTHY, UNKNOWN when the container has a health check
    started_at: str | None = None


def _started(stamp: Any) -> str | None:
    """A container's startedAt, unless it never started: the kubelet then reports the epoch
    (kubernetes/kubernetes#120331), and a task whose container failed to start never ran."""
    return None if not stamp or str(stamp).startswith("1970-01-01") else str(stamp)


def container_states(pod: dict[str, Any]) -> dict[str, ContainerState]:
    """State of each container (init containers included), keyed by Kubernetes name."""
    spec = pod.get("spec", {})
    status = pod.get("status", {}) or {}
    probes = {c["name"] for c in spec.get("containers", []) + spec.get("initContainers", [])
              if c.get("readinessProbe") or c.get("startupProbe")}
    reported = {s["name"]: s for s in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses")
                                                                                  or [])}
    out = {}
    for c in spec.get("initContainers", []) + spec.get("containers", []):
        name = c["name"]
        s = reported.get(name) or {}
        state = s.get("state") or {}
        health = None
        if name in probes:
            health = "HEALTHY" if s.get("ready") else "UNKNOWN"
        if "terminated" in state:
            term = state["terminated"]
            reason = term.get("message") or term.get("reason")
            out[name] = ContainerState(name, "STOPPED", term.get("exitCode"), reason, health and "UNKNOWN",
                                       _started(term.get("startedAt")))
        elif "running" in state:
            out[name] = ContainerState(name, "RUNNING", health=health,
                                       started_at=_started(state["running"].get("startedAt")))
        else:
            waiting = (state.get("waiting") or {}).get("reason")
            out[name] = ContainerState(name, "PENDING", reason=waiting, health=health)
    return out


def exited_essential(pod: dict[str, Any]) -> ContainerState | None:
    """The first essential container that has stopped (or restarted, for a sidecar), if any."""
    essential = essential_containers(pod)
    states = container_states(pod)
    status = pod.get("status", {}) or {}
    restarted = {s["name"] for s in status.get("initContainerStatuses") or [] if (s.get("restartCount") or 0) > 0}
    for name, state in states.items():
        if name in essential and (state.last_status == "STOPPED" or name in restarted):
            return state
    return None


def pod_last_status(pod: dict[str, Any] | None) -> str:
    """ECS lastStatus of the task a Pod runs."""
    if pod is None:
        return "STOPPED"
    meta = pod.get("metadata", {})
    status = pod.get("status", {}) or {}
    phase = status.get("phase")
    if meta.get("deletionTimestamp"):
        return "DEPROVISIONING"
    if phase in ("Succeeded", "Failed"):
        return "STOPPED"
    if not pod.get("spec", {}).get("nodeName"):
        return "PROVISIONING"
    states = container_states(pod)
    main = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
    if phase == "Running" and all(states[n].last_status in ("RUNNING", "STOPPED") for n in main):
        return "RUNNING"
    return "PENDING"


def network_bindings(pod: dict[str, Any], container: dict[str, Any]) -> list[dict[str, Any]]:
    """ECS networkBindings: static host ports on the instance; dynamic ones on the task's own IP."""
    status = pod.get("status", {}) or {}
    host_ip = status.get("hostIP") or "0.0.0.0"
    pod_ip = status.get("podIP")
    out = []
    for port in container.get("ports", []):
        protocol = port.get("protocol", "TCP").lower()
        if port.get("hostPort"):
            out.append({"bindIP": host_ip, "containerPort": port["containerPort"], "hostPort": port["hostPort"],
                        "protocol": protocol})
        elif pod_ip:
            # A dynamic port: the task is reached on its own address at the container port.
            out.append({"bindIP": pod_ip, "containerPort": port["containerPort"], "hostPort": port["containerPort"],
                        "protocol": protocol})
    return out


UNSCHEDULABLE_REASONS = (
    ("Insufficient cpu", "RESOURCE:CPU"),
    ("Insufficient memory", "RESOURCE:MEMORY"),
    ("free ports", "RESOURCE:PORTS"),
    ("didn't match Pod's node affinity/selector", "MemberOf placement constraint unsatisfied."),
    ("didn't match pod anti-affinity rules", "DistinctInstance placement constraint unsatisfied."),
    ("unschedulable", "ContainerInstance DRAINING"),
)


def placement_failures(pod: dict[str, Any]) -> list[str]:
    """ECS RunTask failure reasons from the scheduler's message on an unschedulable Pod."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            message = condition.get("message") or ""
            found = [reason for needle, reason in UNSCHEDULABLE_REASONS if needle in message]
            if re.search(r"Insufficient [^ ,]*gpu", message):  # the cluster's GPU resource (nvidia.com/gpu …)
                found.insert(0, "RESOURCE:GPU")
            platform = (pod.get("metadata") or {}).get("annotations", {}).get(ANNOTATION_PLATFORM)
            affinity = (pod.get("spec") or {}).get("affinity", {})
            if platform and UNSCHEDULABLE_REASONS[3][1] in found and not affinity.get("nodeAffinity"):
                # Only the runtimePlatform's os/arch can be unmet: an attribute no container instance has.
                found[found.index(UNSCHEDULABLE_REASONS[3][1])] = "ATTRIBUTE"
            if not found and "nodes are available" in message:
                found = ["MISSING"] if message.startswith("0/0") else ["RESOURCE:UNKNOWN"]
            return found
    return []


# --------------------------------------------------------------------------- container instances


def instance_id(node: dict[str, Any]) -> str:
    """A stable 32-hex id per node (from its uid), as ECS ids container instances."""
    return str(node["metadata"].get("uid", "")).replace("-", "") or node["metadata"]["name"]


def pod_reservations(pod: dict[str, Any]) -> tuple[int, int, list[str], list[str]]:
    """cpu units, memory MiB, tcp host ports, udp host ports a Pod holds on its node."""
    spec = pod.get("spec", {})
    cpu = memory = 0
    tcp: list[str] = []
    udp: list[str] = []
    for c in spec.get("containers", []):
        requests = (c.get("resources") or {}).get("requests") or {}
        cpu += cpu_units(requests.get("cpu"))
        memory += memory_mib(requests.get("memory"))
        for port in c.get("ports", []):
            if port.get("hostPort"):
                (udp if port.get("protocol") == "UDP" else tcp).append(str(port["hostPort"]))
    pod_limits = (spec.get("resources") or {}).get("limits") or {}
    cpu = max(cpu, cpu_units(pod_limits.get("cpu")))
    memory = max(memory, memory_mib(pod_limits.get("memory")))
    return cpu, memory, tcp, udp


@dataclass(frozen=True)
class PodUsage:
    """What a task Pod holds on its node and how far it is: all a container instance needs of it."""

    node: str | None
    last_status: str
    cpu: int
    memory: int
    tcp: tuple[str, ...]
    udp: tuple[str, ...]


def pod_usage(pod: dict[str, Any]) -> PodUsage:
    cpu, memory, tcp, udp = pod_reservations(pod)
    return PodUsage(pod.get("spec", {}).get("nodeName"), pod_last_status(pod), cpu, memory, tuple(tcp), tuple(udp))


def _resource(name: str, value: int | list[str]) -> dict[str, Any]:
    if isinstance(value, list):
        return {"name": name, "type": "STRINGSET", "stringSetValue": sorted(set(value), key=int)}
    return {"name": name, "type": "INTEGER", "integerValue": value}


def container_instance(node: dict[str, Any], pods: list[PodUsage], cluster: str, draining: bool,
                       region: str, account: str) -> dict[str, Any]:
    """ECS's ContainerInstance shape for one node and the task Pods placed on it."""
    meta = node["metadata"]
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    registered_cpu = cpu_units(allocatable.get("cpu"))
    registered_memory = memory_mib(allocatable.get("memory"))
    used_cpu = used_memory = 0
    tcp: list[str] = list(RESERVED_PORTS)
    udp: list[str] = []
    running = pending = 0
    for pod in pods:
        if pod.last_status == "STOPPED":
            continue
        used_cpu += pod.cpu
        used_memory += pod.memory
        tcp += pod.tcp
        udp += pod.udp
        if pod.last_status == "RUNNING":
            running += 1
        else:
            pending += 1
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in (node.get("status") or {}).get("conditions") or [])
    labels = meta.get("labels") or {}
    attributes = []
    for label, value in sorted(labels.items()):
        name = LABEL_ATTRIBUTES.get(label, label)
        if name == "ecs.cpu-architecture":
            value = ECS_ARCH.get(value, value)
        attributes.append({"name": name, "value": value})
    iid = instance_id(node)
    return {
        "containerInstanceArn": arns.container_instance_arn(cluster, iid, region, account),
        "ec2InstanceId": meta["name"],
        "status": "DRAINING" if draining or (node.get("spec") or {}).get("unschedulable") else "ACTIVE",
        "agentConnected": ready,
        "runningTasksCount": running,
        "pendingTasksCount": pending,
        "registeredResources": [
            _resource("CPU", registered_cpu), _resource("MEMORY", registered_memory),
            _resource("PORTS", list(RESERVED_PORTS)), _resource("PORTS_UDP", []),
        ],
        "remainingResources": [
            _resource("CPU", registered_cpu - used_cpu), _resource("MEMORY", registered_memory - used_memory),
            _resource("PORTS", tcp), _resource("PORTS_UDP", udp),
        ],
        "attributes": attributes,
        "registeredAt": meta.get("creationTimestamp"),
    }


def node_matches(node: dict[str, Any], selector: dict[str, str]) -> bool:
    labels = node["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


# --------------------------------------------------------------------------- the ECS Task record


@dataclass(frozen=True)
class TaskIdentity:
    """What a task is, fixed when it is created (ARNs, names) — the rest comes from its Pod."""

    task_arn: str
    cluster_arn: str
    task_definition_arn: str
    pod_name: str
    group: str
    started_by: str | None
    containers: tuple[tuple[str, str, str], ...]  # (Kubernetes name, ECS name, image), in definition order
    cpu: str | None = None
    memory: str | None = None


def _container_records(identity: TaskIdentity, pod: dict[str, Any] | None, previous: dict[str, Any] | None,
                       stopped: bool) -> list[dict[str, Any]]:
    task_id = identity.task_arn.rsplit("/", 1)[-1]
    cluster = identity.cluster_arn.rsplit("/", 1)[-1]
    prefix = identity.cluster_arn.split(":cluster/")[0]
    before = {c["name"]: c for c in (previous or {}).get("containers", [])}
    order = {"PENDING": 0, "RUNNING": 1, "STOPPED": 2}
    states = container_states(pod) if pod else {}
    specs = {c["name"]: c for c in (pod or {}).get("spec", {}).get("containers", []) +
             (pod or {}).get("spec", {}).get("initContainers", [])}
    out = []
    for i, (kube_name, ecs_name, image) in enumerate(identity.containers):
        old = before.get(ecs_name, {})
        record: dict[str, Any] = {
            "containerArn": f"{prefix}:container/{cluster}/{task_id}/{i:08d}-0000-4000-8000-{task_id[:12]}",
            "taskArn": identity.task_arn, "name": ecs_name, "image": image,
            "lastStatus": old.get("lastStatus", "PENDING"),
        }
        for key in ("exitCode", "reason", "networkBindings", "healthStatus"):
            if key in old:
                record[key] = old[key]
        state = states.get(kube_name)
        # A container never goes back (a Pod read before a newer write must not undo it).
        if state is not None and order[state.last_status] < order.get(record["lastStatus"], 0):
            state = None
        if state is not None:
            record["lastStatus"] = state.last_status
            if state.exit_code is not None:
                record["exitCode"] = state.exit_code
            if state.reason and state.last_status == "STOPPED":
                record["reason"] = state.reason
            if state.health:
                record["healthStatus"] = state.health
            bindings = network_bindings(pod or {}, specs.get(kube_name, {}))
            if bindings and state.last_status == "RUNNING":
                record["networkBindings"] = bindings
        if stopped and record["lastStatus"] != "STOPPED":
            record["lastStatus"] = "STOPPED"
        out.append(record)
    return out


def task_record(identity: TaskIdentity, pod: dict[str, Any] | None, previous: dict[str, Any] | None, *,
                desired_status: str, now: str, instance_arn: str | None = None, node_gone: bool = False,
                stop_reason: str | None = None, stop_code: str = "UserInitiated") -> dict[str, Any]:
    """ECS's Task shape for one task, from its Pod (None when the Pod is gone) and the last record.

    A STOPPED record never changes again: ECS tasks do not come back.
    """
    previous = previous or {}
    if previous.get("lastStatus") == "STOPPED":
        return previous
    record: dict[str, Any] = {
        "taskArn": identity.task_arn, "clusterArn": identity.cluster_arn,
        "taskDefinitionArn": identity.task_definition_arn, "group": identity.group,
        "desiredStatus": desired_status, "launchType": "EC2", "podName": identity.pod_name,
    }
    if identity.started_by:
        record["startedBy"] = identity.started_by
    if identity.cpu:
        record["cpu"] = identity.cpu
    if identity.memory:
        record["memory"] = identity.memory
    for key in ("createdAt", "pullStartedAt", "pullStoppedAt", "startedAt", "stoppingAt", "containerInstanceArn",
                "stopCode", "stoppedReason", "failures"):
        if key in previous:
            record[key] = previous[key]

    if pod is None:
        if "createdAt" not in previous and desired_status != "STOPPED":
            record["lastStatus"] = "PROVISIONING"
            record["containers"] = _container_records(identity, None, previous, stopped=False)
            return record
        record["lastStatus"] = "STOPPED"
        record["desiredStatus"] = "STOPPED"
        record["stoppedAt"] = now
        record.setdefault("stoppingAt", now)
        if "stopCode" not in record:
            if desired_status == "STOPPED":
                record["stopCode"] = stop_code
                record["stoppedReason"] = stop_reason or "Task stopped by user"
            elif node_gone:
                record["stopCode"] = "InfrastructureHealth"
                record["stoppedReason"] = "Container instance of the task left the cluster (its node was removed)"
            else:
                record["stopCode"] = "TerminationNotice"
                record["stoppedReason"] = f"Task's Pod {identity.pod_name} was deleted outside the ECS operator"
        record["containers"] = _container_records(identity, None, previous, stopped=True)
        return record

    last = pod_last_status(pod)
    if LIFECYCLE.index(last) < LIFECYCLE.index(previous.get("lastStatus", "PROVISIONING")):
        # ECS states only move forward: a Pod read before a newer write (two handlers racing)
        # must not take a task back, e.g. from RUNNING to PENDING.
        return previous
    meta = pod.get("metadata", {})
    record["createdAt"] = previous.get("createdAt") or meta.get("creationTimestamp")
    if instance_arn:
        record["containerInstanceArn"] = instance_arn
    states = container_states(pod)
    started = [s.started_at for s in states.values() if s.started_at]
    if pod.get("spec", {}).get("nodeName") and "pullStartedAt" not in record:
        record["pullStartedAt"] = now
    if last in ("RUNNING", "STOPPED", "DEPROVISIONING") and started and "startedAt" not in record:
        record["startedAt"] = min(started)
        record.setdefault("pullStoppedAt", record["startedAt"])
    failures = placement_failures(pod) if last == "PROVISIONING" else []
    if failures:
        record["failures"] = [{"arn": identity.task_arn, "reason": reason} for reason in failures]
    else:
        record.pop("failures", None)
    essential = exited_essential(pod)
    if essential is not None and "stopCode" not in record:
        record["stopCode"] = "EssentialContainerExited"
        record["stoppedReason"] = ESSENTIAL_EXITED
        record["stoppingAt"] = now
    if essential is not None:
        record["desiredStatus"] = "STOPPED"
    if last == "STOPPED":
        record["desiredStatus"] = "STOPPED"
        record["stoppedAt"] = now
        record.setdefault("stoppingAt", now)
        if "stopCode" not in record and (node_gone or _disrupted(pod)):
            record["stopCode"] = "InfrastructureHealth"
            record["stoppedReason"] = "Container instance of the task left the cluster (its node was removed)"
        elif "stopCode" not in record:  # every container exited on its own
            record["stopCode"] = "EssentialContainerExited"
            record["stoppedReason"] = ESSENTIAL_EXITED
    elif last == "DEPROVISIONING" and "stoppingAt" not in record:
        record["stoppingAt"] = now
    record["lastStatus"] = last
    record["containers"] = _container_records(identity, pod, previous, stopped=last == "STOPPED")
    return record


def _disrupted(pod: dict[str, Any]) -> bool:
    """The Pod was failed by Kubernetes itself (pod GC after its node went, eviction), not by its containers."""
    return any(c.get("type") == "DisruptionTarget" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def summary_status(records: list[dict[str, Any]]) -> str:
    """One lastStatus for an ECSTask of `count` tasks: the least advanced task's."""
    if not records:
        return "PROVISIONING"
    return min((r.get("lastStatus", "PROVISIONING") for r in records), key=LIFECYCLE.index)
