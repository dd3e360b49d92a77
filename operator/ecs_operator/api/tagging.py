"""ECS tags: checked as ECS checks them, and kept on the custom resources.

An ECSCluster, ECSTaskDefinition or ECSTask keeps its tags in the annotation `ecs.compat.dev/tags`,
JSON {member: [{key, value}]} (member: "" for the cluster itself, "container-instance/<id>" for
one of its container instances, the revision number for a task definition revision, which is
immutable, the index for each task of an ECSTask). An ECSService keeps them in spec.tags, as
CreateService's request has them.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from ..ecs.errors import InvalidInput, describe_validation_error
from ..ecs.labels import TAGS_ANNOTATION
from ..ecs.services import Tag
from .errors import invalid_parameter

MAX_TAGS = 50
RESERVED_PREFIX = "aws:"


def checked(tags: Any, member: str = "tags") -> list[dict[str, str]]:
    """A request's tags as ECS's `Tag`s ({key, value}), or InvalidParameterException."""
    if tags is None:
        return []
    if not isinstance(tags, list):
        raise invalid_parameter(f"{member}: must be a list of {{key, value}}")
    out: dict[str, dict[str, str]] = {}
    for i, tag in enumerate(tags):
        try:
            parsed = Tag.model_validate(tag)
        except ValidationError as err:
            raise invalid_parameter("; ".join(describe_validation_error(err, prefix=f"{member}[{i}]"))) from None
        except InvalidInput as err:
            raise invalid_parameter("; ".join(f"{member}[{i}].{p}" for p in err.problems)) from None
        out[parsed.key] = {"key": parsed.key, "value": parsed.value or ""}  # a key once: the last value
    return list(out.values())


def merged(current: list[dict[str, str]], added: list[dict[str, str]]) -> list[dict[str, str]]:
    """TagResource: the added tags over the current ones (same key: the new value); at most 50,
    not counting aws: tags, as ECS counts."""
    by_key = {t["key"]: t for t in current}
    by_key.update({t["key"]: t for t in added})
    tags = list(by_key.values())
    if sum(not t["key"].lower().startswith(RESERVED_PREFIX) for t in tags) > MAX_TAGS:
        raise invalid_parameter(f"The number of tags exceeds the limit of {MAX_TAGS} tags per resource.")
    return tags


def without(current: list[dict[str, str]], keys: list[str]) -> list[dict[str, str]]:
    return [t for t in current if t["key"] not in set(keys)]


def stored(obj: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """The annotation's {member: tags} (a malformed annotation counts as no tags)."""
    raw = (obj.get("metadata", {}).get("annotations") or {}).get(TAGS_ANNOTATION)
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, list)} if isinstance(value, dict) else {}


def tags_of(obj: dict[str, Any], member: str | int = "") -> list[dict[str, str]]:
    return list(stored(obj).get(str(member), []))


def annotation(members: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    """The annotation for these members' tags (members without tags left out)."""
    kept = {k: v for k, v in members.items() if v}
    return {TAGS_ANNOTATION: json.dumps(kept, sort_keys=True, separators=(",", ":"))}


def patch_for(obj: dict[str, Any], member: str | int, tags: list[dict[str, str]]) -> dict[str, Any] | None:
    """The merge patch that sets one member's tags on `obj` (None: nothing changes)."""
    members = stored(obj)
    if members.get(str(member), []) == tags:
        return None
    members[str(member)] = tags
    return {"metadata": {"annotations": annotation(members)}}
