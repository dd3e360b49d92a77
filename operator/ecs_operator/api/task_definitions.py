"""Task definitions: a family is the ECSTaskDefinition whose spec.family it is; its revisions are
listed in its status, each revision's body an immutable ConfigMap the operator wrote."""

from __future__ import annotations

import json
from typing import Any

from ..ecs import times
from ..ecs.errors import InvalidInput
from ..ecs.labels import DELETED_REVISIONS_ANNOTATION, DEREGISTER_ANNOTATION
from ..ecs.normalize import parse_task_definition
from ..ecs.resources import resource_name, task_definition_resource
from . import tagging
from .errors import EcsError, invalid_parameter, task_definition_not_found
from .pagination import page
from .session import Session
from .shapes import resource_id, task_definition_shape

Revision = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]  # (resource, revision record, ECS body)


def find_family(session: Session, family: str) -> dict[str, Any] | None:
    return next((r for r in session.list("ecstaskdefinitions") if (r.get("spec") or {}).get("family") == family),
                None)


def deleted_revisions(resource: dict[str, Any]) -> dict[int, str]:
    """Revision → when DeleteTaskDefinitions was called for it (its status DELETE_IN_PROGRESS)."""
    raw = (resource["metadata"].get("annotations") or {}).get(DELETED_REVISIONS_ANNOTATION)
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {int(k): str(v) for k, v in value.items() if str(k).isdigit()} if isinstance(value, dict) else {}


def revisions_of(resource: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The revision records the operator lists, DELETE_IN_PROGRESS where DeleteTaskDefinitions was
    called (the API layer's own word: the operator knows only ACTIVE and INACTIVE)."""
    deleted = deleted_revisions(resource) if resource else {}
    out = []
    for record in ((resource or {}).get("status") or {}).get("revisions", []):
        if record["revision"] in deleted:
            record = {**record, "status": "DELETE_IN_PROGRESS", "deleteRequestedAt": deleted[record["revision"]]}
        out.append(record)
    return out


def find_revision(session: Session, reference: str) -> Revision:
    """`family[:revision]` or an ARN → (resource, revision record, ECS body of that revision)."""
    family, _, suffix = resource_id(reference).partition(":")
    resource = find_family(session, family)
    revisions = {r["revision"]: r for r in revisions_of(resource)}
    if resource is None or not revisions:
        raise task_definition_not_found()
    if suffix:
        if not suffix.isdigit() or int(suffix) not in revisions:
            raise task_definition_not_found()
        revision = revisions[int(suffix)]
    else:
        active = [r for r in revisions.values() if r["status"] == "ACTIVE"]
        revision = max(active or revisions.values(), key=lambda r: r["revision"])
    body = json.loads(session.config_map_data(revision["configMap"])["taskDefinition.json"])
    return resource, revision, body


def require_active(revision: dict[str, Any]) -> None:
    """New tasks and services refuse a deregistered revision, in ECS's words."""
    if revision["status"] != "ACTIVE":
        raise EcsError("ClientException", "TaskDefinition is inactive")


def _ready(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The Ready condition, once the operator has handled the object's current generation."""
    ready = next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == "Ready"), None)
    if ready and ready.get("observedGeneration") == obj["metadata"].get("generation"):
        return ready
    return None


def register_task_definition(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    """Any shape parse_task_definition reads: RegisterTaskDefinition's request, describe output, the 2014 preview."""
    tags = tagging.checked(request.get("tags")) if "tags" in request else None
    request = {k: v for k, v in request.items() if k != "tags"}  # kept by revision, not in the body
    try:
        normalized = parse_task_definition(request)
    except InvalidInput as err:
        raise EcsError("ClientException", "; ".join(err.problems)) from None
    resource = task_definition_resource(normalized)
    family = normalized.definition.family
    existing = find_family(session, family)
    if existing is None:
        written = session.create("ecstaskdefinitions", resource)
        name = resource_name(family)
    else:
        name = existing["metadata"]["name"]
        written = session.patch("ecstaskdefinitions", name, {"spec": {**resource["spec"], **(
            {"containers": None} if "containers" in existing["spec"] else {})}})
    # the operator's answer to this spec: a read a moment behind the write must not pass for it
    generation = written["metadata"].get("generation") or 0
    obj = session.wait(lambda: (o := session.get("ecstaskdefinitions", name) or {})
                       and (o["metadata"].get("generation") or 0) >= generation and _ready(o) and o)
    if not obj:
        raise EcsError("ServerException", f"the operator did not register {family} within "
                                          f"{session.wait_seconds:.0f} s (is ecs-operator running?)")
    ready = _ready(obj) or {}
    if ready.get("status") != "True":
        raise EcsError("ClientException", str(ready.get("message")))
    # An identical definition leaves the latest revision as it was (ECS would add one): the
    # registry is declarative, so the answer is that revision.
    _, revision, body = find_revision(session, f"{family}:{obj['status']['latestRevision']}")
    if tags is not None:
        obj = session.update("ecstaskdefinitions", name, lambda o: tagging.patch_for(
            o, revision["revision"], tags)) or obj
    return {"taskDefinition": task_definition_shape(obj, revision, body),
            "tags": tagging.tags_of(obj, revision["revision"])}


def list_task_definitions(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    prefix, wanted = request.get("familyPrefix"), request.get("status") or "ACTIVE"
    descending = request.get("sort") == "DESC"
    entries = []
    for resource in session.list("ecstaskdefinitions"):
        family = (resource.get("spec") or {}).get("family", "")
        if prefix and not family.startswith(prefix):
            continue
        for revision in revisions_of(resource):
            if revision["status"] == wanted:
                entries.append(((family, revision["revision"]), revision["taskDefinitionArn"]))
    entries.sort(reverse=descending)
    return page(entries, request, "taskDefinitionArns", descending=descending)


def describe_task_definition(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    resource, revision, body = find_revision(session, request.get("taskDefinition") or "")
    tags = tagging.tags_of(resource, revision["revision"]) if "TAGS" in (request.get("include") or []) else []
    return {"taskDefinition": task_definition_shape(resource, revision, body), "tags": tags}


def deregister_task_definition(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    reference = resource_id(request.get("taskDefinition") or "")
    if ":" not in reference:
        raise EcsError("ClientException", "The specified task definition identifier is invalid. Specify a valid "
                                          "name or ARN with a revision (family:revision).")
    resource, revision, _ = find_revision(session, reference)
    if revision["status"] == "DELETE_IN_PROGRESS":
        raise EcsError("ClientException", "The specified task definition is in the process of being deleted.")
    annotations = resource["metadata"].get("annotations") or {}
    done = {int(x) for x in annotations.get(DEREGISTER_ANNOTATION, "").split(",") if x.strip().isdigit()}
    done.add(revision["revision"])
    session.patch("ecstaskdefinitions", resource["metadata"]["name"], {"metadata": {"annotations": {
        DEREGISTER_ANNOTATION: ",".join(str(n) for n in sorted(done))}}})
    session.wait(lambda: find_revision(session, reference)[1]["status"] == "INACTIVE")
    resource, revision, body = find_revision(session, reference)
    return {"taskDefinition": task_definition_shape(resource, revision, body)}


FAMILY_STATUSES = ("ACTIVE", "INACTIVE", "ALL")


def list_task_definition_families(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    """Families with an ACTIVE revision (ACTIVE), with none (INACTIVE), or both (ALL, the default);
    a family whose revisions are all deleted is listed no more."""
    prefix, wanted = request.get("familyPrefix"), request.get("status") or "ALL"
    if wanted not in FAMILY_STATUSES:
        raise invalid_parameter(f"status must be one of {', '.join(FAMILY_STATUSES)}.")
    entries = []
    for resource in session.list("ecstaskdefinitions"):
        family = (resource.get("spec") or {}).get("family", "")
        statuses = {r["status"] for r in revisions_of(resource)}
        if not family or (prefix and not family.startswith(prefix)) or statuses <= {"DELETE_IN_PROGRESS"}:
            continue
        active = "ACTIVE" in statuses
        if wanted == "ALL" or (wanted == "ACTIVE") == active:
            entries.append(((family,), family))
    entries.sort()
    return page(entries, request, "families")


DELETE_TASK_DEFINITIONS_MAX = 10
# DeleteTaskDefinitions' failure reasons (as moto's ECS tests have ECS's).
NOT_INACTIVE = "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
NO_REVISION = "The specified task definition identifier is invalid. Specify a valid name or ARN and try again."
NO_SUCH = "The specified task definition does not exist. Specify a valid account, family, revision and try again."


def delete_task_definitions(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    """INACTIVE revisions become DELETE_IN_PROGRESS (annotation ecs.compat.dev/deleted-revisions):
    they can no longer run tasks or be deregistered; their ConfigMaps stay, for the tasks and
    services still running them. Any other revision is a failure, with ECS's reason."""
    wanted = request.get("taskDefinitions") or []
    if not wanted:
        raise invalid_parameter("taskDefinitions: required")
    if len(wanted) > DELETE_TASK_DEFINITIONS_MAX:
        raise invalid_parameter(f"taskDefinitions can have at most {DELETE_TASK_DEFINITIONS_MAX} items.")
    deleted, failures = [], []
    for reference in wanted:
        family, _, suffix = resource_id(str(reference)).partition(":")
        if not suffix.isdigit():
            failures.append({"arn": reference, "reason": NO_REVISION})
            continue
        resource = find_family(session, family)
        record = next((r for r in revisions_of(resource) if r["revision"] == int(suffix)), None)
        if resource is None or record is None:
            failures.append({"arn": reference, "reason": NO_SUCH})
            continue
        if record["status"] == "ACTIVE":
            failures.append({"arn": record["taskDefinitionArn"], "reason": NOT_INACTIVE})
            continue
        number = record["revision"]

        def change(current: dict[str, Any], number: int = number) -> dict[str, Any] | None:
            marked = deleted_revisions(current)
            if number in marked:
                return None
            marked[number] = times.now()
            return {"metadata": {"annotations": {DELETED_REVISIONS_ANNOTATION: json.dumps(
                {str(k): v for k, v in sorted(marked.items())})}}}

        session.update("ecstaskdefinitions", resource["metadata"]["name"], change)
        resource, revision, body = find_revision(session, f"{family}:{number}")
        deleted.append(task_definition_shape(resource, revision, body))
    return {"taskDefinitions": deleted, "failures": failures}
