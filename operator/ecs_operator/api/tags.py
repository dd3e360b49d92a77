"""TagResource, UntagResource, ListTagsForResource: the tags of a cluster, container instance, task
definition revision, task or service, named by its ARN (where each kind keeps them: tagging.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import tagging
from .clusters import find_cluster
from .errors import EcsError, cluster_inactive, invalid_parameter
from .services import PLURAL as SERVICES
from .services import find_service
from .session import Session
from .task_definitions import NO_SUCH, find_family, revisions_of
from .tasks import task_records

ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:(?P<kind>[a-z-]+)/(?P<rest>.+)$")
INVALID_ARN = "The ARN provided is invalid."
# ECS's answer for a service ARN without its cluster (the short format of before 2021).
SHORT_SERVICE_ARN = "Long arn format must be used for tagging operations"
TASK_NOT_FOUND = "The referenced task was not found."
SERVICE_NOT_FOUND = "The referenced service was not found."
INSTANCE_NOT_FOUND = "The referenced container instance was not found."


Change = Callable[[list[dict[str, str]]], list[dict[str, str]]]


@dataclass
class Tagged:
    """One resource's tags, and how to change them."""

    tags: list[dict[str, str]]
    write: Callable[[Change], None]  # applies the change to the stored tags (read-modify-write)


def _annotated(session: Session, plural: str, obj: dict[str, Any], member: str | int) -> Tagged:
    def write(change: Change) -> None:
        session.update(plural, obj["metadata"]["name"],
                       lambda current: tagging.patch_for(current, member, change(tagging.tags_of(current, member))))

    return Tagged(tagging.tags_of(obj, member), write)


def _service(session: Session, obj: dict[str, Any]) -> Tagged:
    def write(change: Change) -> None:
        def patch(current: dict[str, Any]) -> dict[str, Any] | None:
            before = list((current.get("spec") or {}).get("tags") or [])
            after = change(before)
            return None if after == before else {"spec": {"tags": after or None}}

        session.update(SERVICES, obj["metadata"]["name"], patch)

    return Tagged(list((obj.get("spec") or {}).get("tags") or []), write)


def resolve(session: Session, arn: Any) -> Tagged:
    """The resource an ECS ARN names, or ECS's error for it."""
    match = ARN.match(arn) if isinstance(arn, str) else None
    if match is None:
        raise invalid_parameter(INVALID_ARN)
    kind, parts = match["kind"], match["rest"].split("/")
    if kind == "cluster" and len(parts) == 1:
        obj = session.get("ecsclusters", parts[0])
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            raise cluster_inactive()
        return _annotated(session, "ecsclusters", obj, "")
    if kind == "task-definition" and len(parts) == 1:
        family, _, revision = parts[0].partition(":")
        if not revision.isdigit():
            raise invalid_parameter(INVALID_ARN)
        resource = find_family(session, family)
        if resource is None or not any(r["revision"] == int(revision) for r in revisions_of(resource)):
            raise invalid_parameter(NO_SUCH)
        return _annotated(session, "ecstaskdefinitions", resource, int(revision))
    if kind == "service" and len(parts) == 1:
        raise invalid_parameter(SHORT_SERVICE_ARN)
    if kind not in ("task", "service", "container-instance") or len(parts) != 2:
        raise invalid_parameter(INVALID_ARN)
    cluster = find_cluster(session, parts[0])
    name = cluster["metadata"]["name"]
    if kind == "task":
        found = next(((obj, index) for obj, index, record in task_records(session, name, task_ids={parts[1]})
                      if record["taskArn"].rsplit("/", 1)[-1] == parts[1]), None)
        if found is None:
            raise invalid_parameter(TASK_NOT_FOUND)
        return _annotated(session, "ecstasks", found[0], found[1])
    if kind == "service":
        try:
            return _service(session, find_service(session, name, parts[1]))
        except EcsError:
            raise invalid_parameter(SERVICE_NOT_FOUND) from None
    instances = (cluster.get("status") or {}).get("containerInstances", [])
    if not any(i["containerInstanceArn"].rsplit("/", 1)[-1] == parts[1] for i in instances):
        raise invalid_parameter(INSTANCE_NOT_FOUND)
    return _annotated(session, "ecsclusters", cluster, f"container-instance/{parts[1]}")


def tag_resource(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    if "tags" not in request:
        raise invalid_parameter("tags: required")
    added = tagging.checked(request.get("tags"))
    target = resolve(session, request.get("resourceArn"))
    tagging.merged(target.tags, added)  # over the limit: refused before anything is written
    target.write(lambda current: tagging.merged(current, added))
    return {}


def untag_resource(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    keys = request.get("tagKeys")
    if not isinstance(keys, list):
        raise invalid_parameter("tagKeys: required")
    target = resolve(session, request.get("resourceArn"))
    target.write(lambda current: tagging.without(current, [str(k) for k in keys]))
    return {}


def list_tags_for_resource(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    return {"tags": resolve(session, request.get("resourceArn")).tags}
