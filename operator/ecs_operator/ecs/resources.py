"""The custom resources an ECS request becomes: pure builders, no client.

Shared by the ECS API layer (RegisterTaskDefinition, RunTask, CreateCluster, CreateService), `kubectl ecs
convert` and the demo, so that each writes exactly the objects `kubectl apply` could.
"""

from __future__ import annotations

import re
from typing import Any

from .labels import API_GROUP, API_VERSION
from .normalize import NormalizedTaskDefinition

API = f"{API_GROUP}/{API_VERSION}"


def resource_name(family: str) -> str:
    """A Kubernetes object name for an ECS family (families allow '_' and capitals)."""
    name = re.sub(r"[^a-z0-9-]", "-", family.lower()).strip("-")[:56].strip("-")
    return name or "task-definition"


def task_definition_resource(normalized: NormalizedTaskDefinition, namespace: str | None = None) -> dict[str, Any]:
    spec = normalized.definition.dump()
    if normalized.version is not None:
        spec["version"] = normalized.version
    metadata: dict[str, Any] = {"name": resource_name(normalized.definition.family)}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": API, "kind": "ECSTaskDefinition", "metadata": metadata, "spec": spec}


def cluster_resource(name: str) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "ECSCluster", "metadata": {"name": name}, "spec": {}}


def task_resource(name: str, spec: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": API, "kind": "ECSTask", "metadata": metadata, "spec": spec}


def service_resource(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """An ECSService: `spec` is CreateService's request (serviceName kept: `name` is its Kubernetes form)."""
    return {"apiVersion": API, "kind": "ECSService", "metadata": {"name": name}, "spec": spec}
