"""Clusters and their container instances: an ECS cluster is the ECSCluster of that name, its
container instances the nodes of its node group, as the operator reports them in its status."""

from __future__ import annotations

from typing import Any

from ..ecs.resources import cluster_resource
from . import tagging
from .errors import EcsError, cluster_not_found, invalid_parameter
from .pagination import page
from .session import Session
from .shapes import cluster_shape, container_instance_shape, resource_id, service_status

DEFAULT_CLUSTER = "default"


def find_cluster(session: Session, name_or_arn: str | None) -> dict[str, Any]:
    obj = session.get("ecsclusters", resource_id(name_or_arn or DEFAULT_CLUSTER))
    if obj is None:
        raise cluster_not_found()
    return obj


def create_cluster(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    name = request.get("clusterName") or DEFAULT_CLUSTER
    tags = tagging.checked(request.get("tags"))
    existing = session.get("ecsclusters", name)
    if existing is None:
        body = cluster_resource(name)
        if tags:
            body["metadata"]["annotations"] = tagging.annotation({"": tags})
        session.create("ecsclusters", body)
    elif tags:  # CreateCluster of an existing cluster answers it; the tags given are added
        session.update("ecsclusters", name, lambda o: tagging.patch_for(o, "", tagging.merged(
            tagging.tags_of(o), tags)))
    obj = session.wait(lambda: (o := session.get("ecsclusters", name)) and (o.get("status") or {}).get("clusterArn")
                       and o)
    obj = obj or session.get("ecsclusters", name) or {"metadata": {"name": name}}
    return {"cluster": cluster_shape(obj) | {"tags": tagging.tags_of(obj)}}


def list_clusters(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    entries = [((o["metadata"]["name"],), arn) for o in session.list("ecsclusters")
               if (arn := cluster_shape(o)["clusterArn"])]
    return page(entries, request, "clusterArns")


def describe_clusters(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    include = set(request.get("include") or [])
    clusters, failures = [], []
    for wanted in request.get("clusters") or [DEFAULT_CLUSTER]:
        obj = session.get("ecsclusters", resource_id(wanted))
        if obj is None:
            failures.append({"arn": wanted, "reason": "MISSING"})
        else:
            clusters.append(_described(session, obj, include))
    return {"clusters": clusters, "failures": failures}


def _described(session: Session, obj: dict[str, Any], include: set[str]) -> dict[str, Any]:
    """One cluster of DescribeClusters with what `include` asks for (TAGS, SETTINGS, STATISTICS,
    CONFIGURATIONS, ATTACHMENTS: the last two have nothing to add here)."""
    shape = cluster_shape(obj)
    if _deleting(obj):
        shape["status"] = "INACTIVE"
    if "TAGS" in include:
        shape["tags"] = tagging.tags_of(obj)
    if "SETTINGS" in include:
        shape["settings"] = [{"name": "containerInsights", "value": "disabled"}]
    if "STATISTICS" in include:
        shape["statistics"] = _statistics(session, obj, shape)
    if "ATTACHMENTS" in include:
        shape["attachments"] = []
    return shape


def _statistics(session: Session, obj: dict[str, Any], shape: dict[str, Any]) -> list[dict[str, str]]:
    """ECS's per-launch-type counts: every task and service runs as EC2 here."""
    name = obj["metadata"]["name"]
    draining = sum(1 for s in _services(session, name) if service_status(s) == "DRAINING")
    values = {
        "runningEC2TasksCount": shape["runningTasksCount"], "runningFargateTasksCount": 0,
        "pendingEC2TasksCount": shape["pendingTasksCount"], "pendingFargateTasksCount": 0,
        "activeEC2ServiceCount": shape["activeServicesCount"] - draining, "activeFargateServiceCount": 0,
        "drainingEC2ServiceCount": draining, "drainingFargateServiceCount": 0,
    }
    return [{"name": k, "value": str(v)} for k, v in values.items()]


def _services(session: Session, cluster: str) -> list[dict[str, Any]]:
    return [s for s in session.list("ecsservices")
            if ((s.get("spec") or {}).get("cluster") or DEFAULT_CLUSTER) == cluster]


def _deleting(obj: dict[str, Any]) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def _instances(session: Session, cluster: str | None) -> list[dict[str, Any]]:
    instances: list[dict[str, Any]] = (find_cluster(session, cluster).get("status") or {}).get(
        "containerInstances", [])
    return instances


def list_container_instances(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    status = request.get("status")
    entries = [((i["ec2InstanceId"],), i["containerInstanceArn"]) for i in _instances(session, request.get("cluster"))
               if not status or i["status"] == status]
    return page(entries, request, "containerInstanceArns")


def named_instances(cluster: dict[str, Any], wanted: list[Any]
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The cluster's container instances named by ARN, id or node name, and a MISSING failure for
    each name that is none of them."""
    instances = (cluster.get("status") or {}).get("containerInstances", [])
    by_id = {resource_id(i["containerInstanceArn"]): i for i in instances}
    by_name = {i["ec2InstanceId"]: i for i in instances}
    found, failures = [], []
    for name in wanted:
        instance = by_id.get(resource_id(str(name))) or by_name.get(str(name))
        if instance is None:
            failures.append({"arn": name, "reason": "MISSING"})
        else:
            found.append(instance)
    return found, failures


def describe_container_instances(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    found, failures = named_instances(find_cluster(session, request.get("cluster")),
                                      request.get("containerInstances") or [])
    return {"containerInstances": [container_instance_shape(i) for i in found], "failures": failures}


def delete_cluster(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    """ECS's DeleteCluster: refused while the cluster has services that are not INACTIVE or tasks
    that have not stopped (as the operator holds back a `kubectl delete ecscluster`); then the
    ECSCluster is deleted and the answer shows it INACTIVE. Its nodes stay Kubernetes nodes: a
    container instance needs no deregistering here (see docs/mapping.md)."""
    wanted = request.get("cluster")
    if not wanted:
        raise invalid_parameter("cluster: required")
    obj = find_cluster(session, wanted)
    name = obj["metadata"]["name"]
    if not _deleting(obj):
        if any(service_status(s) != "INACTIVE" for s in _services(session, name)):
            raise EcsError("ClusterContainsServicesException",
                           "The Cluster cannot be deleted while Services are active.")
        if any(_live(t) for t in session.list("ecstasks") if (t.get("spec") or {}).get("cluster") == name):
            raise EcsError("ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
        session.delete("ecsclusters", name)
    shape = cluster_shape(obj) | {"status": "INACTIVE", "registeredContainerInstancesCount": 0,
                                  "runningTasksCount": 0, "pendingTasksCount": 0, "activeServicesCount": 0}
    return {"cluster": shape}


def _live(task: dict[str, Any]) -> bool:
    """Does this ECSTask have a task that has not stopped (or one not started yet)?"""
    records = (task.get("status") or {}).get("tasks") or []
    if not records:
        return (task.get("spec") or {}).get("desiredStatus", "RUNNING") != "STOPPED" and not (
            (task.get("status") or {}).get("failures") and not (task.get("status") or {}).get("resolved"))
    return any(r.get("lastStatus") != "STOPPED" for r in records)


UPDATE_INSTANCES_MAX = 10


def update_container_instances_state(session: Session, request: dict[str, Any]) -> dict[str, Any]:
    """DRAINING or ACTIVE for container instances (nodes of the cluster's node group): the
    ECSCluster's spec.drainingInstances lists the draining ones, and the operator cordons them
    (no new task goes there) and replaces the service tasks on them within the services' bounds."""
    wanted, state = request.get("containerInstances"), request.get("status")
    if not wanted:
        raise invalid_parameter("containerInstances: required")
    if len(wanted) > UPDATE_INSTANCES_MAX:
        raise invalid_parameter(f"containerInstances can have at most {UPDATE_INSTANCES_MAX} items.")
    if state not in ("ACTIVE", "DRAINING"):
        raise invalid_parameter("Container instances can only be updated to ACTIVE or DRAINING status.")
    obj = find_cluster(session, request.get("cluster"))
    found, failures = named_instances(obj, wanted)
    nodes = {i["ec2InstanceId"] for i in found}

    def change(current: dict[str, Any]) -> dict[str, Any] | None:
        draining = list((current.get("spec") or {}).get("drainingInstances") or [])
        after = sorted(set(draining) | nodes) if state == "DRAINING" else [n for n in draining if n not in nodes]
        if after == draining:
            return None
        return {"spec": {"drainingInstances": after or None}}

    if nodes:
        session.update("ecsclusters", obj["metadata"]["name"], change)
    return {"containerInstances": [container_instance_shape(i) | {"status": state} for i in found],
            "failures": failures}
