"""Kubernetes RBAC as ECS's IAM: each ECS action is the Kubernetes verbs it needs on the custom
resources it touches, asked of the API server for the key's user (SubjectAccessReview), the answer
kept briefly. `kubectl create rolebinding --clusterrole ecs-full-access --user alice` is the grant.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...api.errors import EcsError
from ...ecs.labels import API_GROUP

# (verb, plural) per action: what the API layer does with the Kubernetes API for it.
READ_CLUSTER = (("get", "ecsclusters"),)
ACCESSES: dict[str, tuple[tuple[str, str], ...]] = {
    "CreateCluster": (("create", "ecsclusters"),),
    "DeleteCluster": (("delete", "ecsclusters"),),
    "ListClusters": (("list", "ecsclusters"),),
    "DescribeClusters": READ_CLUSTER,
    "ListContainerInstances": READ_CLUSTER,
    "DescribeContainerInstances": READ_CLUSTER,
    "UpdateContainerInstancesState": (("patch", "ecsclusters"),),
    "RegisterTaskDefinition": (("create", "ecstaskdefinitions"),),
    "ListTaskDefinitions": (("list", "ecstaskdefinitions"),),
    "ListTaskDefinitionFamilies": (("list", "ecstaskdefinitions"),),
    "DescribeTaskDefinition": (("get", "ecstaskdefinitions"),),
    "DeregisterTaskDefinition": (("patch", "ecstaskdefinitions"),),
    "DeleteTaskDefinitions": (("delete", "ecstaskdefinitions"),),
    "RunTask": (("create", "ecstasks"),),
    "StartTask": (("create", "ecstasks"),),
    "DescribeTasks": (("list", "ecstasks"),),
    "ListTasks": (("list", "ecstasks"),),
    "StopTask": (("patch", "ecstasks"),),
    "CreateService": (("create", "ecsservices"),),
    "UpdateService": (("patch", "ecsservices"),),
    "DeleteService": (("delete", "ecsservices"),),
    "DescribeServices": (("list", "ecsservices"),),
    "ListServices": (("list", "ecsservices"),),
    "ListServiceDeployments": (("get", "ecsservices"),),
    "DescribeServiceDeployments": (("list", "ecsservices"),),
}
# Tags: the verb on the kind the resourceArn names.
TAG_VERBS = {"TagResource": "patch", "UntagResource": "patch", "ListTagsForResource": "get"}
ARN_KINDS = {"cluster": "ecsclusters", "task-definition": "ecstaskdefinitions", "task": "ecstasks",
             "service": "ecsservices"}


def accesses(action: str, request: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """What `action` needs; an action not in the table needs `get` on every kind (a safe floor
    for actions added to the API layer before they are added here)."""
    if action in TAG_VERBS:
        kind = str(request.get("resourceArn") or "").partition(":ecs:")[2].split(":", 2)[-1].split("/", 1)[0]
        plural = ARN_KINDS.get(kind)
        return ((TAG_VERBS[action], plural),) if plural else ((TAG_VERBS[action], "ecsclusters"),)
    return ACCESSES.get(action) or tuple(("get", plural) for plural in ARN_KINDS.values())


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...]
    namespace: str


class Authorizer:
    """SubjectAccessReviews through `review(body) -> allowed`, each answer kept `ttl` seconds."""

    def __init__(self, review: Callable[[dict[str, Any]], bool], ttl: float = 10.0):
        self._review = review
        self._ttl = ttl
        self._answers: dict[tuple[Any, ...], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def allowed(self, who: Identity, verb: str, plural: str) -> bool:
        key = (who, verb, plural)
        moment = time.monotonic()
        with self._lock:
            cached = self._answers.get(key)
        if cached is not None and cached[0] > moment:
            return cached[1]
        answer = self._review({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": who.user, "groups": list(who.groups),
                     "resourceAttributes": {"namespace": who.namespace, "verb": verb, "group": API_GROUP,
                                            "resource": plural}}})
        with self._lock:
            if len(self._answers) > 10_000:  # many users and kinds: start over rather than grow
                self._answers.clear()
            self._answers[key] = (moment + self._ttl, answer)
        return answer

    def authorize(self, who: Identity, action: str, request: dict[str, Any]) -> None:
        for verb, plural in accesses(action, request):
            if not self.allowed(who, verb, plural):
                raise EcsError(
                    "AccessDeniedException",
                    f"User: {who.user} is not authorized to perform: ecs:{action} in namespace {who.namespace} "
                    f"(Kubernetes RBAC allows no '{verb}' on {plural}.{API_GROUP} there; an administrator grants "
                    f"it with a RoleBinding to the ClusterRole ecs-full-access or ecs-read-only)")
