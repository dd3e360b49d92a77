"""Tasks: a RunTask is one ECSTask (labelled ephemeral: it goes a while after it stops, as in
ECS); its tasks are the records in that ECSTask's status, found by ARN or 32-hex id. A service's
tasks are ECSTasks of count 1 labelled with the service (ListTasks' serviceName)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from ..ecs.labels import EPHEMERAL_LABEL, SERVICE_LABEL
from ..ecs.resources import task_resource
from ..ecs.translate import label_value
from .clusters import find_cluster
from .errors import invalid_parameter
from .pagination import page
from .services import find_service
from .session import Session
from .shapes import resource_id, task_shape
from .task_definitions import find_revision, require_active

# RunTask's members that the ECSTask spec takes as they are.
RUN_TASK_MEMBERS = ("overrides", "placementConstraints", "placementStrategy", "startedBy", "group")
DESCRIBE_TASKS_MAX = 100


def task_records(session: Session, cluster: str, label_selector: str = ""
                 ) -> Iterator[tuple[dict[str, Any], int, dict[str, Any]]]:
    """(ECSTask, index, task record) of every task of the cluster (of the ECSTasks selected)."""
    for obj in session.list("ecstasks", label_selector):
        if obj["spec"]["cluster"] == cluster:
            for index, record in enumerate((obj.get("status") or {}).get("tasks", [])):
                yield obj, index, record


def run_task(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    cluster = find_cluster(session, request.get("cluster"))
    reference = resource_id(request.get("taskDefinition") or "")
    _, revision, _ = find_revision(session, reference)  # ECS refuses unknown definitions at once
    require_active(revision)
    count = request.get("count", 1)
    family = reference.partition(":")[0]
    name = f"{family.lower().replace('_', '-')[:40].strip('-')}-{uuid.uuid4().hex[:8]}"
    spec: dict[str, Any] = {"cluster": cluster["metadata"]["name"], "taskDefinition": reference, "count": count}
    spec.update({key: request[key] for key in RUN_TASK_MEMBERS if request.get(key)})
    session.create("ecstasks", task_resource(name, spec, {EPHEMERAL_LABEL: "true"}))

    def answered() -> dict[str, Any] | None:
        status = (session.get("ecstasks", name) or {}).get("status") or {}
        if len(status.get("tasks", [])) == count or (status.get("failures") and not status.get("resolved")):
            return status
        return None

    status = session.wait(answered) or {}
    tasks = [task_shape(r) for r in status.get("tasks", [])]
    return {"tasks": tasks, "failures": [] if tasks else status.get("failures", [])}


def describe_tasks(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    wanted = request.get("tasks") or []
    if not wanted:
        raise invalid_parameter("Tasks cannot be empty.")
    if len(wanted) > DESCRIBE_TASKS_MAX:
        raise invalid_parameter(f"taskIds can have at most {DESCRIBE_TASKS_MAX} items.")
    cluster = find_cluster(session, request.get("cluster"))["metadata"]["name"]
    records = {resource_id(r["taskArn"]): r for _, _, r in task_records(session, cluster)}
    tasks, failures = [], []
    for task in wanted:
        record = records.get(resource_id(task))
        if record is None:
            failures.append({"arn": task, "reason": "MISSING"})
        else:
            tasks.append(task_shape(record))
    return {"tasks": tasks, "failures": failures}


def list_tasks(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    cluster = find_cluster(session, request.get("cluster"))["metadata"]["name"]
    family, started_by = request.get("family"), request.get("startedBy")
    desired = request.get("desiredStatus") or "RUNNING"
    selector = ""
    if request.get("serviceName"):  # ServiceNotFoundException for a service the cluster does not have
        service = find_service(session, cluster, request["serviceName"])
        selector = f"{SERVICE_LABEL}={label_value(service['metadata']['name'])}"
    entries = []
    for obj, index, record in task_records(session, cluster, selector):
        if record.get("desiredStatus") != desired:
            continue
        if family and not resource_id(record.get("taskDefinitionArn", "")).startswith(f"{family}:"):
            continue
        if started_by and record.get("startedBy") != started_by:
            continue
        entries.append(((obj["metadata"]["name"], index), record["taskArn"]))
    return page(entries, request, "taskArns")


def stop_task(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    cluster = find_cluster(session, request.get("cluster"))["metadata"]["name"]
    wanted = resource_id(request.get("task") or "")
    found = next(((obj, r) for obj, _, r in task_records(session, cluster) if resource_id(r["taskArn"]) == wanted),
                 None)
    if found is None:
        raise invalid_parameter("The referenced task was not found.")
    obj, record = found
    name = obj["metadata"]["name"]
    if obj["spec"]["count"] > 1:
        raise invalid_parameter(
            f"this task was started with others in one run-task (ECSTask {name}, count {obj['spec']['count']}); "
            f"they stop together: kubectl patch ecstask {name} --type merge -p "
            "'{\"spec\":{\"desiredStatus\":\"STOPPED\"}}'")
    patch: dict[str, Any] = {"desiredStatus": "STOPPED"}
    if request.get("reason"):
        patch["stopReason"] = request["reason"]
    session.patch("ecstasks", name, {"spec": patch})

    def stopping() -> dict[str, Any] | None:
        records = ((session.get("ecstasks", name) or {}).get("status") or {}).get("tasks", [])
        now = next((r for r in records if resource_id(r["taskArn"]) == wanted), None)
        return now if now and now.get("desiredStatus") == "STOPPED" else None

    return {"task": task_shape(session.wait(stopping) or record)}
