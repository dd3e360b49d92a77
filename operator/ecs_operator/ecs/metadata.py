"""The task metadata endpoint v4, as the ECS agent serves it to a task's containers
(`${ECS_CONTAINER_METADATA_URI_V4}`, `/task`, `/stats`, `/task/stats`): logging, tracing and
metrics libraries read it to learn which task and cluster they run in.

Each Pod gets an unguessable token (in its containers' environment only); the Pod carries a
hash of it as a label, so the endpoint finds the Pod by the hash and nobody learns a token by
reading labels. What it answers comes from the task's status and its Pod, as the agent's answer
comes from what the agent knows.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from . import times
from .labels import METADATA_TOKEN_LABEL

URI_V4 = "ECS_CONTAINER_METADATA_URI_V4"
URI_V3 = "ECS_CONTAINER_METADATA_URI"


def token_hash(token: str) -> str:
    """What the Pod's label holds: 40 hex characters (a label value has at most 63)."""
    return hashlib.sha256(token.encode()).hexdigest()[:40]


def with_metadata_endpoint(pod: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The Pod with `ECS_CONTAINER_METADATA_URI_V4` (and v3's name, the same URI) in every container:
    `<base_url>/v4/<token>-<n>`, n the container's index among the Pod's containers."""
    if not base_url:
        return pod
    token = secrets.token_hex(16)
    pod["metadata"].setdefault("labels", {})[METADATA_TOKEN_LABEL] = token_hash(token)
    spec = pod["spec"]
    for index, container in enumerate(spec.get("initContainers", []) + spec.get("containers", [])):
        uri = f"{base_url.rstrip('/')}/v4/{token}-{index}"
        env = [e for e in container.get("env", []) if e["name"] not in (URI_V4, URI_V3)]
        container["env"] = [*env, {"name": URI_V4, "value": uri}, {"name": URI_V3, "value": uri}]
    return pod


def parse_path(path: str) -> tuple[str, int, str] | None:
    """`/v4/<token>-<n>[/task][/stats]` → (token, n, rest); None for anything else."""
    parts = path.split("/")
    if len(parts) < 3 or parts[1] != "v4":
        return None
    token, _, index = parts[2].rpartition("-")
    rest = "/".join(parts[3:])
    if len(token) != 32 or not index.isdigit() or rest not in ("", "task", "stats", "task/stats"):
        return None
    return token, int(index), rest


def _iso(value: Any) -> str | None:
    moment = times.parse(value)
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _limits(resources: dict[str, Any]) -> dict[str, Any]:
    limits = {**resources.get("requests", {}), **resources.get("limits", {})}
    out: dict[str, Any] = {}
    if "cpu" in limits:
        cpu = str(limits["cpu"])
        out["CPU"] = int(float(cpu[:-1]) * 1024 / 1000) if cpu.endswith("m") else int(float(cpu) * 1024)
    if "memory" in limits:
        memory = str(limits["memory"])
        out["Memory"] = int(memory[:-2]) if memory.endswith("Mi") else int(memory) // (1024 * 1024) \
            if memory.isdigit() else memory
    return out


def container_metadata(record: dict[str, Any], pod: dict[str, Any], index: int) -> dict[str, Any] | None:
    """The v4 container metadata of the Pod's container `index` (init containers first)."""
    spec = pod.get("spec", {})
    containers = spec.get("initContainers", []) + spec.get("containers", [])
    if index >= len(containers):
        return None
    container = containers[index]
    name = container["name"]
    ecs: dict[str, Any] = next((c for c in record.get("containers", []) if c.get("name") == name), {})
    statuses = {s["name"]: s for s in (pod.get("status", {}).get("containerStatuses") or [])
                + (pod.get("status", {}).get("initContainerStatuses") or [])}
    docker_id = (statuses.get(name, {}).get("containerID") or "").partition("://")[2]
    family, _, revision = record.get("taskDefinitionArn", "").rpartition("/")[2].partition(":")
    shape: dict[str, Any] = {
        "DockerId": docker_id, "Name": name, "DockerName": f"ecs-{family}-{revision}-{name}",
        "Image": container.get("image", ""), "ImageID": statuses.get(name, {}).get("imageID", ""),
        "Labels": {"com.amazonaws.ecs.cluster": record.get("clusterArn", ""),
                   "com.amazonaws.ecs.container-name": name,
                   "com.amazonaws.ecs.task-arn": record.get("taskArn", ""),
                   "com.amazonaws.ecs.task-definition-family": family,
                   "com.amazonaws.ecs.task-definition-version": revision},
        "DesiredStatus": record.get("desiredStatus", "RUNNING"),
        "KnownStatus": ecs.get("lastStatus", "PENDING"),
        "Limits": _limits(container.get("resources", {})),
        "Type": "NORMAL",
        "ContainerARN": ecs.get("containerArn", ""),
        "Networks": _networks(pod),
    }
    if ecs.get("exitCode") is not None:
        shape["ExitCode"] = ecs["exitCode"]
    for key, value in (("CreatedAt", record.get("createdAt")), ("StartedAt", record.get("startedAt")),
                       ("FinishedAt", record.get("stoppedAt"))):
        if (iso := _iso(value)) is not None:
            shape[key] = iso
    return shape


def _networks(pod: dict[str, Any]) -> list[dict[str, Any]]:
    ips = [p["ip"] for p in pod.get("status", {}).get("podIPs") or [] if p.get("ip")]
    mode = "host" if pod.get("spec", {}).get("hostNetwork") else "awsvpc"
    return [{"NetworkMode": mode, "IPv4Addresses": [ip for ip in ips if ":" not in ip]}] if ips else []


def task_metadata(record: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    """The v4 task metadata (`${ECS_CONTAINER_METADATA_URI_V4}/task`)."""
    family, _, revision = record.get("taskDefinitionArn", "").rpartition("/")[2].partition(":")
    spec = pod.get("spec", {})
    count = len(spec.get("initContainers", []) + spec.get("containers", []))
    containers = [c for i in range(count) if (c := container_metadata(record, pod, i)) is not None]
    limits: dict[str, Any] = {}
    for c in containers:
        for key, value in c["Limits"].items():
            if isinstance(value, int):
                limits[key] = limits.get(key, 0) + value
    if "CPU" in limits:
        limits["CPU"] = limits["CPU"] / 1024  # the task's limits are in vCPU
    shape: dict[str, Any] = {
        "Cluster": record.get("clusterArn", ""), "TaskARN": record.get("taskArn", ""), "Family": family,
        "Revision": revision, "DesiredStatus": record.get("desiredStatus", "RUNNING"),
        "KnownStatus": record.get("lastStatus", "PENDING"), "Containers": containers, "Limits": limits,
        "LaunchType": record.get("launchType", "EC2"),
        "AvailabilityZone": pod.get("metadata", {}).get("labels", {}).get("topology.kubernetes.io/zone", ""),
    }
    for key, value in (("PullStartedAt", record.get("pullStartedAt")), ("PullStoppedAt", record.get("pullStoppedAt")),
                       ("ExecutionStoppedAt", record.get("executionStoppedAt"))):
        if (iso := _iso(value)) is not None:
            shape[key] = iso
    if record.get("containerInstanceArn"):
        shape["ContainerInstanceArn"] = record["containerInstanceArn"]
    return shape


def stats(pod: dict[str, Any], index: int | None) -> dict[str, Any] | None:
    """/stats and /task/stats: Docker's stats per container, which Kubernetes does not give the
    endpoint; every container is listed with null, as the agent lists one it has no stats for."""
    spec = pod.get("spec", {})
    names = [c["name"] for c in spec.get("initContainers", []) + spec.get("containers", [])]
    statuses = {s["name"]: (s.get("containerID") or "").partition("://")[2] or s["name"]
                for s in (pod.get("status", {}).get("containerStatuses") or [])}
    if index is None:
        return {statuses.get(name, name): None for name in names}
    return {} if index < len(names) else None
