"""ECS's response shapes (botocore's `Cluster`, `TaskDefinition`, `Task` …) from our records.

Timestamps become datetimes here, once: each front end renders them as its clients expect (the
aws CLI prints ISO strings, `iso_timestamps`; the wire carries epoch seconds).
"""

from __future__ import annotations

import datetime
from typing import Any

from ..ecs import arns, times
from ..ecs.labels import DELETE_REQUESTED_ANNOTATION
from ..ecs.services import DEFAULT_PERCENTS

# Fields of our task records that are not ECS's (kept in status for the operator and kubectl users).
NOT_ECS = ("podName", "nodeName")
# The Timestamp members of each shape, as botocore's ECS model has them.
TASK_TIMESTAMPS = ("connectivityAt", "createdAt", "executionStoppedAt", "pullStartedAt", "pullStoppedAt",
                   "startedAt", "stoppedAt", "stoppingAt")
TASK_DEFINITION_TIMESTAMPS = ("registeredAt", "deregisteredAt", "deleteRequestedAt")
CONTAINER_INSTANCE_TIMESTAMPS = ("registeredAt",)
# A service's deployments and events as ECS has them (botocore's `Deployment`, `ServiceEvent`): the
# operator keeps more in each deployment (revision, reference, token …), never shown.
DEPLOYMENT_MEMBERS = ("id", "status", "taskDefinition", "desiredCount", "pendingCount", "runningCount", "failedTasks",
                      "createdAt", "updatedAt", "launchType", "rolloutState", "rolloutStateReason")
DEPLOYMENT_TIMESTAMPS = ("createdAt", "updatedAt")
EVENT_MEMBERS = ("id", "createdAt", "message")
DEPLOYMENT_CONFIGURATION_MEMBERS = ("deploymentCircuitBreaker", "maximumPercent", "minimumHealthyPercent", "alarms",
                                    "strategy", "bakeTimeInMinutes", "lifecycleHooks", "linearConfiguration",
                                    "canaryConfiguration", "earlySuccessCriteria")


def timestamp(value: Any) -> datetime.datetime | None:
    """An RFC 3339 string as Kubernetes writes it ('2026-11-25T12:00:00Z') → an aware datetime."""
    return times.parse(value)


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
    if revision["status"] in ("INACTIVE", "DELETE_IN_PROGRESS"):
        shape["deregisteredAt"] = revision.get("deregisteredAt") or revision.get("registeredAt")
    if revision.get("deleteRequestedAt"):
        shape["deleteRequestedAt"] = revision["deleteRequestedAt"]
    return _with_timestamps(shape, TASK_DEFINITION_TIMESTAMPS)


def task_shape(record: dict[str, Any]) -> dict[str, Any]:
    return _with_timestamps({k: v for k, v in record.items() if k not in NOT_ECS}, TASK_TIMESTAMPS)


def container_instance_shape(instance: dict[str, Any]) -> dict[str, Any]:
    return _with_timestamps(dict(instance), CONTAINER_INSTANCE_TIMESTAMPS)


def service_name(obj: dict[str, Any]) -> str:
    """The ECS service name of an ECSService: spec.serviceName, else its Kubernetes name."""
    return str((obj.get("spec") or {}).get("serviceName") or obj["metadata"]["name"])


def service_status(obj: dict[str, Any]) -> str:
    """ACTIVE, DRAINING or INACTIVE: the operator's word, DRAINING as soon as DeleteService was called."""
    status = (obj.get("status") or {}).get("status") or "ACTIVE"
    if status == "ACTIVE" and DELETE_REQUESTED_ANNOTATION in (obj["metadata"].get("annotations") or {}):
        return "DRAINING"
    return str(status)


def deployment_configuration(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec's deploymentConfiguration with ECS's defaults for its scheduling strategy filled in."""
    low, high = DEFAULT_PERCENTS.get(spec.get("schedulingStrategy") or "REPLICA", DEFAULT_PERCENTS["REPLICA"])
    given = {k: v for k, v in (spec.get("deploymentConfiguration") or {}).items()
             if k in DEPLOYMENT_CONFIGURATION_MEMBERS and v is not None}
    return {**given, "minimumHealthyPercent": given.get("minimumHealthyPercent", low),
            "maximumPercent": given.get("maximumPercent", high)}


def service_shape(obj: dict[str, Any], *, tags: bool = False, cluster_arn: str | None = None,
                  task_definition_arn: str | None = None) -> dict[str, Any]:
    """ECS's `Service` from an ECSService: the operator's status (counts, deployments, events) over
    the spec (configuration). Before the operator's first status: ACTIVE, nothing running, no
    deployments or events (`cluster_arn`, `task_definition_arn`: the ARNs to show until then)."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj["metadata"]
    name, cluster = service_name(obj), spec.get("cluster") or "default"
    if cluster_arn is None:
        cluster_arn = arns.cluster_arn(cluster)
    default_arn = cluster_arn.replace(":cluster/", ":service/", 1) + f"/{name}"
    daemon = spec.get("schedulingStrategy") == "DAEMON"
    reference = str(spec.get("taskDefinition") or "")
    if task_definition_arn is None and ":" in reference and not reference.startswith("arn:"):
        task_definition_arn = cluster_arn.split(":cluster/", 1)[0] + f":task-definition/{reference}"
    shape: dict[str, Any] = {
        "serviceArn": status.get("serviceArn") or default_arn,
        "serviceName": name,
        "clusterArn": status.get("clusterArn") or cluster_arn,
        "loadBalancers": [],
        "serviceRegistries": [],
        "status": service_status(obj),
        "desiredCount": status.get("desiredCount", 0 if daemon else spec.get("desiredCount") or 0),
        "runningCount": status.get("runningCount", 0),
        "pendingCount": status.get("pendingCount", 0),
        "launchType": spec.get("launchType") or "EC2",
        "taskDefinition": status.get("taskDefinition") or task_definition_arn or reference,
        "deploymentConfiguration": deployment_configuration(spec),
        "deployments": [_with_timestamps({k: d[k] for k in DEPLOYMENT_MEMBERS if k in d}, DEPLOYMENT_TIMESTAMPS)
                        for d in status.get("deployments") or []],
        "events": [_with_timestamps({k: e[k] for k in EVENT_MEMBERS if k in e}, ("createdAt",))
                   for e in status.get("events") or []],
        "createdAt": timestamp(status.get("createdAt") or meta.get("creationTimestamp")),
        "placementConstraints": list(spec.get("placementConstraints") or []),
        "placementStrategy": list(spec.get("placementStrategy") or []),
        "schedulingStrategy": spec.get("schedulingStrategy") or "REPLICA",
        "deploymentController": {"type": "ECS"},
        "createdBy": f"kubernetes:{meta.get('namespace', '')}",
        "enableECSManagedTags": spec.get("enableECSManagedTags") is True,
        "propagateTags": spec.get("propagateTags") or "NONE",
        "enableExecuteCommand": spec.get("enableExecuteCommand") is True,
        "availabilityZoneRebalancing": spec.get("availabilityZoneRebalancing") or "DISABLED",
    }
    if spec.get("healthCheckGracePeriodSeconds") is not None:
        shape["healthCheckGracePeriodSeconds"] = spec["healthCheckGracePeriodSeconds"]
    if tags:
        shape["tags"] = list(spec.get("tags") or [])
    return shape


def iso_timestamps(value: Any) -> Any:
    """An answer as the aws CLI prints it: each datetime an ISO 8601 string ('…T12:00:03Z' as
    Kubernetes writes them, where the time is UTC to the second)."""
    if isinstance(value, datetime.datetime):
        if value.utcoffset() == datetime.timedelta(0) and not value.microsecond:
            return times.rfc3339(value)
        return value.isoformat()
    if isinstance(value, dict):
        return {k: iso_timestamps(v) for k, v in value.items()}
    if isinstance(value, list):
        return [iso_timestamps(v) for v in value]
    return value
