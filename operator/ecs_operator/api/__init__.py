"""The ECS API layer: one function per ECS action, for every front end.

Each action takes a `Session` (a Kubernetes client and the namespace the caller's ECS lives in)
and the request in ECS's wire shape (the camelCase members of botocore's `<Action>Request`), acts
on the custom resources, and returns the `<Action>Response` shape, with timestamps as datetimes;
or it raises `EcsError` with ECS's exception name and message. The front ends (`kubectl ecs`,
the HTTP endpoint) only turn their input into a request and render the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import clusters, deployments, services, tags, task_definitions, tasks
from .errors import EcsError
from .session import Session

Action = Callable[[Session, dict[str, Any]], dict[str, Any]]

ACTIONS: dict[str, Action] = {
    "CreateCluster": clusters.create_cluster,
    "ListClusters": clusters.list_clusters,
    "DescribeClusters": clusters.describe_clusters,
    "ListContainerInstances": clusters.list_container_instances,
    "DescribeContainerInstances": clusters.describe_container_instances,
    "DeleteCluster": clusters.delete_cluster,
    "UpdateContainerInstancesState": clusters.update_container_instances_state,
    "RegisterTaskDefinition": task_definitions.register_task_definition,
    "ListTaskDefinitions": task_definitions.list_task_definitions,
    "DescribeTaskDefinition": task_definitions.describe_task_definition,
    "DeregisterTaskDefinition": task_definitions.deregister_task_definition,
    "ListTaskDefinitionFamilies": task_definitions.list_task_definition_families,
    "DeleteTaskDefinitions": task_definitions.delete_task_definitions,
    "RunTask": tasks.run_task,
    "DescribeTasks": tasks.describe_tasks,
    "ListTasks": tasks.list_tasks,
    "StopTask": tasks.stop_task,
    "StartTask": tasks.start_task,
    "CreateService": services.create_service,
    "UpdateService": services.update_service,
    "DescribeServices": services.describe_services,
    "ListServices": services.list_services,
    "DeleteService": services.delete_service,
    "ListServiceDeployments": deployments.list_service_deployments,
    "DescribeServiceDeployments": deployments.describe_service_deployments,
    "TagResource": tags.tag_resource,
    "UntagResource": tags.untag_resource,
    "ListTagsForResource": tags.list_tags_for_resource,
}


def call(session: Session, action: str, request: dict[str, Any]) -> dict[str, Any]:
    """Run one ECS action; EcsError for an action ECS does not have (or we do not serve yet)."""
    handler = ACTIONS.get(action)
    if handler is None:
        raise EcsError("UnknownOperationException", f"Unknown operation {action}.")
    return handler(session, request)


__all__ = ["ACTIONS", "EcsError", "Session", "call"]
