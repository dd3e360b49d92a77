"""Tasks: a RunTask is one ECSTask (labelled ephemeral: it goes a while after it stops, as in
ECS); its tasks are the records in that ECSTask's status, found by ARN or 32-hex id. A service's
tasks are ECSTasks of count 1 labelled with the service (ListTasks' serviceName)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

from ..ecs.labels import CLIENT_REQUEST_ANNOTATION, EPHEMERAL_LABEL, SERVICE_LABEL
from ..ecs.resources import task_resource
from ..ecs.translate import label_value
from . import tagging
from .clusters import find_cluster, named_instances
from .errors import EcsError, invalid_parameter
from .pagination import page
from .services import find_service
from .session import Session
from .shapes import resource_id, task_shape
from .task_definitions import find_revision, require_active

# RunTask's members that the ECSTask spec takes as they are.
RUN_TASK_MEMBERS = ("overrides", "placementConstraints", "placementStrategy", "startedBy", "group")
DESCRIBE_TASKS_MAX = 100


def task_records(session: Session, cluster: str, label_selector: str = "", task_ids: set[str] | None = None
                 ) -> Iterator[tuple[dict[str, Any], int, dict[str, Any]]]:
    """(ECSTask, index, task record) of every task of the cluster (of the ECSTasks selected; with
    `task_ids`, at least of the tasks with those ids)."""
    objects = session.tasks_with_ids(task_ids) if task_ids is not None else session.list("ecstasks", label_selector)
    for obj in objects:
        if obj["spec"]["cluster"] == cluster:
            for index, record in enumerate((obj.get("status") or {}).get("tasks", [])):
                yield obj, index, record


CLIENT_TOKEN_MAX = 64
RUN_TASK_COUNT_MAX = 10  # "You can specify up to 10 tasks for each call." (RunTask's count)
START_TASK_INSTANCES_MAX = 10


def client_token_name(token: str) -> str:
    """The ECSTask a RunTask with this clientToken creates: named by the token alone, so that a
    retry (after a timeout, or an endpoint restart) finds it and never starts the tasks twice."""
    return f"run-{hashlib.sha256(token.encode()).hexdigest()[:24]}"


def _first_of_token(session: Session, base: str) -> dict[str, Any] | None:
    """The first ECSTask a RunTask with this token created (named `base`, or `base-0` for a count)."""
    return session.peek("ecstasks", base) or session.peek("ecstasks", f"{base}-0")


def _token_index(name: str) -> int:
    index = name.rpartition("-")[2]
    return int(index) if index.isdigit() and len(index) <= 2 else 0


def request_digest(request: dict[str, Any], cluster: str) -> str:
    """What a retry must repeat: the request without its token, with ECS's defaults filled in."""
    canonical = {k: v for k, v in request.items() if k != "clientToken" and v is not None}
    canonical.update({"cluster": cluster, "count": request.get("count") or 1,
                      "taskDefinition": resource_id(request.get("taskDefinition") or "")})
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


def _task_name(family: str) -> str:
    return f"{family.lower().replace('_', '-')[:40].strip('-')}-{uuid.uuid4().hex[:8]}"


def _answer(session: Session, names: list[str]) -> dict[str, Any]:
    """RunTask's answer for its ECSTasks: their tasks once the operator has made them (or their failures)."""

    def answered() -> list[dict[str, Any]] | None:
        objs = [session.get("ecstasks", name) or {"metadata": {"name": name}} for name in names]
        done = all(len((o.get("status") or {}).get("tasks", [])) == o.get("spec", {}).get("count", 1)
                   or ((o.get("status") or {}).get("failures") and not o["status"].get("resolved")) for o in objs)
        return objs if done else None

    objs = session.wait(answered) or [session.get("ecstasks", name) or {"metadata": {"name": name}} for name in names]
    tasks, failures = [], []
    for obj in objs:
        status = obj.get("status") or {}
        records = status.get("tasks", [])
        tasks += [task_shape(r) | _tags_member(obj, i) for i, r in enumerate(records)]
        if not records:
            failures += status.get("failures", [])
    return {"tasks": tasks, "failures": failures}


def _tags_member(obj: dict[str, Any], index: int) -> dict[str, Any]:
    tags = tagging.tags_of(obj, index)
    return {"tags": tags} if tags else {}


def _same_request(session: Session, existing: dict[str, Any], digest: str, base: str) -> None:
    """ConflictException (with the token's task ARNs) when the tasks of this clientToken were started
    by another request."""
    if (existing["metadata"].get("annotations") or {}).get(CLIENT_REQUEST_ANNOTATION) != digest:
        objs = [o for o in session.list("ecstasks") if o["metadata"]["name"] == base
                or o["metadata"]["name"].rpartition("-")[0] == base]
        arns = [r["taskArn"] for o in sorted(objs, key=lambda o: _token_index(o["metadata"]["name"]))
                for r in (o.get("status") or {}).get("tasks", [])]
        raise EcsError("ConflictException", "The provided clientToken is already in use with a different RunTask "
                                            "request.", resourceIds=arns)


def run_task(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    """A RunTask is `count` ECSTasks of count 1 (each task stops on its own, as in ECS). With a
    clientToken (every SDK sends one) their names come from the token: a retry answers the tasks the
    first call started, and creates any a first call cut short had not."""
    token = request.get("clientToken")
    if token is not None and (not isinstance(token, str) or not 0 < len(token) <= CLIENT_TOKEN_MAX
                              or not all(33 <= ord(c) <= 126 for c in token)):
        raise invalid_parameter(f"clientToken: up to {CLIENT_TOKEN_MAX} characters in the range 33-126")
    cluster = find_cluster(session, request.get("cluster"))
    digest = request_digest(request, cluster["metadata"]["name"])
    if token and (existing := _first_of_token(session, client_token_name(token))) is not None:
        _same_request(session, existing, digest, client_token_name(token))
    reference = resource_id(request.get("taskDefinition") or "")
    _, revision, _ = find_revision(session, reference)  # ECS refuses unknown definitions at once
    require_active(revision)
    count = request.get("count", 1)
    if not 1 <= count <= RUN_TASK_COUNT_MAX:
        raise invalid_parameter(f"count must be between 1 and {RUN_TASK_COUNT_MAX}.")
    tags = tagging.checked(request.get("tags"))
    base = client_token_name(token) if token else _task_name(reference.partition(":")[0])
    # One ECSTask per task, so that StopTask stops exactly one (ECSTasks of a count stop together).
    names = [base] if count == 1 else [f"{base}-{i}" for i in range(count)]
    spec: dict[str, Any] = {"cluster": cluster["metadata"]["name"], "taskDefinition": reference, "count": 1}
    spec.update({key: request[key] for key in RUN_TASK_MEMBERS if request.get(key)})
    annotations = tagging.annotation({"0": tags}) if tags else {}
    if token:
        annotations[CLIENT_REQUEST_ANNOTATION] = digest
    for name in names:
        body = task_resource(name, spec, {EPHEMERAL_LABEL: "true"})
        if annotations:
            body["metadata"]["annotations"] = dict(annotations)
        if session.create_new("ecstasks", body) is None:  # a concurrent retry created it first
            existing = session.get("ecstasks", name)
            if existing is None:
                raise EcsError("ServerException", "the task was deleted while it was being started; try again")
            _same_request(session, existing, digest, base)
    return _answer(session, names)


def start_task(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    """The 2014 preview's placement: one task on each container instance named (1-10), pinned to
    its node (memberOf `ec2InstanceId == <node>`); an unknown instance is a MISSING failure."""
    wanted = request.get("containerInstances") or []
    if not wanted:
        raise invalid_parameter("containerInstances: required")
    if len(wanted) > START_TASK_INSTANCES_MAX:
        raise invalid_parameter(f"containerInstances can have at most {START_TASK_INSTANCES_MAX} items.")
    cluster = find_cluster(session, request.get("cluster"))
    reference = resource_id(request.get("taskDefinition") or "")
    _, revision, _ = find_revision(session, reference)
    require_active(revision)
    tags = tagging.checked(request.get("tags"))
    matches, failures = named_instances(cluster, wanted)
    started = []
    for match in matches:
        name = _task_name(reference.partition(":")[0])
        spec: dict[str, Any] = {"cluster": cluster["metadata"]["name"], "taskDefinition": reference, "count": 1,
                                "placementConstraints": [{"type": "memberOf",
                                                          "expression": f"ec2InstanceId == {match['ec2InstanceId']}"}]}
        spec.update({key: request[key] for key in ("overrides", "startedBy", "group") if request.get(key)})
        body = task_resource(name, spec, {EPHEMERAL_LABEL: "true"})
        if tags:
            body["metadata"]["annotations"] = tagging.annotation({"0": tags})
        session.create("ecstasks", body)
        started.append(name)
    answer = _answer(session, started)  # one wait for all of them
    return {"tasks": answer["tasks"], "failures": failures + answer["failures"]}


def describe_tasks(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    wanted = request.get("tasks") or []
    if not wanted:
        raise invalid_parameter("Tasks cannot be empty.")
    if len(wanted) > DESCRIBE_TASKS_MAX:
        raise invalid_parameter(f"taskIds can have at most {DESCRIBE_TASKS_MAX} items.")
    cluster = find_cluster(session, request.get("cluster"))["metadata"]["name"]
    tags = "TAGS" in (request.get("include") or [])
    ids = {resource_id(task) for task in wanted}
    records = {resource_id(r["taskArn"]): (obj, i, r) for obj, i, r in task_records(session, cluster, task_ids=ids)}
    tasks, failures = [], []
    for task in wanted:
        found = records.get(resource_id(task))
        if found is None:
            failures.append({"arn": task, "reason": "MISSING"})
        else:
            obj, index, record = found
            tasks.append(task_shape(record) | ({"tags": tagging.tags_of(obj, index)} if tags else {}))
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
    found = next(((obj, r) for obj, _, r in task_records(session, cluster, task_ids={wanted})
                  if resource_id(r["taskArn"]) == wanted), None)
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
