"""ECS's response shapes (botocore's `Cluster`, `TaskDefinition`, `Task` …) from our records.

Timestamps become datetimes here, once: each front end renders them as its clients expect (the
aws CLI prints ISO strings, `iso_timestamps`; the wire carries epoch seconds).
"""

from __future__ import annotations

import datetime
from typing import Any

# Fields of our task records that are not ECS's (kept in status for the operator and kubectl users).
NOT_ECS = ("podName", "nodeName")
# The Timestamp members of each shape, as botocore's ECS model has them.
TASK_TIMESTAMPS = ("connectivityAt", "createdAt", "executionStoppedAt", "pullStartedAt", "pullStoppedAt",
                   "startedAt", "stoppedAt", "stoppingAt")
TASK_DEFINITION_TIMESTAMPS = ("registeredAt", "deregisteredAt", "deleteRequestedAt")
CONTAINER_INSTANCE_TIMESTAMPS = ("registeredAt",)


def timestamp(value: Any) -> datetime.datetime | None:
    """An RFC 3339 string as Kubernetes writes it ('2026-11-25T12:00:00Z') → an aware datetime."""
    if isinstance(value, datetime.datetime) or value is None:
        return value
    try:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _with_timestamps(shape: dict[str, Any], members: tuple[str, ...]) -> dict[str, Any]:
    for key in members:
        if key in shape:
            shape[key] = timestamp(shape[key])
    return shape


def resource_id(arn_or_id: str) -> str:
    """The last path element of an ARN (a task's 32-hex id, a cluster's name), or the id itself."""
    return arn_or_id.rsplit("/", 1)[-1]


def cluster_shape(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status") or {}
    return {
        "clusterArn": status.get("clusterArn", ""),
        "clusterName": obj["metadata"]["name"],
        "status": status.get("status", "PROVISIONING"),
        "registeredContainerInstancesCount": status.get("registeredContainerInstancesCount", 0),
        "runningTasksCount": status.get("runningTasksCount", 0),
        "pendingTasksCount": status.get("pendingTasksCount", 0),
        "activeServicesCount": status.get("activeServicesCount", 0),
        "statistics": [],
        "tags": [],
        "settings": [],
        "capacityProviders": [],
        "defaultCapacityProviderStrategy": [],
    }


def task_definition_shape(resource: dict[str, Any], revision: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    shape = {
        "taskDefinitionArn": revision["taskDefinitionArn"],
        **body,
        "revision": revision["revision"],
        "status": revision["status"],
        "requiresAttributes": [],
        "compatibilities": ["EC2"],
        "registeredAt": revision.get("registeredAt"),
        "registeredBy": f"kubernetes:{resource['metadata']['namespace']}/{resource['metadata']['name']}",
    }
    if revision["status"] == "INACTIVE":
        shape["deregisteredAt"] = revision.get("deregisteredAt") or revision.get("registeredAt")
    return _with_timestamps(shape, TASK_DEFINITION_TIMESTAMPS)


def task_shape(record: dict[str, Any]) -> dict[str, Any]:
    return _with_timestamps({k: v for k, v in record.items() if k not in NOT_ECS}, TASK_TIMESTAMPS)


def container_instance_shape(instance: dict[str, Any]) -> dict[str, Any]:
    return _with_timestamps(dict(instance), CONTAINER_INSTANCE_TIMESTAMPS)


def iso_timestamps(value: Any) -> Any:
    """An answer as the aws CLI prints it: each datetime an ISO 8601 string ('…T12:00:03Z' as
    Kubernetes writes them, where the time is UTC to the second)."""
    if isinstance(value, datetime.datetime):
        if value.utcoffset() == datetime.timedelta(0) and not value.microsecond:
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return value.isoformat()
    if isinstance(value, dict):
        return {k: iso_timestamps(v) for k, v in value.items()}
    if isinstance(value, list):
        return [iso_timestamps(v) for v in value]
    return value
