"""Task definition revisions: resolving `family[:revision]` and loading a revision's definition.

Revisions are immutable ConfigMaps (`<ECSTaskDefinition>-r<N>`) listed in their ECSTaskDefinition's
status; the reconcilers see those statuses through a watch, so resolving reads nothing from the API
except, once per revision, its ConfigMap.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..ecs.errors import InvalidInput
from ..ecs.models import TaskDefinition
from . import kube


@dataclass(frozen=True)
class ResolvedRevision:
    family: str
    revision: int
    config_map: str
    definition: TaskDefinition

    def reference(self) -> dict[str, Any]:
        """What a task records of the revision it runs (in its status and on its Pods)."""
        return {"family": self.family, "revision": self.revision, "configMap": self.config_map}


# Once read, a revision never needs reading again. Bounded so that a long-running operator does
# not keep every revision it ever saw.
_DEFINITIONS: dict[tuple[str, str], TaskDefinition] = {}
_DEFINITIONS_MAX = 4096
_lock = threading.Lock()
# Revisions being read now → set once read (or failed): the workers that need one revision at once
# (a new leader's first reconciles, a burst's first tasks) wait for one read, not make one each.
_reading: dict[tuple[str, str], threading.Event] = {}


def load_revision(namespace: str, config_map: str, family: str, revision: int) -> ResolvedRevision:
    key = (namespace, config_map)
    while True:
        with _lock:
            definition = _DEFINITIONS.get(key)
            reading = _reading.get(key)
            if definition is None and reading is None:
                _reading[key] = threading.Event()
        if definition is not None:
            return ResolvedRevision(family, revision, config_map, definition)
        if reading is not None:
            reading.wait()  # then look again: read by then, or the reader failed and this one tries
            continue
        try:
            # a raw read: the client's ConfigMap model costs more than the request (kube.send)
            cm = kube.send("GET", kube.core_path("configmaps", namespace, config_map))
            definition = TaskDefinition.model_validate_json(cm["data"]["taskDefinition.json"])
            with _lock:
                if len(_DEFINITIONS) >= _DEFINITIONS_MAX:
                    _DEFINITIONS.pop(next(iter(_DEFINITIONS)))
                _DEFINITIONS[key] = definition
        finally:
            with _lock:
                _reading.pop(key).set()


def load_reference(namespace: str, reference: dict[str, Any]) -> ResolvedRevision:
    return load_revision(namespace, reference["configMap"], reference["family"], int(reference["revision"]))


def resolve(namespace: str, reference: str, registrations: Iterable[dict[str, Any]]) -> ResolvedRevision:
    """`family`, `family:revision` or `family:version` → the revision a new task runs.

    `registrations`: the ECSTaskDefinitions of the family ({name, created, revisions}); the oldest
    one owns the family. LookupError: nothing to resolve yet (retried: it may be applied in a
    moment). InvalidInput: ECS would refuse the request (an INACTIVE or unknown revision).
    """
    family, _, suffix = reference.partition(":")
    owners = sorted(registrations, key=lambda r: (r.get("created") or "", r.get("name") or ""))
    if not owners:
        raise LookupError(f"Unable to describe task definition: no family {family!r} in namespace {namespace}")
    items = {i["revision"]: i for i in owners[0].get("revisions") or []}
    if not items:
        raise LookupError(f"task definition family {family!r} has no registered revision yet")
    if suffix:
        if suffix.isdigit() and int(suffix) in items:
            revision = int(suffix)
        else:
            matches = [r for r, i in items.items() if i.get("version") == suffix]
            if not matches:
                raise InvalidInput([f"taskDefinition: Unable to describe task definition {reference}"])
            revision = max(matches)
        if items[revision]["status"] != "ACTIVE":
            raise InvalidInput([f"taskDefinition: TaskDefinition is inactive ({family}:{revision} was deregistered)"])
    else:
        active = [r for r, i in items.items() if i["status"] == "ACTIVE"]
        if not active:
            raise InvalidInput([f"taskDefinition: family {family!r} has no ACTIVE revision"])
        revision = max(active)
    return load_revision(namespace, items[revision]["configMap"], family, revision)
