"""Turn ECS JSON as users have it into one RegisterTaskDefinition shape.

Accepted inputs: RegisterTaskDefinition input; `aws ecs describe-task-definition` output (with
its `taskDefinition` wrapper and output-only fields); and the 2014 preview shape
`{"family", "version", "containers": [...]}`. The preview shape is read, never written: its
`containers` become `containerDefinitions`, and `version` is kept as a label of the revision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .errors import InvalidInput, describe_validation_error
from .models import TaskDefinition

# Fields of describe-task-definition's TaskDefinition output that RegisterTaskDefinition does
# not take: the registry assigns them, so they are dropped on the way in.
OUTPUT_ONLY_FIELDS = (
    "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities", "registeredAt",
    "registeredBy", "deregisteredAt", "deleteRequestedAt",
)
VERSION_MAX = 255


@dataclass
class NormalizedTaskDefinition:
    definition: TaskDefinition
    version: str | None = None  # the 2014 preview's version label, when given
    dropped: list[str] = field(default_factory=list)  # output-only fields that were removed


def unwrap(document: Any) -> tuple[dict[str, Any], str | None, list[str]]:
    """The RegisterTaskDefinition dict inside `document`, its preview version, dropped fields."""
    if not isinstance(document, dict):
        raise InvalidInput(["(input): a task definition must be a JSON object"])
    body = document
    if "taskDefinition" in body and isinstance(body["taskDefinition"], dict):
        body = body["taskDefinition"]  # describe-task-definition output; its sibling `tags` is not ours
    body = dict(body)
    dropped = [name for name in OUTPUT_ONLY_FIELDS if body.pop(name, None) is not None]
    if "containers" in body:
        if "containerDefinitions" in body:
            raise InvalidInput(["containers: give containerDefinitions or the 2014 preview's containers, not both"])
        body["containerDefinitions"] = body.pop("containers")
    version = body.pop("version", None)
    if version is not None:
        if not isinstance(version, (str, int)) or len(str(version)) > VERSION_MAX:
            raise InvalidInput([f"version: must be a string of at most {VERSION_MAX} characters"])
        version = str(version)
    return body, version, dropped


def parse_task_definition(document: Any) -> NormalizedTaskDefinition:
    """Validate ECS JSON; raise InvalidInput with messages that name the fields."""
    body, version, dropped = unwrap(document)
    try:
        definition = TaskDefinition.model_validate(body)
    except ValidationError as err:
        raise InvalidInput(describe_validation_error(err)) from None
    return NormalizedTaskDefinition(definition, version, dropped)
