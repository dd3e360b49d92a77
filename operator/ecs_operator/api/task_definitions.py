"""Task definitions: a family is the ECSTaskDefinition whose spec.family it is; its revisions are
listed in its status, each revision's body an immutable ConfigMap the operator wrote."""

from __future__ import annotations

import json
from typing import Any

from ..ecs.errors import InvalidInput
from ..ecs.labels import DEREGISTER_ANNOTATION
from ..ecs.normalize import parse_task_definition
from ..ecs.resources import resource_name, task_definition_resource
from .errors import EcsError, task_definition_not_found
from .pagination import page
from .session import Session
from .shapes import resource_id, task_definition_shape

Revision = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]  # (resource, revision record, ECS body)


def find_family(session: Session, family: str) -> dict[str, Any] | None:
    return next((r for r in session.list("ecstaskdefinitions") if (r.get("spec") or {}).get("family") == family),
                None)


def find_revision(session: Session, reference: str) -> Revision:
    """`family[:revision]` or an ARN → (resource, revision record, ECS body of that revision)."""
    family, _, suffix = resource_id(reference).partition(":")
    resource = find_family(session, family)
    revisions = {r["revision"]: r for r in ((resource or {}).get("status") or {}).get("revisions", [])}
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
    try:
        normalized = parse_task_definition(request)
    except InvalidInput as err:
        raise EcsError("ClientException", "; ".join(err.problems)) from None
    resource = task_definition_resource(normalized)
    family = normalized.definition.family
    existing = find_family(session, family)
    if existing is None:
        session.create("ecstaskdefinitions", resource)
        name = resource_name(family)
    else:
        name = existing["metadata"]["name"]
        session.patch("ecstaskdefinitions", name, {"spec": {**resource["spec"], **(
            {"containers": None} if "containers" in existing["spec"] else {})}})
    obj = session.wait(lambda: (o := session.get("ecstaskdefinitions", name) or {}) and _ready(o) and o)
    if not obj:
        raise EcsError("ServerException", f"the operator did not register {family} within "
                                          f"{session.wait_seconds:.0f} s (is ecs-operator running?)")
    ready = _ready(obj) or {}
    if ready.get("status") != "True":
        raise EcsError("ClientException", str(ready.get("message")))
    # An identical definition leaves the latest revision as it was (ECS would add one): the
    # registry is declarative, so the answer is that revision.
    _, revision, body = find_revision(session, f"{family}:{obj['status']['latestRevision']}")
    return {"taskDefinition": task_definition_shape(obj, revision, body), "tags": []}


def list_task_definitions(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    prefix, wanted = request.get("familyPrefix"), request.get("status") or "ACTIVE"
    descending = request.get("sort") == "DESC"
    entries = []
    for resource in session.list("ecstaskdefinitions"):
        family = (resource.get("spec") or {}).get("family", "")
        if prefix and not family.startswith(prefix):
            continue
        for revision in (resource.get("status") or {}).get("revisions", []):
            if revision["status"] == wanted:
                entries.append(((family, revision["revision"]), revision["taskDefinitionArn"]))
    entries.sort(reverse=descending)
    return page(entries, request, "taskDefinitionArns", descending=descending)


def describe_task_definition(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    resource, revision, body = find_revision(session, request.get("taskDefinition") or "")
    return {"taskDefinition": task_definition_shape(resource, revision, body), "tags": []}


def deregister_task_definition(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    reference = resource_id(request.get("taskDefinition") or "")
    if ":" not in reference:
        raise EcsError("ClientException", "The specified task definition identifier is invalid. Specify a valid "
                                          "name or ARN with a revision (family:revision).")
    resource, revision, _ = find_revision(session, reference)
    annotations = resource["metadata"].get("annotations") or {}
    done = {int(x) for x in annotations.get(DEREGISTER_ANNOTATION, "").split(",") if x.strip().isdigit()}
    done.add(revision["revision"])
    session.patch("ecstaskdefinitions", resource["metadata"]["name"], {"metadata": {"annotations": {
        DEREGISTER_ANNOTATION: ",".join(str(n) for n in sorted(done))}}})
    session.wait(lambda: find_revision(session, reference)[1]["status"] == "INACTIVE")
    resource, revision, body = find_revision(session, reference)
    return {"taskDefinition": task_definition_shape(resource, revision, body)}
